"""`python -m ember evaluate CHECKPOINT`: rebuild a trained model and measure it again.

The checkpoint (written by `python -m ember train`) holds the model's config, its weights and
the data seed, so the same test images are rebuilt and the same accuracy comes out.
"""

from __future__ import annotations

import os

from ember.cli import CliError, positive_int

_REQUIRED = ("config", "state_dict", "data")


def add_arguments(parser):
    """Options of the evaluate command."""
    parser.add_argument("checkpoint", help="a .safetensors file written by `python -m ember train`")
    parser.add_argument(
        "--data",
        metavar="PATH",
        help="the IDX data to test on (default: the data the checkpoint was trained on)",
    )
    parser.add_argument(
        "--limit",
        type=positive_int,
        metavar="N",
        help="only the first N test images (default: all)",
    )


def load_checkpoint(path):
    """(checkpoint dict, rebuilt model with its weights), or CliError saying what is wrong."""
    import ember
    from ember.cli.models import build_model

    if not os.path.exists(path):
        raise CliError(f"{path}: no such file")
    if os.path.isdir(path):
        raise CliError(f"{path}: is a directory, not a checkpoint file")
    try:
        checkpoint = ember.load(path)
    except (ValueError, RuntimeError) as e:  # ember.load's errors already name the file
        raise CliError(str(e) if str(path) in str(e) else f"{path}: {e}") from None
    except OSError as e:
        raise CliError(f"{path}: cannot read it ({e.strerror or e})") from None
    missing = [k for k in _REQUIRED if not isinstance(checkpoint, dict) or k not in checkpoint]
    if not missing:
        missing = [k for k in ("config", "data") if not isinstance(checkpoint[k], dict)]
    if missing:
        raise CliError(
            f"{path}: not a checkpoint from `python -m ember train` (no {', '.join(missing)})"
        )
    try:
        model = build_model(checkpoint["config"])
        model.load_state_dict(checkpoint["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CliError(f"{path}: cannot rebuild the model from it ({e})") from None
    return checkpoint, model


def _confusion(labels, predictions, num_classes):
    """Rows: true class; columns: predicted class."""
    import numpy

    matrix = numpy.zeros((num_classes, num_classes), dtype=numpy.int64)
    numpy.add.at(matrix, (labels, predictions), 1)
    return matrix


def run(args):
    """Print the test accuracy of a checkpoint and where its mistakes are."""
    from ember.cli.data import DIGITS, load_data
    from ember.cli.train import accuracy_line, counted, evaluate_model, single_threaded_blas
    from ember.utils.data import Subset

    checkpoint, model = load_checkpoint(args.checkpoint)
    config, recorded = checkpoint["config"], checkpoint["data"]
    source = args.data if args.data is not None else recorded.get("source", DIGITS)
    if source != DIGITS and args.data is None and not os.path.exists(source):
        raise CliError(f"the checkpoint was trained on {source}, which is gone: pass --data PATH")
    data = load_data(None if source == DIGITS else source, seed=int(recorded.get("seed", 0)))
    expected = (config["in_channels"], config["height"], config["width"])
    if data.shape != expected:
        raise CliError(
            f"the model takes {expected[1]}x{expected[2]} images, "
            f"the data has {data.shape[1]}x{data.shape[2]}"
        )
    if data.num_classes > config["num_classes"]:
        raise CliError(
            f"the data has {data.num_classes} classes, the model only {config['num_classes']}"
        )
    test = data.test
    if args.limit is not None and args.limit < len(test):
        test = Subset(test, range(args.limit))

    with single_threaded_blas():
        _, correct, predictions, labels = evaluate_model(model, test)
    trained = checkpoint.get("training", {})
    print(
        f"checkpoint: {args.checkpoint} ({config['model']}, "
        f"{counted(trained.get('epochs', '?'), 'epoch')}, seed {recorded.get('seed', 0)})"
    )
    print(f"data:       {data.description}: {len(test)} test images ({data.split})")
    print(accuracy_line(correct, len(test)))
    if "test_accuracy" in checkpoint and args.data is None and args.limit is None:
        print(f"(training reported {checkpoint['test_accuracy']:.2%})")

    matrix = _confusion(labels.numpy(), predictions.numpy(), config["num_classes"])
    width = max(3, len(str(matrix.max())) + 1)
    print("\nconfusion matrix (rows: true class, columns: predicted class)")
    print("     " + "".join(f"{c:>{width}}" for c in range(len(matrix))))
    for c, row in enumerate(matrix):
        cells = "".join(f"{n:>{width}}" if n else f"{'.':>{width}}" for n in row)
        print(f"{c:>4} {cells}")
    mistakes = [
        (int(matrix[t, p]), t, p) for t in range(len(matrix)) for p in range(len(matrix)) if t != p
    ]
    worst = max(mistakes, default=(0, 0, 0))
    if worst[0]:
        times = "time" if worst[0] == 1 else "times"
        print(f"most common mistake: {worst[1]} read as {worst[2]} ({worst[0]} {times})")
    return 0
