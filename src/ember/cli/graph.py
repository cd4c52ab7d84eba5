"""`python -m ember graph`: draw the autograd graph of a model's loss.

One forward pass of a zoo model on a small random batch, then the graph `loss.backward()`
would walk: grey boxes are ops (their grad_fn names), blue boxes the weights (leaves), green the
loss. SVG needs nothing installed; `--dot` writes Graphviz DOT text through ember.viz.make_dot.
"""

from __future__ import annotations

import os

from ember.cli import CliError, positive_int
from ember.cli.models import MODELS


def add_arguments(parser):
    """Options of the graph command."""
    parser.add_argument(
        "--model", choices=MODELS, default="cnn", help="which network (default cnn)"
    )
    parser.add_argument(
        "--out",
        metavar="FILE",
        help="where to write it (default graph.svg, or graph.dot with --dot)",
    )
    parser.add_argument(
        "--dot", action="store_true", help="write Graphviz DOT (needs: pip install graphviz)"
    )
    parser.add_argument(
        "--image-size",
        type=positive_int,
        default=8,
        metavar="N",
        help="input images are N x N (default 8, the digits; 28 for MNIST)",
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=4, help="images in the batch (default 4)"
    )


def model_loss(name, image_size=8, batch_size=4, seed=0):
    """(model, loss): one forward pass of a zoo model on random images with random labels."""
    import ember
    from ember import nn
    from ember.cli.models import build_model, model_config

    if name == "cnn" and image_size < 4:
        raise CliError(f"--image-size: the cnn pools twice, it needs at least 4, got {image_size}")
    ember.manual_seed(seed)
    model = build_model(model_config(name, 1, image_size, image_size, 10))
    model.eval()  # no dropout: the graph shows the layers the model is made of
    images = ember.rand(batch_size, 1, image_size, image_size)
    labels = ember.randint(0, 10, (batch_size,))
    return model, nn.CrossEntropyLoss()(model(images), labels)


def run(args):
    """Write the loss graph of the chosen model as SVG (or DOT)."""
    from ember import viz

    out = args.out or ("graph.dot" if args.dot else "graph.svg")
    directory = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(directory):
        raise CliError(f"--out {out}: the directory {directory} does not exist")
    model, loss = model_loss(args.model, args.image_size, args.batch_size)
    params = dict(model.named_parameters())
    if args.dot:
        try:
            import graphviz  # noqa: F401
        except ImportError:
            raise CliError(
                "--dot needs the graphviz package (pip install graphviz); "
                "leave --dot out for SVG with nothing to install"
            ) from None
        text = viz.make_dot(loss, params=params).source
    else:
        text = viz.to_svg(loss, params=params)
    try:
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as e:
        raise CliError(f"--out {out}: cannot write it ({e.strerror or e})") from None
    print(
        f"wrote {out}: the loss graph of the {args.model} "
        f"({count_ops(loss)} ops, {len(params)} parameter tensors)"
    )
    return 0


def count_ops(tensor):
    """How many op nodes (not leaves) the backward graph under `tensor` has."""
    seen, stack = set(), [tensor.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen or not node.next_functions and _is_leaf(node):
            continue
        seen.add(id(node))
        stack.extend(nxt for nxt, _ in node.next_functions)
    return len(seen)


def _is_leaf(node):
    from ember.autograd.graph import AccumulateGrad

    return isinstance(node, AccumulateGrad)
