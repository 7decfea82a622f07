"""Reading and writing pwlgen's files: atomic writes, YAML/JSON by suffix, schema checks.

Every file pwlgen writes goes through `atomic_write`: a temporary file in the same
directory, then `os.replace`, so a crash or a bad input never leaves half a file behind.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .errors import ResultFileError

__all__ = ["atomic_write", "dump_text", "save", "load", "load_kind", "ensure_dir", "to_jsonable"]


def ensure_dir(path: str | os.PathLike) -> Path:
    """Create `path` (and parents) as a directory, or raise `ResultFileError` saying why not."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ResultFileError(f"cannot create output directory {str(p)!r}: {e.strerror}") from e
    if not os.access(p, os.W_OK):
        raise ResultFileError(f"output directory {str(p)!r} is not writable")
    return p


def atomic_write(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write `data` to `path` through a temporary file and `os.replace`.

    Raises
    ------
    ResultFileError
        When the directory does not exist or is not writable.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    mode = "wb" if isinstance(data, bytes) else "w"
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as e:
        raise ResultFileError(f"cannot write {str(path)!r}: {e.strerror}") from e
    try:
        with os.fdopen(fd, mode) as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays and tuples to plain Python, recursively."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def dump_text(doc: dict, path: str | os.PathLike | None = None, fmt: str | None = None) -> str:
    """Serialise `doc` as JSON or YAML (chosen by `fmt`, else by the suffix of `path`)."""
    if fmt is None:
        fmt = "json" if path is not None and str(path).endswith(".json") else "yaml"
    doc = to_jsonable(doc)
    if fmt == "json":
        return json.dumps(doc, indent=2) + "\n"
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=100)


def save(doc: dict, path: str | os.PathLike) -> Path:
    """Write `doc` atomically as YAML (``.yaml``/``.yml``) or JSON (``.json``)."""
    return atomic_write(path, dump_text(doc, path))


def load(path: str | os.PathLike) -> dict:
    """Read a YAML or JSON document into a dict.

    Raises
    ------
    ResultFileError
        When the file is missing, unreadable, does not parse, or is not a mapping.
    """
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ResultFileError(f"cannot read {str(p)!r}: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise ResultFileError(f"{str(p)!r} is not a text file") from e
    try:
        doc = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ResultFileError(f"{str(p)!r} does not parse: {first}") from e
    if not isinstance(doc, dict):
        raise ResultFileError(f"{str(p)!r} is not a pwlgen result file (no mapping at top level)")
    return doc


def load_kind(path: str | os.PathLike, kind: str) -> dict:
    """Read a document and check that its ``kind`` field is `kind`."""
    doc = load(path)
    if doc.get("kind") != kind:
        raise ResultFileError(
            f"{str(path)!r} is not a {kind} file (kind is {doc.get('kind')!r})"
        )
    return doc
