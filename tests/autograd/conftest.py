"""The `lib` fixture: each case runs once in ember and once in PyTorch, the same code."""

import pytest

import ember


@pytest.fixture(params=["ember", "torch"])
def lib(request):
    """ember, then torch (skipped only where torch cannot be imported, as the torch fixture)."""
    if request.param == "torch":
        return request.getfixturevalue("torch")
    return ember
