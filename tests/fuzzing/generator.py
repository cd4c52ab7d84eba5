"""Generating random programs: each candidate step runs in torch as it is drawn, and only
steps torch accepts (inside the op's domain, away from its kinks and ties) are kept."""

from __future__ import annotations

import numpy as np

import ember
from tests.fuzzing.program import INPLACE_CODE, Program, Step, execute_step
from tests.test_regressions import KNOWN_BUGS

DEFAULT_DOMAIN = (-2.0, 2.0)
REUSE_BOUND = 8.0  # intermediates feed default-domain ops only while |x| <= this
MARGIN = 1e-3  # how far (relative) a reused value must stay from an op's kinks
MAX_NUMEL = 4096  # steps making bigger tensors are dropped (keeps programs fast)
TRIES_PER_STEP = 6
STRICT_MODULES = ("ember.ops.decompositions",)
SPREAD_NAMES = {"lstsq", "matrix_norm", "linalg_norm", "norm"}
STRICT_NAMES = {"matrix_power", "lstsq", "cholesky_solve", "solve_triangular"}
TIE_WORDS = ("max", "min", "sort", "topk", "kthvalue", "median", "norm", "svd", "eig", "pinv",
             "qr", "clamp_tensor")  # fmt: skip
VIEW_OR_COPY = {"reshape", "flatten", "ravel", "unflatten", "view"}  # torch: either, by layout
READS_STORAGE = {"as_strided"}  # results depend on the input's memory layout
FRESH_ONLY = {"div_trunc", "div_floor", "remainder", "fmod", "round"}  # kinks move with noise


# ----------------------------------------------------------------------------- generating


def _module(spec):
    return getattr(spec.primitive, "__module__", None) or spec.call.__module__


def _sheltered(spec):
    """Ops whose module is on the steer-clear list: fresh inputs, samples' shapes only."""
    return f"module:{_module(spec)}" in KNOWN_BUGS


def _is_strict(spec):
    module = _module(spec)
    return spec.domain != DEFAULT_DOMAIN or module in STRICT_MODULES or spec.name in STRICT_NAMES


def _tie_sensitive(spec):
    return "softmax" not in spec.name and any(w in spec.name for w in TIE_WORDS)


def _far_from(values, points, integers=False):
    """True when no value is within MARGIN (relative) of a kink."""
    if values.size == 0:
        return True
    for p in points:
        if np.any(np.abs(values - p) < MARGIN * max(1.0, abs(p))):
            return False
    if integers:
        return not np.any(np.abs(values - np.round(values)) < MARGIN * np.maximum(1, abs(values)))
    return True


def _needs_spread(spec):
    """Decompositions and the ops built on one get well-conditioned inputs: lstsq (its
    rank-deficient answer depends on the LAPACK driver) and the matrix norms (the nuclear and
    2-norms are not differentiable where singular values repeat, as at rank 1)."""
    return _module(spec) in STRICT_MODULES or spec.name in SPREAD_NAMES


def _well_spread(a):
    """Matrices with distinct, nonzero singular values: a decomposition's gradient is defined
    (Q from qr, all singular values 1, is not). Not tiny either: cross(v, v) is exactly 0 in
    one library and 1e-17 in the other, which lstsq turns into 0 and 1e16."""
    if a.ndim < 2 or a.size == 0:
        return True
    s = np.linalg.svd(a.reshape(-1, *a.shape[-2:]), compute_uv=False)
    top = max(float(s.max()), 1e-30)
    spread = (
        s.min() > max(1e-3 * top, 1e-6)
        and (np.diff(np.sort(s, axis=-1), axis=-1) > 1e-3 * top).all()
    )
    m, n = a.shape[-2:]
    if spread and m < n:  # a wide QR's derivative divides by its leading square block's R
        return _well_spread(a[..., :m])
    return bool(spread)


class Generator:
    """Builds one random program, running each candidate step in torch as it goes."""

    def __init__(self, rng, ops, max_numel=MAX_NUMEL):
        self.rng, self.ops, self.names = rng, ops, sorted(ops)
        self.inplace_kinds = sorted(  # those whose method ember has ("x.mul_(c)": mul_)
            k for k, (code, _) in INPLACE_CODE.items()
            if not code.startswith("x.") or hasattr(ember.Tensor, code[2:].split("(")[0])
        )  # fmt: skip
        self.max_numel = max_numel
        mixed = rng.random() < 0.15
        self.dtypes = ["float32", "float64"] if mixed else [str(rng.choice(["float32", "float64"]))]
        self.float32 = "float32" in self.dtypes
        self.steps, self.values, self.kind_of, self.producer = [], {}, {}, {}
        self.readers = {}  # value id -> names of the steps that read it
        self.sheltered_names = {n for n, spec in ops.items() if _sheltered(spec)}
        self.next_id = 0
        self.gradgrad_ok = True

    def build(self):
        want = int(self.rng.integers(3, 31))
        done = tries = 0
        while done < want and tries < want * TRIES_PER_STEP:
            tries += 1
            r = self.rng.random()
            if r < 0.15:
                done += self.add_view()
            elif r < 0.3:
                done += self.add_inplace()
            else:
                done += self.add_op()
        second = self.gradgrad_ok and self.rng.random() < 0.35
        grad_seed = int(self.rng.integers(2**31))
        vmap = self.rng.random() < 0.25  # drawn last: the steps are those of before
        return Program(self.steps, grad_seed, second, forward_mode=True, vmap=vmap)

    # --- running candidate steps in torch
    def _try(self, step):
        import torch

        try:
            ids = execute_step(step, self.values, torch)
        except Exception:  # noqa: BLE001 - torch refused: the step is dropped
            return None
        outs = [self.values[i] for i in ids]
        if not ids or step.kind != "inplace" and any(o.numel() > self.max_numel for o in outs):
            for i in ids:
                self.values.pop(i)
            return None
        if step.kind == "op":
            step.outputs = ids
            step.params["n_out"] = len(ids)
        self.steps.append(step)
        partial = not all(self.values[i].requires_grad for i in step.inputs)
        for i in step.inputs:
            self.readers.setdefault(i, set()).add((step.kind, step.name, partial))
        origin = self.producer.get(step.inputs[0], "") if step.kind == "view" else step.name
        for i in ids:
            self.kind_of.setdefault(i, step.kind)
            self.producer.setdefault(i, origin)  # a view keeps its base's layout
        self.next_id = max(self.next_id, max(ids) + 1)
        return ids

    def _new_id(self):
        self.next_id += 1
        return self.next_id - 1

    def _array(self, vid):
        return self.values[vid].detach().numpy().astype(np.float64)

    def _floats(self):
        return [i for i, t in self.values.items() if t.is_floating_point()]

    # --- inputs
    def add_leaf(self, shape, spec=None):
        lo, hi = spec.domain if spec is not None else DEFAULT_DOMAIN
        a = self.rng.uniform(lo, hi, size=shape)
        if spec is not None and _needs_spread(spec):
            for _ in range(5):  # a decomposition's derivative needs a well-conditioned input
                if _well_spread(a):
                    break
                a = self.rng.uniform(lo, hi, size=shape)
        for point in spec.avoid if spec is not None else ():
            near = np.abs(a - point) < 0.1
            a = np.where(near, point + np.where(a >= point, 0.15, -0.15), a)
        params = dict(
            array=a,
            dtype=str(self.rng.choice(self.dtypes)),
            requires_grad=bool(self.rng.random() < 0.85),
        )
        return self._try(Step("leaf", "", (), (self._new_id(),), params))[0]

    def _usable(self, vid, shape, spec, strict):
        t = self.values[vid]
        if tuple(t.shape) != tuple(shape) or not t.is_floating_point():
            return False
        a = self._array(vid)
        if not np.all(np.isfinite(a)):
            return False
        lo, hi = spec.domain
        if strict and a.size and (a.min() < lo or a.max() > hi):
            return False
        if not strict and a.size and np.abs(a).max() > REUSE_BOUND:
            return False
        integers = {-1.0, 0.0, 1.0} <= set(spec.avoid)
        if _needs_spread(spec) and not _well_spread(a):
            return False
        return _far_from(a, spec.avoid, integers)

    def pick_input(self, spec, shape):
        if spec.name in FRESH_ONLY or f"fresh:{spec.name}" in KNOWN_BUGS or _sheltered(spec):
            return self.add_leaf(shape, spec)
        strict = _is_strict(spec)
        candidates = [i for i in self._floats() if self._usable(i, shape, spec, strict)]
        if candidates and self.rng.random() < 0.75:
            return int(self.rng.choice(candidates))
        same_shape = [
            i
            for i in self._floats()
            if tuple(self.values[i].shape) == tuple(shape) and np.isfinite(self._array(i)).all()
        ]
        if same_shape and self.rng.random() < 0.5:
            vid = self.add_squash(int(self.rng.choice(same_shape)), spec)
            if vid is not None:
                return vid
        return self.add_leaf(shape, spec)

    def add_squash(self, vid, spec):
        a = self._array(vid)
        lo, hi = spec.domain
        scale = float(1.0 / max(1.0, np.abs(a).max())) if a.size else 1.0
        params = dict(scale=round(scale, 6), half=0.45 * (hi - lo), mid=(lo + hi) / 2)
        out = self._try(Step("squash", "", (vid,), (self._new_id(),), params))
        if out is None:
            return None
        if not self._usable(out[0], self.values[out[0]].shape, spec, True):
            self.steps.pop()
            self.values.pop(out[0])
            return None
        return out[0]

    def _distinct(self, ids):
        v = np.sort(np.concatenate([np.abs(self._array(i)).ravel() for i in ids]))
        if v.size < 2:
            return True
        gap = (1e-5 if self.float32 else 1e-10) * max(1.0, float(v[-1]))
        return bool(np.all(np.diff(v) > gap))

    # --- table ops
    def add_op(self):
        spec = self.ops[self.names[int(self.rng.integers(len(self.names)))]]
        sample = spec.samples[int(self.rng.integers(len(spec.samples)))]
        shapes = [tuple(s) for s in sample.shapes]
        if self.rng.random() < 0.25 and not (
            f"resize:{spec.name}" in KNOWN_BUGS or _sheltered(spec)
        ):
            shapes = self._substitute(shapes, f"empty:{spec.name}" not in KNOWN_BUGS)
        ids = [self.pick_input(spec, s) for s in shapes]
        if spec.name in READS_STORAGE:
            # reads the input's storage itself: an intermediate's storage is each library's
            # own layout choice (torch's linalg results are column-major), a leaf's is not
            ids = [self.add_leaf(s, spec) for s in shapes]
        if _tie_sensitive(spec) and not self._distinct(ids):
            ids = [self.add_leaf(s, spec) for s in shapes]
        mixed_bug = f"mixed:{spec.name}" in KNOWN_BUGS or _sheltered(spec)
        if mixed_bug and len({self.values[i].dtype for i in ids}) > 1:
            return False
        step = Step("op", spec.name, tuple(ids), (self.next_id,), dict(spec=spec, kwargs=dict(
            sample.kwargs)))  # fmt: skip
        if self._try(step) is None:
            return False
        self.gradgrad_ok &= spec.gradgrad
        return True

    def _substitute(self, shapes, empty=True):
        empty = empty and len(self.dtypes) == 1  # torch skips dtype checks on empty inputs
        """Replace one size everywhere it occurs (keeps shapes compatible): empty and
        size-1 dimensions, or one more."""
        sizes = sorted({d for s in shapes for d in s})
        if not sizes:
            return shapes
        old = sizes[int(self.rng.integers(len(sizes)))]
        new = int(self.rng.choice([0, 1, 1, old + 1] if empty else [1, 1, old + 1]))
        return [tuple(new if d == old else d for d in s) for s in shapes]

    # --- views
    def add_view(self):
        floats = self._floats()
        if not floats:
            return False
        vid = int(self.rng.choice(floats))
        shape = tuple(self.values[vid].shape)
        name, params = self._view_params(shape)
        origin = self.producer.get(vid, "")
        if name == "view" and (f"view-on:{origin}" in KNOWN_BUGS or origin in self.sheltered_names):
            name = "reshape"
        if name == "view" and not self.values[vid].is_contiguous():
            # which strided layouts .view() accepts depends on each library's layout choices
            # (torch's linalg results are column-major); a contiguous tensor always works,
            # and an ember result that is not contiguous where torch's is still fails
            name = "reshape"
        return self._try(Step("view", name, (vid,), (self._new_id(),), params)) is not None

    def _view_params(self, shape):
        rng, nd = self.rng, len(shape)
        choices = ["reshape", "view", "flatten", "unsqueeze"]
        if nd:
            choices += ["index", "index", "narrow"]
        if nd >= 2:
            choices += ["transpose", "permute", "diagonal"]
        if nd <= 2:
            choices.append("t")
        if 1 in shape:
            choices += ["squeeze", "expand"]
        name = str(rng.choice(choices))
        d = int(rng.integers(-nd, nd)) if nd else 0
        if name in ("reshape", "view"):
            return name, dict(shape=self._factor(shape))
        if name == "unsqueeze":
            return name, dict(args=(int(rng.integers(-nd - 1, nd + 1)),))
        if name == "index":
            n = shape[d]
            if rng.random() < 0.3 and n:
                pick = int(rng.integers(-n, n))
            else:
                start = int(rng.integers(-n, n + 1)) if n else None
                stop = None if rng.random() < 0.4 else int(rng.integers(-n, n + 1))
                pick = slice(start, stop, int(rng.choice([1, 1, 2, 3])))
            return name, dict(index=(slice(None),) * (d % nd) + (pick,))
        if name == "narrow":
            start = int(rng.integers(0, shape[d] + 1))
            return name, dict(args=(d, start, int(rng.integers(0, shape[d] - start + 1))))
        if name == "transpose":
            return name, dict(args=(d, int(rng.integers(-nd, nd))))
        if name == "permute":
            return name, dict(dims=tuple(int(i) for i in rng.permutation(nd)))
        if name == "diagonal":
            d1, d2 = (int(i) for i in rng.choice(nd, 2, replace=False))
            return name, dict(args=(int(rng.integers(-2, 3)), d1, d2))
        if name == "squeeze":
            return name, dict(args=(int(rng.choice([i for i, s in enumerate(shape) if s == 1])),))
        if name == "expand":
            new = tuple(int(rng.integers(1, 4)) if s == 1 else s for s in shape)
            return name, dict(shape=new if rng.random() < 0.7 else (2, *new))
        if name == "flatten":
            return name, dict(args=(int(rng.integers(-nd, nd)) if nd else 0,))
        return name, {}

    def _factor(self, shape):
        n = int(np.prod(shape))
        if n == 0:
            return (0, int(self.rng.integers(1, 4)))
        factors, k = [], 2
        while n > 1:
            while n % k == 0:
                factors.append(k)
                n //= k
            k += 1
        self.rng.shuffle(factors)
        groups = [1] * int(self.rng.integers(1, 4))
        for f in factors:
            groups[int(self.rng.integers(len(groups)))] *= f
        if self.rng.random() < 0.3:
            groups[int(self.rng.integers(len(groups)))] = -1
        return tuple(groups)

    # --- in-place ops
    def _inplace_target(self):
        import torch

        floats = []
        for i in self._floats():
            t = self.values[i]
            if not (t.requires_grad and t.grad_fn is not None and t._base is None and t.numel()):
                continue
            if self.kind_of[i] == "view" or self.producer[i] in VIEW_OR_COPY:
                continue  # torch may have copied where ember made a view: both are right
            if self.producer[i] in self.sheltered_names:
                continue
            readers = self.readers.get(i, ())
            if any(kind == "view" or name in VIEW_OR_COPY for kind, name, _ in readers):
                continue  # ember may have made a view where torch copied (or the reverse)
            if f"inplace-on:{self.producer[i]}" in KNOWN_BUGS or any(
                f"inplace-input:{name}" in KNOWN_BUGS
                or (partial and f"saves-all:{name}" in KNOWN_BUGS)
                for _, name, partial in readers
            ):
                continue
            ptr = t.untyped_storage().data_ptr()
            if any(
                j != i and u.numel() and u.untyped_storage().data_ptr() == ptr
                for j, u in self.values.items()
                if isinstance(u, torch.Tensor)
            ):
                continue  # another value aliases it: the out-of-place twin would differ
            floats.append(i)
        return int(self.rng.choice(floats)) if floats else None

    def add_inplace(self):
        vid = self._inplace_target()
        if vid is None or not self.inplace_kinds:
            return False
        kind = str(self.rng.choice(self.inplace_kinds))
        a = self._array(vid)
        if not np.isfinite(a).all():
            return False
        rng, params, others = self.rng, {}, ()
        c = float(np.round(rng.uniform(0.5, 1.5) * rng.choice([-1, 1]), 3))
        if kind in ("mul_s", "add_s", "div_s", "fill_"):
            params["c"] = c
        elif kind in ("exp_", "pow_") and np.abs(a).max() > REUSE_BOUND:
            return False
        elif kind in ("relu_", "abs_") and not _far_from(a, (0.0,)):
            return False
        elif kind in ("clamp_", "masked_fill_"):
            lo, hi = sorted(np.round(rng.uniform(a.min(), a.max(), 2), 3).tolist())
            if not _far_from(a, (lo, hi)):
                return False
            params = dict(lo=lo, hi=hi) if kind == "clamp_" else dict(thr=lo, c=c)
        elif kind == "setitem":
            n = a.shape[0] if a.ndim else 0
            index = (slice(int(rng.integers(0, n + 1)), None),) if n else ()
            params["index"] = index if index else Ellipsis
            sub = np.empty(a.shape)[params["index"]].shape
            if rng.random() < 0.4:
                params["c"] = c
            else:
                others = (self._other_for(sub),)
        elif kind in ("add_t", "sub_t", "mul_t", "copy_"):
            others = (self._other_for(a.shape),)
            if f"inplace-kind:{kind}" in KNOWN_BUGS and not self.values[others[0]].requires_grad:
                return False
            if kind == "add_t":
                params["c"] = c
        step = Step("inplace", kind, (vid, *others), (vid,), params)
        return self._try(step) is not None

    def _other_for(self, shape):
        """A value broadcastable to `shape`: one from the pool, or a fresh leaf."""
        fits = [
            i
            for i in self._floats()
            if not _broadcast_error(self.values[i].shape, shape)
            and np.broadcast_shapes(tuple(self.values[i].shape), shape) == tuple(shape)
            and np.isfinite(self._array(i)).all()
            and np.abs(self._array(i)).max(initial=0) <= REUSE_BOUND
        ]
        if fits and self.rng.random() < 0.6:
            return int(self.rng.choice(fits))
        cut = int(self.rng.integers(0, len(shape) + 1))
        return self.add_leaf(tuple(shape)[cut:])


def _broadcast_error(a, b):
    try:
        np.broadcast_shapes(tuple(a), tuple(b))
        return False
    except ValueError:
        return True
