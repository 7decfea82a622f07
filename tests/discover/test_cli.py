import json
import sqlite3

import pytest

from pwlgen.cli import main
from pwlgen.discover.db import FunctionDB
from pwlgen.discover.features import N_BINS


@pytest.fixture
def dbfile(tmp_path):
    path = tmp_path / "fns.db"
    rc = main(["discover", "populate", "--db", str(path), "--schema", "binary(unary(x),x)",
               "--unary", "relu,tanh,abs", "--binary", "add,max", "--fn", "softsign(x)",
               "--quiet"])
    assert rc == 0
    return path


def test_populate_reports_and_is_idempotent(dbfile, capsys):
    with FunctionDB(dbfile, create=False) as db:
        first = db.functions()
    assert len(first) == 8 + 6 + 1  # baselines + schema + --fn
    rc = main(["discover", "populate", "--db", str(dbfile), "--schema", "binary(unary(x),x)",
               "--unary", "relu,tanh,abs", "--binary", "add,max", "--fn", "softsign(x)",
               "--json"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["added"] == 0 and doc["existing"] == len(first)
    with FunctionDB(dbfile, create=False) as db:
        assert db.functions() == first
        assert all(r["segments"] is not None for r in db.classes())


def test_run_then_summary_shows_the_best_and_the_baselines(dbfile, tmp_path, capsys):
    rc = main(["discover", "run", "--db", str(dbfile), "--budget", "3", "--epochs", "1",
               "--embedding", "pca", "--quiet"])
    assert rc == 0
    capsys.readouterr()
    plot = tmp_path / "emb.png"
    rc = main(["discover", "summary", "--db", str(dbfile), "--json", "--embedding", "pca",
               "--plot", str(plot)])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["counts"]["done"] == 3 and doc["task"] == "digits/mlp"
    assert set(doc["baselines"]) == {"relu(x)", "gelu(x)", "swish(x)"}  # evaluated first
    accs = [b["val_acc"] for b in doc["best"]]
    assert accs == sorted(accs, reverse=True) and len(accs) == 3
    assert plot.stat().st_size > 0
    rc = main(["discover", "summary", "--db", str(dbfile)])
    out = capsys.readouterr().out
    assert rc == 0 and "done 3" in out and "relu(x)" in out


def test_features_are_computed_once_per_class(dbfile, capsys):
    assert main(["discover", "features", "--db", str(dbfile), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    with FunctionDB(dbfile, create=False) as db:
        rows = db.classes(with_features=True)
    assert doc["computed"] == len(rows)
    assert all(r["fisher"].shape == (3 * N_BINS,) for r in rows)
    assert main(["discover", "features", "--db", str(dbfile), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["computed"] == 0


def test_cell_command_prints_the_expression_and_the_comparison(tmp_path, capsys):
    rc = main(["discover", "cell", "--cell", "small", "--epochs", "1", "--warmup", "0",
               "--eval-epochs", "1", "--compare", "relu", "-o", str(tmp_path), "--json"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["expression"] in doc["comparison"] and "relu(x)" in doc["comparison"]
    assert (tmp_path / "errors.json").exists()


@pytest.mark.parametrize("argv,message", [
    (["populate", "--schema", "binary(unary(x),foo(x))"],
     "pwlgen: error: unknown operator 'foo' (placeholders: unary, binary) at column 17 of "
     "'binary(unary(x),foo(x))'"),
    (["populate", "--schema", "unary(x)", "--unary", "relu,frob"],
     "pwlgen: error: unknown unary operator 'frob' in the operator list: choose from "),
    (["populate", "--fn", "relu(x", "--no-baselines"], "pwlgen: error: "),
    (["run", "--budget", "0"], "pwlgen: error: budget must be a positive integer, not 0"),
    (["summary"], "pwlgen: error: no function database at "),
])
def test_bad_input_is_one_line_and_status_2(tmp_path, capsys, argv, message):
    rc = main(["discover", argv[0], "--db", str(tmp_path / "x.db"), *argv[1:]])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith(message) and err.count("\n") == 1
    assert not (tmp_path / "x.db").exists()  # bad input leaves no database behind


def test_a_database_that_is_not_ours_is_refused(tmp_path, capsys):
    p = tmp_path / "app.db"
    con = sqlite3.connect(p)
    con.execute("create table users (id integer)")
    con.commit()
    con.close()
    assert main(["discover", "summary", "--db", str(p)]) == 2
    assert "is not a pwlgen discover database (it has tables users)" in capsys.readouterr().err
    p.write_bytes(b"\x00garbage" * 512)
    assert main(["discover", "populate", "--db", str(p)]) == 2
    assert "is not a usable database" in capsys.readouterr().err
