"""The `pwlgen` command line: one subcommand per pipeline step.

Each subcommand lives in ``pwlgen/commands/<name>.py`` with a ``register(subparsers)``
function and a ``cmd_<verb>(args) -> int`` handler. Exit status: 0 ok, 1 ran and failed
(e.g. a verification mismatch), 2 bad input (argparse's usage-error status, reused for every
`PwlgenError`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from . import __version__
from .errors import PwlgenError

__all__ = ["main", "build_parser", "COMMANDS"]

COMMANDS = (
    "functions",
    "search",
    "fit",
    "transform",
    "plot",
    "quantize",
    "emit_verilog",
    "verify",
    "synth",
    "discover",
)
"""Subcommand modules under ``pwlgen.commands``, in the order ``--help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="pwlgen",
        description=(
            "Piecewise-linear activation functions: search a PWL approximation, quantise it "
            "to integer tables, emit verified Verilog, and train with the same function."
        ),
        epilog="Run 'pwlgen <command> --help' for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"pwlgen {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for name in COMMANDS:
        importlib.import_module(f".commands.{name}", __package__).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status instead of exiting (tests call it in-process)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2)
        return int(e.code or 0)
    try:
        return int(args.func(args) or 0)
    except PwlgenError as e:
        if args.debug:
            traceback.print_exc()
        print(f"pwlgen: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pwlgen: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `pwlgen functions | head`: the reader left, not an error
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
