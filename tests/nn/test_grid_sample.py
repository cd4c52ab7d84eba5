"""affine_grid and grid_sample against torch (values, input and grid gradients) and against
finite differences."""

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck

F = ember.nn.functional


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
def test_grid_sample_matches_torch(align_corners, mode, padding_mode, torch):
    rng = np.random.default_rng(0)
    theta, x = rng.standard_normal((2, 2, 3)) * 0.6, rng.standard_normal((2, 3, 6, 7))
    w = rng.standard_normal((2, 3, 5, 4))
    grads = {}
    for lib, make in ((torch, torch.tensor), (ember, ember.tensor)):
        t, inp = make(theta, requires_grad=True), make(x, requires_grad=True)
        grid = lib.nn.functional.affine_grid(t, (2, 3, 5, 4), align_corners=align_corners) * 1.7
        out = lib.nn.functional.grid_sample(
            inp, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners
        )
        (out * make(w)).sum().backward()
        theta_grad = None if t.grad is None else t.grad.numpy()
        grads[lib.__name__] = (out.detach().numpy(), inp.grad.numpy(), theta_grad)
    ours, theirs = grads["ember"], grads["torch"]
    np.testing.assert_allclose(ours[0], theirs[0], atol=1e-12)
    np.testing.assert_allclose(ours[1], theirs[1], atol=1e-12)
    if mode == "nearest":  # piecewise constant in the grid: torch gives zeros, ember None
        assert ours[2] is None and not theirs[2].any()
    else:
        np.testing.assert_allclose(ours[2], theirs[2], atol=1e-10)


@pytest.mark.parametrize("align_corners", [False, True])
def test_affine_grid_3d_matches_torch(align_corners, torch):
    theta = np.random.default_rng(1).standard_normal((2, 3, 4))
    ours = F.affine_grid(ember.tensor(theta), (2, 1, 3, 4, 5), align_corners=align_corners)
    theirs = torch.nn.functional.affine_grid(
        torch.tensor(theta), (2, 1, 3, 4, 5), align_corners=align_corners
    )
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-12)


def test_bilinear_gradients_match_finite_differences():
    rng = np.random.default_rng(2)
    x = ember.tensor(rng.standard_normal((1, 2, 4, 5)), requires_grad=True)
    grid = ember.tensor(rng.uniform(-1.1, 1.1, (1, 3, 3, 2)), requires_grad=True)
    for padding_mode in ("zeros", "border", "reflection"):
        assert gradcheck(
            lambda a, g, p=padding_mode: F.grid_sample(a, g, padding_mode=p, align_corners=False),
            (x, grid),
        )


def test_errors_and_the_align_corners_warning():
    x, grid = ember.zeros(1, 1, 3, 3), ember.zeros(1, 2, 2, 2)
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        F.grid_sample(x, grid)
    with pytest.raises(ValueError, match="expected mode to be 'bilinear', 'nearest'"):
        F.grid_sample(x, grid, mode="area", align_corners=False)
    with pytest.raises(ValueError, match="expected padding_mode"):
        F.grid_sample(x, grid, padding_mode="wrap", align_corners=False)
    with pytest.raises(RuntimeError, match="same batch size"):
        F.grid_sample(ember.zeros(2, 1, 3, 3), grid, align_corners=False)
    with pytest.raises(NotImplementedError, match="bicubic"):
        F.grid_sample(x, grid, mode="bicubic", align_corners=False)
    with pytest.raises(ValueError, match="Nx2x3"):
        F.affine_grid(ember.zeros(1, 3, 3), (1, 1, 4, 4), align_corners=False)
