"""The _foreach_* functions: list in, list out, each element as the op on its own, against
PyTorch; in-place forms follow the in-place rules."""

from __future__ import annotations

import numpy as np
import pytest

import ember


def _lists(lib):
    return [lib.tensor([0.5, 1.5]), lib.tensor([[0.25, 2.0], [1.0, 3.0]])]


CASES = [
    ("_foreach_exp", lambda lib, a: lib._foreach_exp(a)),
    ("_foreach_sqrt", lambda lib, a: lib._foreach_sqrt(a)),
    ("_foreach_add number", lambda lib, a: lib._foreach_add(a, 1.5)),
    ("_foreach_add scalars", lambda lib, a: lib._foreach_add(a, [1.0, 2.0])),
    ("_foreach_add tensors", lambda lib, a: lib._foreach_add(a, a, alpha=2)),
    ("_foreach_add tensor", lambda lib, a: lib._foreach_add(a, lib.tensor(3.0))),
    ("_foreach_mul", lambda lib, a: lib._foreach_mul(a, [2.0, 3.0])),
    ("_foreach_maximum", lambda lib, a: lib._foreach_maximum(a, 1.0)),
    ("_foreach_pow", lambda lib, a: lib._foreach_pow(a, 2.0)),
    ("_foreach_addcmul", lambda lib, a: lib._foreach_addcmul(a, a, a, 0.5)),
    ("_foreach_addcdiv", lambda lib, a: lib._foreach_addcdiv(a, a, a, [1.0, 2.0])),
    ("_foreach_lerp", lambda lib, a: lib._foreach_lerp(a, lib._foreach_neg(a), 0.25)),
    ("_foreach_norm", lambda lib, a: lib._foreach_norm(a)),
    ("_foreach_norm 1", lambda lib, a: lib._foreach_norm(a, 1)),
    ("_foreach_clamp_min_", lambda lib, a: lib._foreach_clamp_min_(a, 1.0)),
    ("_foreach_sub_", lambda lib, a: lib._foreach_sub_(a, [lib.ones(2), lib.ones(2, 2)], alpha=2)),
    ("_foreach_exp_", lambda lib, a: lib._foreach_exp_(a)),
    ("_foreach_zero_", lambda lib, a: lib._foreach_zero_(a)),
    ("_foreach_copy_", lambda lib, a: lib._foreach_copy_(a, lib._foreach_neg(a))),
]


@pytest.mark.parametrize("name, call", CASES, ids=[n for n, _ in CASES])
def test_foreach_matches_pytorch(name, call, torch):
    want, got = call(torch, _lists(torch)), call(ember, _lists(ember))
    assert type(got) is type(want) and len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-6)


def test_foreach_in_place_returns_and_changes_the_tensors():
    tensors = _lists(ember)
    assert ember._foreach_add_(tensors, 1.0) is tensors
    assert tensors[0].tolist() == [1.5, 2.5] and tensors[0]._version == 1


def test_foreach_gradients_flow_per_tensor(torch):
    grads = []
    for lib in (torch, ember):
        a = [lib.tensor(1.0, requires_grad=True), lib.tensor(2.0, requires_grad=True)]
        with lib.autograd.graph.allow_mutation_on_saved_tensors():
            b = lib._foreach_exp(a)
            lib._foreach_add_(b, 1)
            (b[0] + b[1]).backward()
        grads.append([t.grad.item() for t in a])
    np.testing.assert_allclose(grads[1], grads[0])


def test_foreach_errors_match_pytorch(torch):
    for lib in (torch, ember):
        with pytest.raises(RuntimeError, match="at least one tensor"):
            lib._foreach_exp([])
        with pytest.raises(RuntimeError, match="same number of elements as scalar list"):
            lib._foreach_add(_lists(lib), [1.0])
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            lib._foreach_exp_([lib.ones(2, requires_grad=True)])
