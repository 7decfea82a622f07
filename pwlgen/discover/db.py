"""The function database: every candidate expression, grouped into equivalence classes.

SQLAlchemy Core, so the same code runs on a SQLite file (the default; WAL mode, immediate
transactions, a busy timeout) and on PostgreSQL given a URL (``postgresql+psycopg://...``),
where workers on many machines share one search.

Tables
------
``pwlgen_meta``
    key/value: the format tag that marks a database as ours, its schema version, the run
    settings its results were made with (``run_settings``, JSON) and those of its Fisher
    features (``features``, JSON).
``fn_classes``
    one row per equivalence class (functions with the same outputs): the representative
    expression, the output features and the Fisher features (float64 BLOBs), whether it is
    finite, the evaluation status (``pending`` -> ``running`` -> ``done``, or ``failed`` /
    ``invalid``), the claim (worker, heartbeat, attempts), the results (train/val/test accuracy
    and loss, runtime) and the hardware cost (segments of the fixed-point unit, its formats
    and max error).
``functions``
    one row per expression (primary key: the text as given), with its canonical form and
    its class. Re-populating never duplicates a row.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from sqlalchemy import event, exc

from ..errors import ResultFileError
from .expr import BASELINES, compile_expression
from .features import ATOL, N_POINTS, RTOL, decode, encode, output_features

__all__ = [
    "FORMAT",
    "SCHEMA_VERSION",
    "STATUSES",
    "RESULT_FIELDS",
    "FunctionDB",
    "PopulateReport",
    "metadata",
    "meta_table",
    "classes_table",
    "functions_table",
]

FORMAT = "pwlgen-discover"
SCHEMA_VERSION = 2
STATUSES = ("pending", "running", "done", "failed", "invalid")
RESULT_FIELDS = ("train_acc", "val_acc", "test_acc", "train_loss", "val_loss", "test_loss",
                 "runtime_s")

metadata = sa.MetaData()

meta_table = sa.Table(
    "pwlgen_meta", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

classes_table = sa.Table(
    "fn_classes", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("representative", sa.String(1024), nullable=False, unique=True),
    sa.Column("outputs", sa.LargeBinary, nullable=False),
    sa.Column("finite", sa.Boolean, nullable=False),
    sa.Column("is_baseline", sa.Boolean, nullable=False, default=False),
    sa.Column("fisher", sa.LargeBinary),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("worker", sa.String(128)),
    sa.Column("heartbeat", sa.Float),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("error", sa.Text),
    *(sa.Column(name, sa.Float) for name in RESULT_FIELDS),
    sa.Column("finished_at", sa.Float),
    sa.Column("segments", sa.Integer, index=True),
    sa.Column("hw_bits", sa.Integer),
    sa.Column("hw_max_err_lsb", sa.Float),
    sa.Column("hw_in_fmt", sa.String(32)),
    sa.Column("hw_out_fmt", sa.String(32)),
    sa.Column("fixed_segments", sa.Integer),
    sa.Column("fixed_max_err_lsb", sa.Float),
    sa.Index("ix_fn_classes_val_acc", "val_acc"),
)

functions_table = sa.Table(
    "functions", metadata,
    sa.Column("expression", sa.String(1024), primary_key=True),
    sa.Column("canonical", sa.String(1024), nullable=False, index=True),
    sa.Column("class_id", sa.Integer, sa.ForeignKey("fn_classes.id"), nullable=False, index=True),
    sa.Column("source", sa.String(256), nullable=False, default=""),
    sa.Column("added_at", sa.Float, nullable=False),
)


@dataclass
class PopulateReport:
    """What `FunctionDB.add` did."""

    added: int = 0
    existing: int = 0
    new_classes: int = 0
    invalid: int = 0
    classes: dict[str, int] = field(default_factory=dict)


def _one_line(e: BaseException) -> str:
    """A driver's message on one line (PostgreSQL's add hint lines, SQLAlchemy a link)."""
    return " ".join(line.strip() for line in str(e).splitlines() if line.strip())


def _is_url(spec: str) -> bool:
    return "://" in spec


def _sqlite_engine(path: Path) -> sa.Engine:
    engine = sa.create_engine(f"sqlite:///{path}", future=True)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        # Let SQLAlchemy's "begin" event issue BEGIN itself: IMMEDIATE takes the write lock up
        # front, so two workers never deadlock upgrading a read transaction (SQLITE_BUSY).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 60000")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA journal_mode = WAL")  # readers never block the writer
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class FunctionDB:
    """A function database at a SQLite path or a SQLAlchemy URL.

    Parameters
    ----------
    spec : str or Path
        A file path (SQLite) or a URL such as ``postgresql+psycopg://user@host/db``.
    create : bool
        Create the tables when the database is new; otherwise a missing database is an error.

    Raises
    ------
    ResultFileError
        When the file is not a database, or a database that is not ours, or is missing
        (with ``create=False``).
    """

    def __init__(self, spec: str | os.PathLike, *, create: bool = True):
        spec = str(spec)
        self.spec = spec
        if _is_url(spec):
            try:
                self.engine = sa.create_engine(spec, future=True)
            except (exc.ArgumentError, ImportError, ValueError) as e:
                raise ResultFileError(f"bad database URL {spec!r}: {_one_line(e)}") from e
        else:
            path = Path(spec)
            if not path.exists() and not create:
                raise ResultFileError(f"no function database at {spec!r}: run "
                                      "'pwlgen discover populate' first")
            if path.is_dir():
                raise ResultFileError(f"{spec!r} is a directory, not a function database")
            if path.parent and not path.parent.exists():
                raise ResultFileError(f"cannot create {spec!r}: no directory {str(path.parent)!r}")
            self.engine = _sqlite_engine(path)
        try:
            self._check_or_create(create)
        except (exc.DBAPIError, sqlite3.DatabaseError) as e:
            self.engine.dispose()
            orig = getattr(e, "orig", None)
            raise ResultFileError(f"{spec!r} is not a usable database: "
                                  f"{_one_line(orig if orig is not None else e)}") from e

    # -- set-up ------------------------------------------------------------------------------
    def _check_or_create(self, create: bool) -> None:
        names = set(sa.inspect(self.engine).get_table_names())
        if meta_table.name in names:
            with self.engine.connect() as c:
                rows = dict(c.execute(sa.select(meta_table.c.key, meta_table.c.value)).all())
            if rows.get("format") != FORMAT:
                raise ResultFileError(f"{self.spec!r} is not a pwlgen discover database "
                                      f"(format {rows.get('format')!r})")
            if int(rows.get("schema_version", -1)) != SCHEMA_VERSION:
                raise ResultFileError(
                    f"{self.spec!r} has schema version {rows.get('schema_version')!r}; this "
                    f"pwlgen reads version {SCHEMA_VERSION}")
            insp = sa.inspect(self.engine)
            for table in metadata.sorted_tables:
                have = ({c["name"] for c in insp.get_columns(table.name)}
                        if table.name in names else set())
                missing = [c.name for c in table.columns if c.name not in have]
                if missing:
                    raise ResultFileError(
                        f"{self.spec!r} is a damaged or foreign discover database: table "
                        f"{table.name!r} lacks {', '.join(missing)}")
            return
        if names:
            raise ResultFileError(
                f"{self.spec!r} is not a pwlgen discover database (it has tables "
                f"{', '.join(sorted(names))})")
        if not create:
            raise ResultFileError(f"{self.spec!r} holds no function database")
        metadata.create_all(self.engine)
        with self.engine.begin() as c:
            c.execute(meta_table.insert(), [
                {"key": "format", "value": FORMAT},
                {"key": "schema_version", "value": str(SCHEMA_VERSION)},
                {"key": "created_at", "value": repr(time.time())},
            ])

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # -- meta --------------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        """A value of the meta table."""
        with self.engine.connect() as c:
            v = c.execute(sa.select(meta_table.c.value).where(meta_table.c.key == key)).scalar()
        return default if v is None else v

    def set_meta(self, key: str, value: str) -> None:
        """Set a value of the meta table."""
        for _ in range(3):  # two workers may insert the same key at once (PostgreSQL)
            try:
                with self.engine.begin() as c:
                    n = c.execute(meta_table.update().where(meta_table.c.key == key)
                                  .values(value=value)).rowcount
                    if n == 0:
                        c.execute(meta_table.insert().values(key=key, value=value))
                return
            except exc.IntegrityError:
                continue

    # -- populate ----------------------------------------------------------------------------
    def add(self, expressions: Iterable[str], *, source: str = "fn",
            baseline: bool = False, atol: float = ATOL, rtol: float = RTOL) -> PopulateReport:
        """Add expressions, grouping them into equivalence classes.

        An expression already stored is skipped. A new one joins the class of a stored one
        with the same canonical form, else the class whose outputs match within
        ``atol + rtol*|y|``, else it founds a class (``invalid`` when its outputs are not
        finite).

        Raises
        ------
        ExpressionError
            For an expression that does not parse.
        """
        report = PopulateReport()
        c_tab, f_tab = classes_table, functions_table
        with self.engine.connect() as c:
            known = dict(c.execute(sa.select(f_tab.c.expression, f_tab.c.class_id)).all())
            canon = dict(c.execute(sa.select(f_tab.c.canonical, f_tab.c.class_id)).all())
            reps = c.execute(sa.select(c_tab.c.id, c_tab.c.outputs)
                             .where(c_tab.c.finite.is_(True)).order_by(c_tab.c.id)).all()
        rep_ids = [r.id for r in reps]
        rep_out = np.array([decode(r.outputs) for r in reps]).reshape(len(reps), N_POINTS)
        new_rows, mark_baseline = [], set()
        with self.engine.connect() as c:
            reps_text = dict(c.execute(sa.select(c_tab.c.id, c_tab.c.representative)).all())
        better: dict[int, str] = {}
        for text in expressions:
            text = text.strip()
            if text in known:
                report.existing += 1
                report.classes[text] = known[text]
                if baseline:
                    mark_baseline.add(known[text])
                continue
            ex = compile_expression(text)
            cid = canon.get(ex.text)
            if cid is None:
                y = output_features(ex.fn)
                finite = bool(np.all(np.isfinite(y)))
                if finite and len(rep_ids):
                    scale = np.maximum(np.abs(rep_out), np.abs(y))
                    hit = np.nonzero(np.all(np.abs(rep_out - y) <= atol + rtol * scale,
                                            axis=1))[0]
                    if hit.size:
                        cid = rep_ids[int(hit[0])]
                if cid is None:
                    cid = self._new_class(ex.text, y, finite, baseline)
                    reps_text[cid] = ex.text
                    report.new_classes += 1
                    report.invalid += not finite
                    if finite:
                        rep_ids.append(cid)
                        rep_out = np.vstack([rep_out, y[None, :]])
                canon[ex.text] = cid
            if baseline:
                mark_baseline.add(cid)
            rep_now = better.get(cid, reps_text.get(cid, ex.text))
            if (len(ex.text), ex.text) < (len(rep_now), rep_now):
                better[cid] = ex.text  # the shortest member names the class
            known[text] = cid
            report.classes[text] = cid
            new_rows.append({"expression": text, "canonical": ex.text, "class_id": cid,
                             "source": source[:256], "added_at": time.time()})
            report.added += 1
            if len(new_rows) >= 500:
                self._insert_functions(new_rows)
                new_rows = []
        self._insert_functions(new_rows)
        if better:
            with self.engine.begin() as c:
                for cid, text in better.items():
                    c.execute(c_tab.update().where(c_tab.c.id == cid)
                              .values(representative=text))
        if mark_baseline:
            with self.engine.begin() as c:
                c.execute(c_tab.update().where(c_tab.c.id.in_(sorted(mark_baseline)))
                          .values(is_baseline=True))
        return report

    def add_baselines(self) -> PopulateReport:
        """Add the baseline activations (`BASELINES`), marked to be evaluated first."""
        return self.add(BASELINES, source="baseline", baseline=True)

    def _new_class(self, text: str, y: np.ndarray, finite: bool, baseline: bool) -> int:
        with self.engine.begin() as c:
            res = c.execute(classes_table.insert().values(
                representative=text, outputs=encode(y), finite=finite, is_baseline=baseline,
                status="pending" if finite else "invalid", attempts=0,
            ))
            return int(res.inserted_primary_key[0])

    def _insert_functions(self, rows: list[dict]) -> None:
        if rows:
            with self.engine.begin() as c:
                c.execute(functions_table.insert(), rows)

    # -- queries -----------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Numbers of functions, classes, and classes per status."""
        with self.engine.connect() as c:
            n_fn = c.execute(sa.select(sa.func.count()).select_from(functions_table)).scalar()
            rows = c.execute(sa.select(classes_table.c.status, sa.func.count())
                             .group_by(classes_table.c.status)).all()
        out = {"functions": int(n_fn), "classes": int(sum(n for _, n in rows))}
        out.update({s: 0 for s in STATUSES})
        out.update({s: int(n) for s, n in rows})
        return out

    def classes(self, *, status: str | Iterable[str] | None = None,
                with_features: bool = False) -> list[dict]:
        """Class rows as dicts (``outputs`` / ``fisher`` decoded when `with_features`)."""
        cols = [col for col in classes_table.c
                if with_features or col.name not in ("outputs", "fisher")]
        q = sa.select(*cols).order_by(classes_table.c.id)
        if status is not None:
            st = [status] if isinstance(status, str) else list(status)
            q = q.where(classes_table.c.status.in_(st))
        with self.engine.connect() as c:
            rows = [dict(r._mapping) for r in c.execute(q)]
        if with_features:
            for r in rows:
                r["outputs"] = decode(r["outputs"])
                r["fisher"] = decode(r["fisher"])
        return rows

    def members(self, class_id: int) -> list[str]:
        """The expressions of one class."""
        with self.engine.connect() as c:
            return list(c.execute(sa.select(functions_table.c.expression)
                                  .where(functions_table.c.class_id == class_id)
                                  .order_by(functions_table.c.expression)).scalars())

    def functions(self) -> list[dict]:
        """Every function row (expression, canonical, class_id, source)."""
        with self.engine.connect() as c:
            q = sa.select(functions_table.c.expression, functions_table.c.canonical,
                          functions_table.c.class_id, functions_table.c.source)
            return [dict(r._mapping) for r in c.execute(q.order_by(functions_table.c.expression))]

    def suggest(self, n: int = 1, **kw) -> list:
        """The classes to evaluate next: `pwlgen.discover.surrogate.suggest` on this database."""
        from .surrogate import suggest

        return suggest(self, n=n, **kw)

    def update_class(self, class_id: int, **values) -> None:
        """Set columns of one class (features are encoded)."""
        for k in ("outputs", "fisher"):
            if k in values and not isinstance(values[k], bytes | type(None)):
                values[k] = encode(values[k])
        with self.engine.begin() as c:
            c.execute(classes_table.update().where(classes_table.c.id == class_id).values(**values))
