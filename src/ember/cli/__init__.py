"""The command line: `python -m ember <command>`. Each command lives in its own module."""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys

# command name -> (module under ember.cli, one-line help)
COMMANDS = {
    "demo": ("demo", "walk through the seed notebook: leaves, grad_fn, a net trained by hand"),
    "train": ("train", "train a small CNN (or MLP) on handwritten digits, save it, plot it"),
    "evaluate": ("evaluate", "reload a checkpoint from `train` and measure its test accuracy"),
    "graph": ("graph", "draw a model's autograd graph (its loss) as SVG or DOT"),
}


class CliError(Exception):
    """A user error: printed as one line on stderr, exit status 2, no traceback."""


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line (plus where to get help) instead of the usage."""

    def error(self, message):
        name = self.prog.removeprefix("python -m ")  # "ember train", as run() errors say it
        self.exit(2, f"{name}: error: {message} (see {self.prog} --help)\n")


def positive_int(text):
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text):
    """An argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def positive_float(text):
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per command."""
    from ember import __version__

    parser = _Parser(prog="python -m ember", description="ember: PyTorch-style autograd on NumPy.")
    parser.add_argument("--version", action="version", version=f"ember {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        command = importlib.import_module(f"ember.cli.{module}")
        command.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv=None) -> int:
    """Run a command; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # a usage error, as a missing argument: help on stderr, status 2
        parser.print_help(sys.stderr)
        return 2
    module = importlib.import_module(f"ember.cli.{COMMANDS[args.command][0]}")
    try:
        return module.run(args) or 0
    except CliError as e:
        message = " ".join(str(e).split())  # one line, even around a multi-line cause
        print(f"ember {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ember {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `python -m ember evaluate x | head`: the reader left, stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush cannot fail
        return 1
