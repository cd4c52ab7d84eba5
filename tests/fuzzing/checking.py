"""Running a program in ember and torch and comparing values, gradients and second-order
gradients (float32 judged against torch's own float32 error); shrinking a mismatch."""

from __future__ import annotations

import dataclasses

import numpy as np

import ember
from tests.fuzzing.program import execute_step, to_numpy

# ----------------------------------------------------------------------------- running


@dataclasses.dataclass
class Mismatch:
    program: int
    kind: str  # value, shape, dtype, requires_grad, ember_raised, grad, gradgrad, ...
    step: int | None
    detail: str
    listing: str = ""

    def __str__(self):
        where = f" at step {self.step}" if self.step is not None else ""
        return f"program {self.program}: {self.kind}{where}: {self.detail}"


@dataclasses.dataclass
class Stats:
    programs: int = 0
    ops: int = 0  # steps run in ember other than leaves: table ops, views, in-place, squash
    table_ops: int = 0
    views: int = 0
    inplace: int = 0
    gradgrad_programs: int = 0
    forward_mode_programs: int = 0  # output tangents compared with torch's forward_ad
    vmap_programs: int = 0  # run under vmap over 3 samples, compared with a per-sample loop
    vmap_torch_programs: int = 0  # of those, also compared with torch.func.vmap
    torch_backward_refused: int = 0  # in-place on a saved tensor: judged against the twin
    torch_silently_wrong: int = 0  # torch's in-place backward differs from its own twin
    mismatches: list = dataclasses.field(default_factory=list)

    def summary(self):
        return (
            f"programs run: {self.programs}, ops executed: {self.ops} (table ops "
            f"{self.table_ops}, views {self.views}, in-place {self.inplace}), second-order "
            f"programs: {self.gradgrad_programs}, forward-mode programs: "
            f"{self.forward_mode_programs}, vmap programs: {self.vmap_programs} (also "
            f"against torch.func.vmap: {self.vmap_torch_programs}), torch backward refused "
            "(checked against the "
            f"out-of-place twin): {self.torch_backward_refused}, torch silently wrong: "
            f"{self.torch_silently_wrong}, mismatches: {len(self.mismatches)}"
        )


class StepFailed(Exception):
    def __init__(self, index, error):
        super().__init__(f"step {index}: {type(error).__name__}: {error}")
        self.index, self.error = index, error


class Run:
    """A program executed in one library: values by id, and a snapshot after every step.

    `as_float64` runs a float32 program in float64 on the same (float32-rounded) data;
    `twin` replaces each in-place op by its out-of-place twin."""

    def __init__(self, lib, program, as_float64=False, twin=False, tangents=None):
        self.lib, self.program = lib, program
        self.as_float64, self.twin = as_float64, twin
        self.tangents = tangents  # leaf id -> tangent array: leaves become dual tensors
        self.values = {}
        self.snapshots = []  # per step: [(value id, array, requires_grad)]

    def run(self):
        for k, step in enumerate(self.program.steps):
            try:
                ids = execute_step(step, self.values, self.lib, self.as_float64, self.twin)
                if self.tangents is not None and step.kind == "leaf":
                    self._make_dual(ids[0])
            except Exception as e:  # noqa: BLE001 - reported with its step
                raise StepFailed(k, e) from e
            self.snapshots.append(
                [(i, to_numpy(self.values[i]), bool(self.values[i].requires_grad)) for i in ids]
            )
        return self

    def leaf_ids(self):
        return [i for i in self.program.leaf_ids() if self.values[i].requires_grad]

    def _make_dual(self, vid):
        tangent = self.tangents.get(vid)
        if tangent is not None:
            leaf = self.values[vid]
            direction = self.lib.tensor(tangent, dtype=leaf.dtype)
            self.values[vid] = self.lib.autograd.forward_ad.make_dual(leaf, direction)

    def output_tangents(self, out_ids):
        """The tangents the outputs carry (run inside a dual level), as arrays."""
        unpack = self.lib.autograd.forward_ad.unpack_dual
        tangents = [unpack(self.values[i]).tangent for i in out_ids]
        return [None if t is None else to_numpy(t) for t in tangents]

    def gradients(self, out_ids, cotangents, second_vectors=None):
        """Grads of sum(out * cot) w.r.t. the leaves; with second_vectors, also the grads of
        sum(grad * v) (second order). Returns (first, first dtypes, second) as arrays."""
        lib = self.lib
        leaves = [self.values[i] for i in self.leaf_ids()]
        outs, cots = [], []
        for vid, cot in zip(out_ids, cotangents):
            t = self.values[vid]
            if t.requires_grad:
                outs.append(t)
                cots.append(lib.tensor(cot, dtype=t.dtype))
        if not outs or not leaves:
            return None
        create = second_vectors is not None
        g1 = lib.autograd.grad(outs, leaves, cots, allow_unused=True, create_graph=create)
        first = [None if g is None else to_numpy(g) for g in g1]
        dtypes = [None if g is None else str(g.dtype).split(".")[-1] for g in g1]
        if not create:
            return first, dtypes, None
        total = None
        for g, v in zip(g1, second_vectors):
            if g is not None and g.requires_grad:
                term = (g * lib.tensor(v, dtype=g.dtype)).sum()
                total = term if total is None else total + term
        if total is None:
            return first, dtypes, [None] * len(leaves)
        g2 = lib.autograd.grad(total, leaves, allow_unused=True)
        return first, dtypes, [None if g is None else to_numpy(g) for g in g2]


# ----------------------------------------------------------------------------- comparing


def close(actual, expected, reference=None, float32=False, own_reference=None):
    """True when ember's `actual` matches torch's `expected` (NaN equals NaN, inf equals inf).

    `reference` is torch's float64 result for a float32 program: the tolerance grows by how
    far rounding moves torch's own result. That estimate fails where torch's float32 terms
    happen to cancel exactly and ember's, summed in another order, leave an ulp of a large
    intermediate (d2/dv2 of v / v near v = 0). So for second-order results, `own_reference`
    is ember's float64 result: when it matches torch's float64 one to float64 precision (the
    formulas agree), how far rounding moves ember's result counts as noise too."""
    if actual.shape != expected.shape:
        return False
    if expected.dtype.kind not in "fc":
        if np.array_equal(actual, expected):
            return True
        # indices may legitimately differ where float32 rounding reorders values
        return reference is not None and not np.array_equal(expected, reference)
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    # float64: torch itself uses float32 constants in a few float64 kernels (hardsigmoid's
    # slope is 0.1666666716), so 1e-6 rather than machine precision
    rtol, atol = (2e-4, 2e-5) if float32 else (1e-6, 1e-7)
    finite = np.isfinite(e)
    scale = max(1.0, float(np.abs(e[finite]).max())) if finite.any() else 1.0
    noise = 0.0
    if reference is not None and reference.shape == e.shape:
        # the largest finite rounding effect anywhere in the tensor (an element where torch
        # happens to round well says little about ember's), inf where rounding flips nan/inf
        noise = np.abs(e - reference.astype(np.float64))
        finite_noise = noise[np.isfinite(noise)]
        level = float(finite_noise.max()) if finite_noise.size else 0.0
        noise = np.where(np.isfinite(noise), level, np.inf)
        if own_reference is not None and own_reference.shape == e.shape:
            own = own_reference.astype(np.float64)
            if close(own, reference.astype(np.float64)):
                drift = np.abs(a - own)
                drift = float(drift[np.isfinite(drift)].max(initial=0.0))
                noise = np.maximum(noise, drift)
    tol = atol * scale + rtol * np.abs(e) + 8 * noise
    ok = (np.isnan(a) & np.isnan(e)) | (a == e) | (np.abs(a - e) <= tol)
    return bool(ok.all())


def _diff(actual, expected):
    if actual.shape != expected.shape:
        return f"shape {actual.shape} vs torch {expected.shape}"
    d = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    d = np.where(np.isnan(d) & ~(np.isnan(actual) & np.isnan(expected)), np.inf, d)
    d = np.nan_to_num(d, nan=0.0)
    if d.size == 0:
        return "empty"
    i = np.unravel_index(int(np.argmax(d)), d.shape)
    return f"max |diff| {d[i]:.3g} at {i}: ember {actual[i]!r} vs torch {expected[i]!r}"


def compare_steps(program, mine, theirs, ref, index, float32):
    """The first step whose outputs differ (count, shape, dtype, requires_grad or values)."""
    for k, (a_snap, e_snap) in enumerate(zip(mine.snapshots, theirs.snapshots)):
        r_snap = ref.snapshots[k] if ref is not None else [None] * len(e_snap)
        what = program.steps[k].describe()
        if len(a_snap) != len(e_snap):
            return Mismatch(index, "outputs", k, f"{what}: {len(a_snap)} vs {len(e_snap)}")
        for (vid, a, a_rg), (_, e, e_rg), r in zip(a_snap, e_snap, r_snap):
            if a.shape != e.shape:
                return Mismatch(index, "shape", k, f"{what}: v{vid} {a.shape} vs {e.shape}")
            if a.dtype != e.dtype:
                return Mismatch(index, "dtype", k, f"{what}: v{vid} {a.dtype} vs {e.dtype}")
            if a_rg != e_rg and e.dtype.kind == "f":
                return Mismatch(index, "requires_grad", k, f"{what}: v{vid} {a_rg} vs {e_rg}")
            if not close(a, e, None if r is None else r[1], float32):
                return Mismatch(index, "value", k, f"{what}: v{vid} {_diff(a, e)}")
    return None


def _compare_grads(kind, mine, theirs, refs, leaf_ids, index, float32, own_refs=None):
    for n, (a, e) in enumerate(zip(mine, theirs)):
        if a is None and e is None:
            continue
        a = np.zeros_like(e) if a is None else a
        e = np.zeros_like(a) if e is None else e
        r = refs[n] if refs is not None else None
        own = own_refs[n] if own_refs is not None else None
        if not close(a, e, r, float32, own):
            return Mismatch(index, kind, None, f"leaf v{leaf_ids[n]}: {_diff(a, e)}")
    return None


def _is_version_error(error):
    return isinstance(error, RuntimeError) and "modified by an inplace" in str(error)


def _safe_run(lib, program, **kw):
    try:
        return Run(lib, program, **kw).run()
    except StepFailed:
        return None


def _grads(run, out_ids, cots, second):
    """A run's gradients, "refused" for a version-counter error, None for other errors."""
    if run is None:
        return None
    try:
        return run.gradients(out_ids, cots, second)
    except RuntimeError as e:
        return "refused" if _is_version_error(e) else None


def _torch_truth(program, theirs, out_ids, cots, second, stats):
    """torch's gradients, as (grads, from the twin?, may ember refuse?).

    With in-place steps the out-of-place twin is the truth: torch refuses some in-place
    programs' backward (a saved tensor changed), and gets a few silently wrong (a saved view
    it does not version-check, as in kron); ember may refuse both."""
    import torch

    expected = _grads(theirs, out_ids, cots, second)
    if not any(s.kind == "inplace" for s in program.steps):
        return (expected if isinstance(expected, tuple) else None), False, False
    truth = _grads(_safe_run(torch, program, twin=True), out_ids, cots, second)
    if not isinstance(truth, tuple):
        return None, True, True
    if expected == "refused":
        stats.torch_backward_refused += 1
        return truth, True, True
    if expected is None:  # torch failed otherwise first (its scatter with a larger src), so
        return truth, True, True  # whether it would refuse too is unknown: excuse a refusal
    wrong = isinstance(expected, tuple) and any(
        _compare_grads("grad", a, b, None, [0] * len(a), 0, True)
        for a, b in zip(expected[::2], truth[::2])
        if a is not None and b is not None
    )
    stats.torch_silently_wrong += wrong
    return truth, True, wrong


def check_program(program, index, stats=None):
    """Run `program` in ember and torch; return the first Mismatch, or None."""
    import torch

    stats = stats if stats is not None else Stats()
    float32 = program.has_float32()
    theirs = Run(torch, program).run()
    counted = [s.kind for s in program.steps if s.kind != "leaf"]
    stats.ops += len(counted)
    stats.table_ops += counted.count("op")
    stats.views += counted.count("view")
    stats.inplace += counted.count("inplace")
    try:
        mine = Run(ember, program).run()
    except StepFailed as f:
        what = program.steps[f.index].describe()
        error = f"{type(f.error).__name__}: {f.error}"
        return Mismatch(index, "ember_raised", f.index, f"{what}: {error}")
    ref = _safe_run(torch, program, as_float64=True) if float32 else None
    found = compare_steps(program, mine, theirs, ref, index, float32)
    if found:
        return found

    out_ids = program.output_ids(theirs.values)
    leaf_ids = theirs.leaf_ids()
    if not out_ids or not leaf_ids:
        return None
    rng = np.random.default_rng(program.grad_seed)
    cots = [
        rng.standard_normal(theirs.values[i].shape).astype(to_numpy(theirs.values[i]).dtype)
        for i in out_ids
    ]
    second = None
    if program.second_order:
        second = [rng.standard_normal(theirs.values[i].shape) for i in leaf_ids]
        stats.gradgrad_programs += 1

    expected, twin, excused = _torch_truth(program, theirs, out_ids, cots, second, stats)
    if expected is None:
        return None
    reference = None
    if float32:
        ref_run = _safe_run(torch, program, as_float64=True, twin=twin)
        reference = _grads(ref_run, out_ids, cots, second)
        reference = reference if isinstance(reference, tuple) else None
    try:
        got = mine.gradients(out_ids, cots, second)
    except Exception as e:  # noqa: BLE001
        if excused and _is_version_error(e):
            return None  # torch refuses too, or silently gets it wrong
        return Mismatch(index, "ember_raised_backward", None, f"{type(e).__name__}: {e}")
    if got is None:
        if any(g is not None and np.any(g) for g in expected[0]):
            return Mismatch(index, "grad", None, "no ember output requires grad")
        return None
    found = _compare_grads(
        "grad", got[0], expected[0], reference and reference[0], leaf_ids, index, float32
    )
    if found:
        return found
    for n, (a, e) in enumerate(zip(got[1], expected[1])):
        if a is not None and e is not None and a != e:
            return Mismatch(index, "grad_dtype", None, f"leaf v{leaf_ids[n]}: {a} vs {e}")
    if second is not None:
        r2 = reference[2] if reference else None
        own = _own_float64_second_order(program, out_ids, cots, second) if r2 else None
        found = _compare_grads("gradgrad", got[2], expected[2], r2, leaf_ids, index, float32, own)
        if found:
            return found
    if program.forward_mode and not float32:
        found = _check_forward_mode(program, out_ids, leaf_ids, rng, index, stats)
        if found:
            return found
    if program.vmap and not float32:
        return _check_vmap(program, out_ids, index, stats)
    return None


VMAP_BATCH = 3


def _vmap_inputs(program):
    """Each leaf's data as a batch: the program's own and two nearby draws."""
    rng = np.random.default_rng([program.grad_seed, 11])
    batches = []
    for step in program.steps:
        if step.kind == "leaf":
            array = step.params["array"].astype("float64")
            noise = [1e-3 * rng.standard_normal(array.shape) for _ in range(VMAP_BATCH - 1)]
            batches.append(np.stack([array] + [array + n for n in noise]))
    return batches


def _program_function(program, lib, out_ids):
    """The program as a function of its leaves' tensors, returning the values at out_ids."""

    def run(*leaves):
        values, given = {}, iter(leaves)
        for step in program.steps:
            if step.kind == "leaf":
                values[step.outputs[0]] = next(given)
            else:
                execute_step(step, values, lib)
        return tuple(values[i] for i in out_ids)

    return run


def _check_vmap(program, out_ids, index, stats):
    """vmap of the program over a batch of 3 equals running each sample alone (in ember), and
    torch.func.vmap where torch can vmap the program."""
    import torch

    batches = _vmap_inputs(program)
    grads = [s.params["requires_grad"] for s in program.steps if s.kind == "leaf"]

    def loop(lib):
        rows = []
        for k in range(VMAP_BATCH):
            leaves = [lib.tensor(b[k], requires_grad=g) for b, g in zip(batches, grads)]
            rows.append([to_numpy(v) for v in _program_function(program, lib, out_ids)(*leaves)])
        return [np.stack(parts) for parts in zip(*rows)]

    def vmapped(lib):
        leaves = [lib.tensor(b, requires_grad=g) for b, g in zip(batches, grads)]
        return [
            to_numpy(v) for v in lib.func.vmap(_program_function(program, lib, out_ids))(*leaves)
        ]

    try:
        expected = loop(ember)
    except Exception:  # noqa: BLE001 - the nearby draws left an op's domain: nothing to judge
        return None
    stats.vmap_programs += 1
    try:
        got = vmapped(ember)
    except Exception as e:  # noqa: BLE001
        return Mismatch(index, "vmap_raised", None, f"{type(e).__name__}: {e}")
    for vid, a, e in zip(out_ids, got, expected):
        if a.shape != e.shape or not np.allclose(a, e, rtol=1e-9, atol=1e-12, equal_nan=True):
            return Mismatch(index, "vmap", None, f"v{vid}: {_diff(a, e)}")
    try:
        theirs = vmapped(torch)
    except Exception:  # noqa: BLE001 - torch cannot vmap it (in-place on a batched view, ...)
        return None
    stats.vmap_torch_programs += 1
    for vid, a, e in zip(out_ids, got, theirs):
        if a.shape != e.shape or not np.allclose(a, e, rtol=1e-7, atol=1e-9, equal_nan=True):
            return Mismatch(index, "vmap_torch", None, f"v{vid}: {_diff(a, e)}")
    return None


def _backward_kernel(name):
    """The fused backward kernels of the op table (tanh_grad, lstm_backward, ...)."""
    return name.endswith(("_grad", "_backward")) or name == "max_pool_gather"


def _torch_forward_quirk(step):
    """A step whose torch forward-mode rule disagrees with torch itself: scatter_reduce with
    reduce='prod' gives a zero tangent (finite differences agree with ember; see
    test_op_table_forward), and with amax/amin (include_self=False) it ignores a tie with the
    input that torch's own backward shares the gradient with (ember's tangent follows that
    backward)."""
    return (
        step.kind == "op"
        and step.params["spec"].name == "scatter_reduce"
        and step.params["kwargs"].get("reduce") in ("prod", "amax", "amin")
    )


def _check_forward_mode(program, out_ids, leaf_ids, rng, index, stats):
    """Leaves as dual tensors with random tangents: the outputs' tangents against torch's
    forward_ad on the same program (float64 programs; ones torch's forward mode refuses are
    skipped)."""
    import torch

    if any(s.kind == "op" and _backward_kernel(s.params["spec"].name) for s in program.steps):
        return None  # backward kernels are reached through autograd: reverse mode only
    if any(_torch_forward_quirk(s) for s in program.steps):
        return None
    shapes = {s.outputs[0]: s.params["array"].shape for s in program.steps if s.kind == "leaf"}
    tangents = {i: rng.standard_normal(shapes[i]) for i in leaf_ids}
    # with in-place steps the out-of-place twin is the truth: torch's forward mode can alias a
    # tangent between an op's input and output (frac, ...) and then change both in place
    twin = any(s.kind == "inplace" for s in program.steps)
    try:
        with torch.autograd.forward_ad.dual_level():
            theirs = Run(torch, program, twin=twin, tangents=tangents).run()
            expected = theirs.output_tangents(out_ids)
    except (StepFailed, RuntimeError, NotImplementedError):
        return None
    stats.forward_mode_programs += 1
    try:
        with ember.autograd.forward_ad.dual_level():
            mine = Run(ember, program, tangents=tangents).run()
            got = mine.output_tangents(out_ids)
    except StepFailed as f:
        what = program.steps[f.index].describe()
        return Mismatch(index, "forward_mode_raised", f.index, f"{what}: {f.error}")
    for vid, a, e in zip(out_ids, got, expected):
        if e is None or not np.any(e):
            continue
        # where a value is inf (logsumexp of nothing), its tangent is not defined: torch NaN
        finite = np.isfinite(to_numpy(mine.values[vid]))
        e = np.where(finite, e, 0.0)
        a = None if a is None else np.where(finite, a, 0.0)
        if a is None:
            return Mismatch(index, "forward_mode", None, f"v{vid} carries no tangent")
        if not close(a, e):
            return Mismatch(index, "forward_mode", None, f"tangent of v{vid}: {_diff(a, e)}")
    return None


def _own_float64_second_order(program, out_ids, cots, second):
    """ember's second-order gradients of the program run in float64, or None."""
    try:
        grads = _grads(_safe_run(ember, program, as_float64=True), out_ids, cots, second)
    except Exception:  # noqa: BLE001 - only a tolerance hint; the float64 programs check it
        return None
    return grads[2] if isinstance(grads, tuple) else None


# ----------------------------------------------------------------------------- shrinking


def shrink(program, index, kind, budget=300):
    """Delete steps (with all that depends on them) while a mismatch of this kind stays."""
    best, changed = program, True
    while changed and budget > 0:
        changed = False
        for k in range(len(best.steps) - 1, -1, -1):
            if k >= len(best.steps) or budget <= 0:
                continue
            candidate = best.without_step(k)
            if candidate is None:
                continue
            budget -= 1
            try:
                found = check_program(candidate, index)
            except Exception:  # noqa: BLE001 - torch refused the smaller program
                found = None
            if found is not None and found.kind == kind:
                best, changed = candidate, True
    return best
