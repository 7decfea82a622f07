"""Workers: claim a class atomically, train with its function, report, repeat.

A claim is one conditional UPDATE (``pending`` -> ``running``, or a ``running`` row whose
heartbeat is older than the expiry: its worker died), so two workers -- processes or
machines sharing one database -- never hold the same class. While training, a thread
refreshes the heartbeat. The result is written for the whole equivalence class, only by the
worker that holds the claim; a worker that fails releases its claim (``failed`` after
`MAX_ATTEMPTS`).
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import queue as queue_mod
import socket
import threading
import time
import uuid
from collections.abc import Callable

import sqlalchemy as sa
import torch

from ..errors import SearchError
from .db import RESULT_FIELDS, FunctionDB
from .db import classes_table as T

__all__ = [
    "DEFAULT_EXPIRY",
    "MAX_ATTEMPTS",
    "worker_id",
    "claim",
    "beat",
    "report",
    "release",
    "requeue_expired",
    "Heartbeat",
    "PWL_MODES",
    "evaluate_class",
    "resolve_train",
    "settings_of",
    "check_settings",
    "check_features",
    "run_worker",
    "run",
]

DEFAULT_EXPIRY = 120.0
"""Seconds without a heartbeat after which a claim is taken over."""
MAX_ATTEMPTS = 3


def worker_id() -> str:
    """A unique worker name: host, process id and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _claimable(now: float, expiry: float):
    return sa.or_(T.c.status == "pending",
                  sa.and_(T.c.status == "running", T.c.heartbeat < now - expiry))


def claim(db: FunctionDB, worker: str, *, class_id: int | None = None,
          expiry: float = DEFAULT_EXPIRY, budget: int | None = None) -> int | None:
    """Claim a class for `worker`; returns its id, or None.

    Parameters
    ----------
    class_id : int, optional
        The class to claim (e.g. the surrogate's suggestion); default: the first claimable,
        baselines first.
    expiry : float
        A running claim whose heartbeat is older than this many seconds may be taken.
    budget : int, optional
        Claim nothing once ``done + running`` classes reach this many.
    """
    now = time.time()
    with db.engine.begin() as c:
        if budget is not None:
            used = c.execute(sa.select(sa.func.count()).select_from(T).where(sa.or_(
                T.c.status == "done",
                sa.and_(T.c.status == "running", T.c.heartbeat >= now - expiry)))).scalar()
            if used >= budget:
                return None
        if class_id is None:
            class_id = c.execute(sa.select(T.c.id).where(_claimable(now, expiry))
                                 .order_by(T.c.is_baseline.desc(), T.c.id).limit(1)).scalar()
            if class_id is None:
                return None
        n = c.execute(T.update().where(T.c.id == class_id, _claimable(now, expiry)).values(
            status="running", worker=worker, heartbeat=now, attempts=T.c.attempts + 1,
        )).rowcount
    return int(class_id) if n == 1 else None


def beat(db: FunctionDB, class_id: int, worker: str) -> bool:
    """Refresh the heartbeat of a claim; False when the claim is no longer ours."""
    with db.engine.begin() as c:
        n = c.execute(T.update().where(T.c.id == class_id, T.c.worker == worker,
                                       T.c.status == "running")
                      .values(heartbeat=time.time())).rowcount
    return n == 1


def report(db: FunctionDB, class_id: int, worker: str, results: dict) -> bool:
    """Store results for the class and mark it done; False when the claim was lost."""
    values = {k: _finite_or_none(results.get(k)) for k in RESULT_FIELDS}
    with db.engine.begin() as c:
        n = c.execute(T.update().where(T.c.id == class_id, T.c.worker == worker,
                                       T.c.status == "running")
                      .values(status="done", finished_at=time.time(), error=None,
                              **values)).rowcount
    return n == 1


def release(db: FunctionDB, class_id: int, worker: str, error: str | None = None) -> None:
    """Give a claim back (``failed`` once it has been tried `MAX_ATTEMPTS` times)."""
    with db.engine.begin() as c:
        c.execute(T.update().where(T.c.id == class_id, T.c.worker == worker,
                                   T.c.status == "running")
                  .values(status=sa.case((T.c.attempts >= MAX_ATTEMPTS, "failed"),
                                         else_="pending"),
                          worker=None, heartbeat=None, error=error))


def requeue_expired(db: FunctionDB, expiry: float = DEFAULT_EXPIRY) -> int:
    """Put classes whose claim expired (dead worker) back to ``pending``; returns how many.

    One conditional UPDATE: a class still heartbeating is untouched, and a class requeued
    twice by two workers at once ends up the same.
    """
    now = time.time()
    with db.engine.begin() as c:
        return c.execute(T.update().where(T.c.status == "running",
                                          T.c.heartbeat < now - expiry)
                         .values(status=sa.case((T.c.attempts >= MAX_ATTEMPTS, "failed"),
                                                else_="pending"),
                                 worker=None, heartbeat=None,
                                 error="claim expired (worker died?)")).rowcount


def _finite_or_none(v):
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


class Heartbeat:
    """Context manager: refresh a claim's heartbeat every `interval` seconds in a thread."""

    def __init__(self, db: FunctionDB, class_id: int, worker: str, interval: float = 10.0):
        self.db, self.class_id, self.worker, self.interval = db, class_id, worker, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(self.interval):
            try:
                beat(self.db, self.class_id, self.worker)
            except sa.exc.OperationalError:  # a busy database: try again next beat
                pass

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()


PWL_MODES = ("float", "fixed")


def evaluate_class(task, expression: str, *, net: str = "mlp", epochs: int | None = None,
                   seed: int = 0, pwl: str | None = None, max_err: float | None = None,
                   hw_range: tuple[float, float] | None = None,
                   train: Callable | None = None) -> dict:
    """Train `task`'s network with the class's function and measure it.

    Parameters
    ----------
    pwl : {None, "float", "fixed"}
        None: the ideal function. ``"float"``: its greedy PWL (`hardware.pwl_of`, max error
        `max_err`, absolute). ``"fixed"``: the fixed-point unit of
        `pwlgen.fixedpoint.design` (max error `max_err` output LSBs, default 1), run
        bit-exactly by `pwlgen.nn.PWLActivation` -- what the chip delivers.
    train : callable, optional
        The training function (`resolve_train`); default `tasks.train_eval`.

    Raises
    ------
    SearchError
        For a bad PWL mode, or a training function that returns no ``val_acc``.
    """
    from . import hardware
    from .expr import ExprActivation, compile_expression
    from .tasks import train_eval

    if pwl == "float":
        lo, hi = hw_range or hardware.DEFAULT_RANGE
        h = hardware.pwl_of(compile_expression(expression).fn, lo, hi,
                            max_err or hardware.DEFAULT_MAX_ERR)
        if h is None:
            raise SearchError(f"{expression!r} has no finite PWL on [{lo:g}, {hi:g}]")

        def act():
            return hardware.PWLActivation(h)
    elif pwl == "fixed":
        from ..fixedpoint import design
        from ..nn.modules import PWLActivation

        unit = design(expression, max_error_lsb=max_err or 1.0)

        def act():
            return PWLActivation(unit, backward="ste")
    elif pwl is None:
        def act():
            return ExprActivation(expression)
    else:
        raise SearchError(f"unknown PWL mode {pwl!r}: choose one of {', '.join(PWL_MODES)}")
    res = (train or train_eval)(task, act, net=net, epochs=epochs, seed=seed)
    if not isinstance(res, dict) or "val_acc" not in res:
        raise SearchError("the training function must return a dict with 'val_acc', not "
                          f"{type(res).__name__}")
    return res


def resolve_train(spec: str | Callable | None) -> Callable:
    """The training function: `tasks.train_eval`, a callable, or ``"module:function"``.

    It is called as ``fn(task, act, net=..., epochs=..., seed=...)`` with `act` a factory of
    activation modules, and returns a dict with at least ``val_acc`` (plus any of
    `RESULT_FIELDS`).

    Raises
    ------
    SearchError
        When the module or attribute cannot be loaded or is not callable.
    """
    from .tasks import load_attribute, train_eval

    if spec is None:
        return train_eval
    fn = load_attribute(spec, "training function") if isinstance(spec, str) else spec
    if not callable(fn):
        raise SearchError(f"training function {spec!r} is not callable")
    return fn


def settings_of(task, net: str, epochs: int | None, seed: int, pwl: str | None,
                max_err: float | None, train: str | None) -> dict:
    """The run settings a database's results depend on (stored, and compared on reuse)."""
    return {"task": task.name, "net": net, "epochs": task.epochs if epochs is None else epochs,
            "seed": seed, "pwl": pwl, "max_err": max_err, "train": train}


def check_settings(db: FunctionDB, settings: dict) -> None:
    """Store `settings` in a fresh database, or refuse ones that differ from those stored.

    Raises
    ------
    SearchError
        Naming the first setting that differs.
    """
    stored = db.get_meta("run_settings")
    if stored is None:
        db.set_meta("run_settings", json.dumps(settings, sort_keys=True))
        return
    old = json.loads(stored)
    for key in sorted(set(old) | set(settings)):
        if old.get(key) != settings.get(key):
            raise SearchError(
                f"the database holds results of {key} {old.get(key)!r}, not "
                f"{settings.get(key)!r}: use the same settings or another --db")


def run_worker(db_spec: str, task: str, budget: int, *, worker: str | None = None,
               net: str = "mlp", epochs: int | None = None, seed: int = 0,
               expiry: float = DEFAULT_EXPIRY, embedding: str = "pca",
               max_segments: int | None = None, rank: str = "accuracy", pwl: str | None = None,
               max_err: float | None = None, beat_interval: float | None = None,
               neighbours: int = 3, model: str = "gp", acquisition: str = "ei",
               train: str | None = None,
               on_result: Callable[[dict], None] | None = None) -> int:
    """Evaluate suggested classes until `budget` classes are done; returns how many this did."""
    from .surrogate import suggest
    from .tasks import get_task

    worker = worker or worker_id()
    task_obj = get_task(task)
    train_fn = resolve_train(train)
    db = FunctionDB(db_spec, create=False)
    threads = torch.get_num_threads()
    n_done = 0
    try:
        check_settings(db, settings_of(task_obj, net, epochs, seed, pwl, max_err,
                                       train if isinstance(train, str) or train is None
                                       else getattr(train, "__qualname__", repr(train))))
        check_features(db, task_obj.name, net)
        while True:
            torch.set_num_threads(1)  # many small models: threads only fight each other
            requeue_expired(db, expiry)
            if _budget_reached(db, budget, expiry):
                break
            cands = suggest(db, n=4, embedding=embedding, seed=seed, k=neighbours,
                            max_segments=max_segments, rank=rank, model=model,
                            acquisition=acquisition)
            torch.set_num_threads(1)  # the embedding's libraries may have changed it
            if not cands:
                if requeue_expired(db, expiry):  # a dead worker's class is pending again
                    continue
                break
            cid, text = None, None
            for s in cands:
                cid = claim(db, worker, class_id=s.class_id, expiry=expiry, budget=budget)
                if cid is not None:
                    text = s.expression
                    break
            if cid is None:
                if _budget_reached(db, budget, expiry):
                    break
                time.sleep(0.2)
                continue
            interval = beat_interval or max(1.0, expiry / 4)
            try:
                with Heartbeat(db, cid, worker, interval):
                    res = evaluate_class(task_obj, text, net=net, epochs=epochs, seed=seed,
                                         pwl=pwl, max_err=max_err, train=train_fn)
            except Exception as e:  # noqa: BLE001 - a bad candidate must not stop the search
                release(db, cid, worker, error=f"{type(e).__name__}: {e}"[:2000])
                continue
            except BaseException:
                release(db, cid, worker, error="interrupted")
                raise
            if report(db, cid, worker, res):
                n_done += 1
                if on_result is not None:
                    on_result({"class_id": cid, "expression": text, "worker": worker, **res})
    finally:
        torch.set_num_threads(threads)
        db.close()
    return n_done


def check_features(db: FunctionDB, task: str, net: str) -> None:
    """Refuse a run on another task or net than the stored Fisher features were made for."""
    stored = db.get_meta("features")
    if stored is None:
        return
    feat = json.loads(stored)
    if (feat.get("task"), feat.get("net")) != (task, net):
        raise SearchError(
            f"the Fisher features of the database are of {feat.get('task')}/{feat.get('net')}, "
            f"not {task}/{net}: recompute them ('discover features --force') or use another "
            "--db")


def _budget_reached(db: FunctionDB, budget: int, expiry: float) -> bool:
    """Whether ``done + live running`` classes reached `budget`, or nothing is left."""
    now = time.time()
    with db.engine.connect() as c:
        used = c.execute(sa.select(sa.func.count()).select_from(T).where(sa.or_(
            T.c.status == "done",
            sa.and_(T.c.status == "running", T.c.heartbeat >= now - expiry)))).scalar()
        left = c.execute(sa.select(sa.func.count()).select_from(T)
                         .where(_claimable(now, expiry))).scalar()
    return used >= budget or left == 0


def _worker_main(kwargs: dict, queue) -> None:
    try:
        n = run_worker(**kwargs, on_result=lambda r: queue.put(("result", r)))
        queue.put(("exit", n))
    except Exception as e:  # noqa: BLE001 - reported to the parent, which raises
        queue.put(("error", f"{type(e).__name__}: {e}"))


def run(db_spec: str, task: str, budget: int, *, workers: int = 1,
        on_result: Callable[[dict], None] | None = None, **kw) -> int:
    """Run `workers` worker processes (1: in this process) until `budget` classes are done.

    Returns
    -------
    int
        How many classes were evaluated in this run.

    Raises
    ------
    SearchError
        For a bad budget or worker count, or when a worker failed.
    """
    if not isinstance(budget, int) or budget < 1:
        raise SearchError(f"budget must be a positive integer, not {budget!r}")
    if not isinstance(workers, int) or workers < 1:
        raise SearchError(f"workers must be a positive integer, not {workers!r}")
    expiry = kw.get("expiry", DEFAULT_EXPIRY)
    if not expiry > 0:
        raise SearchError(f"expiry must be a positive number of seconds, not {expiry!r} "
                          "(claims would expire at once)")
    neighbours = kw.get("neighbours", 3)
    if isinstance(neighbours, bool) or not isinstance(neighbours, int) or neighbours < 1:
        raise SearchError(f"neighbours must be a positive integer, not {neighbours!r}")
    from .tasks import get_task

    get_task(task)  # a bad task fails here, before any worker starts
    resolve_train(kw.get("train"))
    FunctionDB(db_spec, create=False).close()  # fail early on a bad database
    if workers == 1:
        return run_worker(db_spec, task, budget, on_result=on_result, **kw)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker_main,
                         args=({"db_spec": db_spec, "task": task, "budget": budget, **kw}, queue))
             for _ in range(workers)]
    for p in procs:
        p.start()
    total, exits, errors = 0, 0, []
    try:
        while exits < workers:
            try:
                kind, payload = queue.get(timeout=1.0)
            except queue_mod.Empty:
                dead = [p for p in procs if not p.is_alive() and p.exitcode not in (0, None)]
                if dead and queue.empty():
                    errors.append(f"worker process exited with status {dead[0].exitcode}")
                    break
                continue
            if kind == "result":
                if on_result is not None:
                    on_result(payload)
            elif kind == "exit":
                total += payload
                exits += 1
            else:
                errors.append(payload)
                exits += 1
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
    if errors:
        raise SearchError(f"a worker failed: {errors[0]}")
    return total
