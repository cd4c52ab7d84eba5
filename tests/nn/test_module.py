"""The Module API: registration, traversal, state_dict, moves, hooks, repr, containers."""

import copy
from collections import OrderedDict

import numpy as np
import pytest

import ember
import ember.nn as nn
from tests.nn.helpers import to_torch_state


def _net(lib):
    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.features = lib.nn.Sequential(
                lib.nn.Conv2d(3, 4, 3, padding=1),
                lib.nn.BatchNorm2d(4),
                lib.nn.ReLU(),
                lib.nn.MaxPool2d(2),
            )
            self.heads = lib.nn.ModuleList([lib.nn.Linear(16, 5), lib.nn.Linear(16, 5)])
            self.extra = lib.nn.ModuleDict({"norm": lib.nn.LayerNorm(5)})
            self.scale = lib.nn.Parameter(lib.ones(1))
            self.register_buffer("steps", lib.zeros(()))
            self.register_buffer("scratch", lib.zeros(2), persistent=False)

        def forward(self, x):
            h = self.features(x).flatten(1)
            return self.extra["norm"](self.heads[0](h) + self.heads[1](h)) * self.scale

    return Net()


def test_state_dict_keys_match_torch(torch):
    e, t = _net(ember), _net(torch)
    assert list(e.state_dict()) == list(t.state_dict())
    assert [n for n, _ in e.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in e.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in e.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in e.named_children()] == [n for n, _ in t.named_children()]
    assert e.state_dict()["features.1.num_batches_tracked"].dtype == ember.int64


def test_whole_network_matches_torch(torch):
    e, t = _net(ember), _net(torch)
    t.load_state_dict(to_torch_state(torch, e, "float32"))
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(np.float32)
    ex = ember.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    eo, to = e(ex), t(tx)
    np.testing.assert_allclose(eo.detach().numpy(), to.detach().numpy(), rtol=1e-4, atol=1e-5)
    (eo * eo).sum().backward()
    (to * to).sum().backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-3, atol=1e-5)
    tp = dict(t.named_parameters())
    for name, p in e.named_parameters():
        np.testing.assert_allclose(
            p.grad.numpy(), tp[name].grad.numpy(), rtol=1e-3, atol=1e-5, err_msg=name
        )


def test_repr_matches_torch(torch):
    e, t = _net(ember), _net(torch)
    assert repr(e) == repr(t)
    for build in (
        lambda lib: lib.nn.ModuleList([lib.nn.Linear(2, 2) for _ in range(3)] + [lib.nn.ReLU()]),
        lambda lib: lib.nn.Sequential(),
        lambda lib: lib.nn.Conv2d(3, 4, 3, padding="same", padding_mode="reflect", bias=False),
        lambda lib: lib.nn.ConvTranspose2d(
            4, 2, 3, stride=2, output_padding=1, groups=2, dilation=2
        ),
        lambda lib: lib.nn.Embedding(10, 3, padding_idx=0, max_norm=1.0, norm_type=1.0),
        lambda lib: lib.nn.EmbeddingBag(10, 3, mode="sum", padding_idx=2),
        lambda lib: lib.nn.BatchNorm1d(3, momentum=None, affine=False),
        lambda lib: lib.nn.InstanceNorm2d(3),
        lambda lib: lib.nn.GroupNorm(2, 4, bias=False),
        lambda lib: lib.nn.LayerNorm((2, 3), elementwise_affine=False),
        lambda lib: lib.nn.RMSNorm(3),
        lambda lib: lib.nn.AvgPool1d(3),
        lambda lib: lib.nn.AvgPool2d((3, 2), ceil_mode=True),
        lambda lib: lib.nn.MaxPool2d(2, return_indices=True),
        lambda lib: lib.nn.AdaptiveAvgPool2d((3, None)),
        lambda lib: lib.nn.Upsample(scale_factor=2),
        lambda lib: lib.nn.Upsample(size=(3, 4), mode="bilinear", align_corners=True),
        lambda lib: lib.nn.Dropout2d(0.1, True),
        lambda lib: lib.nn.Unflatten(1, (2, 3)),
        lambda lib: lib.nn.LeakyReLU(0.2, True),
        lambda lib: lib.nn.GELU("tanh"),
        lambda lib: lib.nn.Hardtanh(),
        lambda lib: lib.nn.ReLU6(True),
        lambda lib: lib.nn.Softshrink(),
        lambda lib: lib.nn.Threshold(0.1, 2.0, True),
        lambda lib: lib.nn.PReLU(3),
        lambda lib: lib.nn.Softplus(),
        lambda lib: lib.nn.CrossEntropyLoss(),
        lambda lib: lib.nn.ReflectionPad2d((1, 2, 0, 1)),
        lambda lib: lib.nn.ConstantPad1d(2, 3.5),
        lambda lib: lib.nn.ZeroPad2d(1),
        lambda lib: lib.nn.Bilinear(2, 3, 4),
        lambda lib: lib.nn.PixelShuffle(2),
    ):
        assert repr(build(ember)) == repr(build(torch))


def test_parameter_list_and_dict_repr(torch):
    for lib_e, lib_t in ((ember, torch),):
        e = lib_e.nn.ParameterList([lib_e.nn.Parameter(lib_e.zeros(2, 3)), lib_e.zeros(2)])
        t = lib_t.nn.ParameterList([lib_t.nn.Parameter(lib_t.zeros(2, 3)), lib_t.zeros(2)])
        assert repr(e) == repr(t).replace("torch.", "ember.")
        e = lib_e.nn.ParameterDict({"a": lib_e.nn.Parameter(lib_e.zeros(2, 3))})
        t = lib_t.nn.ParameterDict({"a": lib_t.nn.Parameter(lib_t.zeros(2, 3))})
        assert repr(e) == repr(t).replace("torch.", "ember.")


def test_parameter():
    p = nn.Parameter(ember.tensor([1.0, 2.0]))
    assert isinstance(p, ember.Tensor) and p.requires_grad and p.is_leaf
    assert repr(p) == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"
    frozen = nn.Parameter(ember.zeros(2), requires_grad=False)
    assert not frozen.requires_grad
    p.grad = ember.ones(2)
    q = copy.deepcopy(p)
    assert isinstance(q, nn.Parameter) and q is not p and q.requires_grad
    assert q.tolist() == [1.0, 2.0] and q.grad.tolist() == [1.0, 1.0]
    q.data.add_(1)
    assert p.tolist() == [1.0, 2.0], "deepcopy owns its memory"
    assert (p * 2).__class__ is ember.Tensor, "ops on a Parameter give plain tensors"


def test_load_state_dict_roundtrip_and_errors(torch):
    e = _net(ember)
    other = _net(ember)
    result = other.load_state_dict(e.state_dict())
    assert repr(result) == "<All keys matched successfully>"
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(
        other.heads[0].weight.numpy(force=True), e.heads[0].weight.numpy(force=True)
    )
    weight_before = other.heads[0].weight
    other.load_state_dict(_net(ember).state_dict())
    assert other.heads[0].weight is weight_before, "loading copies into the existing tensor"

    lin_e, lin_t = nn.Linear(3, 2), torch.nn.Linear(3, 2)
    bad_e = {"weight": ember.zeros(3, 3), "x": ember.zeros(1)}
    bad_t = {"weight": torch.zeros(3, 3), "x": torch.zeros(1)}
    with pytest.raises(RuntimeError) as ee:
        lin_e.load_state_dict(bad_e)
    with pytest.raises(RuntimeError) as te:
        lin_t.load_state_dict(bad_t)
    assert str(ee.value) == str(te.value).replace("torch.", "ember.")
    assert "size mismatch for weight: copying a param with shape" in str(ee.value)
    result = lin_e.load_state_dict(
        {"weight": ember.ones(2, 3), "foo": ember.zeros(1)}, strict=False
    )
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["foo"]
    assert lin_e.weight.tolist() == [[1.0] * 3] * 2
    with pytest.raises(TypeError, match="dict-like"):
        lin_e.load_state_dict([1])
    with pytest.raises(RuntimeError, match="expected torch.Tensor or Tensor-like"):
        lin_e.load_state_dict({"weight": 3, "bias": ember.zeros(2)})


def test_state_dict_detached_and_shared():
    lin = nn.Linear(2, 2)
    sd = lin.state_dict()
    assert isinstance(sd, OrderedDict)
    assert not sd["weight"].requires_grad
    sd["weight"].zero_()
    assert not lin.weight.numpy(force=True).any(), "state_dict shares storage"
    kept = lin.state_dict(keep_vars=True)
    assert kept["weight"] is lin.weight


def test_load_state_dict_assign():
    lin = nn.Linear(2, 2)
    new_w = ember.ones(2, 2)
    lin.load_state_dict({"weight": new_w, "bias": ember.zeros(2)}, assign=True)
    assert isinstance(lin.weight, nn.Parameter) and lin.weight.requires_grad
    new_w.add_(1)
    assert lin.weight.tolist() == [[2.0, 2.0]] * 2


def test_batchnorm_loads_old_checkpoint_without_num_batches_tracked():
    bn = nn.BatchNorm1d(2)
    state = {k: v for k, v in bn.state_dict().items() if k != "num_batches_tracked"}
    assert bn.load_state_dict(state).missing_keys == []


def test_registration_errors_match_torch(torch):
    def errors(lib):
        m = lib.nn.Linear(3, 2)
        out = []
        for action in (
            lambda: setattr(m, "weight", lib.zeros(2, 3)),
            lambda: m.register_buffer("weight", lib.zeros(1)),
            lambda: m.register_buffer("a.b", lib.zeros(1)),
            lambda: m.register_parameter("w", lib.zeros(1)),
            lambda: m.register_parameter("", None),
            lambda: m.add_module("w", 3),
            lambda: m.add_module("a.b", lib.nn.ReLU()),
            lambda: m.foo,
            lambda: m.train("a"),
            lambda: m.to(lib.int64),
            lambda: m.get_submodule("a.b"),
            lambda: m.get_parameter("foo"),
            lambda: lib.nn.Sequential(m)[5],
            lambda: lib.nn.ModuleList([m])[4],
            lambda: lib.nn.Sequential(m).get_submodule("0.weight"),
        ):
            try:
                action()
                out.append(None)
            except Exception as exc:  # noqa: BLE001
                out.append((type(exc).__name__, str(exc).replace("torch.", "ember.")))
        return out

    assert errors(ember) == errors(torch)


def test_setattr_routing():
    m = nn.Module()
    m.p = nn.Parameter(ember.zeros(1))
    m.sub = nn.ReLU()
    m.register_buffer("b", ember.zeros(1))
    m.b = ember.ones(1)  # a tensor assigned to a buffer name stays a buffer
    m.plain = 3
    assert list(m._parameters) == ["p"] and list(m._modules) == ["sub"]
    assert m._buffers["b"].tolist() == [1.0] and m.plain == 3
    m.p = None
    assert m.p is None and list(m.parameters()) == []
    with pytest.raises(TypeError, match="as child module 'sub'"):
        m.sub = nn.Buffer(ember.zeros(2))
    m.new = nn.Buffer(ember.zeros(2))
    assert "new" in m._buffers and "new" in m.state_dict()
    del m.b
    assert "b" not in m._buffers
    m.np = nn.Buffer(ember.zeros(1), persistent=False)
    assert "np" not in m.state_dict()
    with pytest.raises(AttributeError, match="before Module.__init__"):

        class Early(nn.Module):
            def __init__(self):
                self.w = nn.Parameter(ember.zeros(1))

        Early()


def test_traversal_options():
    shared = nn.Linear(2, 2)
    seq = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(seq.parameters())) == 2
    assert len(list(seq.named_parameters(remove_duplicate=False))) == 4
    assert [n for n, _ in seq.named_modules()] == ["", "0", "1"]
    assert [n for n, _ in seq.named_modules(remove_duplicate=False)] == ["", "0", "1", "2"]
    assert [n for n, _ in seq.named_parameters(prefix="model")] == [
        "model.0.weight",
        "model.0.bias",
    ]
    assert list(seq.named_parameters(recurse=False)) == []
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert seq.get_parameter("0.bias") is shared.bias
    assert seq.get_submodule("2") is shared


def test_train_eval_and_requires_grad():
    net = _net(ember)
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_zero_grad():
    lin = nn.Linear(2, 2)
    lin(ember.ones(1, 2)).sum().backward()
    lin.zero_grad(set_to_none=False)
    assert lin.weight.grad is not None and not lin.weight.grad.numpy().any()
    lin.zero_grad()
    assert lin.weight.grad is None


def test_to_moves_in_place():
    lin = nn.Linear(2, 2)
    lin(ember.ones(1, 2)).sum().backward()
    weight = lin.weight
    assert lin.double() is lin
    assert lin.weight is weight and weight.dtype == ember.float64
    assert weight.grad.dtype == ember.float64
    lin.to(ember.float32)
    assert weight.dtype == ember.float32
    lin.half()
    assert weight.dtype == ember.float16
    lin.to(dtype=ember.float32, device="cpu")
    bn = nn.BatchNorm1d(2).double()
    assert bn.running_mean.dtype == ember.float64
    assert bn.num_batches_tracked.dtype == ember.int64, "integer buffers keep their dtype"
    lin.type(ember.float64)
    assert lin.weight.dtype == ember.float64
    lin.to(ember.zeros(1, dtype=ember.float32))
    assert lin.weight.dtype == ember.float32
    lin.cpu()
    if not ember.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            lin.cuda()


def test_apply_and_deepcopy():
    net = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "Linear", "Sequential"]
    twin = copy.deepcopy(net)
    assert twin[0].weight is not net[0].weight
    np.testing.assert_array_equal(twin[0].weight.numpy(force=True), net[0].weight.numpy(force=True))
    assert isinstance(twin[0].weight, nn.Parameter)


def test_forward_hooks():
    lin = nn.Linear(2, 2)
    calls = []
    h1 = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    h2 = lin.register_forward_hook(lambda m, args, out: calls.append(out.shape) or out + 1)
    out = lin(ember.ones(3, 2))
    np.testing.assert_allclose(out.detach().numpy(), np.tile(lin.bias.detach().numpy() + 1, (3, 1)))
    assert calls == [(3, 2)]
    h1.remove()
    h2.remove()
    h2.remove()
    np.testing.assert_allclose(
        lin(ember.zeros(1, 2)).detach().numpy()[0], lin.bias.detach().numpy()
    )

    def pre(m, args, kwargs):
        return args, {"scale": 3.0}

    class Scaled(nn.Module):
        def forward(self, x, scale=1.0):
            return x * scale

    s = Scaled()
    s.register_forward_pre_hook(pre, with_kwargs=True)
    seen = []
    s.register_forward_hook(lambda m, a, kw, out: seen.append(kw), with_kwargs=True)
    s.register_forward_hook(lambda m, a, out: seen.append("first"), prepend=True)
    assert s(ember.ones(1)).tolist() == [3.0]
    assert seen == ["first", {"scale": 3.0}]


def test_full_backward_hook_matches_torch(torch):
    def record(lib):
        lin = lib.nn.Linear(3, 2)
        with lib.no_grad():
            lin.weight.copy_(lib.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]]))
        log = []

        def hook(module, grad_input, grad_output):
            log.append(
                (
                    [g.tolist() if g is not None else None for g in grad_input],
                    [g.tolist() for g in grad_output],
                )
            )
            return (grad_input[0] * 2,)

        def pre_hook(module, grad_output):
            return (grad_output[0] * 10,)

        lin.register_full_backward_hook(hook)
        lin.register_full_backward_pre_hook(pre_hook)
        x = lib.tensor([[1.0, 0.0, -1.0]], requires_grad=True)
        lin(x).sum().backward()
        return log, x.grad.tolist(), lin.weight.grad.tolist()

    assert record(ember) == record(torch)


def test_backward_hook_without_input_grad():
    lin = nn.Linear(2, 1)
    seen = []
    lin.register_full_backward_hook(lambda m, gi, go: seen.append((gi, go[0].shape)))
    lin(ember.ones(1, 2)).sum().backward()
    assert seen == [((None,), (1, 1))]


def test_sequential_api():
    a, b, c = nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and seq[-1] is c and list(seq) == [a, b, c]
    part = seq[1:]
    assert isinstance(part, nn.Sequential) and list(part) == [b, c]
    assert list(part._modules) == ["1", "2"]
    named = nn.Sequential(OrderedDict([("fc", a), ("act", b)]))
    assert named.fc is a and list(named.state_dict()) == ["fc.weight", "fc.bias"]
    seq.append(nn.Tanh())
    seq.insert(0, nn.Identity())
    assert [type(m).__name__ for m in seq] == ["Identity", "Linear", "ReLU", "Linear", "Tanh"]
    popped = seq.pop(0)
    assert isinstance(popped, nn.Identity) and list(seq._modules) == ["0", "1", "2", "3"]
    del seq[1]
    assert list(seq._modules) == ["0", "1", "2"]
    seq.extend([nn.ReLU()])
    seq[0] = nn.Linear(2, 2)
    assert len(seq) == 4
    assert seq(ember.ones(3, 2)).shape == (3, 1)


def test_module_list_and_dict():
    layers = nn.ModuleList([nn.Linear(2, 2)])
    layers.append(nn.ReLU())
    layers.extend([nn.Tanh()])
    layers.insert(1, nn.Identity())
    assert [type(m).__name__ for m in layers] == ["Linear", "Identity", "ReLU", "Tanh"]
    assert isinstance(layers[1:], nn.ModuleList) and len(layers[1:]) == 3
    del layers[0]
    assert list(layers._modules) == ["0", "1", "2"]
    with pytest.raises(TypeError, match="iterable"):
        layers.extend(nn.ReLU())
    d = nn.ModuleDict({"a": nn.ReLU()})
    d["b"] = nn.Tanh()
    d.update([("c", nn.Identity())])
    assert list(d.keys()) == ["a", "b", "c"] and "b" in d and len(d) == 3
    assert isinstance(d.pop("a"), nn.ReLU) and list(d) == ["b", "c"]


def test_parameter_list_and_dict():
    plist = nn.ParameterList([ember.zeros(2), nn.Parameter(ember.ones(3))])
    assert all(isinstance(p, nn.Parameter) for p in plist)
    plist.append(ember.zeros(1))
    assert len(plist) == 3 and [n for n, _ in plist.named_parameters()] == ["0", "1", "2"]
    pdict = nn.ParameterDict({"b": ember.zeros(1), "a": ember.ones(1)})
    assert list(pdict) == ["a", "b"], "a plain dict is sorted, as PyTorch"
    pdict["c"] = ember.zeros(2)
    assert isinstance(pdict["c"], nn.Parameter) and len(pdict) == 3
    assert [n for n, _ in pdict.named_parameters()] == ["a", "b", "c"]
    del pdict["a"]
    assert list(pdict.keys()) == ["b", "c"]


def test_extra_state_roundtrip():
    class WithState(nn.Module):
        def __init__(self):
            super().__init__()
            self.value = 1

        def get_extra_state(self):
            return {"value": self.value}

        def set_extra_state(self, state):
            self.value = state["value"]

    a, b = WithState(), WithState()
    a.value = 7
    b.load_state_dict(a.state_dict())
    assert b.value == 7 and "_extra_state" in a.state_dict()


def test_missing_forward():
    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        nn.Module()(ember.zeros(1))


@pytest.mark.parametrize("assign", [False, True])
def test_failed_load_state_dict_leaves_the_module_as_it_was(assign):
    """PyTorch copies the entries that match and then raises; ember puts them back."""
    model = ember.nn.Sequential(ember.nn.Linear(3, 2), ember.nn.BatchNorm1d(2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params = [(id(p), p._version) for p in model.parameters()]
    state = {k: v + 1 for k, v in model.state_dict().items()}
    state["1.weight"] = ember.zeros(5)  # the one bad entry, loaded after the good ones
    with pytest.raises(RuntimeError, match="size mismatch for 1.weight"):
        model.load_state_dict(state, assign=assign)
    for k, v in model.state_dict().items():
        assert ember.equal(v, before[k]), k
    assert [(id(p), p._version) for p in model.parameters()] == params
