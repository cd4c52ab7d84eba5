"""The benchmark workloads W1-W5, each as ember, torch and hand-written NumPy contenders.

Every builder returns {name: step_function}; the same data seeds every contender.
float32 everywhere. `only` names the one contender to build ("ember", "torch" or "numpy"):
the others are then neither built nor imported, so a process timing one library holds no
other library's threads (benchmarks/contender.py).
"""

from __future__ import annotations

import numpy as np


def _sync(lib, device):
    """A step function's last act on a GPU: wait for the queued work (fair timing)."""
    if device != "cpu":
        lib.cuda.synchronize()


def _build(factories, only=None):
    """{name: factory()} for the contenders asked for; a None factory is not available."""
    names = list(factories) if only is None else [only]
    return {n: factories[n]() for n in names if factories.get(n) is not None}


def _ember():
    import ember

    return ember


def _floor(make, device):
    """The hand-written NumPy floor's factory: it runs on the CPU only."""
    return make if device == "cpu" else None


def w1_seed_mlp(torch, device="cpu", only=None):
    """W1: the seed notebook's two-layer net by hand (x.mm(w1).clamp(min=0).mm(w2))."""
    from benchmarks import seed_mlp

    return seed_mlp.contenders(torch, device, only=only)


def w3_per_op(torch, n_ops=1000, size=16, device="cpu", only=None):
    """W3: a chain of n_ops small ops (add, mul by a number, tanh) on 16 elements, then backward."""
    x0 = np.random.default_rng(0).standard_normal(size).astype(np.float32)

    def chain(lib):
        x = lib.tensor(x0, device=device, requires_grad=True)

        def step():
            y = x
            for _ in range(n_ops // 3):
                y = y + 1.0
                y = y * 0.5
                y = y.tanh()
            y.sum().backward()
            _sync(lib, device)

        return step

    def floor():
        ys = []
        y = x0
        for _ in range(n_ops // 3):
            y = y + np.float32(1.0)
            y = y * np.float32(0.5)
            y = np.tanh(y)
            ys.append(y)
        g = np.ones_like(y)
        for y in reversed(ys):
            g = g * (1 - y * y)
            g = g * np.float32(0.5)
        return g

    return _build(
        {
            "ember": lambda: chain(_ember()),
            "torch": (lambda: chain(torch)) if torch else None,
            "numpy": _floor(lambda: floor, device),
        },
        only,
    )


def _mlp_data(batch, sizes, classes, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, classes, batch)
    return x, y


def w2_mnist_mlp(torch, batch=128, sizes=(784, 512, 512, 10), device="cpu", only=None):
    """W2: an MNIST-size MLP (784-512-512-10, ReLU, cross-entropy, SGD) with nn and optim."""
    x_np, y_np = _mlp_data(batch, sizes, sizes[-1])

    def build(lib):
        lib.manual_seed(0)
        layers = []
        for i in range(len(sizes) - 1):
            layers.append(lib.nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(lib.nn.ReLU())
        model = lib.nn.Sequential(*layers).to(device)
        opt = lib.optim.SGD(model.parameters(), lr=0.01)
        loss_fn = lib.nn.CrossEntropyLoss()
        x, y = lib.from_numpy(x_np).to(device), lib.from_numpy(y_np).to(device)

        def step():
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            _sync(lib, device)

        return step

    rng = np.random.default_rng(1)
    ws = [
        (rng.standard_normal((a, b)).astype(np.float32) / np.sqrt(a), np.zeros(b, np.float32))
        for a, b in zip(sizes[:-1], sizes[1:])
    ]

    def floor():
        acts = [x_np]
        h = x_np
        for i, (w, b) in enumerate(ws):
            h = h @ w + b
            if i < len(ws) - 1:
                h = np.maximum(h, 0)
            acts.append(h)
        z = h - h.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        p[np.arange(batch), y_np] -= 1
        g = p / batch
        for i in range(len(ws) - 1, -1, -1):
            w, b = ws[i]
            gw = acts[i].T @ g
            gb = g.sum(0)
            if i:
                g = g @ w.T
                g *= acts[i] > 0
            w -= np.float32(0.01) * gw
            b -= np.float32(0.01) * gb

    return _build(
        {
            "ember": lambda: build(_ember()),
            "torch": (lambda: build(torch)) if torch else None,
            "numpy": _floor(lambda: floor, device),
        },
        only,
    )


def w4_small_cnn(torch, batch=32, device="cpu", only=None):
    """W4: conv3x3 1->16, relu, maxpool2, conv3x3 16->32, relu, maxpool2, linear ->10, CE, SGD."""
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    y_np = rng.integers(0, 10, batch)

    def build(lib):
        lib.manual_seed(0)
        nn = lib.nn
        model = nn.Sequential(
            nn.Conv2d(1, 16, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * 5 * 5, 10),
        ).to(device)
        opt = lib.optim.SGD(model.parameters(), lr=0.01)
        loss_fn = nn.CrossEntropyLoss()
        x, y = lib.from_numpy(x_np).to(device), lib.from_numpy(y_np).to(device)

        def step():
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
            _sync(lib, device)

        return step

    return _build(
        {"ember": lambda: build(_ember()), "torch": (lambda: build(torch)) if torch else None},
        only,
    )


def w5_lstm(torch, batch=32, seq=50, features=32, hidden=128, device="cpu", only=None):
    """W5: one LSTM layer (batch 32, seq 50, input 32, hidden 128), a sum loss, backward."""
    x_np = np.random.default_rng(0).standard_normal((seq, batch, features)).astype(np.float32)

    def build(lib):
        lib.manual_seed(0)
        lstm = lib.nn.LSTM(features, hidden).to(device)
        x = lib.from_numpy(x_np).to(device)

        def step():
            lstm.zero_grad()
            out, _ = lstm(x)
            out.sum().backward()
            _sync(lib, device)

        return step

    return _build(
        {"ember": lambda: build(_ember()), "torch": (lambda: build(torch)) if torch else None},
        only,
    )


WORKLOADS = {
    "W1 seed MLP": w1_seed_mlp,
    "W2 MNIST MLP": w2_mnist_mlp,
    "W3 1000 small ops": w3_per_op,
    "W4 small CNN": w4_small_cnn,
    "W5 LSTM": w5_lstm,
}

# tiny sizes for smoke runs (tests, `--small`): the same code paths in milliseconds
SMALL = {
    "W1 seed MLP": {},
    "W2 MNIST MLP": {"batch": 4, "sizes": (12, 8, 8, 3)},
    "W3 1000 small ops": {"n_ops": 30, "size": 4},
    "W4 small CNN": {"batch": 2},
    "W5 LSTM": {"batch": 2, "seq": 3, "features": 4, "hidden": 5},
}
