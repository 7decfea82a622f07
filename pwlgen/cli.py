"""The `pwlgen` command line: one subcommand per pipeline step.

Each subcommand lives in ``pwlgen/commands/<name>.py`` with a ``register(subparsers)``
function and a ``cmd_<verb>(args) -> int`` handler. Exit status: 0 ok, 1 ran and failed
(e.g. a verification mismatch), 2 bad input (argparse's usage-error status, reused for every
`PwlgenError` and every failure of the file system): always one line on stderr,
``pwlgen: error: ...``, and a traceback only with ``--debug``.

Only the subcommand being run is registered in full (its module imports what it needs); the
others get a one-line entry, so that ``pwlgen --help`` and a quick search start fast.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import traceback
import warnings

from . import __version__
from .errors import PwlgenError

__all__ = ["main", "build_parser", "COMMANDS", "Parser"]

COMMANDS: dict[str, tuple[str, str]] = {
    "functions": ("functions", "list the built-in target functions"),
    "search": ("search", "search a PWL approximation of a function"),
    "fit": ("fit", "fit a PWL on a range for given breakpoints (the range workflow's converter)"),
    "transform": ("transform",
                  "print and write the (a, c) ReLU-sum form; import Approx-BP results"),
    "plot": ("plot", "plot a result: f and h, f' and h', the error"),
    "quantize": ("quantize",
                 "quantise a PWL (or design one) to integer tables and report its error"),
    "emit-verilog": ("emit_verilog", "emit a pipelined Verilog PWL unit, its tables and a report"),
    "verify": ("verify",
               "prove an emitted unit: bit-exact and within the accuracy bar, every code"),
    "synth": ("synth", "area and Fmax of an emitted unit: LUT-only iCE40 headline, "
                       "BRAM/DSP/ECP5/Xilinx/gate views"),
    "discover": ("discover",
                 "discover activation functions (function DB + surrogate, cell search)"),
}
"""Subcommand -> (module under ``pwlgen.commands``, one-line help), in ``--help`` order.

The help line must equal the one the module registers (a test checks it).
"""

# argparse reads "-1e300" or "-inf" as an option name unless it looks like a negative number
_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.IGNORECASE)


class Parser(argparse.ArgumentParser):
    """An `argparse.ArgumentParser` with one-line usage errors and negative numbers as values.

    ``--range -1e300 1e300`` and ``--range -inf inf`` are read as numbers (then checked by
    the option's type), not as option names.
    """

    help_hint: str | None = None
    """Where the error line points to (default ``<prog> --help``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NUMBER

    def error(self, message: str):
        """Print ``pwlgen: error: <message> (see '<prog> --help')`` and exit with status 2."""
        message = " ".join(message.split())
        hint = self.help_hint or f"{self.prog} --help"
        self.exit(2, f"pwlgen: error: {message} (see '{hint}')\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser.

    Parameters
    ----------
    only : str, optional
        Register only this subcommand in full (the others get their one-line help entry);
        None registers every subcommand.
    """
    parser = Parser(
        prog="pwlgen",
        description=(
            "Piecewise-linear activation functions: search a PWL approximation, quantise it "
            "to integer tables, emit verified Verilog, and train with the same function."
        ),
        epilog="Run 'pwlgen <command> --help' for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"pwlgen {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--no-limits", action="store_true",
                        help="lift the size limits (knots, points, grid) of the command line")
    if only in COMMANDS:  # e.g. unrecognized arguments of a subcommand are the parser's
        parser.help_hint = f"pwlgen {only} --help"
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for name, (module, help_line) in COMMANDS.items():
        if only is None or name == only:
            importlib.import_module(f".commands.{module}", __package__).register(sub)
        else:
            sub.add_parser(name, help=help_line, add_help=False)
    return parser


def _command_of(argv: list[str]) -> str | None:
    """The subcommand named in `argv` (the first word that is not an option)."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status instead of exiting (tests call it in-process)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = build_parser(only=_command_of(argv) or "")
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help / --version (0) or a usage error (2)
        return e.code if isinstance(e.code, int) else 0
    with warnings.catch_warnings(record=True) as caught:
        status = _run(args)
    if (status != 2 or args.debug) and not sys.stderr.closed:
        # after bad input the error line alone explains it
        for text in dict.fromkeys(" ".join(str(w.message).split()) for w in caught):
            print(f"pwlgen: warning: {text}", file=sys.stderr)
    return status


def _run(args) -> int:
    """Call the subcommand; every error of bad input or of the system becomes one line."""
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # e.g. `pwlgen functions | head`: the reader left, not an error
        sys.stderr.close()
        return 0
    except (PwlgenError, OSError, MemoryError) as e:
        if args.debug:
            traceback.print_exc()
        print(f"pwlgen: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pwlgen: interrupted", file=sys.stderr)
        return 130


def _one_line(e: BaseException) -> str:
    """The message of `e` on one line; file-system errors name the file and the reason."""
    if isinstance(e, MemoryError):
        return "out of memory (try a smaller size)"
    if isinstance(e, OSError) and not isinstance(e, PwlgenError) and e.strerror:
        where = f"{e.filename!r}: " if e.filename else ""
        return f"{where}{e.strerror}"
    text = " ".join(str(e).split())
    return text or type(e).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
