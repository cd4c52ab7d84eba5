"""Max pooling on inputs large enough for the bit-mask selects, against PyTorch."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def _both(array):
    return (
        ember.tensor(array, requires_grad=True),
        torch.tensor(array, requires_grad=True),
    )


@pytest.mark.parametrize(
    "kw",
    [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=3, stride=1)],
)
def test_values_indices_and_gradients(kw):
    rng = np.random.default_rng(0)
    # small integers: many ties, where the first offset must win, as PyTorch's
    x = rng.integers(-3, 3, (4, 8, 30, 30)).astype(np.float32)
    x[0, 0, :4, :4] = np.nan
    ex, tx = _both(x)
    eo, ei = ember.nn.functional.max_pool2d(ex, return_indices=True, **kw)
    to, ti = torch.nn.functional.max_pool2d(tx, return_indices=True, **kw)
    np.testing.assert_array_equal(eo.detach().numpy(), to.detach().numpy())
    np.testing.assert_array_equal(ei.numpy(), ti.numpy())
    cot = rng.standard_normal(to.shape).astype(np.float32)
    (eg,) = ember.autograd.grad((eo * ember.tensor(cot)).sum(), ex)
    (tg,) = torch.autograd.grad((to * torch.tensor(cot)).sum(), tx)
    np.testing.assert_allclose(eg.detach().numpy(), tg.detach().numpy(), rtol=1e-6, atol=1e-6)


def test_gradient_of_gradient_through_the_cotangent():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 40, 40)).astype(np.float32)
    c = rng.standard_normal((2, 4, 20, 20)).astype(np.float32)
    w = rng.standard_normal(x.shape).astype(np.float32)
    results = []
    for lib in (ember, torch):
        xt, ct = lib.tensor(x), lib.tensor(c, requires_grad=True)
        xt.requires_grad_(True)
        out = lib.nn.functional.max_pool2d(xt, 2)
        (g,) = lib.autograd.grad((out * ct).sum(), xt, create_graph=True)
        (gc,) = lib.autograd.grad((g * lib.tensor(w)).sum(), ct)
        results.append(gc.detach().numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6)
