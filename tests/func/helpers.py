"""Shared helpers of the ember.func tests: the same code run in ember and in PyTorch."""

import numpy as np

import ember


def numpy_of(tensor):
    return np.asarray(tensor.detach().numpy())


def assert_close(got, expected, rtol=1e-9, atol=1e-11, path="result"):
    """`got` (ember) has the pytree structure, shapes and values of `expected` (torch)."""
    if isinstance(expected, dict):
        assert isinstance(got, dict), f"{path}: {type(got)} is not a dict"
        assert list(got) == list(expected), f"{path}: keys {list(got)} != {list(expected)}"
        for key in expected:
            assert_close(got[key], expected[key], rtol, atol, f"{path}[{key!r}]")
    elif isinstance(expected, (tuple, list)):
        kind = tuple if isinstance(expected, tuple) else list
        assert isinstance(got, kind), f"{path}: {type(got)} is not a {kind.__name__}"
        assert len(got) == len(expected), f"{path}: length {len(got)} != {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            assert_close(g, e, rtol, atol, f"{path}[{i}]")
    elif hasattr(expected, "detach"):
        assert isinstance(got, ember.Tensor), f"{path}: {type(got)} is not a Tensor"
        assert tuple(got.shape) == tuple(expected.shape), (
            f"{path}: shape {tuple(got.shape)} != {tuple(expected.shape)}"
        )
        np.testing.assert_allclose(
            numpy_of(got), expected.detach().numpy(), rtol=rtol, atol=atol, err_msg=path
        )
    else:
        assert got == expected, path


def tensors(torch, *arrays):
    """The float64 arrays as ember tensors and as torch tensors."""
    return (
        tuple(ember.tensor(np.asarray(a)) for a in arrays),
        tuple(torch.tensor(np.asarray(a)) for a in arrays),
    )


def run_both(torch, run):
    """run(lib, func) in ember (ember, ember.func) and in PyTorch (torch, torch.func)."""
    import torch.func

    return run(ember, ember.func), run(torch, torch.func)


def error_of(call):
    try:
        call()
    except Exception as e:  # noqa: BLE001 - the error itself is what is compared
        return type(e), str(e)
    raise AssertionError("no error raised")


def assert_same_error(torch, run):
    """run(lib, func) raises the same error type and message in ember as in PyTorch (ember's
    message may add a detail after PyTorch's words)."""
    import torch.func

    import ember.func

    got = error_of(lambda: run(ember, ember.func))
    expected = error_of(lambda: run(torch, torch.func))
    assert got[0] is expected[0], (got, expected)
    assert got[1].startswith(expected[1].replace("torch.", "ember.")), (got, expected)
