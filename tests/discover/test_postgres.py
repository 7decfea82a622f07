"""The function database on a real PostgreSQL server started on loopback for these tests.

Skipped, with the reason, where the server binaries (Debian's ``postgresql`` package) are
missing or the server cannot start.
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest
import sqlalchemy as sa

from pwlgen.discover.db import FunctionDB
from pwlgen.discover.worker import claim, report
from pwlgen.errors import ResultFileError

pytest.importorskip("psycopg", reason="psycopg (the [discover] extra) is not installed")


def _bindir():
    for d in [os.environ.get("PWLGEN_PG_BIN", "")] + sorted(
            glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if d and os.path.exists(os.path.join(d, "initdb")) and os.path.exists(
                os.path.join(d, "pg_ctl")):
            return d
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pg_url():
    bindir = _bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found: "
                    "'apt-get install postgresql' to run the PostgreSQL tests")
    root = tempfile.mkdtemp(prefix="pwlgen-pg-")
    prefix = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as nobody
        runuser = shutil.which("runuser")
        if runuser is None:
            shutil.rmtree(root, ignore_errors=True)
            pytest.skip("running as root and no 'runuser' to start PostgreSQL as nobody")
        shutil.chown(root, "nobody")
        prefix = [runuser, "-u", "nobody", "--"]
    data, log, port = os.path.join(root, "data"), os.path.join(root, "log"), _free_port()

    def run(*cmd):
        return subprocess.run(prefix + list(cmd), capture_output=True, text=True, timeout=120)

    r = run(os.path.join(bindir, "initdb"), "-D", data, "-A", "trust", "-U", "pwlgen",
            "-E", "UTF8", "--no-sync")
    if r.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"initdb failed: {r.stderr.strip()[:300]}")
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
    r = run(os.path.join(bindir, "pg_ctl"), "-D", data, "-o", opts, "-l", log, "-w", "-t", "60",
            "start")
    if r.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"the PostgreSQL server did not start: {r.stderr.strip()[:300]}")
    try:
        yield f"postgresql+psycopg://pwlgen@127.0.0.1:{port}/postgres"
    finally:
        run(os.path.join(bindir, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_db(pg_url):
    engine = sa.create_engine(pg_url)
    with engine.begin() as c:  # a fresh database per test
        for t in ("functions", "fn_classes", "pwlgen_meta"):
            c.exec_driver_sql(f"DROP TABLE IF EXISTS {t} CASCADE")
    engine.dispose()
    with FunctionDB(pg_url) as db:
        yield db


def test_postgres_groups_and_repopulates_like_sqlite(pg_db, tmp_path):
    exprs = ["relu(x)", "max(x,zero(x))", "add(tanh(x),x)", "add(x,tanh(x))", "div(x,zero(x))"]
    rep = pg_db.add(exprs)
    with FunctionDB(tmp_path / "same.db") as lite:
        lite_rep = lite.add(exprs)
        assert rep.classes == lite_rep.classes and rep.invalid == lite_rep.invalid == 1
        assert pg_db.functions() == lite.functions()
    before = (pg_db.functions(), pg_db.classes())
    assert pg_db.add(exprs).added == 0
    assert (pg_db.functions(), pg_db.classes()) == before


def test_postgres_workers_never_claim_the_same_function(pg_db, pg_url):
    pg_db.add(["relu(x)", "tanh(x)", "abs(x)", "swish(x)", "sigmoid(x)", "elu(x)", "softsign(x)",
               "arctan(x)", "gelu(x)", "selu(x)"])
    ids = [r["id"] for r in pg_db.classes()]
    got = {0: [], 1: []}
    go = threading.Event()

    def worker(i):
        with FunctionDB(pg_url, create=False) as db:
            go.wait()
            for cid in ids:
                if claim(db, f"w{i}", class_id=cid) is not None:
                    got[i].append(cid)
                    report(db, cid, f"w{i}", {"val_acc": 0.5})

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join(timeout=120)
    assert not set(got[0]) & set(got[1]) and sorted(got[0] + got[1]) == sorted(ids)
    assert all(r["status"] == "done" for r in pg_db.classes())


def test_postgres_expired_claim_is_taken_over(pg_db):
    pg_db.add(["relu(x)"])
    cid = claim(pg_db, "dead")
    assert claim(pg_db, "alive", class_id=cid, expiry=3600) is None
    pg_db.update_class(cid, heartbeat=time.time() - 100)
    assert claim(pg_db, "alive", class_id=cid, expiry=10) == cid
    assert not report(pg_db, cid, "dead", {"val_acc": 0.1})
    assert report(pg_db, cid, "alive", {"val_acc": 0.9})


def test_postgres_database_that_is_not_ours_is_refused(pg_url, pg_db):
    engine = sa.create_engine(pg_url)
    with engine.begin() as c:
        for t in ("functions", "fn_classes", "pwlgen_meta"):
            c.exec_driver_sql(f"DROP TABLE IF EXISTS {t} CASCADE")
        c.exec_driver_sql("CREATE TABLE invoices (id integer)")
    try:
        with pytest.raises(ResultFileError, match=r"is not a pwlgen discover database \(it has "
                                                  r"tables invoices\)$"):
            FunctionDB(pg_url)
    finally:
        with engine.begin() as c:
            c.exec_driver_sql("DROP TABLE invoices")
        engine.dispose()
