"""Reading and writing pwlgen's files: atomic writes, YAML/JSON by suffix, schema checks.

Every file pwlgen writes goes through `atomic_write`: a temporary file in the same
directory, then `os.replace`, so a crash or a bad input never leaves half a file behind.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .errors import ResultFileError

__all__ = [
    "atomic_write",
    "dump_text",
    "save",
    "load",
    "load_kind",
    "ensure_dir",
    "check_output",
    "make_dirs",
    "remove_dirs",
    "write_files",
    "publish",
    "check_published",
    "to_jsonable",
]

_STAGE_PREFIX = ".pwlgen-staging-"


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


def check_output(path: str | os.PathLike, *, directory: bool = False) -> Path:
    """Check, without creating anything, that `path` can be written later.

    The nearest existing ancestor must be a writable directory, and `path` itself, when it
    exists, a regular file (or a directory when `directory` is true). Commands call this
    before any work so that a bad destination fails at once and leaves nothing behind.

    Raises
    ------
    ResultFileError
        Saying which part of the path is in the way.
    """
    p = Path(path)
    if p.exists() or p.is_symlink():
        if directory and not p.is_dir():
            raise ResultFileError(f"output directory {str(p)!r} exists and is not a directory")
        if not directory and p.is_dir():
            raise ResultFileError(f"cannot write {str(p)!r}: it is a directory")
        if not directory and not p.is_file():
            raise ResultFileError(f"cannot write {str(p)!r}: it is not a regular file")
        parent = p if directory else p.parent
    else:
        parent = p.parent
    parent = Path(os.path.abspath(parent))
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ResultFileError(f"cannot write {str(p)!r}: {str(parent)!r} is not a directory")
    if not os.access(parent, os.W_OK):
        raise ResultFileError(f"cannot write {str(p)!r}: {str(parent)!r} is not writable")
    return p


def make_dirs(directory: str | os.PathLike) -> list[Path]:
    """Create `directory` and its missing parents; return those created, deepest last.

    Raises
    ------
    ResultFileError
        When one cannot be created (the ones created before are removed again).
    """
    missing = []
    d = Path(os.path.abspath(directory))
    while not d.exists():
        missing.append(d)
        d = d.parent
    for d in reversed(missing):
        try:
            d.mkdir()
        except OSError as e:
            remove_dirs(missing[missing.index(d) + 1:])
            raise ResultFileError(f"cannot create output directory {str(d)!r}: {e.strerror}") \
                from e
    return list(reversed(missing))


def remove_dirs(created: list[Path]) -> None:
    """Remove the folders `make_dirs` created, deepest first, as far as they are empty."""
    for d in reversed(created):
        try:
            d.rmdir()
        except OSError:
            pass


def write_files(files: dict[str | os.PathLike, str | bytes]) -> list[Path]:
    """Write several files, all or none: stage each beside its destination, then rename.

    Missing directories are created and removed again when staging fails, so a failure
    leaves the file system as it was. The renames come last, one after another; each is
    atomic, and nothing can fail between them but a kill.

    Raises
    ------
    ResultFileError
        When a destination cannot be written (nothing is changed then).
    """
    paths = [Path(p) for p in files]
    for p in paths:
        check_output(p)
    created: list[Path] = []
    staged: list[tuple[Path, Path]] = []
    try:
        for p, data in zip(paths, files.values(), strict=True):
            created += make_dirs(p.parent if str(p.parent) else Path("."))
            staged.append((_stage(p, data), p))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        remove_dirs(created)
        raise
    for tmp, p in staged:
        os.replace(tmp, p)
    return paths


def _stage(path: Path, data: str | bytes) -> Path:
    """Write `data` to a new temporary file in `path`'s directory and return its path."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as e:
        raise ResultFileError(f"cannot write {str(path)!r}: {e.strerror}") from e
    try:
        with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise ResultFileError(f"cannot write {str(path)!r}: {e.strerror}") from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def publish(directory: str | os.PathLike, files: dict[str, str | bytes], manifest: str) -> Path:
    """Publish a set of files into `directory` in one step, the `manifest` file last.

    Every file is first written under a staging folder inside `directory` (same file
    system); only when all are complete are they renamed into place, data files first and
    the manifest (e.g. a report that names the others) last, with a modification time no
    older than any of them. A reader can therefore tell a complete set from one a kill
    interrupted with `check_published`. Staging folders left by killed runs are removed.

    Parameters
    ----------
    directory : path
        Destination (created if missing; removed again if it was created and staging fails).
    files : dict
        File name (no directory part) -> text or bytes; must include `manifest`.
    manifest : str
        The name that is published last.

    Returns
    -------
    Path
        The published manifest.

    Raises
    ------
    ResultFileError
        When a name is not a plain file name, or the directory cannot be written.
    """
    if manifest not in files:
        raise ValueError(f"the manifest {manifest!r} is not among the files")
    for name in files:
        if not name or Path(name).name != name or name in (".", ".."):
            raise ResultFileError(f"{name!r} is not a plain file name")
    out = Path(directory)
    check_output(out, directory=True)
    for name in files:
        check_output(out / name)
    created = make_dirs(out)
    try:
        _remove_stale_stages(out, manifest)
        stage = Path(tempfile.mkdtemp(prefix=f"{_STAGE_PREFIX}{manifest}.", dir=out))
    except OSError as e:
        remove_dirs(created)
        raise ResultFileError(f"cannot write into {str(out)!r}: {e.strerror}") from e
    try:
        order = [n for n in files if n != manifest] + [manifest]
        for name in order:
            (stage / name).write_bytes(_bytes(files[name]))
        newest = max((stage / n).stat().st_mtime_ns for n in order)
        os.utime(stage / manifest, ns=(newest, newest))
        for name in order:
            os.replace(stage / name, out / name)
    except OSError as e:
        shutil.rmtree(stage, ignore_errors=True)
        remove_dirs(created)
        raise ResultFileError(f"cannot write into {str(out)!r}: {e.strerror}") from e
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        remove_dirs(created)
        raise
    stage.rmdir()
    return out / manifest


def check_published(directory: str | os.PathLike, names: list[str], manifest: str) -> None:
    """Check that `names` and `manifest` in `directory` are one complete `publish`.

    Raises
    ------
    ResultFileError
        When a file is missing or newer than the manifest (a publish was interrupted).
    """
    out = Path(directory)
    try:
        stamp = (out / manifest).stat().st_mtime_ns
    except OSError as e:
        raise ResultFileError(f"cannot read {str(out / manifest)!r}: {e.strerror}") from e
    for name in names:
        try:
            t = (out / name).stat().st_mtime_ns
        except OSError as e:
            raise ResultFileError(f"{str(out / manifest)!r} names {name!r}, which is "
                                  f"missing: {e.strerror}") from e
        if t > stamp:
            raise ResultFileError(
                f"{str(out / name)!r} is newer than {manifest!r}: an earlier write was "
                "interrupted; write the set again"
            )


def _remove_stale_stages(out: Path, manifest: str) -> None:
    for p in out.glob(f"{_STAGE_PREFIX}{manifest}.*"):
        shutil.rmtree(p, ignore_errors=True)


def _bytes(data: str | bytes) -> bytes:
    return data if isinstance(data, bytes) else data.encode()


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays and tuples to plain Python, recursively."""
    import numpy as np

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
    import yaml

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
    import yaml

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
