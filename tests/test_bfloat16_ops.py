"""bfloat16 across ember's ops, against PyTorch: each op of a broad table runs on bfloat16
tensors in both libraries; results and gradients must have PyTorch's dtypes and values close
to PyTorch's (bfloat16 keeps 8 significant bits, so rtol ~1e-2)."""

import numpy as np
import pytest

import ember

pytest.importorskip("ml_dtypes", reason="bfloat16 tensors need ml_dtypes")
torch = pytest.importorskip("torch", reason="PyTorch is the oracle for these tests")


def _values(seed, shape):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _inplace(op):
    """An in-place op applied to a copy (x itself is a leaf that requires grad)."""

    def run(lib, x, y):
        z = x * 1.0
        op(z, y)
        return z

    return run


def _iadd(z, y):
    z += 1.5


def _isub(z, y):
    z -= y


def _imul(z, y):
    z *= 0.1


def _idiv(z, y):
    z /= 3.0


def _int_index(lib):
    return lib.tensor([2, 0, 1])


def _f(lib):
    return lib.nn.functional


# name: (function of (lib, *inputs), input shapes, whether gradients are compared)
OPS = {
    "iadd_float": (_inplace(_iadd), [(3, 4), (3, 4)], True),
    "isub_tensor": (_inplace(_isub), [(3, 4), (3, 4)], True),
    "imul_float": (_inplace(_imul), [(3, 4), (3, 4)], True),
    "idiv_float": (_inplace(_idiv), [(3, 4), (3, 4)], True),
    "add_": (lambda lib, x, y: (x * 1.0).add_(y, alpha=2), [(3, 4), (3, 4)], True),
    "mul_int": (lambda lib, x: (x * 1.0).mul_(3), [(3, 4)], True),
    "add_float": (lambda lib, x: x + 0.1, [(3, 4)], True),
    "rsub_int": (lambda lib, x: 2 - x, [(3, 4)], True),
    "div": (lambda lib, x, y: x / (y.abs() + 1), [(3, 4), (3, 4)], True),
    "pow": (lambda lib, x: x.abs() ** 1.5, [(3, 4)], True),
    "mean": (lambda lib, x: x.mean(), [(4, 5)], True),
    "mean_dim": (lambda lib, x: x.mean(1, keepdim=True), [(4, 5)], True),
    "sum": (lambda lib, x: x.sum(0), [(4, 5)], True),
    "var": (lambda lib, x: x.var(1), [(4, 5)], True),
    "std": (lambda lib, x: x.std(), [(4, 5)], True),
    "norm": (lambda lib, x: x.norm(), [(4, 5)], True),
    "vector_norm": (lambda lib, x: lib.linalg.vector_norm(x, 1, dim=0), [(4, 5)], True),
    "softmax": (lambda lib, x: _f(lib).softmax(x, dim=-1), [(3, 5)], True),
    "log_softmax": (lambda lib, x: _f(lib).log_softmax(x, dim=1), [(3, 5)], True),
    "cross_entropy": (lambda lib, x: _f(lib).cross_entropy(x, _int_index(lib)), [(3, 5)], True),
    "mse_loss": (lambda lib, x, y: _f(lib).mse_loss(x, y), [(3, 4), (3, 4)], True),
    "layer_norm": (
        lambda lib, x, w, b: _f(lib).layer_norm(x, (5,), w, b),
        [(3, 5), (5,), (5,)],
        True,
    ),
    "rms_norm": (lambda lib, x, w: _f(lib).rms_norm(x * 0.05, (5,), w), [(3, 5), (5,)], True),
    "batch_norm": (
        lambda lib, x: _f(lib).batch_norm(x, None, None, training=True),
        [(4, 3, 2, 2)],
        True,
    ),
    "group_norm": (lambda lib, x: _f(lib).group_norm(x, 1), [(2, 4, 3)], True),
    "sdpa": (
        lambda lib, q, k, v: _f(lib).scaled_dot_product_attention(q, k, v),
        [(2, 3, 4), (2, 5, 4), (2, 5, 4)],
        True,
    ),
    "bce_with_logits": (
        lambda lib, x, y: _f(lib).binary_cross_entropy_with_logits(x, y.sigmoid()),
        [(3, 4), (3, 4)],
        True,
    ),
    "normalize": (lambda lib, x: _f(lib).normalize(x, dim=-1), [(3, 4)], True),
    "interpolate": (lambda lib, x: _f(lib).interpolate(x, scale_factor=2), [(1, 2, 3, 3)], True),
    "adaptive_avg_pool2d": (
        lambda lib, x: _f(lib).adaptive_avg_pool2d(x, 1),
        [(2, 3, 4, 4)],
        True,
    ),
    "einsum": (lambda lib, x, y: lib.einsum("ij,kj->ik", x, y), [(3, 4), (2, 4)], True),
    "topk": (lambda lib, x: x.topk(2).values, [(3, 5)], True),
    "prod": (lambda lib, x: x.prod(-1), [(3, 4)], True),
    "lerp": (lambda lib, x, y: lib.lerp(x, y, 0.3), [(3, 4), (3, 4)], True),
    "softplus": (lambda lib, x: _f(lib).softplus(x), [(3, 4)], True),
    "gelu": (lambda lib, x: _f(lib).gelu(x), [(3, 4)], True),
    "gelu_tanh": (lambda lib, x: _f(lib).gelu(x, approximate="tanh"), [(3, 4)], True),
    "relu": (lambda lib, x: _f(lib).relu(x), [(3, 4)], True),
    "silu": (lambda lib, x: _f(lib).silu(x), [(3, 4)], True),
    "tanh": (lambda lib, x: x.tanh(), [(3, 4)], True),
    "sigmoid": (lambda lib, x: x.sigmoid(), [(3, 4)], True),
    "clamp_float": (lambda lib, x: x.clamp(-0.5, 0.75), [(3, 4)], True),
    "clamp_int": (lambda lib, x: lib.clamp(x, min=0), [(3, 4)], True),
    "clamp_tensor": (lambda lib, x, y: x.clamp(max=y), [(3, 4), (3, 4)], True),
    "matmul": (lambda lib, x, w: x @ w, [(4, 5), (5, 3)], True),
    "bmm": (lambda lib, x, w: lib.bmm(x, w), [(2, 3, 4), (2, 4, 5)], True),
    "linear": (
        lambda lib, x, w, b: _f(lib).linear(x, w, b),
        [(4, 5), (3, 5), (3,)],
        True,
    ),
    "conv2d": (
        lambda lib, x, w, b: _f(lib).conv2d(x, w, b, padding=1),
        [(2, 3, 6, 6), (4, 3, 3, 3), (4,)],
        True,
    ),
    "max_pool2d": (lambda lib, x: _f(lib).max_pool2d(x, 2), [(2, 3, 6, 6)], True),
    "avg_pool2d": (lambda lib, x: _f(lib).avg_pool2d(x, 2), [(2, 3, 6, 6)], True),
    "cat": (lambda lib, x, y: lib.cat([x, y], 0), [(2, 4), (3, 4)], True),
    "stack": (lambda lib, x, y: lib.stack([x, y], 1), [(2, 4), (2, 4)], True),
    "getitem": (lambda lib, x: x[1:, ::2], [(4, 5)], True),
    "getitem_int_tensor": (lambda lib, x: x[_int_index(lib)], [(4, 5)], True),
    "getitem_mask": (lambda lib, x: x[x > 0], [(4, 5)], True),
    "where": (lambda lib, x, y: lib.where(x > y, x, y), [(3, 4), (3, 4)], True),
    "where_float": (lambda lib, x: lib.where(x > 0, x, 0.5), [(3, 4)], True),
    "max_dim": (lambda lib, x: x.max(1).values, [(4, 5)], True),
    "amax": (lambda lib, x: x.amax(0), [(4, 5)], True),
    "reshape_t": (lambda lib, x: x.reshape(5, 4).t(), [(4, 5)], True),
    "chunk": (lambda lib, x: x.chunk(2, 1)[1], [(4, 6)], True),
    "exp_log": (lambda lib, x: (x.exp() + 1).log(), [(3, 4)], True),
    "dropout_eval": (lambda lib, x: _f(lib).dropout(x, 0.5, training=False), [(3, 4)], True),
    "embedding": (lambda lib, w: _f(lib).embedding(_int_index(lib), w), [(4, 5)], True),
    "lt": (lambda lib, x, y: x < y, [(3, 4), (3, 4)], False),
    "ge_float": (lambda lib, x: x >= 0.25, [(3, 4)], False),
    "eq": (lambda lib, x: x == x, [(3, 4)], False),
    "isclose": (lambda lib, x, y: lib.isclose(x, y), [(3, 4), (3, 4)], False),
    "argmax": (lambda lib, x: x.argmax(1), [(4, 5)], False),
    "sort": (lambda lib, x: x.sort(1).values, [(4, 5)], True),
    "cumsum": (lambda lib, x: x.cumsum(0), [(4, 5)], True),
    "cumprod": (lambda lib, x: x.cumprod(1), [(4, 5)], True),
    "cummax": (lambda lib, x: x.cummax(1).values, [(4, 5)], True),
    "median": (lambda lib, x: x.median(), [(4, 5)], True),
    "nanmedian_dim": (lambda lib, x: x.nanmedian(1).values, [(4, 5)], True),
    "nanmean": (lambda lib, x: x.nanmean(), [(4, 5)], True),
    "logsumexp": (lambda lib, x: x.logsumexp(1), [(4, 5)], True),
    "round": (lambda lib, x: (x * 4).round(), [(3, 4)], False),
    "floor_divide": (lambda lib, x, y: lib.floor_divide(x, y), [(3, 4), (3, 4)], False),
    "remainder": (lambda lib, x: x % 0.75, [(3, 4)], True),
    "fmod": (lambda lib, x: lib.fmod(x, 0.75), [(3, 4)], True),
    "scatter_reduce_amax": (
        lambda lib, x, src: x.scatter_reduce(
            0, lib.tensor([[0, 1, 0, 1]]), src, "amax", include_self=False
        ),
        [(2, 4), (1, 4)],
        True,
    ),
    "scatter_reduce_mean": (
        lambda lib, x, src: x.scatter_reduce(0, lib.tensor([[0, 1, 0, 1]]), src, "mean"),
        [(2, 4), (1, 4)],
        True,
    ),
    "deg2rad": (lambda lib, x: lib.deg2rad(x), [(3, 4)], True),
    "addcdiv": (lambda lib, x, y, z: lib.addcdiv(x, y, z.abs() + 1), [(3,), (3,), (3,)], True),
    "isnan": (lambda lib, x: lib.isnan(x / 0), [(3, 4)], False),
    "nan_to_num": (lambda lib, x: lib.nan_to_num(x / 0, posinf=2.0), [(3, 4)], False),
    "nan_to_num_default": (lambda lib, x: lib.nan_to_num(x / 0), [(3, 4)], False),
    "random_": (lambda lib, x: x.clone().random_().le(256).all(), [(50,)], False),
    "bincount_weights": (lambda lib, w: lib.bincount(_int_index(lib), weights=w), [(3,)], False),
    "histc": (lambda lib, x: lib.histc(x, 4, -2, 2), [(3, 4)], False),
    "sgn": (lambda lib, x: lib.sgn(x), [(3, 4)], False),
    "frexp": (lambda lib, x: lib.frexp(x).mantissa, [(3, 4)], False),
    "logit": (lambda lib, x: lib.logit(x.sigmoid(), eps=1e-3), [(3, 4)], True),
    "cov": (lambda lib, x: lib.cov(x), [(3, 5)], True),
}


# (PyTorch's CPU refuses bfloat16 for quantile, cdist and most of linalg; ember computes them)


def _tensor(lib, array, grad):
    t = lib.tensor(array).bfloat16()
    return t.requires_grad_() if grad else t


def _dtype_name(t):
    return str(t.dtype).split(".")[-1]


def _as_float(t):
    t = t.detach()
    return t.float().numpy() if t.dtype.is_floating_point else t.numpy()


def _close(ours, theirs, what, rtol=1e-2, atol=1e-2):
    assert _dtype_name(ours) == _dtype_name(theirs), what
    assert tuple(ours.shape) == tuple(theirs.shape), what
    np.testing.assert_allclose(
        _as_float(ours), _as_float(theirs), rtol=rtol, atol=atol, err_msg=what
    )


def _run(lib, name, grad):
    fn, shapes, _ = OPS[name]
    inputs = [_tensor(lib, _values(seed, shape), grad) for seed, shape in enumerate(shapes)]
    out = fn(lib, *inputs)
    return inputs, out


@pytest.mark.parametrize("name", OPS)
def test_forward_as_torch(name):
    _, ours = _run(ember, name, False)
    _, theirs = _run(torch, name, False)
    _close(ours, theirs, name)


@pytest.mark.parametrize("name", [n for n, spec in OPS.items() if spec[2]])
def test_backward_as_torch(name):
    (ours_in, ours), (theirs_in, theirs) = _run(ember, name, True), _run(torch, name, True)
    _close(ours, theirs, name)
    cotangent = _values(99, tuple(ours.shape))
    ours.backward(ember.tensor(cotangent).bfloat16())
    theirs.backward(torch.tensor(cotangent).bfloat16())
    assert ours_in[0].grad is not None, name
    for k, (a, b) in enumerate(zip(ours_in, theirs_in)):
        assert (a.grad is None) == (b.grad is None), f"{name}: grad of input {k}"
        if a.grad is not None:
            _close(a.grad, b.grad, f"{name}: grad of input {k}", rtol=2e-2, atol=2e-2)


def test_inplace_float_number_keeps_bfloat16_and_rounds_once():
    x = np.array([1.0, 3.0, -7.0, 0.3], dtype=np.float32)
    for op in (_iadd, _imul, _idiv):
        ours, theirs = ember.tensor(x).bfloat16(), torch.tensor(x).bfloat16()
        op(ours, None)
        op(theirs, None)
        assert ours.dtype is ember.bfloat16
        # the number multiplies in float32, as PyTorch's (not rounded to bfloat16 first)
        assert ours.float().tolist() == theirs.float().tolist()


def test_inplace_into_bfloat16_refuses_nothing_it_should_accept():
    y = ember.zeros(3, dtype=ember.bfloat16)
    y += ember.ones(3)  # float32 into bfloat16: same category, allowed as PyTorch
    y.add_(ember.ones(3, dtype=ember.int64))
    assert y.dtype is ember.bfloat16 and y.tolist() == [2.0, 2.0, 2.0]
    i = ember.zeros(3, dtype=ember.int64)
    with pytest.raises(RuntimeError, match="can't be cast"):
        i += y
    out = ember.empty(3, dtype=ember.bfloat16)
    ember.add(ember.ones(3), 1, out=out)
    assert out.dtype is ember.bfloat16 and out.tolist() == [2.0, 2.0, 2.0]


@pytest.mark.parametrize(
    "call",
    [
        lambda lib: lib.zeros(2, dtype=lib.int64).add_(lib.ones(2, dtype=lib.bfloat16)),
        lambda lib: lib.bitwise_not(lib.ones(2, dtype=lib.bfloat16)),
        lambda lib: lib.bitwise_and(
            lib.ones(2, dtype=lib.bfloat16), lib.ones(2, dtype=lib.bfloat16)
        ),
    ],
)
def test_errors_name_bfloat16_as_torch(call):
    with pytest.raises((RuntimeError, NotImplementedError)) as theirs:
        call(torch)
    with pytest.raises(type(theirs.value)) as ours:
        call(ember)
    assert str(theirs.value).split(": ")[-1] in str(ours.value)


def test_clamp_with_float_bounds_keeps_bfloat16():
    x = ember.tensor([-2.0, 0.3, 2.0]).bfloat16()
    assert x.clamp(-1.5, 1.5).dtype is ember.bfloat16
    assert x.clamp(min=0.1).dtype is ember.bfloat16


def test_is_signed_and_floating_point():
    x = ember.zeros(2, dtype=ember.bfloat16)
    assert x.is_signed() and x.is_floating_point()
    assert x.is_signed() == torch.zeros(2, dtype=torch.bfloat16).is_signed()


def test_custom_function_bfloat16_output_is_differentiable():
    class Double(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    x = ember.ones(3, dtype=ember.bfloat16, requires_grad=True)
    y = Double.apply(x)
    assert y.requires_grad and y.dtype is ember.bfloat16
    y.sum().backward()
    assert x.grad.dtype is ember.bfloat16 and x.grad.tolist() == [2.0, 2.0, 2.0]


@pytest.mark.parametrize("how", ["to", "bfloat16"])
def test_linear_and_sgd_step_in_bfloat16(how):
    w, b = _values(0, (3, 5)), _values(1, (3,))
    x, target = _values(2, (8, 5)), _values(3, (8, 3))

    def step(lib):
        model = lib.nn.Linear(5, 3)
        with lib.no_grad():
            model.weight.copy_(lib.tensor(w))
            model.bias.copy_(lib.tensor(b))
        model = model.to(lib.bfloat16) if how == "to" else model.bfloat16()
        opt = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for _ in range(2):
            opt.zero_grad()
            out = model(lib.tensor(x).bfloat16())
            loss = lib.nn.functional.mse_loss(out, lib.tensor(target).bfloat16())
            loss.backward()
            opt.step()
        return model, loss

    (ours, ours_loss), (theirs, theirs_loss) = step(ember), step(torch)
    _close(ours_loss, theirs_loss, "loss")
    for name in ("weight", "bias"):
        _close(getattr(ours, name), getattr(theirs, name), name, rtol=2e-2, atol=2e-2)
        _close(getattr(ours, name).grad, getattr(theirs, name).grad, name, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_rms_norm_normalizes_half_precision_in_float32(dtype):
    # PyTorch normalizes in float32 (eps=None: float32's epsilon) and rounds once, so the
    # results agree exactly, gradients included
    x = _values(0, (3, 4)) * 0.05
    got = []
    for lib in (ember, torch):
        t = lib.tensor(x).to(getattr(lib, dtype)).requires_grad_()
        out = lib.nn.functional.rms_norm(t, (4,))
        out.backward(lib.ones_like(out))
        got.append((_as_float(out), _as_float(t.grad), _dtype_name(out)))
    assert got[0][2] == got[1][2] == dtype
    np.testing.assert_array_equal(got[0][0], got[1][0])
    np.testing.assert_allclose(got[0][1], got[1][1], rtol=1e-2, atol=1e-3)


def test_transformer_encoder_layer_in_bfloat16():
    def run(lib):
        layer = lib.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        with lib.no_grad():
            for k, p in enumerate(layer.parameters()):
                p.copy_(lib.tensor(_values(k, tuple(p.shape))) * 0.3)
        layer = layer.bfloat16()
        out = layer(lib.tensor(_values(50, (2, 3, 8))).bfloat16())
        out.backward(lib.ones_like(out))
        return out, [p.grad for p in layer.parameters()]

    (ours, ours_grads), (theirs, theirs_grads) = run(ember), run(torch)
    _close(ours, theirs, "output", rtol=2e-2, atol=2e-2)
    assert len(ours_grads) == len(theirs_grads)
    for k, (g, tg) in enumerate(zip(ours_grads, theirs_grads)):
        scale = float(tg.abs().max())  # gradients reach ~10 here: bfloat16's step there is 1/16
        _close(g, tg, f"grad {k}", rtol=2e-2, atol=max(2e-2, scale / 64))
