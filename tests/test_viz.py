"""Graph pictures: SVG with no Graphviz, and a graphviz Digraph when the package is there."""

import xml.etree.ElementTree as ET

import pytest

import ember
from ember import viz


def small_graph():
    w1 = ember.randn(10, 5, requires_grad=True)
    w2 = ember.randn(5, 2, requires_grad=True)
    loss = ember.randn(3, 10).mm(w1).clamp(min=0).mm(w2).pow(2).sum()
    return loss, {"w1": w1, "w2": w2}


def test_to_svg_draws_every_node_and_names_parameters(tmp_path):
    loss, params = small_graph()
    path = tmp_path / "graph.svg"
    svg = viz.to_svg(loss, path, params=params)
    root = ET.fromstring(svg)  # well-formed XML
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    for label in ("SumBackward0", "PowBackward0", "MmBackward0", "ClampBackward0", "w1", "w2"):
        assert label in texts
    assert texts.count("MmBackward0") == 2
    assert len(list(root.iter("{http://www.w3.org/2000/svg}line"))) == 7
    assert path.read_text() == svg


def test_to_svg_of_a_leaf_and_saved_tensors():
    x = ember.ones(2, requires_grad=True)
    assert "output" in viz.to_svg(x)
    svg = viz.to_svg((x * x).sum(), show_saved=True)
    assert "saved 0" in svg


def test_make_dot():
    loss, params = small_graph()
    try:
        import graphviz  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="to_svg"):
            viz.make_dot(loss, params=params)
        return
    dot = viz.make_dot(loss, params=params)
    source = dot.source
    assert "MmBackward0" in source and "w1" in source
