"""Shared fixtures: the torch oracle, and seeding."""

import os

import numpy as np
import pytest

import ember


@pytest.fixture
def torch():
    """PyTorch as an oracle; skipped only where it cannot be imported, and never in CI."""
    if os.environ.get("CI"):
        import torch

        return torch
    return pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _seed():
    ember.manual_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture
def fake_cuda():
    """A NumPy-backed CUDA device (tests/fake_cuda.py) for the length of one test."""
    from tests import fake_cuda as fake_device

    with fake_device.installed():
        yield
