"""`python -m ember train`: train a small image classifier, save a checkpoint and a plot.

With no options: a small CNN on scikit-learn's 1,797 handwritten 8x8 digits (no download),
80/20 train/test split, Adam with a cosine learning-rate schedule. It reaches about 99% test
accuracy in a few seconds on a laptop CPU. `--data` trains on MNIST-style IDX files instead.
"""

from __future__ import annotations

import contextlib
import math
import os
import time

from ember.cli import CliError, non_negative_int, positive_float, positive_int
from ember.cli.models import MODELS

DEFAULTS = {"model": "cnn", "epochs": 20, "batch_size": 32, "optimizer": "adam", "seed": 0}

# optimizer name -> (class name in ember.optim, default learning rate, extra keyword arguments)
OPTIMIZERS = {
    "adam": ("Adam", 3e-3, {}),
    "adamw": ("AdamW", 3e-3, {}),
    "nadam": ("NAdam", 3e-3, {}),
    "radam": ("RAdam", 3e-3, {}),
    "adamax": ("Adamax", 3e-3, {}),
    "rmsprop": ("RMSprop", 1e-3, {}),
    "adagrad": ("Adagrad", 3e-2, {}),
    "sgd": ("SGD", 5e-2, {"momentum": 0.9}),
}
EVAL_BATCH_SIZE = 500  # evaluation batches: fixed, so `evaluate` sums in the same order


def add_arguments(parser):
    """Options of the train command."""
    d = DEFAULTS
    parser.add_argument(
        "--model", choices=MODELS, default=d["model"], help=f"which network (default {d['model']})"
    )
    parser.add_argument(
        "--epochs",
        type=positive_int,
        default=d["epochs"],
        metavar="N",
        help=f"passes over the training set (default {d['epochs']})",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=d["batch_size"],
        metavar="N",
        help=f"images per step (default {d['batch_size']})",
    )
    parser.add_argument(
        "--optimizer",
        choices=sorted(OPTIMIZERS),
        default=d["optimizer"],
        help=f"ember.optim optimizer (default {d['optimizer']})",
    )
    parser.add_argument(
        "--lr",
        type=positive_float,
        default=None,
        help="the starting learning rate, decayed to 0 along a cosine (default: 0.05 for sgd, "
        "with momentum 0.9; 0.001 for rmsprop; 0.03 for adagrad; 0.003 for the others)",
    )
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=d["seed"],
        metavar="N",
        help="seeds the split, the weights and the batch order (default 0)",
    )
    parser.add_argument(
        "--out",
        default="runs",
        metavar="DIR",
        help="where the checkpoint and plot go (default runs/)",
    )
    parser.add_argument(
        "--data",
        metavar="PATH",
        help="MNIST-style IDX data instead of the digits: a directory with "
        "train-images-idx3-ubyte[.gz] etc., or an images file with its "
        "labels file beside it",
    )
    parser.add_argument(
        "--limit",
        type=positive_int,
        metavar="N",
        help="train on the first N training images only (quick tries)",
    )
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel over MPI: run as `mpirun -n N python -m ember train --distributed`; "
        "each process takes --batch-size images per step, rank 0 logs and saves",
    )


def make_optimizer(name, params, lr=None):
    """An ember.optim optimizer by its command-line name; returns (optimizer, lr used)."""
    from ember import optim

    class_name, default_lr, extra = OPTIMIZERS[name]
    lr = default_lr if lr is None else lr
    return getattr(optim, class_name)(params, lr=lr, **extra), lr


def evaluate_model(model, dataset, batch_size=EVAL_BATCH_SIZE):
    """(mean loss, number correct, predictions, labels) of `model` on a dataset, in eval mode."""
    import ember
    from ember import nn
    from ember.utils.data import DataLoader

    model.eval()
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    total_loss, correct, predictions, targets = 0.0, 0, [], []
    with ember.no_grad():
        for images, labels in DataLoader(dataset, batch_size=batch_size):
            logits = model(images)
            total_loss += loss_fn(logits, labels).item()
            predicted = logits.argmax(1)
            correct += int((predicted == labels).sum().item())
            predictions.append(predicted)
            targets.append(labels)
    return total_loss / len(dataset), correct, ember.cat(predictions), ember.cat(targets)


def train_epoch(model, loader, loss_fn, optimizer, progress):
    """One pass over the training set; returns its mean loss and accuracy."""
    model.train()  # dropout on
    loss_sum, correct, seen = 0.0, 0, 0
    for images, labels in loader:
        logits = model(images)
        loss = loss_fn(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_sum += loss.item() * len(labels)
        correct += int((logits.argmax(1) == labels).sum().item())
        seen += len(labels)
        progress.step(loss_sum / seen, correct / seen)
    return loss_sum / seen, correct / seen


def accuracy_line(correct, total):
    """The line `train` ends with and `evaluate` repeats."""
    return f"test accuracy: {correct / total:.2%} ({correct}/{total} images)"


def counted(n, noun, plural="s"):
    """'1 epoch', '2 epochs'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}{plural}"


def single_threaded_blas():
    """A context in which NumPy's BLAS uses one thread (needs threadpoolctl, else no-op).

    The matrices of these small models are tiny: BLAS threads cost more in wake-ups than they
    save, and on a busy machine a spinning BLAS thread made a run 4x slower (34 s against 8 s
    for the defaults on 2 shared cores). threadpoolctl comes with scikit-learn.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _prepare_out_dir(out):
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise CliError(f"--out {out}: cannot create the directory ({e.strerror or e})") from None
    if not os.access(out, os.W_OK):
        raise CliError(f"--out {out}: the directory is not writable")


def _open_history(path):
    from ember.cli.report import HistoryCSV

    try:
        return HistoryCSV(path)
    except OSError as e:
        raise CliError(f"cannot write {path} ({e.strerror or e})") from None


class _Quiet:
    """What the ranks other than 0 report in a distributed run: nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def _start_distributed():
    """Join the MPI process group; returns (rank, world size)."""
    from ember import distributed as dist

    if not dist.is_available():
        raise CliError("--distributed needs mpi4py and an MPI (pip install mpi4py)")
    dist.init_process_group("mpi")
    return dist.get_rank(), dist.get_world_size()


def run(args):
    """Train, report each epoch, then save the checkpoint and the curves."""
    import ember
    from ember import nn
    from ember.cli.data import load_data
    from ember.cli.models import build_model, count_parameters, model_config
    from ember.cli.report import Progress, plot_curves
    from ember.utils import summary
    from ember.utils.data import DataLoader, DistributedSampler

    rank, world = _start_distributed() if args.distributed else (0, 1)
    data = load_data(args.data, seed=args.seed, limit=args.limit)
    if rank == 0:
        _prepare_out_dir(args.out)
    channels, height, width = data.shape
    config = model_config(args.model, channels, height, width, data.num_classes)

    ember.manual_seed(args.seed)
    model = build_model(config)
    net = model  # what trains: the model, or its DistributedDataParallel wrapper
    sampler = None
    if args.distributed:
        net = nn.parallel.DistributedDataParallel(model)  # rank 0's weights everywhere
        sampler = DistributedSampler(data.train, num_replicas=world, rank=rank, seed=args.seed)
    optimizer, lr = make_optimizer(args.optimizer, net.parameters(), args.lr)
    scheduler = ember.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    loss_fn = nn.CrossEntropyLoss()
    loader = DataLoader(
        data.train,
        batch_size=args.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        generator=ember.Generator().manual_seed(args.seed),
    )
    say = print if rank == 0 else (lambda *a, **k: None)

    say(
        f"data:  {data.description}: {len(data.train)} training and {len(data.test)} test images, "
        f"{height}x{width}, {data.num_classes} classes ({data.split})"
    )
    say(f"model: {args.model}, {count_parameters(model):,} parameters")
    if rank == 0:
        say(summary(model, (args.batch_size, channels, height, width), verbose=0))
    say(
        f"training: {counted(args.epochs, 'epoch')} of {counted(len(loader), 'batch', 'es')} "
        f"of {args.batch_size}"
        + (f" on each of {world} processes" if args.distributed else "")
        + f", {type(optimizer).__name__} lr {lr:g} with cosine decay, seed {args.seed}"
    )

    stem = os.path.join(args.out, f"{data.name}-{args.model}")
    history = {"train_loss": [], "train_acc": [], "test_loss": [], "test_acc": []}
    progress = Progress(args.epochs, len(loader)) if rank == 0 else _Quiet()
    history_csv = _open_history(stem + ".csv") if rank == 0 else _Quiet()
    start = time.perf_counter()
    with single_threaded_blas(), contextlib.closing(history_csv):
        for epoch in range(1, args.epochs + 1):
            epoch_start = time.perf_counter()
            progress.start_epoch(epoch)
            if sampler is not None:
                sampler.set_epoch(epoch)
            epoch_lr = optimizer.param_groups[0]["lr"]  # the rate this epoch trains at
            train_loss, train_acc = train_epoch(net, loader, loss_fn, optimizer, progress)
            scheduler.step()
            test_loss, test_correct, _, _ = evaluate_model(model, data.test)
            test_acc = test_correct / len(data.test)
            for key, value in zip(history, (train_loss, train_acc, test_loss, test_acc)):
                history[key].append(value)
            seconds = time.perf_counter() - epoch_start
            progress.end_epoch(train_loss, train_acc, test_loss, test_acc, seconds)
            history_csv.write(epoch, train_loss, train_acc, test_loss, test_acc, epoch_lr, seconds)
            if not math.isfinite(train_loss):
                raise CliError(
                    f"training diverged (the loss is {train_loss}) in epoch {epoch}: "
                    "try a smaller --lr"
                )
    elapsed = time.perf_counter() - start
    if args.distributed:
        from ember import distributed as dist

        dist.destroy_process_group()
        if rank != 0:  # rank 0 reports and saves for everyone
            return 0

    print(f"trained in {elapsed:.1f} s")
    print(accuracy_line(test_correct, len(data.test)))
    checkpoint = {
        "format": "ember-train",
        "config": config,
        "state_dict": model.state_dict(),
        "data": {
            "source": data.source if data.source == "digits" else os.path.abspath(data.source),
            "seed": args.seed,
        },
        "training": {
            "optimizer": args.optimizer,
            "lr": lr,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "limit": args.limit,
            "seconds": elapsed,
        },
        "test_accuracy": test_acc,
        "history": history,
    }
    try:
        ember.save(checkpoint, stem + ".safetensors")
    except OSError as e:
        raise CliError(f"cannot write {stem}.safetensors ({e.strerror or e})") from None
    print(f"checkpoint: {stem}.safetensors")
    print(f"history:    {stem}.csv")
    title = (
        f"ember: {args.model} on {os.path.basename(data.description)}, "
        f"{type(optimizer).__name__}: test accuracy {test_acc:.2%}"
    )
    if plot_curves(history, stem + ".png", title):
        print(f"curves:     {stem}.png")
    else:
        print("curves:     skipped (pip install matplotlib to get a PNG of loss and accuracy)")
    print(f"next:       python -m ember evaluate {stem}.safetensors")
    return 0
