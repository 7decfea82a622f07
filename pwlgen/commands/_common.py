"""Shared pieces of the subcommands: help formatting, argument types, output paths, printing.

Importing this module (and the subcommand modules) stays cheap: numpy, yaml and the
libraries a command uses are imported when the command runs, so ``pwlgen --help`` starts fast.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

__all__ = [
    "HelpFormatter",
    "LIMITS",
    "add_command",
    "add_output_options",
    "finite_float",
    "int_in",
    "positive_float",
    "same_function",
    "check_limit",
    "check_range",
    "resolve_output",
    "name_stem",
    "write_doc",
    "print_json",
    "info",
    "progress_enabled",
]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Show defaults and keep the example paragraphs as written.

    A default of None, False, or one the help text already states, is not repeated.
    """

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in text:
            return text
        return super()._get_help_string(action)


LIMITS: dict[str, int] = {
    "knots": 1024,
    "points": 1024,
    "grid": 10_000_000,
    "range": 1_000_000,
    "timesteps": 100_000_000,
}
"""Largest sizes the CLI accepts (knots, range points, grid points of fit, rl steps).

Beyond them time or memory grows past what a command line run should take; ``pwlgen
--no-limits <command> ...`` lifts them.
"""


def finite_float(text: str) -> float:
    """Argparse type: a finite float (``-1e300`` yes, ``nan`` / ``inf`` no)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, not {text!r}")
    return v


def positive_float(text: str) -> float:
    """Argparse type: a finite float > 0."""
    v = finite_float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, not {text!r}")
    return v


def same_function(fn: str | None, source: str, what: str) -> str:
    """The function of a loaded `source` file, refusing an `fn` option that names another.

    Raises
    ------
    SearchError
        When `fn` is given and is not the file's function (one would silently lose).
    """
    if fn is None:
        return source
    from ..errors import SearchError
    from ..functions import get_target

    if get_target(fn).name != get_target(source).name:
        raise SearchError(f"{what} approximates {source!r}, not --fn {fn!r} (drop --fn, or "
                          f"give --fn {source!r})")
    return fn


def int_in(lo: int, hi: int | None = None):
    """Argparse type: an integer in ``lo..hi`` (``hi`` None: no upper bound)."""

    def parse(text: str) -> int:
        try:
            v = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, not {text!r}") from None
        if v < lo or (hi is not None and v > hi):
            span = f">= {lo}" if hi is None else f"in {lo}..{hi}"
            raise argparse.ArgumentTypeError(f"expected an integer {span}, not {v}")
        return v

    parse.__name__ = "int"
    return parse


def check_limit(args, what: str, value: int, option: str) -> None:
    """Refuse `value` above ``LIMITS[what]`` unless ``--no-limits`` was given."""
    from ..errors import SearchError

    limit = LIMITS[what]
    if value > limit and not getattr(args, "no_limits", False):
        raise SearchError(
            f"{option} is at most {limit:,} on the command line, not {value:,} "
            f"(pwlgen --no-limits {args.command} ... lifts the limit; time and memory grow "
            "with the size)"
        )


def check_range(args, rng, option: str = "--range") -> tuple[float, float]:
    """Check a ``LO HI`` pair: LO < HI, both within ``LIMITS["range"]`` of 0."""
    from ..errors import SearchError

    lo, hi = rng
    if not lo < hi:
        raise SearchError(f"{option} needs LO < HI, not {lo:g} {hi:g}")
    big = max(abs(lo), abs(hi))
    if big > LIMITS["range"] and not getattr(args, "no_limits", False):
        raise SearchError(
            f"{option} ends must lie within +-{LIMITS['range']:g}, not {lo:g} {hi:g} "
            f"(pwlgen --no-limits {args.command} ... lifts the limit)"
        )
    return float(lo), float(hi)


def add_command(sub, name: str, func, help: str, description: str, example: str):
    """Add a subcommand with our formatter, an example in the epilog and `func` as handler."""
    p = sub.add_parser(
        name,
        help=help,
        description=description,
        epilog=f"example:\n  {example}",
        formatter_class=HelpFormatter,
    )
    p.set_defaults(func=func)
    return p


def add_output_options(p: argparse.ArgumentParser, default_dir: str = "results") -> None:
    """-o/--out, --json and --quiet, as every producing command has them."""
    p.add_argument(
        "-o", "--out", default=default_dir,
        help="output directory, or a file path ending in .yaml/.yml/.json",
    )
    p.add_argument("--json", action="store_true",
                   help="print exactly one JSON document on stdout (text goes to stderr)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary")


def resolve_output(out: str, stem: str, suffix: str = ".yaml") -> Path:
    """The file to write: `out` itself if it names a file, else ``out/<stem><suffix>``.

    Nothing is created here (`write_doc` creates missing folders when it writes); the path
    is only checked, so a bad destination fails before any work.
    """
    from ..io import check_output

    p = Path(out)
    if p.suffix in (".yaml", ".yml", ".json"):
        return check_output(p)
    check_output(p, directory=True)
    return check_output(p / f"{stem}{suffix}")


def name_stem(name: str) -> str:
    """A file-name stem for a target: its name, or ``expr`` for an expression."""
    return name if name.isidentifier() else "expr"


def write_doc(doc: dict, path: Path, extra: dict | None = None) -> Path:
    """Write a result document (and `extra` files: path -> text), all or none.

    Missing folders are created; when any file cannot be written, none is.
    """
    from ..io import dump_text, write_files

    write_files({path: dump_text(doc, path), **(extra or {})})
    return path


def print_json(doc) -> None:
    """Print one JSON document on stdout."""
    from ..io import to_jsonable

    sys.stdout.write(json.dumps(to_jsonable(doc), indent=2) + "\n")
    sys.stdout.flush()


def info(args, text: str) -> None:
    """Print a human line on stderr unless --quiet (or on stdout when not --json)."""
    if getattr(args, "quiet", False):
        return
    stream = sys.stderr if getattr(args, "json", False) else sys.stdout
    print(text, file=stream)


def progress_enabled(args) -> bool | None:
    """Tqdm's `disable` argument: off under --json/--quiet, else auto (off when not a TTY)."""
    if getattr(args, "json", False) or getattr(args, "quiet", False):
        return True
    return None
