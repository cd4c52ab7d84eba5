"""The seed notebook's two-layer net again, with `nn` and `optim` doing the bookkeeping.

`nn.Sequential` holds the weights (as Parameters), `nn.MSELoss` is the loss, and an optimizer
applies the update and resets the gradients; compare with seed_notebook_modern.py, where all of
that is written out by hand.

Run it:  python examples/two_layer_nn.py
"""

from __future__ import annotations

import ember as torch
from ember import nn


def main(steps=300, seed=0, lr=1e-3, verbose=True):
    """Fit random targets with a 1000-100-10 ReLU net; returns the loss at every step."""
    torch.manual_seed(seed)
    n, d_in, hidden, d_out = 64, 1000, 100, 10
    x = torch.randn(n, d_in)
    y = torch.randn(n, d_out)

    model = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))
    loss_fn = nn.MSELoss(reduction="sum")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    losses = []
    for t in range(steps):
        loss = loss_fn(model(x), y)
        losses.append(loss.item())
        if verbose and (t % max(1, steps // 6) == 0 or t == steps - 1):
            print(f"step {t:4d}  loss {loss.item():.6g}")
        optimizer.zero_grad()  # gradients add up across backward() calls: reset them
        loss.backward()
        optimizer.step()
    print(
        f"{sum(p.numel() for p in model.parameters()):,} parameters, "
        f"loss {losses[0]:.4g} -> {losses[-1]:.3g}"
    )
    return losses


if __name__ == "__main__":
    main()
