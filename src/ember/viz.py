"""Draw a tensor's autograd graph: graphviz when installed, or SVG in plain Python.

`make_dot(loss, params=dict(model.named_parameters()))` returns a graphviz `Digraph`, like
torchviz. `to_svg(loss)` needs no Graphviz at all: a simple layered layout written as SVG.
"""

from __future__ import annotations

import html

from ember.autograd.graph import AccumulateGrad

_BOX_COLORS = {"leaf": "#cfe8ff", "root": "#c8f0c8", "op": "#eeeeee", "saved": "#ffe2b8"}


def _shape(t):
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def _walk(root, params=None, show_saved=False):
    """The graph under `root` as (nodes, edges): nodes maps id -> (label, kind)."""
    names = {id(p): name for name, p in (params or {}).items()}
    nodes = {"root": (f"output\n{_shape(root)}", "root")}
    edges = []
    if root.grad_fn is None:
        return nodes, edges
    stack = [root.grad_fn]
    seen = {id(root.grad_fn)}
    edges.append((id(root.grad_fn), "root"))
    while stack:
        node = stack.pop()
        if isinstance(node, AccumulateGrad):
            var = node.variable
            name = names.get(id(var), "")
            nodes[id(node)] = (f"{name}\n{_shape(var)}".strip(), "leaf")
            continue
        nodes[id(node)] = (node.name(), "op")
        if show_saved and node._saved:
            for k, entry in enumerate(node._saved):
                if entry is not None and hasattr(entry[0], "shape"):
                    key = f"{id(node)}-saved-{k}"
                    nodes[key] = (f"saved {k}\n{_shape(entry[0])}", "saved")
                    edges.append((key, id(node)))
        for nxt, _ in node.next_functions:
            if nxt is None:
                continue
            edges.append((id(nxt), id(node)))
            if id(nxt) not in seen:
                seen.add(id(nxt))
                stack.append(nxt)
    return nodes, edges


def make_dot(var, params=None, show_attrs=False, show_saved=False, max_attr_chars=50):
    """Same as torchviz.make_dot: a graphviz Digraph of `var`'s backward graph."""
    try:
        from graphviz import Digraph
    except ImportError:
        raise ImportError(
            "make_dot needs the graphviz package (pip install graphviz); ember.viz.to_svg "
            "draws the same graph with no extra package"
        ) from None
    nodes, edges = _walk(var, params, show_saved or show_attrs)
    dot = Digraph(
        node_attr=dict(style="filled", shape="box", align="left", fontsize="10", height="0.2"),
        graph_attr=dict(size="12,12"),
    )
    for key, (label, kind) in nodes.items():
        dot.node(str(key), label, fillcolor=_BOX_COLORS[kind])
    for src, dst in edges:
        dot.edge(str(src), str(dst))
    return dot


def _layers(nodes, edges):
    """Layer of each node: its longest distance from the output (so edges point upward)."""
    parents = {}
    for src, dst in edges:
        parents.setdefault(dst, []).append(src)
    depth = {"root": 0}
    order = ["root"]
    for key in order:  # breadth-first; a node moves down when a longer path reaches it
        for src in parents.get(key, ()):
            if depth.get(src, -1) < depth[key] + 1:
                depth[src] = depth[key] + 1
                if len(order) < 20 * (len(nodes) + 1):
                    order.append(src)
    for key in nodes:
        depth.setdefault(key, 0)
    return depth


def to_svg(tensor, path=None, params=None, show_saved=False) -> str:
    """The backward graph of `tensor` as SVG text (written to `path` if given).

    A layered layout in plain Python: no Graphviz program or package needed.
    """
    nodes, edges = _walk(tensor, params, show_saved)
    depth = _layers(nodes, edges)
    rows: dict[int, list] = {}
    for key in nodes:
        rows.setdefault(depth[key], []).append(key)
    longest = max(len(line) for label, _ in nodes.values() for line in label.split("\n"))
    box_w, box_h, gap_x, gap_y = max(150, 7 * longest + 16), 40, 24, 44  # ~7 px a character
    width = max(len(r) for r in rows.values()) * (box_w + gap_x) + gap_x
    height = len(rows) * (box_h + gap_y) + gap_y
    pos = {}
    for level, keys in rows.items():
        row_w = len(keys) * (box_w + gap_x) - gap_x
        x0 = (width - row_w) / 2
        y = height - gap_y - box_h - level * (box_h + gap_y)  # the output at the bottom
        for i, key in enumerate(keys):
            pos[key] = (x0 + i * (box_w + gap_x), y)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="11">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
        'markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
    ]
    for src, dst in edges:
        (x1, y1), (x2, y2) = pos[src], pos[dst]
        out.append(
            f'<line x1="{x1 + box_w / 2:.1f}" y1="{y1 + box_h:.1f}" x2="{x2 + box_w / 2:.1f}" '
            f'y2="{y2:.1f}" stroke="#555" marker-end="url(#arrow)"/>'
        )
    for key, (label, kind) in nodes.items():
        x, y = pos[key]
        out.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{box_w}" height="{box_h}" rx="4" '
            f'fill="{_BOX_COLORS[kind]}" stroke="#333"/>'
        )
        lines = label.split("\n")
        for i, line in enumerate(lines):
            ty = y + box_h / 2 + (i - (len(lines) - 1) / 2) * 13 + 4
            out.append(
                f'<text x="{x + box_w / 2:.1f}" y="{ty:.1f}" text-anchor="middle">'
                f"{html.escape(line)}</text>"
            )
    out.append("</svg>")
    svg = "\n".join(out)
    if path is not None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(svg)
    return svg
