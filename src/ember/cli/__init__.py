"""The command line: `python -m ember <command>`. Each command lives in its own module."""

from __future__ import annotations

import argparse
import importlib
import sys

# command name -> (module under ember.cli, one-line help)
COMMANDS = {
    "demo": ("demo", "walk through the seed notebook: leaves, grad_fn, a net trained by hand"),
}


class CliError(Exception):
    """A user error: printed as one line on stderr, exit status 2, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per command."""
    parser = argparse.ArgumentParser(
        prog="python -m ember", description="ember: PyTorch-style autograd on NumPy."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        command = importlib.import_module(f"ember.cli.{module}")
        command.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv=None) -> int:
    """Run a command; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    module = importlib.import_module(f"ember.cli.{COMMANDS[args.command][0]}")
    try:
        return module.run(args) or 0
    except CliError as e:
        print(f"ember {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ember {args.command}: interrupted", file=sys.stderr)
        return 130
