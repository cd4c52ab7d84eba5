"""Shared helpers: the same float64 parameters as ember and torch leaves, and comparisons."""

import numpy as np

import ember


def leaves(lib, arrays, grad=True):
    """{name: float64 leaf tensor of lib} from {name: numpy array}."""
    out = {}
    for name, a in arrays.items():
        a = np.asarray(a)
        if a.dtype.kind == "f":
            out[name] = lib.tensor(a, dtype=lib.float64, requires_grad=grad)
        else:
            out[name] = lib.tensor(a)
    return out


def to_numpy(t):
    if isinstance(t, ember.Tensor):
        return t.detach().numpy()
    return t.detach().cpu().numpy()


def close(mine, theirs, rtol=1e-10, atol=1e-12, msg=""):
    np.testing.assert_allclose(
        to_numpy(mine), to_numpy(theirs), rtol=rtol, atol=atol, equal_nan=True, err_msg=msg
    )


def grads(lib, outputs, inputs, seed=0):
    """Gradients of sum(w_i * out_i) over the finite entries of each output, w random."""
    rng = np.random.default_rng(seed)
    total = 0
    for out in outputs:
        if not out.dtype.is_floating_point or not out.requires_grad:
            continue
        w = rng.standard_normal(tuple(out.shape))
        finite = np.isfinite(to_numpy(out))
        w = lib.tensor(np.where(finite, w, 0.0), dtype=out.dtype)
        total = total + lib.where(lib.tensor(finite), out, lib.zeros_like(out)).mul(w).sum()
    if isinstance(total, int):
        return [None] * len(inputs)
    return lib.autograd.grad(total, inputs, allow_unused=True)
