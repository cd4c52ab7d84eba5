"""ember.func.functional_call against torch.func.functional_call."""

import numpy as np
import pytest

import ember
import ember.func
from tests.func.helpers import assert_close, assert_same_error, run_both

RNG = np.random.default_rng(4)
X = RNG.standard_normal((5, 3))
W = RNG.standard_normal((2, 3))
BIAS = RNG.standard_normal(2)


def deterministic(lib, model):
    """`model` in float64 with the same parameter values in ember and in PyTorch."""
    model = model.double()
    rng = np.random.default_rng(5)
    with lib.no_grad():
        for p in model.parameters():
            p.copy_(lib.tensor(rng.standard_normal(tuple(p.shape))))
    return model


def linear(lib):
    return deterministic(lib, lib.nn.Linear(3, 2))


def test_runs_forward_with_the_given_tensors(torch):
    def run(lib, F):
        layer = linear(lib)
        own = layer.weight
        out = F.functional_call(
            layer, {"weight": lib.tensor(W), "bias": lib.tensor(BIAS)}, (lib.tensor(X),)
        )
        assert layer.weight is own  # put back
        return out

    got, expected = run_both(torch, run)
    assert_close(got, expected)
    np.testing.assert_allclose(got.detach().numpy(), X @ W.T + BIAS)


def test_missing_names_keep_the_module_tensors_and_args_may_be_one_tensor(torch):
    def run(lib, F):
        return F.functional_call(linear(lib), {"bias": lib.tensor(BIAS)}, lib.tensor(X))

    got, expected = run_both(torch, run)
    assert_close(got, expected)
    weight = linear(ember).weight.detach().numpy()
    np.testing.assert_allclose(got.detach().numpy(), X @ weight.T + BIAS)


def test_gradients_flow_to_the_given_tensors_not_the_module(torch):
    def run(lib, F):
        layer = linear(lib)
        w = lib.tensor(W, requires_grad=True)
        out = F.functional_call(layer, {"weight": w}, (lib.tensor(X),))
        out.pow(2).sum().backward()
        assert layer.weight.grad is None
        return w.grad, layer.bias.grad

    assert_close(*run_both(torch, run))


def test_grad_of_a_linear_model_loss(torch):
    def run(lib, F):
        layer = linear(lib)
        params = {k: v.detach() for k, v in layer.named_parameters()}

        def loss(p, x):
            return F.functional_call(layer, p, (x,)).tanh().pow(2).mean()

        return F.grad(loss)(params, lib.tensor(X))

    assert_close(*run_both(torch, run))


def test_buffers_nested_modules_and_two_dicts(torch):
    def run(lib, F):
        model = lib.nn.Sequential(
            lib.nn.Linear(3, 4), lib.nn.BatchNorm1d(4), lib.nn.Tanh(), lib.nn.Linear(4, 2)
        )
        model = deterministic(lib, model)
        model.eval()
        params = {k: v.detach() * 0.5 for k, v in model.named_parameters()}
        buffers = {"1.running_mean": lib.tensor(np.arange(4.0)), "1.running_var": lib.ones(4)}
        buffers["1.running_var"] = buffers["1.running_var"].double() * 2
        out = F.functional_call(model, (params, buffers), (lib.tensor(X),), strict=False)
        assert model[1].running_mean.abs().sum().item() == 0  # put back
        return out

    assert_close(*run_both(torch, run))


def test_module_is_restored_after_an_error():
    class Boom(ember.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = ember.nn.Linear(3, 2)
            self.register_buffer("scale", ember.ones(2))

        def forward(self, x):
            raise ValueError("boom")

    model = Boom()
    before = dict(model.named_parameters()), dict(model.named_buffers())
    given = {"lin.weight": ember.zeros(2, 3), "scale": ember.zeros(2), "extra": ember.ones(1)}
    with pytest.raises(ValueError, match="boom"):
        ember.func.functional_call(model, given, (ember.ones(3),))
    assert dict(model.named_parameters()) == before[0]
    assert dict(model.named_buffers()) == before[1]
    assert not hasattr(model, "extra")
    assert isinstance(model.lin.weight, ember.nn.Parameter)


class _Tied:
    @staticmethod
    def make(lib):
        class Tied(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.a = lib.nn.Linear(2, 2, bias=False)
                self.b = lib.nn.Linear(2, 2, bias=False)
                self.b.weight = self.a.weight

            def forward(self, x):
                return self.b(self.a(x))

        model = Tied().double()
        with lib.no_grad():
            model.a.weight.copy_(lib.tensor([[1.0, 2.0], [3.0, 4.0]]))
        return model


@pytest.mark.parametrize("tie_weights", [True, False])
def test_tie_weights(torch, tie_weights):
    def run(lib, F):
        model = _Tied.make(lib)
        w = lib.tensor(np.eye(2) * 2)
        return F.functional_call(
            model, {"a.weight": w}, (lib.tensor(X[:, :2].copy()),), tie_weights=tie_weights
        )

    assert_close(*run_both(torch, run))


ERRORS = {
    "tied_values": lambda lib, F: F.functional_call(
        _Tied.make(lib),
        {"a.weight": lib.zeros(2, 2), "b.weight": lib.ones(2, 2)},
        (lib.ones(2),),
    ),
    "strict": lambda lib, F: F.functional_call(
        lib.nn.Linear(3, 2),
        {"weight": lib.ones(2, 3), "x": lib.ones(1)},
        (lib.ones(3),),
        strict=True,
    ),
    "repeated_keys": lambda lib, F: F.functional_call(
        lib.nn.Linear(3, 2), ({"bias": lib.ones(2)}, {"bias": lib.ones(2)}), (lib.ones(3),)
    ),
    "not_dicts": lambda lib, F: F.functional_call(lib.nn.Linear(3, 2), ([1],), (lib.ones(3),)),
    "not_a_dict": lambda lib, F: F.functional_call(lib.nn.Linear(3, 2), 3, (lib.ones(3),)),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_errors_as_torch(torch, case):
    assert_same_error(torch, ERRORS[case])


def test_module_writes_back_a_replaced_buffer(torch):
    def run(lib, F):
        class Counter(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.register_buffer("count", lib.zeros(()))

            def forward(self, x):
                self.count = self.count + 1
                return x

        given = {"count": lib.zeros(())}
        model = Counter()
        F.functional_call(model, given, (lib.ones(1),))
        return given["count"], model.count

    assert_close(*run_both(torch, run))
