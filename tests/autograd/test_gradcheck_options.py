"""gradcheck's options and errors (forward mode, reentrancy, undefined and zero gradients,
batched checks, values-dependent outputs) and PyTorch's deprecated Jacobian helpers; each case
runs the same code in ember and in PyTorch."""

from __future__ import annotations

import warnings

import pytest

import ember


def _double(lib, *shape):
    return lib.rand(*shape, dtype=lib.float64, requires_grad=True)


def _scaling_function(lib, jvp_factor=2.0, with_backward=True):
    """A custom Function y = 2x whose forward rule multiplies by `jvp_factor`."""

    class Scale(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def jvp(ctx, t):
            return t * jvp_factor

    if with_backward:
        Scale.backward = staticmethod(lambda ctx, g: g * 2)
    return Scale


def test_forward_mode_jacobian_is_checked(lib):
    x = _double(lib, 3)
    good = _scaling_function(lib)
    assert lib.autograd.gradcheck(good.apply, (x,), check_forward_ad=True)
    bad = _scaling_function(lib, jvp_factor=2.5)
    assert lib.autograd.gradcheck(bad.apply, (x,))  # backward alone is right
    with pytest.raises(
        RuntimeError, match="Jacobian computed with forward mode mismatch for output 0 with "
    ):
        lib.autograd.gradcheck(bad.apply, (x,), check_forward_ad=True)
    assert not lib.autograd.gradcheck(bad.apply, (x,), check_forward_ad=True, raise_exception=False)


def test_forward_only_never_runs_backward_and_sees_detached_inputs(lib):
    seen = []

    class NoBackward(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            if lib.autograd.forward_ad._current_level >= 0:
                seen.append(x.requires_grad)
            return x.clone()

        @staticmethod
        def jvp(ctx, t):
            return t

    x = _double(lib, 2)
    assert lib.autograd.gradcheck(
        NoBackward.apply,
        (x,),
        check_forward_ad=True,
        check_backward_ad=False,
        check_undefined_grad=False,
    )
    assert seen and not any(seen)


def test_option_combinations_are_refused(lib):
    x = _double(lib, 2)
    with pytest.raises(AssertionError, match="Expected at least one of check_forward_ad"):
        lib.autograd.gradcheck(lambda a: a * 2, (x,), check_backward_ad=False)
    with pytest.raises(AssertionError, match="check_batched_grad=True requires check_backward"):
        lib.autograd.gradcheck(
            lambda a: a * 2,
            (x,),
            check_forward_ad=True,
            check_backward_ad=False,
            check_batched_grad=True,
        )
    with pytest.raises(AssertionError, match="check_batched_forward_grad=True requires"):
        lib.autograd.gradcheck(lambda a: a * 2, (x,), check_batched_forward_grad=True)
    with pytest.raises(AssertionError, match="check_fwd_over_rev or check_rev_over_rev"):
        lib.autograd.gradgradcheck(lambda a: a**3, (x,), check_rev_over_rev=False)


def _jittery(lib):
    """Identity whose backward is off by a random relative amount `jitter`."""

    class Jittery(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, jitter):
            ctx.jitter = jitter
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            return g * (1 + lib.rand_like(g) * ctx.jitter), None

    return Jittery


def test_nondeterministic_backward_needs_nondet_tol(lib):
    jittery = _jittery(lib)
    x = _double(lib, 3)
    assert lib.autograd.gradcheck(lambda a: jittery.apply(a, 0.0), (x,))
    with pytest.raises(RuntimeError, match="Backward is not reentrant"):
        lib.autograd.gradcheck(lambda a: jittery.apply(a, 1e-6), (x,))
    assert lib.autograd.gradcheck(lambda a: jittery.apply(a, 1e-6), (x,), nondet_tol=1e-5)


def test_outputs_whose_shape_or_dtype_depend_on_values(lib):
    x = lib.ones(1, dtype=lib.float64, requires_grad=True)

    def grows(a):
        return lib.cat([a, a]) if bool((a >= 1).all()) else a

    def narrows(a):
        return a.to(lib.float32) if bool((a >= 1).all()) else a

    with pytest.raises(AssertionError, match="outputs with the same shape when inputs are"):
        lib.autograd.gradcheck(grows, (x,))
    with pytest.raises(AssertionError, match="outputs with the same dtype when inputs are"):
        lib.autograd.gradcheck(narrows, (x,))


def test_no_differentiable_output(lib):
    x = lib.ones(2, dtype=lib.float64, requires_grad=True)

    def cut(a):
        return a.detach() * 3  # depends on `a`, but outside the graph

    with pytest.raises(RuntimeError, match="Numerical gradient for function expected to be zero"):
        lib.autograd.gradcheck(cut, (x,))
    assert not lib.autograd.gradcheck(cut, (x,), raise_exception=False)
    assert lib.autograd.gradcheck(lambda a: (), (x,))
    assert lib.autograd.gradcheck(lambda a: a.detach() * 0 + 1, (x,))


def test_backward_must_scale_with_grad_output(lib):
    x = lib.ones(1, dtype=lib.float64, requires_grad=True)

    def shifted(a):
        y = a.clone()
        y.register_hook(lambda g: g + 1e-2)
        return y

    with pytest.raises(RuntimeError, match="backward not multiplied by grad_output"):
        lib.autograd.gradcheck(shifted, (x,), atol=1e-1)


def _two_outputs(lib):
    """Two outputs; backward copes with a missing gradient, except for the second one's when
    the first one's is zero (to be caught by the undefined-gradient check)."""

    class Two(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, g1, g2):
            if g1 is None and g2 is None:
                return None
            if g1 is not None and g2 is None and not bool(g1.any()):
                raise RuntimeError("no gradient for the second output")
            total = 0
            if g1 is not None:
                total = total + g1 * 2
            if g2 is not None:
                total = total + g2 * 3
            return total

    return Two


def test_undefined_output_gradients(lib):
    two = _two_outputs(lib)
    x = _double(lib, 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(RuntimeError, match="Expected backward function to handle undefined"):
            lib.autograd.gradcheck(two.apply, (x,))
    assert any("New undefined gradient support checking" in str(w.message) for w in caught)
    assert lib.autograd.gradcheck(two.apply, (x,), check_undefined_grad=False)


def test_batched_checks_pass_for_plain_ops(lib):
    a, b = _double(lib, 2, 3), _double(lib, 2, 3)
    assert lib.autograd.gradcheck(
        lambda x, y: (x * y).sin(),
        (a, b),
        check_forward_ad=True,
        check_batched_grad=True,
        check_batched_forward_grad=True,
    )


def test_random_forward_rule_under_batched_forward_check(lib):
    class Noisy(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

        @staticmethod
        def jvp(ctx, t):
            lib.randn_like(t)
            return t * 2

    x = _double(lib, 2)
    with pytest.raises(RuntimeError, match="We do not yet support calling random operations"):
        lib.autograd.gradcheck(
            Noisy.apply, (x,), check_forward_ad=True, check_batched_forward_grad=True
        )


def test_gradgradcheck_options(lib):
    x = _double(lib, 3)
    assert lib.autograd.gradgradcheck(lambda a: (a**3).sum(), (x,), nondet_tol=1e-9)
    jittery = _jittery(lib)
    with pytest.raises(RuntimeError, match="Backward is not reentrant"):
        lib.autograd.gradgradcheck(lambda a: jittery.apply(a, 1e-6) ** 2, (x,))


def test_deprecated_jacobian_helpers(lib):
    from_lib = pytest.importorskip(f"{lib.__name__}.autograd.gradcheck")
    a, b = _double(lib, 2, 2), _double(lib, 2, 2)

    def f(inputs):
        return 2 * inputs[0] + inputs[1], inputs[0] * inputs[1]

    with pytest.warns(FutureWarning, match="`get_numerical_jacobian` was part of PyTorch's"):
        ja, jb = from_lib.get_numerical_jacobian(f, (a, b), eps=1e-6)
    assert ja.shape == (4, 4) and ja.dtype == lib.float64
    assert lib.allclose(ja, 2 * lib.eye(4, dtype=lib.float64))
    assert lib.allclose(jb, lib.eye(4, dtype=lib.float64))
    with pytest.warns(FutureWarning):
        (only_b,) = from_lib.get_numerical_jacobian(f, (a, b), target=(b,), eps=1e-6)
    assert lib.allclose(only_b, jb)
    with (
        pytest.raises(ValueError, match="Expected grad_out to be 1.0"),
        pytest.warns(FutureWarning),
    ):
        from_lib.get_numerical_jacobian(f, (a, b), grad_out=2.0)

    out = (a * b).sum(0)  # (2,) from two (2, 2) inputs: Jacobians of shape (4, 2)
    with pytest.warns(FutureWarning, match="`get_analytical_jacobian` was part of PyTorch's"):
        jacobians, reentrant, sizes_ok, types_ok = from_lib.get_analytical_jacobian((a, b), out)
    assert reentrant and sizes_ok and types_ok
    assert [tuple(j.shape) for j in jacobians] == [(4, 2), (4, 2)]
    expected_a = lib.zeros(4, 2, dtype=lib.float64)
    for i in range(2):
        for j in range(2):
            expected_a[i * 2 + j, j] = b[i, j].item()
    assert lib.allclose(jacobians[0], expected_a)
    with (
        pytest.raises(ValueError, match="Expected grad_out to be 1.0"),
        pytest.warns(FutureWarning),
    ):
        from_lib.get_analytical_jacobian((a, b), out, grad_out=2.0)


def test_vmap_internals_legacy_signature(lib):
    vmap = pytest.importorskip(f"{lib.__name__}._vmap_internals")._vmap
    x = lib.arange(6.0).reshape(3, 2)
    assert lib.equal(vmap(lambda r: r * 2)(x), x * 2)
    assert lib.equal(vmap(lambda r, c: r + c, (0, None))(x, lib.ones(2)), x + 1)
    assert lib.equal(vmap(lambda col: col.sum(), 1)(x), x.sum(0))
    doubled, missing = vmap(lambda r: (r * 2, None), allow_none_pass_through=True)(x)
    assert missing is None and lib.equal(doubled, x * 2)
    with pytest.raises(ValueError, match="must only return Tensors, got type .* for return 1"):
        vmap(lambda r: (r, None))(x)
    with pytest.raises(ValueError, match="must only return Tensors, got type .* as the return"):
        vmap(lambda r: [r])(x)
    with pytest.raises(RuntimeError, match="We do not yet support calling random operations"):
        vmap(lambda r: r + lib.rand(2))(x)


def test_ember_keeps_its_float_tangent_rule():
    # PyTorch takes a tangent of another floating dtype; ember refuses it (documented)
    with ember.autograd.forward_ad.dual_level():
        with pytest.raises(RuntimeError, match="same dtype and device"):
            ember.autograd.forward_ad.make_dual(ember.ones(2), ember.ones(2, dtype=ember.float64))
