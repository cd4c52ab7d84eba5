"""Inference mode as PyTorch has it: tensors made inside it (views included) are inference
tensors, which outside it may not change in place, be saved for backward or require grad."""

from __future__ import annotations

import threading

import pytest

import ember


def test_what_is_an_inference_tensor(lib):
    normal = lib.ones(2)
    with lib.inference_mode():
        made = lib.ones(2)
        view_of_made, view_of_normal, result = made.view(2), normal.view(2), normal * 2
        assert lib.is_inference_mode_enabled()
    assert all(t.is_inference() for t in (made, view_of_made, result))
    assert not view_of_normal.is_inference()  # a view shares its base's kind
    assert not normal.is_inference() and lib.is_inference(made)
    assert not made.clone().is_inference()  # a clone outside is a normal tensor
    with lib.inference_mode(False):
        assert not lib.ones(1).is_inference()


def test_rules_outside_inference_mode(lib):
    with lib.inference_mode():
        made = lib.ones(2)
        made.add_(1)  # inside, in-place is fine
    with pytest.raises(RuntimeError, match="Inplace update to inference tensor outside"):
        made.mul_(2)
    w = lib.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="Inference tensors cannot be saved for backward"):
        w * made
    (w + made).sum().backward()  # nothing saved: allowed
    assert w.grad.tolist() == [1.0, 1.0]
    with pytest.raises(RuntimeError, match="Setting requires_grad=True on inference tensor"):
        made.requires_grad_()
    assert made.clone().requires_grad_().requires_grad


def test_nothing_is_recorded_inside(lib):
    w = lib.ones(2, requires_grad=True)
    with lib.inference_mode():
        y = w * 2
    assert not y.requires_grad and y.is_inference()


def test_refused_in_place_changes_nothing():
    with ember.inference_mode():
        made = ember.ones(2)
    with pytest.raises(RuntimeError):
        made.add_(1)
    assert made.tolist() == [1.0, 1.0]  # (PyTorch has already written it when it raises)


def test_inference_mode_is_per_thread():
    inside, done = threading.Event(), threading.Event()
    seen = {}

    def worker():
        with ember.inference_mode():
            inside.set()
            done.wait(10)

    thread = threading.Thread(target=worker)
    thread.start()
    inside.wait(10)
    seen["other"] = ember.ones(1).is_inference()
    done.set()
    thread.join()
    assert seen["other"] is False


def test_out_into_an_inference_tensor_outside_inference_mode_is_refused(lib):
    with lib.inference_mode():
        target = lib.zeros(2)
    with pytest.raises(RuntimeError, match="Inplace update to inference tensor outside"):
        lib.add(lib.ones(2), lib.ones(2), out=target)
    if lib.__name__ == "ember":  # ember refuses before writing; PyTorch has written by then
        assert target.tolist() == [0.0, 0.0]


def test_a_tensor_cannot_be_its_own_grad(lib):
    x = lib.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="can't assign Variable as its own grad"):
        x.grad = x
