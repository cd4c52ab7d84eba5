"""Device plumbing, tested on CPU with ember's test-only fake CUDA device."""

import numpy as np
import pytest

import ember


def test_transfers_and_device_attributes(fake_cuda):
    assert ember.cuda.is_available() and ember.cuda.device_count() == 1
    x = ember.tensor([1.0, 2.0])
    y = x.cuda()
    assert y.device == ember.device("cuda:0") and y.is_cuda and not x.is_cuda
    assert y.to("cpu").device.type == "cpu"
    assert ember.zeros(2, device="cuda").device.type == "cuda"
    assert ember.randn(3, device="cuda").device.type == "cuda"
    assert x.to(y).device.type == "cuda"
    assert y.cpu().tolist() == [1.0, 2.0]
    assert repr(y) == "tensor([1., 2.], device='cuda:0')"


def test_legacy_cuda_types(fake_cuda):
    t = ember.randn(2, 3).type(ember.cuda.FloatTensor)
    assert t.is_cuda and t.dtype == ember.float32
    assert isinstance(t, ember.cuda.FloatTensor) and not isinstance(t, ember.FloatTensor)
    assert t.type() == "ember.cuda.FloatTensor"
    assert ember.cuda.FloatTensor([1, 2]).is_cuda


def test_mixing_devices_raises(fake_cuda):
    a = ember.ones(2)
    b = ember.ones(2, device="cuda")
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        a + b
    with pytest.raises(RuntimeError, match="same device"):
        _ = a == b
    with pytest.raises(RuntimeError, match="same device"):
        ember.ones(2, 2).mm(ember.ones(2, 2, device="cuda"))


def test_numpy_of_cuda_tensor_raises(fake_cuda):
    y = ember.ones(2, device="cuda")
    with pytest.raises(TypeError, match="cpu"):
        y.numpy()
    assert y.item if y.numel() > 1 else True
    assert ember.ones(1, device="cuda").item() == 1.0


def test_gradients_stay_on_device_and_flow_back_across_transfers(fake_cuda):
    w = ember.randn(3, 2, requires_grad=True)
    w_gpu = w.cuda()
    x = ember.randn(4, 3, device="cuda")
    loss = x.mm(w_gpu).tanh().pow(2).sum()
    loss.backward()
    assert w.grad.device.type == "cpu"
    xs, ws = x.cpu().numpy(), w.detach().numpy()
    expected = xs.T @ (2 * np.tanh(xs @ ws) * (1 - np.tanh(xs @ ws) ** 2))
    np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-5)


def test_seed_net_on_cuda(fake_cuda):
    dtype = ember.cuda.FloatTensor
    x = ember.randn(8, 10).type(dtype)
    y = ember.randn(8, 2).type(dtype)
    w1 = ember.randn(10, 5).type(dtype).requires_grad_()
    w2 = ember.randn(5, 2).type(dtype).requires_grad_()
    for _ in range(3):
        loss = (x.mm(w1).clamp(min=0).mm(w2) - y).pow(2).sum()
        loss.backward()
        w1.data -= 1e-3 * w1.grad.data
        w1.grad.data.zero_()
        w2.grad.data.zero_()
    assert w1.grad.device.type == "cuda" and w1.device.type == "cuda"


def test_indexing_and_reductions_keep_the_device(fake_cuda):
    x = ember.randn(4, 3, device="cuda", requires_grad=True)
    parts = [x[1:3], x[[0, 2]], x.sum(), x.mean(0), x.amax(), x.max(1).values, x.reshape(12)]
    for p in parts:
        assert p.device.type == "cuda", p
    sum(p.sum() for p in parts).backward()
    assert x.grad.device.type == "cuda"


def test_without_cuda_everything_says_how_to_get_it():
    with pytest.raises(RuntimeError, match="pip install"):
        ember.zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        ember.cuda.current_device()


def test_module_and_optimizer_follow_the_device(fake_cuda):
    model = ember.nn.Sequential(ember.nn.Linear(4, 3), ember.nn.ReLU(), ember.nn.Linear(3, 2))
    params_before = list(model.parameters())
    model.cuda()
    assert all(p.is_cuda for p in model.parameters())
    assert [id(p) for p in model.parameters()] == [id(p) for p in params_before]
    opt = ember.optim.Adam(model.parameters(), lr=0.1)
    x = ember.randn(5, 4, device="cuda")
    loss = model(x).pow(2).sum()
    loss.backward()
    opt.step()
    for state in opt.state.values():
        assert state["exp_avg"].is_cuda and state["exp_avg_sq"].is_cuda
    model.cpu()
    assert not any(p.is_cuda for p in model.parameters())


def test_checkpoint_map_location(fake_cuda, tmp_path):
    path = tmp_path / "ckpt.safetensors"
    ember.save({"w": ember.ones(2, 3, device="cuda"), "step": 3}, path)
    loaded = ember.load(path)
    assert not loaded["w"].is_cuda and loaded["step"] == 3
    moved = ember.load(path, map_location="cuda")
    assert moved["w"].is_cuda
    mapped = ember.load(path, map_location=lambda t, location: t.to("cuda"))
    assert mapped["w"].is_cuda
