"""The model zoo of `python -m ember train`: small image classifiers built from ember.nn.

A model is rebuilt from a plain config dict (saved in every checkpoint), so a checkpoint holds
only tensors and JSON-able values, never pickled code.
"""

from __future__ import annotations

from ember import nn

MODELS = ("cnn", "mlp")


def model_config(name, in_channels, height, width, num_classes):
    """The config dict `build_model` rebuilds a model from."""
    return {
        "model": name,
        "in_channels": int(in_channels),
        "height": int(height),
        "width": int(width),
        "num_classes": int(num_classes),
    }


def build_model(config):
    """A fresh model (ember.nn.Sequential) for a config from `model_config`."""
    name = config["model"]
    c, h, w, k = config["in_channels"], config["height"], config["width"], config["num_classes"]
    if name == "cnn":
        return _cnn(c, h, w, k)
    if name == "mlp":
        return _mlp(c, h, w, k)
    raise ValueError(f"unknown model {name!r} (choose from {', '.join(MODELS)})")


def _cnn(c, h, w, k):
    # two conv blocks, each halving the image (8x8 -> 4x4 -> 2x2, or 28x28 -> 14x14 -> 7x7)
    return nn.Sequential(
        nn.Conv2d(c, 16, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.25),
        nn.Linear(32 * (h // 4) * (w // 4), 64),
        nn.ReLU(),
        nn.Linear(64, k),
    )


def _mlp(c, h, w, k):
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(c * h * w, 128),
        nn.ReLU(),
        nn.Dropout(0.1),
        nn.Linear(128, k),
    )


def count_parameters(model):
    """The number of trainable numbers in a model."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
