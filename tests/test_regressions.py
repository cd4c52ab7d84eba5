"""One named test per mismatch the differential fuzzer (tests/fuzz.py) found, each a minimal
reproduction checked against PyTorch. A test marked xfail pins a bug that is still open: the
fix makes it pass, and strict=True then asks for the mark (and the fuzzer's KNOWN_BUGS entry
that steers around the bug) to go.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import ember
from ember.ops import OPS
from tests.ops.test_op_table import sample_arrays

# ops that save every operand, where PyTorch saves an operand only when the other one needs
# a gradient, so an in-place change of an operand (legal in PyTorch) made backward raise:
# {op: the operand changed}; SAVES_ALL_OPEN are still open
SAVES_ALL = {
    **dict.fromkeys("mul mm matmul einsum dot outer mv bmm tensordot kron multi_dot".split(), 0),
    **dict.fromkeys("remainder fmod".split(), 0),
    **dict.fromkeys("addcmul addmm addmv addr baddbmm addbmm".split(), 1),
}
SAVES_ALL_OPEN = set()
# ops that save their own output where PyTorch saves only inputs
SAVES_OUTPUT = "div pow_square pow_scalar erfinv square softsign lstm gru rnn_tanh rnn_relu"
SAVES_OUTPUT = (SAVES_OUTPUT + " lstm_cell gru_cell").split()
SAVES_OUTPUT_OPEN: set[str] = set()
# (op, sample, output) whose result is not contiguous where PyTorch's is: .view() raised
NON_CONTIGUOUS = [
    ("fold", 1, 0),
    ("conv_transpose1d", 1, 0),
    ("conv_transpose2d", 1, 0),
    ("conv_transpose3d", 0, 0),
    ("einsum", 0, 0),
    ("solve", 5, 0),
    ("getitem", 3, 0),
    ("linalg_cross", 0, 0),
    ("cross", 0, 0),
    ("pad_reflect", 0, 0),
    ("pad_replicate", 0, 0),
    ("pad_circular", 0, 0),
    ("topk", 0, 1),
    ("kthvalue", 1, 1),
    ("index_select", 0, 0),
    ("lstm_cell", 0, 1),
]
NON_CONTIGUOUS_OPEN: set[str] = set()

# Known differences the fuzzer (tests/fuzz.py) steers around: the open ember bugs pinned by
# the tests below (an entry goes with its xfail when the bug is fixed), and a few torch
# quirks. Keys:
#   "op:NAME"            leave op NAME out entirely
#   "inplace-on:NAME"    no in-place op on an output of op NAME
#   "view-on:NAME"       no .view() of an output of op NAME (or of a view of one)
#   "mixed:NAME"         op NAME only gets inputs of one dtype
#   "empty:NAME"         op NAME never gets empty inputs
#   "resize:NAME"        op NAME only gets its samples' own shapes
#   "inplace-kind:KIND"  in-place KIND only with a source that requires grad
#   "inplace-input:NAME" no in-place op on a value op NAME has read
#   "saves-all:NAME"     ... nor on a value op NAME read beside an input needing no grad
#   "fresh:NAME"         op NAME only gets fresh leaves
#   "module:MODULE"      ops defined in MODULE: fresh leaves of the samples' shapes, one
#                        dtype, and no in-place op on what they make
_SAVES_OUTPUT = "test_inplace_on_op_output_keeps_backward"
KNOWN_BUGS: dict[str, str] = {
    **{f"inplace-on:{name}": _SAVES_OUTPUT for name in SAVES_OUTPUT_OPEN},
    **{f"saves-all:{name}": "test_inplace_on_input_whose_partner_needs_no_grad"
       for name in SAVES_ALL_OPEN},
    **{f"view-on:{name}": "test_view_of_op_output_works" for name in NON_CONTIGUOUS_OPEN},
    # torch quirks
    **{f"mixed:{name}": "torch quirk: mixed dtypes pass for some calls only (einsum with no "
       "contraction; conv_transpose with a float64 bias returns float32)"
       for name in ("einsum", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")},
    **{f"empty:{name}": "torch quirk: conv with 0 input channels gives 0 output channels"
       for name in ("conv1d", "conv2d", "conv3d")},
    "empty:addmv": "torch quirk: addmv(0-d, (0, n) matrix, v) is 0-d, not (0,)",
    "mixed:binary_cross_entropy_with_logits": "torch quirk: the result takes the target's dtype "
    "(float64 logits with a float32 target give float32); ember promotes",
    "mixed:huber_loss": "torch quirk: the result takes the input's dtype; ember promotes",
    "mixed:linear": "torch quirk: a bias of another dtype passes when it is non-contiguous "
    "(another kernel) and raises otherwise; ember always raises",
    "empty:pdist": "torch quirk: pdist's backward segfaults on an empty input",
    **{f"fresh:{name}": "torch quirk: the same tensor as input and target sits on the kink "
       "(a zero difference), where torch's second derivatives downstream are NaN"
       for name in ("l1_loss", "smooth_l1_loss", "huber_loss")},
    "fresh:poisson_nll_loss": "torch quirk: with full=True its gradient is NaN (0 * inf) at a "
    "target of exactly 0, where ember's is 0",
    "inplace-input:instance_norm": "torch quirk: its instance_norm saves a repeated copy of the "
    "weight, so changing the weight in place stays legal there (ember saves the weight)",
    "fresh:batch_norm": "torch quirk: its CPU backward reads a non-contiguous weight as if it "
    "were contiguous (a wrong input gradient); see test_batch_norm_with_a_weight_view",
    "empty:group_norm": "torch quirk: its weight's gradient over an empty input is NaN (ember: 0)",
    **{f"view-on:{name}": "torch quirk: LAPACK results are column-major (ember's row-major), "
       "so a view of their transpose works in torch only" for name in (
        "solve solve_triangular cholesky_solve lstsq inv cholesky qr eigh svd").split()},
    **{f"empty:{name}": "torch quirk: a p-norm's second derivative through an empty input is "
       "NaN (0 * inf in its formula) where it is 0" for name in ("vector_norm", "linalg_norm",
                                                                 "norm")},
    "empty:pixel_unshuffle": "torch quirk: empty input comes back with its shape unchanged",
    "resize:take_along_dim": "torch quirk: no bounds check on broadcast indices",
    **{f"empty:{name}": "torch quirk: no index bounds check when the input is empty"
       for name in ("index_add", "index_add_")},
    # kron saves views of its inputs that escape torch's version check, so an in-place
    # change of an input can silently corrupt torch's gradient; ember rightly refuses
    "inplace-input:kron": "torch quirk: kron's saved input views are not version-checked",
    # torch's low-level RNN entry points segfault on unusual arguments (the same tensor in
    # several slots, odd shapes): recurrent ops get fresh inputs of their samples' shapes
    # only, and no in-place op touches what they make
    "module:ember.ops.recurrent": "torch quirk: its low-level RNN entry points segfault",
}  # fmt: skip


def xfail(reason):
    return pytest.mark.xfail(strict=True, reason=reason)


def _cases(values, open_keys, reason, key=lambda v: v[0] if isinstance(v, tuple) else v):
    """Parameters, with an xfail on those whose bug is still open."""
    return [
        pytest.param(
            *(v if isinstance(v, tuple) else (v,)),
            marks=[xfail(reason)] if key(v) in open_keys else [],
        )  # fmt: skip
        for v in values
    ]


def _table(lib, name, sample=0, dtype="float64"):
    """The op's own sample: (inputs that require grad, outputs as a tuple)."""
    spec = OPS[name]
    s = spec.samples[sample]
    xs = [
        lib.tensor(a, dtype=getattr(lib, dtype), requires_grad=True) for a in sample_arrays(spec, s)
    ]
    out = spec.call(lib, *xs, **s.kwargs)
    return xs, tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _grads(lib, outs, xs):
    outs = [o for o in outs if o.requires_grad]
    got = lib.autograd.grad(outs, xs, [lib.ones_like(o) for o in outs], allow_unused=True)
    return [None if g is None else g.detach().numpy() for g in got]


def _assert_same_grads(mine, theirs):
    for a, e in zip(mine, theirs):
        a = np.zeros_like(e) if a is None and e is not None else a
        e = np.zeros_like(a) if e is None and a is not None else e
        if a is not None:
            np.testing.assert_allclose(a, e, rtol=1e-7, atol=1e-9)


# --- in-place ops on results


def test_pixel_unshuffle_returns_a_new_tensor(torch):
    for lib in (torch, ember):
        x = lib.arange(4.0).reshape(1, 2, 2)
        lib.pixel_unshuffle(x, 2).mul_(10)
        assert x.flatten().tolist() == [0.0, 1.0, 2.0, 3.0], lib.__name__


# ops that save their own output where PyTorch saves only inputs, so an in-place change of
# the output (legal in PyTorch) makes ember's backward raise
@pytest.mark.parametrize(
    "name",
    _cases(
        SAVES_OUTPUT,
        SAVES_OUTPUT_OPEN,
        "the op saves its output for backward; PyTorch does not, and allows changing it",
    ),  # fmt: skip
)
def test_inplace_on_op_output_keeps_backward(name, torch):
    results = []
    for lib in (torch, ember):
        xs, outs = _table(lib, name)
        outs[0].mul_(2)
        results.append(_grads(lib, outs, xs))
    _assert_same_grads(results[1], results[0])


@pytest.mark.parametrize(
    "name",
    _cases(
        sorted(SAVES_ALL),
        SAVES_ALL_OPEN,
        "an operand is saved even when the other one needs no gradient",
    ),  # fmt: skip
)
def test_inplace_on_input_whose_partner_needs_no_grad(name, torch):
    spec, index = OPS[name], SAVES_ALL[name]
    sample = spec.samples[0]
    arrays = sample_arrays(spec, sample)
    grads = []
    for lib in (torch, ember):
        leaf = lib.tensor(arrays[index], requires_grad=True)
        xs = [lib.tensor(a) for a in arrays]  # need no grad
        xs[index] = leaf * 1.0
        out = spec.call(lib, *xs, **sample.kwargs)
        xs[index].mul_(1.5)  # PyTorch: fine, nothing saved it
        (g,) = lib.autograd.grad(out.sum(), leaf)
        grads.append(g.numpy())
    np.testing.assert_allclose(grads[1], grads[0])


@pytest.mark.parametrize("equation", ["ij->", "ij->j"])
def test_einsum_reduction_saves_nothing(equation, torch):
    grads = []
    for lib in (torch, ember):
        x = lib.ones(2, 3, dtype=lib.float64, requires_grad=True)
        a = x * 1.0
        out = lib.einsum(equation, a).sum()
        a.mul_(2)  # PyTorch: fine, a sum saves nothing
        (g,) = lib.autograd.grad(out, x)
        grads.append(g.tolist())
    assert grads[1] == grads[0]


def test_grad_wrt_non_leaf_does_not_run_its_producer(torch):
    for lib in (torch, ember):
        a = lib.tensor([[2.0, 1.0], [0.5, 3.0]], requires_grad=True)
        q, r = lib.linalg.qr(a)
        loss = (r * 2).sum()
        q.mul_(2)  # QR's saved output changes; its backward must not run for grad(loss, r)
        (g,) = lib.autograd.grad(loss, r)
        assert g.tolist() == [[2.0, 2.0], [2.0, 2.0]], lib.__name__


def test_copy_into_graph_tensor_keeps_requires_grad(torch):
    for lib in (torch, ember):
        x = lib.tensor([0.1, 0.2], requires_grad=True)
        y = x.acos()
        y.copy_(lib.tensor([1.0, 2.0]))
        assert y.requires_grad, lib.__name__
        (g,) = lib.autograd.grad(y.sum(), x, allow_unused=True)
        assert g is None or g.tolist() == [0.0, 0.0]


# --- .view() of results that PyTorch makes contiguous


@pytest.mark.parametrize(
    "name, sample, output",
    _cases(
        NON_CONTIGUOUS,
        NON_CONTIGUOUS_OPEN,
        "the result is not contiguous where PyTorch's is, so .view() raises",
    ),  # fmt: skip
)
def test_view_of_op_output_works(name, sample, output, torch):
    flat = []
    for lib in (torch, ember):
        _, outs = _table(lib, name, sample)
        flat.append(outs[output].detach().view(-1).numpy())
    np.testing.assert_allclose(flat[1], flat[0], rtol=1e-12)


# --- type promotion


@pytest.mark.parametrize(
    "name, fn, shapes",
    [
        ("addr", lambda L, c, a, b: L.addr(c, a, b), ((3, 4), (3,), (4,))),
        (
            "solve_triangular",
            lambda L, a, b: L.linalg.solve_triangular(a + 3 * L.eye(3), b, upper=True),
            ((3, 3), (3, 2)),
        ),
    ],
)
def test_mixed_float_dtypes_follow_torch(name, fn, shapes, torch):
    outs = []
    for lib in (torch, ember):
        ts = [
            lib.tensor(
                np.linspace(-1, 1, int(np.prod(s))).reshape(s),
                dtype=lib.float64 if k == 1 else lib.float32,
            )  # fmt: skip
            for k, s in enumerate(shapes)
        ]
        out = fn(lib, *ts)
        outs.append((str(out.dtype).split(".")[1], out.numpy()))
    assert outs[1][0] == outs[0][0]
    np.testing.assert_allclose(outs[1][1], outs[0][1], rtol=1e-6)


def test_index_put_with_mask_casts_values(torch):
    outs = []
    for lib in (torch, ember):
        x = lib.zeros(3, 2, dtype=lib.float64)
        out = lib.index_put(x, (lib.tensor([True, False, True]),), lib.tensor(1.5))
        outs.append(out.tolist())
    assert outs[1] == outs[0]


# --- empty inputs


@pytest.mark.parametrize(
    "name, fn",
    [
        ("pinv_hermitian", lambda L: L.linalg.pinv(L.zeros(0, 0, dtype=L.float64), hermitian=True)),
        ("einsum_diagonal", lambda L: L.einsum("ii->i", L.zeros(0, 0))),
        ("tensordot", lambda L: L.tensordot(L.zeros(2, 3, 0), L.zeros(0, 3), ([1, 2], [1, 0]))),
        (
            "adaptive_avg_pool2d",
            lambda L: L.nn.functional.adaptive_avg_pool2d(L.zeros(1, 2, 0, 0), 1),
        ),
        ("adaptive_avg_pool1d", lambda L: L.nn.functional.adaptive_avg_pool1d(L.zeros(2, 0, 0), 1)),
        ("matrix_norm", lambda L: L.linalg.matrix_norm(L.zeros(0, 4), ord=float("inf"))),
        ("unfold", lambda L: L.nn.functional.unfold(L.zeros(0, 2, 5, 5), 3, padding=1, stride=2)),
    ],
)
def test_empty_input_works(name, fn, torch):
    expected, got = fn(torch), fn(ember)
    assert tuple(got.shape) == tuple(expected.shape)
    np.testing.assert_allclose(got.numpy(), expected.numpy())


# --- gradients at edges


@pytest.mark.parametrize(
    "values, expected",
    [([0.3, 0.7], [-np.inf, np.inf]), ([0.3], [0.0])],  # N == correction; N < correction
)
def test_var_gradient_without_degrees_of_freedom(values, expected, torch):
    """PyTorch's var gradient is 2 (x - mean) / (N - correction), N - correction unclamped:
    +-inf at N == correction, and 0 (not NaN) for one value with correction 2."""
    grads = []
    for lib in (torch, ember):
        x = lib.tensor(values, dtype=lib.float64, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # degrees of freedom <= 0, as PyTorch warns
            (g,) = lib.autograd.grad(x.var(dim=0, correction=2), x)
        grads.append(g.tolist())
    assert grads[1] == grads[0] == expected


# --- found by the fuzzer after the pins above were fixed


@pytest.mark.parametrize("shape, ord", [((3, 0), 1), ((0, 4), float("inf")), ((0, 4), 2)])
def test_matrix_norm_of_nothing_is_a_constant(shape, ord, torch):
    """The largest of no sums (or singular values) is 0, and PyTorch's 0 carries no graph."""
    flags = []
    for lib in (torch, ember):
        x = lib.zeros(shape, requires_grad=True)
        out = lib.linalg.matrix_norm(x, ord=ord)
        flags.append((out.item(), out.requires_grad))
    assert flags[1] == flags[0]


def test_einsum_broadcast_label_keeps_backward_after_inplace(torch):
    """'ij,jk' with j of size 1 in the first operand: PyTorch sums the second over j first
    and saves that sum, so changing the second in place afterwards is legal."""
    grads = []
    for lib in (torch, ember):
        x = lib.tensor(np.linspace(-1, 1, 12).reshape(3, 4), requires_grad=True)
        w = lib.tensor([[0.5], [-2.0]], dtype=lib.float32, requires_grad=True).double()
        y = x.erfc()
        out = lib.einsum("ij,jk", w, y)
        y.zero_()
        (g,) = lib.autograd.grad(out.sum(), w)
        grads.append(g.numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12)


def test_qr_float32_gradient_of_ill_conditioned_input(torch):
    """A wide A whose leading block has condition number ~3000: the textbook backward
    cancels before dividing by R's small diagonal entry and lost four digits in float32."""
    rng = np.random.default_rng(101)
    a = rng.uniform(-2, 2, (3, 5)).astype(np.float32)
    gq, gr = rng.standard_normal((3, 3)), rng.standard_normal((3, 5))

    def grad(lib, dtype):
        x = lib.tensor(a.astype(np.float64), dtype=dtype, requires_grad=True)
        q, r = lib.linalg.qr(x)
        loss = (q * lib.tensor(gq, dtype=dtype)).sum() + (r * lib.tensor(gr, dtype=dtype)).sum()
        return lib.autograd.grad(loss, x)[0].numpy().astype(np.float64)

    truth = grad(torch, torch.float64)
    error = np.abs(grad(ember, ember.float32) - truth).max() / np.abs(truth).max()
    assert error < 1e-6, error


def test_div_gradient_rounds_as_torch(torch):
    """d(a/b)/db is -g (a / b) / b in PyTorch; computed as -g a / (b b) it rounds differently
    in float32, and second-order programs amplified the difference."""
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-2, 2, 64), rng.uniform(0.01, 0.1, 64)
    grads = []
    for lib in (torch, ember):
        ta = lib.tensor(a, dtype=lib.float32)
        tb = lib.tensor(b, dtype=lib.float32, requires_grad=True)
        (g,) = lib.autograd.grad((ta / tb).sum(), tb)
        grads.append(g.numpy())
    np.testing.assert_array_equal(grads[1], grads[0])


@pytest.mark.parametrize("ord", [3, 2])
def test_p_norm_second_derivative_through_an_empty_input_is_zero(ord, torch):
    """Nothing depends on an empty input: ember's second derivative is 0; PyTorch's general
    p-norm formula makes it 0 * inf = NaN (its 2-norm gives 0). The fuzzer steers around."""
    results = []
    for lib in (torch, ember):
        v0 = lib.zeros(0, dtype=lib.float64, requires_grad=True)
        w = lib.tensor([[0.5], [-1.0]], dtype=lib.float64, requires_grad=True)
        n = lib.linalg.vector_norm(v0, ord)
        g0, gw = lib.autograd.grad([n, n * w], [v0, w], [lib.tensor(0.7, dtype=lib.float64),
                                                         lib.ones(2, 1, dtype=lib.float64)],
                                   create_graph=True)  # fmt: skip
        (h,) = lib.autograd.grad((gw * 1.5).sum() + (g0 * 2.0).sum(), [w])
        results.append(h.flatten().tolist())
    assert results[1] == [0.0, 0.0]
    assert results[0] == (
        [0.0, 0.0] if ord == 2 else [pytest.approx(float("nan"), nan_ok=True)] * 2
    )


def test_linalg_results_are_row_major(torch):
    """PyTorch's LAPACK results are column-major; ember's are row-major, like its others."""
    a = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])
    b = np.arange(6.0).reshape(3, 2)
    x_torch = torch.linalg.solve(torch.tensor(a), torch.tensor(b))
    x = ember.linalg.solve(ember.tensor(a), ember.tensor(b))
    assert not x_torch.is_contiguous() and x.is_contiguous()
    np.testing.assert_allclose(x.view(-1).numpy(), x_torch.reshape(-1).numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        x.mT.view(-1)  # works in PyTorch; .reshape works in both


@pytest.mark.parametrize(
    "name, fn",
    [
        ("relu", lambda lib, t: t.relu()),
        ("clamp", lambda lib, t: t.clamp(0.5, 1.0)),
        ("clamp_min", lambda lib, t: t.clamp(min=0.5)),
    ],
)
def test_nan_gradient_stops_where_the_derivative_is_zero(name, fn, torch):
    """relu and clamp select the incoming gradient (PyTorch's where), so a NaN gradient does
    not leak through a dead unit or a clamped value (0 * NaN would)."""
    grads = []
    for lib in (torch, ember):
        x = lib.tensor([-2.0, 3.0], dtype=lib.float64, requires_grad=True)
        (g,) = lib.autograd.grad(fn(lib, x), x, lib.tensor([np.nan, np.nan], dtype=lib.float64))
        grads.append(g.numpy())
    np.testing.assert_array_equal(grads[1], grads[0])


def test_einsum_trace_label_keeps_backward_after_inplace(torch):
    """'bii,c->cb': PyTorch takes the trace of the first operand first and saves that, so
    changing the operand in place afterwards is legal."""
    grads = []
    for lib in (torch, ember):
        leaf = lib.tensor(np.linspace(-1, 1, 18).reshape(2, 3, 3), requires_grad=True)
        w = lib.tensor([0.5, -1.0], dtype=lib.float64, requires_grad=True)
        a = leaf * 1.0
        out = lib.einsum("bii,c->cb", a, w)
        a[1:] = 0.0
        grads.append([g.numpy() for g in lib.autograd.grad(out.sum(), [leaf, w])])
    for mine, theirs in zip(grads[1], grads[0]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12)


def test_rms_norm_keeps_the_input_dtype(torch):
    """PyTorch's rms_norm returns the input's dtype even with a float64 weight."""
    dtypes = []
    for lib in (torch, ember):
        x = lib.tensor(np.linspace(-1, 1, 12).reshape(3, 4), dtype=lib.float32)
        out = lib.nn.functional.rms_norm(x, (4,), lib.ones(4, dtype=lib.float64), eps=1e-6)
        dtypes.append(str(out.dtype).split(".")[1])
    assert dtypes[1] == dtypes[0] == "float32"


def test_local_response_norm_of_an_empty_batch(torch):
    shapes = []
    for lib in (torch, ember):
        out = lib.nn.functional.local_response_norm(lib.zeros(0, 5, 3), 3)
        shapes.append(tuple(out.shape))
    assert shapes[1] == shapes[0] == (0, 5, 3)


@pytest.mark.parametrize(
    "name, fn",
    [
        ("batch_norm_empty_batch", lambda L: L.nn.functional.batch_norm(
            L.zeros(0, 3), L.zeros(3), L.ones(3), training=True)),
        ("batch_norm_no_channels", lambda L: L.nn.functional.batch_norm(
            L.zeros(2, 0, 3), L.zeros(0), L.ones(0), training=True)),
        ("batch_norm_empty_length", lambda L: L.nn.functional.batch_norm(
            L.zeros(2, 3, 0), L.zeros(3), L.ones(3), training=True)),
        ("instance_norm_empty", lambda L: L.nn.functional.instance_norm(L.zeros(2, 3, 0))),
        ("group_norm_empty", lambda L: L.nn.functional.group_norm(L.zeros(2, 4, 0), 2)),
        ("bilinear_empty_batch", lambda L: L.nn.functional.bilinear(
            L.zeros(0, 2), L.zeros(0, 3), L.ones(4, 2, 3))),
        ("local_response_norm_no_channels", lambda L: L.nn.functional.local_response_norm(
            L.zeros(2, 0, 3), 3)),
        ("attention_without_features", lambda L: L.nn.functional.scaled_dot_product_attention(
            L.zeros(1, 2, 0), L.zeros(1, 3, 0), L.arange(12.0).reshape(1, 3, 4))),
    ],
)  # fmt: skip
def test_functional_edge_shapes_as_torch(name, fn, torch):
    """Empty batches, channels or features: PyTorch returns a result (no error), and so does
    ember now (it raised, or divided by zero)."""
    expected, got = fn(torch), fn(ember)
    assert tuple(got.shape) == tuple(expected.shape)
    np.testing.assert_allclose(got.numpy(), expected.numpy())


def test_batch_norm_of_an_empty_batch_keeps_running_stats(torch):
    stats = []
    for lib in (torch, ember):
        mean, var = lib.zeros(3), lib.ones(3)
        lib.nn.functional.batch_norm(lib.zeros(0, 3), mean, var, training=True)
        stats.append((mean.tolist(), var.tolist()))
    assert stats[1] == stats[0] == ([0.0] * 3, [1.0] * 3)


def test_batch_norm_with_a_weight_view(torch):
    """PyTorch's CPU batch_norm backward reads a strided weight (a column of a matrix) as if
    contiguous and returns a wrong input gradient; ember's equals the contiguous weight's."""
    x = np.array(
        [[1.25, 0.4, 0.19], [1.26, 0.22, -1.16], [-0.3, -1.86, -1.51], [-2.0, -0.92, 0.42]]
    )
    w = np.array([-0.02, 0.27, 1.31])
    cot = np.random.default_rng(1).standard_normal((4, 3))

    def grad(lib, weight):
        t = lib.tensor(x, requires_grad=True)
        mean, var = lib.zeros(3, dtype=lib.float64), lib.ones(3, dtype=lib.float64)
        y = lib.nn.functional.batch_norm(t, mean, var, weight, None, training=True)
        return lib.autograd.grad((y * lib.tensor(cot)).sum(), t)[0].numpy()

    column = ember.tensor(np.stack([w, 2 * w], 1))[:, 0]  # a strided view
    expected = grad(torch, torch.tensor(w))
    np.testing.assert_allclose(grad(ember, column), expected, rtol=1e-12)


def test_linear_without_in_features(torch):
    shapes = []
    for lib in (torch, ember):
        out = lib.nn.functional.linear(lib.zeros(2, 3, 0), lib.zeros(5, 0))
        shapes.append((tuple(out.shape), out.abs().sum().item()))
    assert shapes[1] == shapes[0] == ((2, 3, 5), 0.0)


def test_attention_keeps_backward_after_inplace_on_key(torch):
    """PyTorch's math attention scales q and k by sqrt(scale) each and saves those copies, so
    changing the key in place afterwards is legal; ember saved the key itself."""
    grads = []
    for lib in (torch, ember):
        q = lib.tensor(np.linspace(-1, 1, 12).reshape(1, 4, 3), requires_grad=True)
        k = q * 1.5  # saves nothing of its own
        v = lib.tensor(np.linspace(0, 1, 8).reshape(1, 4, 2), requires_grad=True)
        out = lib.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        k.sin_()
        grads.append([g.numpy() for g in lib.autograd.grad(out.sum(), [q, v])])
    for mine, theirs in zip(grads[1], grads[0]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10)


def test_interpolate_returns_a_tensor_of_its_own(torch):
    """Nearest resizing by an integer ratio was an expand (stride 0, refused in place) or, at
    the same size, the input itself; PyTorch returns a new tensor."""
    for size in (3, 1):
        results = []
        for lib in (torch, ember):
            x = lib.ones(1, 1, 1 if size == 3 else 1)
            y = lib.nn.functional.interpolate(x, size=size, mode="nearest-exact")
            y.fill_(2.0)
            results.append((x.tolist(), y.tolist()))
        assert results[1] == results[0]


@pytest.mark.parametrize(
    "name, fn",
    [
        ("pdist", lambda L, x: L.nn.functional.pdist(x)),
        ("pairwise_distance", lambda L, x: L.nn.functional.pairwise_distance(x[0], x[1], eps=0.0)),
        ("cosine_similarity", lambda L, x: L.nn.functional.cosine_similarity(x[:1] * 0, x[1:])),
    ],
)
def test_distance_gradient_at_a_zero_vector_is_finite(name, fn, torch):
    """Two equal rows (or a zero vector): PyTorch's norm gradient there is 0; ember's
    sqrt(sum(x^2)) gave 0/0 = NaN."""
    grads = []
    for lib in (torch, ember):
        x = lib.tensor([[0.5, -1.0, 2.0], [0.5, -1.0, 2.0], [1.0, 0.0, 3.0]], requires_grad=True)
        (g,) = lib.autograd.grad(fn(lib, x).sum(), x)
        grads.append(g.numpy())
    assert np.isfinite(grads[1]).all()
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12, atol=1e-15)


def test_attention_accepts_a_float32_mask_with_float64_inputs(torch):
    dtypes = []
    for lib in (torch, ember):
        q = lib.ones(2, 3, 4, dtype=lib.float64)
        mask = lib.zeros(3, 5)  # float32: "bool or float" is PyTorch's rule
        out = lib.nn.functional.scaled_dot_product_attention(
            q, lib.ones(2, 5, 4, dtype=lib.float64), lib.ones(2, 5, 2, dtype=lib.float64), mask
        )
        dtypes.append(str(out.dtype).split(".")[1])
    assert dtypes[1] == dtypes[0] == "float64"


def test_matmul_broadcast_operand_changed_in_place(torch):
    """(2, 1, 3, 4) @ (3, 4, 2): PyTorch saves expanded copies of broadcast operands, so an
    in-place change of the operand afterwards is legal; ember saved the operand itself."""
    grads = []
    for lib in (torch, ember):
        a = lib.tensor(np.linspace(-1, 1, 24).reshape(2, 1, 3, 4), requires_grad=True)
        leaf = lib.tensor(np.linspace(0, 1, 24).reshape(3, 4, 2), requires_grad=True)
        b = leaf * 1.0
        out = a @ b
        b.copy_(lib.zeros(3, 4, 2, dtype=lib.float64))
        grads.append(lib.autograd.grad(out.sum(), a)[0].numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12)


def test_mixed_dtype_losses_promote(torch):
    """PyTorch's bce-with-logits takes the target's dtype and huber_loss the input's; ember
    promotes, as its other losses (and PyTorch's mse/l1/smooth_l1) do."""
    f32 = ember.ones(3)
    f64 = ember.full((3,), 0.5, dtype=ember.float64)
    bce = ember.nn.functional.binary_cross_entropy_with_logits(f64, f32)
    huber = ember.nn.functional.huber_loss(f32, f64)
    assert bce.dtype == huber.dtype == ember.float64
    t = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.full((3,), 0.5, dtype=torch.float64), torch.ones(3)
    )
    np.testing.assert_allclose(bce.item(), t.item(), rtol=1e-6)


def test_group_norm_weight_gradient_over_an_empty_input_is_zero():
    """Nothing depends on the weight when the input is empty (PyTorch: NaN)."""
    w = ember.ones(4, requires_grad=True)
    out = ember.nn.functional.group_norm(ember.zeros(2, 4, 0), 2, w, ember.zeros(4))
    (g,) = ember.autograd.grad(out.sum(), w)
    assert g.tolist() == [0.0] * 4
