"""Run an ember module and the same torch module (same weights) and compare everything."""

import numpy as np

import ember

TOL = {
    "float32": dict(rtol=1e-4, atol=1e-5),
    "float64": dict(rtol=1e-7, atol=1e-9),
}


def to_torch_state(torch, module, dtype):
    """ember state_dict values as torch tensors of `dtype` (integers keep theirs)."""
    state = {}
    for key, value in module.state_dict().items():
        array = np.array(value.numpy())
        t = torch.tensor(array)
        state[key] = t.to(getattr(torch, dtype)) if t.is_floating_point() else t
    return state


def build_pair(torch, name, args, kwargs, dtype):
    """The same layer in ember and torch, with ember's (random) weights copied into torch."""
    emod = getattr(ember.nn, name)(*args, **kwargs).to(getattr(ember, dtype))
    tmod = getattr(torch.nn, name)(*args, **kwargs).to(getattr(torch, dtype))
    tmod.load_state_dict(to_torch_state(torch, emod, dtype))
    return emod, tmod


def assert_close(actual, expected, dtype, what):
    a = actual.detach().numpy() if hasattr(actual, "detach") else np.asarray(actual)
    e = expected.detach().numpy()
    assert a.shape == e.shape, f"{what}: shape {a.shape} vs torch {e.shape}"
    np.testing.assert_allclose(a, e, err_msg=what, **TOL[dtype])


def run_both(torch, emod, tmod, arrays, dtype, rng, ints=()):
    """Forward both modules, backward a random cotangent; compare outputs and all gradients."""
    e_inputs, t_inputs = [], []
    for i, a in enumerate(arrays):
        if i in ints:
            e_inputs.append(ember.tensor(a))
            t_inputs.append(torch.tensor(a))
        else:
            e_inputs.append(ember.tensor(a, dtype=getattr(ember, dtype), requires_grad=True))
            t_inputs.append(torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=True))
    e_out = emod(*e_inputs)
    t_out = tmod(*t_inputs)
    if isinstance(t_out, tuple):
        e_out, t_out = e_out[0], t_out[0]
    assert_close(e_out, t_out, dtype, "forward")
    if not t_out.requires_grad:
        return e_out, t_out
    cotangent = rng.standard_normal(tuple(t_out.shape))
    e_out.backward(ember.tensor(cotangent, dtype=e_out.dtype))
    t_out.backward(torch.tensor(cotangent, dtype=t_out.dtype))
    for i, (e, t) in enumerate(zip(e_inputs, t_inputs)):
        if i not in ints:
            assert e.grad is not None, f"input {i} got no gradient"
            assert_close(e.grad, t.grad, dtype, f"input {i} gradient")
    t_params = dict(tmod.named_parameters())
    for name, p in emod.named_parameters():
        expected = t_params[name].grad
        if expected is None:
            assert p.grad is None or not p.grad.numpy().any(), f"{name} has a gradient"
        else:
            assert p.grad is not None, f"{name} got no gradient"
            assert_close(p.grad, expected, dtype, f"{name} gradient")
    return e_out, t_out
