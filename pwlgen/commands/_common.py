"""Shared pieces of the subcommands: help formatting, output paths, printing results."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..io import ensure_dir, save, to_jsonable

__all__ = [
    "HelpFormatter",
    "add_command",
    "add_output_options",
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
    """The file to write: `out` itself if it names a file, else ``out/<stem><suffix>``."""
    p = Path(out)
    if p.suffix in (".yaml", ".yml", ".json"):
        ensure_dir(p.parent if str(p.parent) else ".")
        return p
    return ensure_dir(p) / f"{stem}{suffix}"


def name_stem(name: str) -> str:
    """A file-name stem for a target: its name, or ``expr`` for an expression."""
    return name if name.isidentifier() else "expr"


def write_doc(doc: dict, path: Path) -> Path:
    """Write a result document atomically."""
    return save(doc, path)


def print_json(doc) -> None:
    """Print one JSON document on stdout."""
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



