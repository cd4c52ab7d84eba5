"""The fuzzer's programs: steps (leaves, table ops, views, in-place ops, squashes), how one
step runs in ember or torch, and a Program's listing."""

from __future__ import annotations

import dataclasses

import numpy as np

# ----------------------------------------------------------------------------- steps


@dataclasses.dataclass
class Step:
    """One step. `inputs` are value ids read (an in-place step's target first); `outputs`
    the ids written (an in-place step rewrites its target)."""

    kind: str  # leaf | op | view | inplace | squash
    name: str
    inputs: tuple
    outputs: tuple
    params: dict

    def describe(self):
        ins = ", ".join(f"v{i}" for i in self.inputs)
        outs = ", ".join(f"v{i}" for i in self.outputs)
        p = self.params
        if self.kind == "leaf":
            return f"{outs} = leaf {p['dtype']} {tuple(p['array'].shape)} rg={p['requires_grad']}"
        if self.kind == "op":
            kw = "".join(f", {k}={v!r}" for k, v in p["kwargs"].items())
            return f"{outs} = OPS[{self.name!r}].call(lib, {ins}{kw})"
        if self.kind == "squash":
            return f"{outs} = lib.tanh({ins} * {p['scale']!r}) * {p['half']!r} + {p['mid']!r}"
        args = ", ".join(f"{k}={v!r}" for k, v in p.items())
        if self.kind == "view":
            return f"{outs} = view {self.name}({ins}, {args})"
        return f"inplace {self.name}({ins}, {args})"


def to_numpy(t):
    return np.array(t.detach().numpy(), copy=True)


def _view(x, name, p):
    if name in ("reshape", "view"):
        return getattr(x, name)(p["shape"])
    if name == "index":
        return x[p["index"]]
    if name == "permute":
        return x.permute(*p["dims"])
    if name == "expand":
        return x.expand(*p["shape"])
    return getattr(x, name)(*p.get("args", ()))  # transpose, unsqueeze, squeeze, narrow, ...


# in-place kind -> (the in-place op, its out-of-place twin), evaluated with the target `x`,
# the other tensor `o`, the step's constants and `lib`
INPLACE_CODE = {
    "mul_s": ("x.mul_(c)", "x * c"),
    "add_s": ("x.add_(c)", "x + c"),
    "div_s": ("x.div_(c)", "x / c"),
    "add_t": ("x.add_(o, alpha=c)", "x.add(o, alpha=c).to(x.dtype)"),
    "sub_t": ("x.sub_(o)", "(x - o).to(x.dtype)"),
    "mul_t": ("x.mul_(o)", "(x * o).to(x.dtype)"),
    "copy_": ("x.copy_(o)", "o.to(x.dtype).expand(x.shape).clone()"),
    "clamp_": ("x.clamp_(lo, hi)", "x.clamp(lo, hi)"),
    "masked_fill_": ("x.masked_fill_(x > thr, c)", "x.masked_fill(x > thr, c)"),
    "pow_": ("x.pow_(2)", "x.pow(2)"),
    "fill_": ("x.fill_(c)", "lib.full_like(x, c)"),
    "zero_": ("x.zero_()", "lib.zeros_like(x)"),
    "setitem": ("_setitem(x, index, c if o is None else o)",
                "_setitem(x.clone(), index, c if o is None else o)"),
    **{f"{f}_": (f"x.{f}_()", f"lib.{f}(x)") for f in "neg tanh sigmoid exp sin relu abs".split()},
}  # fmt: skip
INPLACE = {k: tuple(compile(c, k, "eval") for c in v) for k, v in INPLACE_CODE.items()}


def _setitem(x, index, value):
    x[index] = value
    return x


def execute_step(step, values, lib, as_float64=False, twin=False):
    """Run one step in `lib`, storing its results in `values`; return the ids written."""
    p, ins = step.params, [values[i] for i in step.inputs]
    if step.kind == "leaf":
        array = p["array"].astype(p["dtype"])
        dtype = getattr(lib, "float64" if as_float64 else p["dtype"])
        values[step.outputs[0]] = lib.tensor(array, dtype=dtype, requires_grad=p["requires_grad"])
        return step.outputs
    if step.kind == "op":
        result = p["spec"].call(lib, *ins, **p["kwargs"])
        outs = list(result) if isinstance(result, (tuple, list)) else [result]
        if not all(hasattr(o, "requires_grad") for o in outs):
            raise TypeError(f"{step.name} returned {type(result).__name__}, not tensors")
        known = step.params.get("n_out")
        if known is not None and known != len(outs):
            raise RuntimeError(f"{step.name} returned {len(outs)} tensors, torch {known}")
        ids = tuple(range(step.outputs[0], step.outputs[0] + len(outs)))
        values.update(zip(ids, outs))
        return ids
    if step.kind == "view":
        values[step.outputs[0]] = _view(ins[0], step.name, p)
        return step.outputs
    if step.kind == "squash":
        values[step.outputs[0]] = lib.tanh(ins[0] * p["scale"]) * p["half"] + p["mid"]
        return step.outputs
    code = INPLACE[step.name][1 if twin else 0]
    scope = dict(p, lib=lib, x=ins[0], o=ins[1] if len(ins) > 1 else None, _setitem=_setitem)
    values[step.outputs[0]] = eval(code, scope)  # noqa: S307 - our own table of expressions
    return step.outputs


@dataclasses.dataclass
class Program:
    steps: list
    grad_seed: int
    second_order: bool
    forward_mode: bool = False  # also compare forward-mode tangents with torch's
    vmap: bool = False  # also run under vmap over a batch, against a per-sample loop

    def leaf_ids(self):
        return [s.outputs[0] for s in self.steps if s.kind == "leaf"]

    def has_float32(self):
        return any(s.kind == "leaf" and s.params["dtype"] == "float32" for s in self.steps)

    def output_ids(self, torch_values):
        """Every non-leaf float value that requires grad in torch, as it ends the program."""
        ids = dict.fromkeys(i for s in self.steps if s.kind != "leaf" for i in s.outputs)
        return [
            i for i in ids if torch_values[i].is_floating_point() and torch_values[i].requires_grad
        ]

    def without_step(self, k):
        """This program less step k and every step that reads what step k made."""
        removed = set() if self.steps[k].kind == "inplace" else set(self.steps[k].outputs)
        kept = []
        for j, s in enumerate(self.steps):
            if j == k:
                continue
            if removed.intersection(s.inputs):
                if s.kind != "inplace":
                    removed.update(s.outputs)
                continue
            kept.append(s)
        if not any(s.kind != "leaf" for s in kept):
            return None
        return Program(kept, self.grad_seed, self.second_order, self.forward_mode, self.vmap)

    def listing(self):
        order = "second" if self.second_order else "first"
        mode = ", forward mode" if self.forward_mode else ""
        mode += ", vmap" if self.vmap else ""
        head = f"# {order}-order gradients{mode}"
        return "\n".join([head] + [s.describe() for s in self.steps])
