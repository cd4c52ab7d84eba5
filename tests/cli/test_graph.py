"""`python -m ember graph`: a model's loss graph as SVG (or DOT)."""

import re

import pytest

from ember.cli.graph import count_ops, model_loss
from tests.cli.helpers import run_cli


def test_graph_cnn_svg(tmp_path, capsys):
    out_file = tmp_path / "graph.svg"
    status, out, err = run_cli(capsys, "graph", "--model", "cnn", "--out", out_file)
    assert status == 0, err
    svg = out_file.read_text()
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    for label in ("0.weight", "(16, 1, 3, 3)", "3.weight", "10.bias", "LogSoftmaxBackward0"):
        assert label in svg
    assert "MaxPool2D" in svg and "ReluBackward0" in svg
    model, loss = model_loss("cnn")
    assert f"the loss graph of the cnn ({count_ops(loss)} ops, 8 parameter tensors)" in out


def test_graph_mlp_on_28x28(tmp_path, capsys):
    out_file = tmp_path / "mlp.svg"
    status, out, _ = run_cli(
        capsys, "graph", "--model", "mlp", "--image-size", "28", "--out", out_file
    )
    assert status == 0
    svg = out_file.read_text()
    assert "(128, 784)" in svg and "Conv" not in svg and "4 parameter tensors" in out


def test_graph_default_out_is_graph_svg(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, out, _ = run_cli(capsys, "graph")
    assert status == 0 and out.startswith("wrote graph.svg")
    assert (tmp_path / "graph.svg").read_text().startswith("<svg")


def test_count_ops_counts_op_nodes_not_leaves():
    model, loss = model_loss("mlp", image_size=4, batch_size=2)
    names = []
    stack, seen = [loss.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        names.append(type(node).__name__)
        stack.extend(n for n, _ in node.next_functions)
    assert count_ops(loss) == len(names) - names.count("AccumulateGrad")
    assert names.count("AccumulateGrad") == 4  # two weights, two biases


def test_graph_dot_with_graphviz(tmp_path, capsys):
    pytest.importorskip("graphviz")
    out_file = tmp_path / "g.dot"
    status, out, _ = run_cli(capsys, "graph", "--dot", "--out", out_file)
    assert status == 0
    dot = out_file.read_text()
    assert dot.lstrip().startswith("digraph") and re.search(r"MmBackward0", dot)
