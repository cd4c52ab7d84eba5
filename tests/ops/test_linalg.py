"""Linear algebra beyond the op table: errors, named tuples, views, in-place forms, quirks."""

import math
import warnings

import numpy as np
import pytest

import ember


def _pair(torch, array, requires_grad=False):
    return (
        ember.tensor(array, requires_grad=requires_grad),
        torch.tensor(array, requires_grad=requires_grad),
    )


def _close(a, b, **kw):
    np.testing.assert_allclose(
        np.asarray(a.detach().numpy()), b.detach().numpy(), **(kw or dict(rtol=1e-7, atol=1e-9))
    )


# --- singular and indefinite matrices ---
def test_inv_of_a_singular_matrix_raises_linalg_error(torch):
    a = [[1.0, 2.0], [2.0, 4.0]]
    with pytest.raises(torch.linalg.LinAlgError):
        torch.linalg.inv(torch.tensor([[1.0, 2.0], [0.0, 0.0]]))
    with pytest.raises(ember.linalg.LinAlgError, match="linalg.inv: .*singular"):
        ember.linalg.inv(ember.tensor([[1.0, 2.0], [0.0, 0.0]]))
    assert issubclass(ember.linalg.LinAlgError, RuntimeError)
    batch = ember.tensor([np.eye(2), [[0.0, 0.0], [0.0, 0.0]]])
    with pytest.raises(ember.linalg.LinAlgError, match=r"\(Batch element 1\)"):
        ember.linalg.inv(batch)
    assert ember.linalg.det(ember.tensor(a)).item() == pytest.approx(0.0)


def test_det_gradient_at_a_singular_matrix_is_the_cofactor_matrix():
    x = ember.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=ember.float64, requires_grad=True)
    ember.linalg.det(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), [[4.0, -2.0], [-2.0, 1.0]], atol=1e-12)
    y = ember.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]], requires_grad=True)
    assert ember.autograd.gradcheck(ember.linalg.det, [y.double().detach().requires_grad_()])


def test_solve_with_a_singular_matrix_raises():
    with pytest.raises(ember.linalg.LinAlgError, match="linalg.solve: .*singular"):
        ember.linalg.solve(ember.zeros(2, 2), ember.ones(2))


def test_cholesky_names_the_failing_minor_and_batch_element(torch):
    a = np.array([[[4.0, 0.0], [0.0, 1.0]], [[1.0, 2.0], [2.0, 1.0]]])
    with pytest.raises(torch.linalg.LinAlgError, match="order 2"):
        torch.linalg.cholesky(torch.tensor(a))
    with pytest.raises(ember.linalg.LinAlgError) as info:
        ember.linalg.cholesky(ember.tensor(a))
    assert "(Batch element 1)" in str(info.value)
    assert "leading minor of order 2 is not positive-definite" in str(info.value)


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: ember.linalg.inv(ember.ones(2, 3)), "linalg.inv: A must be batches of square"),
        (lambda: ember.linalg.det(ember.ones(3)), "at least 2 dimensions"),
        (lambda: ember.linalg.inv(ember.ones(2, 2, dtype=ember.int64)), "Got Long"),
        (lambda: ember.dot(ember.ones(2), ember.ones(3)), "expected tensor [2] and src [3]"),
        (lambda: ember.mv(ember.ones(2, 2), ember.ones(3)), "mat (2x2), vec (3)"),
        (
            lambda: ember.bmm(ember.ones(2, 2, 3), ember.ones(2, 2, 3)),
            "batch2 tensor to be: [2, 3]",
        ),
        (lambda: ember.outer(ember.ones(2, 2), ember.ones(2)), "outer: Expected 1-D argument"),
        (
            lambda: ember.tensordot(ember.ones(3, 2), ember.ones(3, 3), dims=([1], [0])),
            "size 2 in dim 1 and second has size 3 in dim 0",
        ),
        (
            lambda: ember.einsum("ij,jk", ember.ones(2, 3), ember.ones(4, 4)),
            "einsum(): subscript j has size 4 for operand 1",
        ),
        (
            lambda: ember.linalg.solve(ember.eye(2), ember.ones(3)),
            "linalg.solve: Incompatible shapes of A and B for the equation AX = B (2x2 and 3x1)",
        ),
        (
            lambda: ember.linalg.multi_dot([ember.ones(2, 3), ember.ones(2, 3)]),
            "multi_dot(): tensors 0 and 1 with shapes [2, 3] and [2, 3]",
        ),
        (
            lambda: ember.linalg.cross(ember.ones(2), ember.ones(2)),
            "linalg.cross: inputs dimension -1 must have length 3. Got 2 and 2",
        ),
        (lambda: ember.trace(ember.ones(2, 2, 2)), "trace: expected a matrix"),
        (lambda: ember.tril(ember.ones(3)), "tril: input tensor must have at least 2"),
        (lambda: ember.diagonal(ember.ones(3, 3), 0, 1, -1), "diagonal dimensions cannot be"),
    ],
)
def test_shape_errors_name_the_op_and_shapes(call, words):
    with pytest.raises(RuntimeError) as info:
        call()
    assert words in str(info.value)


def test_einsum_errors_match_torch(torch):
    cases = [
        ("ij,jk->ikk", [(2, 3), (3, 4)]),
        ("ij,jk->iq", [(2, 3), (3, 4)]),
        ("ij,jk", [(2, 3)]),
        ("ij", [(2, 3), (2,)]),
        ("ijk", [(2, 3)]),
        ("ii", [(2, 3)]),
        ("i?", [(2, 3)]),
    ]
    for equation, shapes in cases:
        with pytest.raises(RuntimeError) as expected:
            torch.einsum(equation, *[torch.ones(s) for s in shapes])
        with pytest.raises(RuntimeError) as got:
            ember.einsum(equation, *[ember.ones(s) for s in shapes])
        assert str(got.value) == str(expected.value).split("\n")[0], equation


# --- einsum forms ---
def test_einsum_sublist_and_list_forms_and_implicit_order(torch):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    (ea, ta), (eb, tb) = _pair(torch, a), _pair(torch, b)
    _close(
        ember.einsum(ea, [0, 1], eb, [1, 2], [0, 2]), torch.einsum(ta, [0, 1], tb, [1, 2], [0, 2])
    )
    _close(ember.einsum("ij,jk", [ea, eb]), torch.einsum("ij,jk", [ta, tb]))
    _close(ember.einsum("bA", ea), torch.einsum("bA", ta))  # uppercase sorts first
    _close(ember.einsum("i j , j k -> k i", ea, eb), torch.einsum("ij,jk->ki", ta, tb))
    _close(ember.einsum("...ij->ij", ember.tensor(a[None])), torch.einsum("...ij->ij", ta[None]))


def test_einsum_result_does_not_alias_its_input():
    x = ember.ones(2, 3)
    y = ember.einsum("ij->ji", x)
    y += 1
    assert x.sum().item() == 6.0


# --- named tuples and API shapes ---
def test_named_tuples_have_pytorchs_fields(torch):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 3)) + 4 * np.eye(3)
    e, t = _pair(torch, a)
    s = ember.linalg.slogdet(e)
    _close(s.sign, torch.linalg.slogdet(t).sign)
    _close(s.logabsdet, torch.linalg.slogdet(t).logabsdet)
    u, sv, vh = ember.linalg.svd(e)
    assert ember.linalg.svd(e).Vh.shape == (3, 3)
    _close(u @ ember.diag(sv) @ vh, t)
    spd = e @ e.transpose(0, 1)
    assert ember.linalg.eigh(spd).eigenvalues.shape == (3,)
    assert ember.linalg.eigh(spd).eigenvectors.shape == (3, 3)
    q, r = ember.linalg.qr(e)
    _close(ember.linalg.qr(e).Q @ r, t)
    assert ember.linalg.qr(e, mode="r").Q.shape == (0,)
    _close(ember.linalg.qr(e, mode="r").R, torch.linalg.qr(t, mode="r").R)


@pytest.mark.parametrize("driver", [None, "gels", "gelsy", "gelsd", "gelss"])
def test_lstsq_fields_follow_the_driver(torch, driver):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    (ea, ta), (eb, tb) = _pair(torch, a), _pair(torch, b)
    got, expected = (
        ember.linalg.lstsq(ea, eb, driver=driver),
        torch.linalg.lstsq(ta, tb, driver=driver),
    )
    for name in ("solution", "residuals", "rank", "singular_values"):
        g, e = getattr(got, name), getattr(expected, name)
        assert g.shape == tuple(e.shape), name
        _close(g, e)


def test_old_svd_api_returns_v(torch):
    a = np.random.default_rng(3).standard_normal((4, 3))
    e, t = _pair(torch, a)
    u, s, v = ember.svd(e)
    assert (u.shape, s.shape, v.shape) == ((4, 3), (3,), (3, 3))
    _close(u @ ember.diag(s) @ v.transpose(0, 1), t)
    assert ember.svd(e, some=False).U.shape == (4, 4)
    uz, sz, vz = ember.svd(e, compute_uv=False)
    tu, ts, tv = torch.svd(t, compute_uv=False)
    assert uz.shape == tuple(tu.shape) and vz.shape == tuple(tv.shape)
    assert not uz.numpy().any()
    _close(sz, ts)


def test_top_level_aliases_match_torch(torch):
    rng = np.random.default_rng(4)
    a = rng.standard_normal((3, 3))
    a = a @ a.T + 3 * np.eye(3)
    e, t = _pair(torch, a)
    _close(ember.inverse(e), torch.inverse(t))
    _close(e.inverse(), t.inverse())
    _close(ember.det(e), torch.det(t))
    _close(e.logdet(), t.logdet())
    _close(ember.logdet(-e), torch.logdet(-t))  # negative determinant: NaN
    assert math.isnan(ember.logdet(-e).item())
    _close(ember.cholesky(e), torch.cholesky(t))
    _close(e.cholesky(upper=True), torch.linalg.cholesky(t, upper=True))
    _close(ember.pinverse(e), torch.pinverse(t))
    _close(e.matrix_power(3), t.matrix_power(3))
    _close(ember.linalg.matrix_power(e, 0), torch.linalg.matrix_power(t, 0))
    _close(ember.linalg.matrix_power(e, -2), torch.linalg.matrix_power(t, -2))
    _close(
        ember.cholesky_inverse(ember.linalg.cholesky(e)),
        torch.cholesky_inverse(torch.linalg.cholesky(t)),
    )
    assert ember.linalg.matrix_rank(e).item() == 3
    assert ember.linalg.matrix_rank(ember.ones(3, 3)).item() == 1
    _close(ember.linalg.vecdot(e, e), torch.linalg.vecdot(t, t))


def test_pinv_tolerances_drop_small_singular_values(torch):
    a = np.diag([3.0, 1e-3, 1.0])
    e, t = _pair(torch, a)
    for kw in (dict(), dict(atol=1e-2), dict(rtol=0.5), dict(hermitian=True, atol=1e-2)):
        _close(ember.linalg.pinv(e, **kw), torch.linalg.pinv(t, **kw))


def test_qr_backward_refuses_what_torch_refuses(torch):
    tall = ember.ones(4, 3, requires_grad=True) + ember.eye(4, 3)
    with pytest.raises(RuntimeError, match="mode='complete' and nrows > ncols"):
        ember.linalg.qr(tall, mode="complete").Q.sum().backward()
    with pytest.raises(RuntimeError, match="not computed when mode='r'"):
        ember.linalg.qr(tall, mode="r").R.sum().backward()


# --- norms ---
def test_norm_gradient_at_zero_is_zero_as_torch(torch):
    e, t = _pair(torch, np.zeros(3), requires_grad=True)
    ember.linalg.vector_norm(e).backward()
    torch.linalg.vector_norm(t).backward()
    _close(e.grad, t.grad)
    assert not e.grad.numpy().any()


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((), {}),
        ((2,), {"dim": 1}),
        (("fro",), {"dim": (0, 1)}),
        (("nuc",), {}),
        ((math.inf,), {}),
        ((1,), {"dim": (0, 1), "keepdim": True}),
        ((0.5,), {}),
    ],
)
def test_torch_norm_and_tensor_norm(torch, args, kwargs):
    a = np.random.default_rng(5).standard_normal((3, 4))
    e, t = _pair(torch, a)
    _close(ember.norm(e, *args, **kwargs), torch.norm(t, *args, **kwargs))
    _close(e.norm(*args, **kwargs), t.norm(*args, **kwargs))


def test_linalg_norm_dispatch(torch):
    a = np.random.default_rng(6).standard_normal((2, 3, 4))
    e, t = _pair(torch, a)
    _close(ember.linalg.norm(e), torch.linalg.norm(t))
    _close(ember.linalg.norm(e[0], 2), torch.linalg.norm(t[0], 2))
    _close(ember.linalg.norm(e, dim=(1, 2), ord=-2), torch.linalg.norm(t, dim=(1, 2), ord=-2))
    with pytest.raises(RuntimeError, match="must be 1D or 2D"):
        ember.linalg.norm(e, ord=2)
    with pytest.raises(RuntimeError, match="linalg.vector_norm: Expected a floating point"):
        ember.linalg.vector_norm(ember.ones(3, dtype=ember.int64))


# --- views and in-place forms ---
def test_diagonal_is_a_writable_view(torch):
    x = ember.zeros(3, 4)
    x.diagonal(1).fill_(2.0)
    t = torch.zeros(3, 4)
    t.diagonal(1).fill_(2.0)
    _close(x, t)
    d = ember.diag(x, 1)  # torch.diag copies
    d += 1
    assert x.sum().item() == 6.0


def test_triangle_and_product_inplace_forms(torch):
    rng = np.random.default_rng(7)
    a, m1, m2 = (
        rng.standard_normal((3, 3)),
        rng.standard_normal((3, 2)),
        rng.standard_normal((2, 3)),
    )
    e, t = _pair(torch, a)
    _close(e.clone().tril_(-1), t.clone().tril_(-1))
    _close(e.clone().triu_(1), t.clone().triu_(1))
    em1, tm1 = _pair(torch, m1)
    em2, tm2 = _pair(torch, m2)
    _close(
        e.clone().addmm_(em1, em2, beta=0.5, alpha=2), t.clone().addmm_(tm1, tm2, beta=0.5, alpha=2)
    )
    x = ember.tensor(a, requires_grad=True)
    y = x * 1.0
    y.tril_()
    y.sum().backward()
    _close(x.grad, torch.ones(3, 3).tril())
    assert ember.tril(ember.ones(2, 2, dtype=ember.int64)).dtype == ember.int64


def test_addmm_with_beta_zero_ignores_nan_input():
    out = ember.addmm(ember.full((2, 2), math.nan), ember.eye(2), ember.eye(2), beta=0)
    assert not np.isnan(out.numpy()).any()


def test_cross_without_dim_warns_and_uses_first_size_three_dim(torch):
    a = np.random.default_rng(8).standard_normal((3, 4))
    b = np.random.default_rng(9).standard_normal((3, 4))
    (ea, ta), (eb, tb) = _pair(torch, a), _pair(torch, b)
    with pytest.warns(UserWarning, match="cross without specifying the dim"):
        got = ember.cross(ea, eb)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _close(got, torch.cross(ta, tb))


def test_tensor_methods_exist():
    names = (
        "dot vdot outer ger mv bmm addmm addmm_ addmv addmv_ addbmm addbmm_ baddbmm baddbmm_ addr "
        "kron diag diag_embed diagonal trace tril tril_ triu triu_ cross det logdet slogdet "
        "inverse cholesky pinverse svd qr matrix_power norm cholesky_solve cholesky_inverse"
    ).split()
    missing = [n for n in names if not hasattr(ember.Tensor, n)]
    assert not missing


@pytest.mark.parametrize("ord", [float("inf"), -float("inf"), -1, 0, 2, 3])
@pytest.mark.parametrize("shape, dim", [((0,), None), ((0,), 0), ((0, 3), None), ((0, 3), 0)]
                         + [((0, 3), 1)])  # fmt: skip
def test_vector_norm_of_empty_dims_as_torch(ord, shape, dim, torch):
    """A max or min (inf, negative orders) over an empty dim has no value: PyTorch's error;
    over a non-empty dim of an empty tensor, an empty result; sums give 0."""
    try:
        expected = torch.linalg.vector_norm(torch.zeros(shape), ord, dim=dim)
    except RuntimeError as e:
        with pytest.raises(RuntimeError, match="does not have an identity") as info:
            ember.linalg.vector_norm(ember.zeros(shape), ord, dim=dim)
        assert str(e).split(" on ")[0] in str(info.value)  # torch: "dimension 0because"
        return
    got = ember.linalg.vector_norm(ember.zeros(shape), ord, dim=dim)
    assert tuple(got.shape) == tuple(expected.shape)
    np.testing.assert_array_equal(got.numpy(), expected.numpy())
