import functools
import os
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from pwlgen.discover.db import FunctionDB
from pwlgen.discover.tasks import Task, get_task
from pwlgen.discover.worker import beat, claim, release, report, run_worker

EXPRS = ["relu(x)", "tanh(x)", "swish(x)", "abs(x)", "sigmoid(x)", "elu(x)", "softsign(x)",
         "arctan(x)", "mul(x,tanh(x))", "add(x,tanh(x))", "max(x,tanh(x))", "min(x,sigmoid(x))"]

_CLAIMER = textwrap.dedent("""
    import os, sys, time
    from pwlgen.discover.db import FunctionDB
    from pwlgen.discover.worker import claim, report
    db = FunctionDB(sys.argv[1], create=False)
    wid, barrier, mode = sys.argv[2], sys.argv[3], sys.argv[4]
    ids = [int(i) for i in sys.argv[5].split(",")]
    if barrier:  # ready, then wait for the parent's go: both race from the same moment
        open(barrier + "." + wid, "w").close()
        while not os.path.exists(barrier):
            time.sleep(0.001)
    got = []
    if mode == "crash":
        cid = claim(db, wid, expiry=3600)
        print(cid, flush=True)
        os._exit(9)  # killed mid-training: no release, no report
    for cid in ids:  # both workers race for the same ids, in the same order
        if claim(db, wid, class_id=cid, expiry=3600) is not None:
            got.append(cid)
            report(db, cid, wid, {"val_acc": 0.5, "runtime_s": 0.0})
    print(",".join(map(str, got)), flush=True)
""")


def _spawn(db_path, wid, barrier, mode, ids):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    return subprocess.Popen(
        [sys.executable, "-c", _CLAIMER, str(db_path), wid, str(barrier), mode,
         ",".join(map(str, ids))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.fixture
def db(tmp_path):
    with FunctionDB(tmp_path / "fns.db") as d:
        d.add(EXPRS)
        yield d


def test_two_worker_processes_never_claim_the_same_function(db, tmp_path):
    ids = [r["id"] for r in db.classes(status="pending")]
    go = tmp_path / "go"
    procs = [_spawn(db.spec, f"w{i}", go, "race", ids) for i in range(2)]
    deadline = time.time() + 120
    while not all((tmp_path / f"go.w{i}").exists() for i in range(2)):
        assert time.time() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.01)
    go.touch()
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.append({int(t) for t in out.strip().split(",") if t})
    assert not (outs[0] & outs[1])
    assert outs[0] | outs[1] == set(ids)
    rows = db.classes()
    assert all(r["status"] == "done" for r in rows)
    for r in rows:  # the result belongs to the worker that held the claim
        assert r["worker"] == ("w0" if r["id"] in outs[0] else "w1")


def test_a_crashed_workers_claim_expires_and_is_taken_over(db):
    p = _spawn(db.spec, "dead", "", "crash", [0])
    out, err = p.communicate(timeout=120)
    assert p.returncode == 9, err
    crashed = int(out.strip())
    held = {r["id"]: r for r in db.classes()}[crashed]
    assert held["status"] == "running" and held["worker"] == "dead"
    # while the heartbeat is fresh nobody else gets it
    assert claim(db, "alive", class_id=crashed, expiry=3600) is None
    time.sleep(1.1)
    assert claim(db, "alive", class_id=crashed, expiry=1.0) == crashed
    # the dead worker's late report or heartbeat cannot overwrite the new claim
    assert not report(db, crashed, "dead", {"val_acc": 0.1})
    assert not beat(db, crashed, "dead")
    assert report(db, crashed, "alive", {"val_acc": 0.7})
    row = {r["id"]: r for r in db.classes()}[crashed]
    assert row["status"] == "done" and row["val_acc"] == 0.7 and row["attempts"] == 2


def test_a_failed_worker_releases_its_claim_and_gives_up_after_three_tries(db):
    cid = claim(db, "w")
    release(db, cid, "w", error="boom")
    row = {r["id"]: r for r in db.classes()}[cid]
    assert row["status"] == "pending" and row["error"] == "boom" and row["worker"] is None
    for _ in range(2):
        assert claim(db, "w", class_id=cid) == cid
        release(db, cid, "w", error="boom")
    assert {r["id"]: r for r in db.classes()}[cid]["status"] == "failed"


def test_claims_stop_at_the_budget(db):
    got = [claim(db, "w", budget=3) for _ in range(5)]
    assert got[:3] == sorted(got[:3]) and None not in got[:3]
    assert got[3:] == [None, None]


@functools.cache
def _tiny_task() -> Task:
    full = get_task("digits")
    xtr, ytr, xva, yva, xte, yte = full.data
    return Task("tiny", (xtr[:200], ytr[:200], xva[:100], yva[:100], xte[:100], yte[:100]), 10,
                epochs=1)


def test_run_worker_finishes_an_expired_claim_and_loses_nothing(tmp_path):
    with FunctionDB(tmp_path / "f.db") as db:
        db.add(["relu(x)", "tanh(x)", "abs(x)"])
        dead = claim(db, "dead")
        db.update_class(dead, heartbeat=time.time() - 100)
        seen = []
        n = run_worker(db.spec, _tiny_task(), budget=3, embedding="pca", expiry=10.0,
                       on_result=lambda r: seen.append(r["class_id"]))
        assert n == 3 and sorted(seen) == sorted(r["id"] for r in db.classes())
        rows = db.classes()
        assert all(r["status"] == "done" and 0.0 <= r["val_acc"] <= 1.0 for r in rows)
        assert torch.get_num_threads() == 1  # restored (the fixture set 1)
        # nothing left: a second run does nothing
        assert run_worker(db.spec, _tiny_task(), budget=3, embedding="pca") == 0


@pytest.mark.parametrize("mode", ["float", "fixed"])
def test_training_with_the_hardware_pwl_runs(mode):
    from pwlgen.discover.worker import evaluate_class

    r = evaluate_class(_tiny_task(), "add(swish(x),tanh(x))", pwl=mode, epochs=1)
    ideal = evaluate_class(_tiny_task(), "add(swish(x),tanh(x))", epochs=1)
    assert 0.0 <= r["val_acc"] <= 1.0
    # same seed, nearly the same function: nearly the same training
    assert r["train_loss"] == pytest.approx(ideal["train_loss"], rel=0.2)


def test_unknown_pwl_mode_is_an_error():
    from pwlgen.discover.worker import evaluate_class
    from pwlgen.errors import SearchError

    with pytest.raises(SearchError, match=r"^unknown PWL mode 'exact': choose one of float, "):
        evaluate_class(_tiny_task(), "relu(x)", pwl="exact", epochs=1)


def test_requeue_puts_only_expired_claims_back(db):
    from pwlgen.discover.worker import requeue_expired

    live, dead = claim(db, "live"), claim(db, "dead")
    db.update_class(dead, heartbeat=time.time() - 100)
    assert requeue_expired(db, expiry=10) == 1
    rows = {r["id"]: r for r in db.classes()}
    assert rows[dead]["status"] == "pending" and rows[dead]["worker"] is None
    assert rows[live]["status"] == "running" and rows[live]["worker"] == "live"
    assert not report(db, dead, "dead", {"val_acc": 0.3})  # the dead worker lost it


@pytest.mark.slow
def test_two_worker_processes_share_the_budget_and_lose_nothing(tmp_path):
    # two spawned processes each import torch and sklearn: ~15-30 s on a shared machine
    from pwlgen.discover.worker import run

    with FunctionDB(tmp_path / "w2.db") as db:
        db.add(EXPRS[:6])
        seen = []
        n = run(db.spec, _tiny_task(), 4, workers=2, embedding="pca",
                on_result=lambda r: seen.append((r["class_id"], r["worker"])))
        done = db.classes(status="done")
        assert n == len(seen) == len(done) == 4
        assert len({c for c, _ in seen}) == 4  # no class trained twice
        assert {r["worker"] for r in done} == {w for _, w in seen}
        assert all(r["status"] == "pending" for r in db.classes() if r["id"] not in
                   {c for c, _ in seen})


def test_a_candidate_that_fails_to_train_is_retried_then_marked_failed(tmp_path, monkeypatch):
    import pwlgen.discover.worker as w

    real = w.evaluate_class

    def flaky(task, expression, **kw):
        if expression == "abs(x)":
            raise RuntimeError("boom")
        return real(task, expression, **kw)

    monkeypatch.setattr(w, "evaluate_class", flaky)
    with FunctionDB(tmp_path / "f.db") as db:
        db.add(["relu(x)", "abs(x)", "tanh(x)"])
        assert run_worker(db.spec, _tiny_task(), budget=3, embedding="pca") == 2
        rows = {r["representative"]: r for r in db.classes()}
        assert rows["abs(x)"]["status"] == "failed" and rows["abs(x)"]["attempts"] == 3
        assert rows["abs(x)"]["error"] == "RuntimeError: boom"
        assert rows["relu(x)"]["status"] == rows["tanh(x)"]["status"] == "done"
