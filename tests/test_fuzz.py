"""The differential fuzzer in CI: a fixed, seeded budget of random programs must match torch,
and the fuzzer itself must catch bugs planted in a copy of the op table."""

from __future__ import annotations

import dataclasses

import pytest

from ember.ops import OPS
from tests import fuzz, test_regressions

BUDGET = 300  # programs; about 40 s on two cores


def test_seeded_budget_matches_torch(torch):
    stats = fuzz.run_many(BUDGET, seed=0)
    print(stats.summary())
    assert stats.programs == BUDGET
    assert stats.ops > 10 * BUDGET and stats.inplace > BUDGET and stats.views > BUDGET
    assert stats.gradgrad_programs > BUDGET // 5
    assert stats.forward_mode_programs > BUDGET // 10
    assert stats.vmap_programs > BUDGET // 20
    report = "\n\n".join(f"{m}\n{m.listing}" for m in stats.mismatches)
    assert not stats.mismatches, f"{stats.summary()}\n\n{report}"


def test_programs_replay_identically(torch):  # the generator tries each step in torch
    for index in (0, 7, 123):
        a, b = fuzz.generate(5, index), fuzz.generate(5, index)
        assert a.listing() == b.listing()
    assert fuzz.generate(5, 1).listing() != fuzz.generate(6, 1).listing()


def test_known_bugs_name_regression_tests():
    for key, target in fuzz.KNOWN_BUGS.items():
        assert ":" in key, key
        if not target.startswith("torch quirk"):
            for name in target.split(" and "):
                name = name.rsplit(" ", 1)[-1] if " " in name else name
                assert hasattr(test_regressions, name), f"{key}: no {name} in test_regressions"


def _planted(name, ember_call):
    """A copy of op `name` whose ember side is `ember_call` (torch's stays right)."""
    spec = OPS[name]

    def call(lib, *args, **kwargs):
        if lib.__name__ == "ember":
            return ember_call(lib, *args, **kwargs)
        return spec.call(lib, *args, **kwargs)

    return {name: dataclasses.replace(spec, call=call)}


@pytest.mark.parametrize(
    "kind, ops",
    [
        ("value", _planted("exp", lambda L, x: L.exp(x) * 1.001)),
        # right values, gradient 1.5 times too large
        ("grad", _planted("sin", lambda L, x: L.sin(x) * 1.5 - L.sin(x).detach() * 0.5)),
        ("ember_raised", _planted("mul", lambda L, a, b: a.sum(dim=7))),
        ("shape", _planted("sum", lambda L, x, **kw: x.sum(**kw).unsqueeze(0))),
    ],
)
def test_fuzzer_catches_planted_bugs(kind, ops, torch):
    stats = fuzz.run_many(6, seed=1, ops=ops)
    assert stats.mismatches, f"the planted {kind} bug went unnoticed"
    found = stats.mismatches[0]
    assert found.kind == kind, found
    # shrunk to the leaves and the one op (a view or in-place step only if it is needed)
    assert len(found.listing.splitlines()) <= 5, found.listing


def test_fuzzer_catches_a_planted_second_order_bug(torch):
    # first derivative right (cos), second derivative wrong (d/dx of a detached cos is 0)
    def bad_sin(L, x):
        return _DetachedDerivativeSin.apply(x)

    import ember

    class _DetachedDerivativeSin(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.sin()

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * x.detach().cos()

    stats = fuzz.run_many(12, seed=3, ops=_planted("sin", bad_sin))
    kinds = {m.kind for m in stats.mismatches}
    assert "gradgrad" in kinds, kinds
