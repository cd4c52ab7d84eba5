"""Smoke tests: every script in examples/ runs with few steps and learns what it should."""

import importlib.util
import math
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
TESTED = {
    "seed_notebook_modern",
    "two_layer_nn",
    "legendre_polynomial",
    "newton_logistic",
    "char_lstm",
}


def load(name):
    """Import examples/<name>.py as a module (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_has_a_smoke_test():
    assert {p.stem for p in EXAMPLES.glob("*.py")} == TESTED


def test_seed_notebook_modern(capsys):
    result = load("seed_notebook_modern").main(steps=60, verbose=False)
    assert result["grads"] == (2.0, 1.0, 1.0)
    plain, custom = result["losses"], result["custom_losses"]
    assert len(plain) == 60 and plain[-1] < 1e-3 * plain[0]
    # the hand-written ReLU gives the same training run, up to float32 rounding
    assert all(math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-3) for a, b in zip(plain, custom))
    assert "MyReLU" in capsys.readouterr().out


def test_two_layer_nn():
    losses = load("two_layer_nn").main(steps=60, verbose=False)
    assert len(losses) == 60 and losses[-1] < 0.01 * losses[0]


def test_legendre_polynomial():
    module = load("legendre_polynomial")
    losses, (a, b, c, d) = module.main(steps=300, verbose=False)
    assert losses[-1] < 0.5 * losses[0]
    assert b < -1.0 and 0 < d < 0.3  # on its way to the tutorial's b ~ -2.2, d ~ 0.26


def test_legendre_backward_is_the_derivative():
    import ember

    module = load("legendre_polynomial")
    t = ember.tensor([-1.0, 0.0, 0.5, 2.0], dtype=ember.float64, requires_grad=True)
    module.LegendrePolynomial3.apply(t).sum().backward()
    assert t.grad.tolist() == [1.5 * (5 * v * v - 1) for v in (-1.0, 0.0, 0.5, 2.0)]


def test_newton_logistic():
    result = load("newton_logistic").main(steps=6, verbose=False)
    newton, gd = result["newton"], result["gd"]
    assert newton[0] == pytest.approx(gd[0])  # the same start
    assert newton[-1] < 1e-6 < 1e-2 < gd[-1]  # Newton converges, gradient descent is far off
    assert result["hvp_gap"] < 1e-10 and result["accuracy"] > 0.75


def test_char_lstm():
    losses, text = load("char_lstm").main(steps=40, seq_len=16, batch_size=16, verbose=False)
    assert len(losses) == 40 and losses[-1] < 0.4 * losses[0]
    assert text.startswith("twinkle") and len(text) == len("twinkle") + 120


def test_an_example_runs_as_a_script():
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "newton_logistic.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Hessian-vector product by double backward matches H @ v" in result.stdout
