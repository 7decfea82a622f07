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


@pytest.mark.parametrize("argv,message", [
    (["run", "--budget", "15", "--task", "os:system"],
     "pwlgen: error: task 'os:system' failed when called without arguments: TypeError: "),
    (["run", "--expiry", "0"], "pwlgen: error: expiry must be a positive number of seconds, "
                               "not 0.0 (claims would expire at once)"),
    (["run", "--neighbours", "0"], "pwlgen: error: neighbours must be a positive integer, not 0"),
    (["run", "--train", "no_such_module_xyz:fit"],
     "pwlgen: error: cannot load training function 'no_such_module_xyz:fit': "),
    (["run", "--train", "os"], "pwlgen: error: training function 'os' is not "
                               "'module:attribute'"),
    (["features", "--net", "nonet"], "pwlgen: error: unknown net 'nonet'"),
    (["populate", "--hw-bits", "40"], "pwlgen: error: --hw-bits must be between 4 and 16"),
])
def test_bad_run_input_is_one_line_and_changes_nothing(dbfile, capsys, argv, message):
    before = dbfile.read_bytes()
    rc = main(["discover", argv[0], "--db", str(dbfile), *argv[1:]])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith(message) and err.count("\n") == 1
    with FunctionDB(dbfile, create=False) as db:
        assert db.counts()["done"] == 0 and db.get_meta("run_settings") is None
        assert db.get_meta("features") is None
    assert len(dbfile.read_bytes()) == len(before)


def test_a_bad_postgresql_url_is_one_line(capsys):
    rc = main(["discover", "summary", "--db", "postgresql+psycopg://nobody@127.0.0.1:1/x"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("pwlgen: error: ") and err.count("\n") == 1
    rc = main(["discover", "summary", "--db", "postgresql://a@b:notaport/x"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("pwlgen: error: bad database URL ") and err.count("\n") == 1


def test_cell_with_a_bad_net_leaves_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = main(["discover", "cell", "--net", "nonet"])
    assert rc == 2 and capsys.readouterr().err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_results_of_other_settings_are_refused(dbfile, capsys):
    run = ["discover", "run", "--db", str(dbfile), "--embedding", "pca", "--quiet"]
    assert main([*run, "--budget", "2", "--epochs", "1"]) == 0
    assert main([*run, "--budget", "3", "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert err == ("pwlgen: error: the database holds results of epochs 1, not 2: use the same "
                   "settings or another --db\n")
    assert main([*run, "--budget", "3", "--epochs", "1", "--pwl", "fixed"]) == 2
    assert "results of pwl None, not 'fixed'" in capsys.readouterr().err
    assert main([*run, "--budget", "3", "--epochs", "1", "--seed", "1"]) == 2
    with FunctionDB(dbfile, create=False) as db:
        assert db.counts()["done"] == 2
        assert json.loads(db.get_meta("run_settings"))["epochs"] == 1


def test_features_record_their_settings_and_refuse_others(dbfile, capsys):
    feats = ["discover", "features", "--db", str(dbfile), "--batch", "16", "--json"]
    assert main(feats) == 0
    assert json.loads(capsys.readouterr().out)["net"] == "mlp"
    assert main([*feats, "--net", "mlp6"]) == 2
    assert "Fisher features were computed with batch 16, net mlp" in capsys.readouterr().err
    run = ["discover", "run", "--db", str(dbfile), "--embedding", "pca", "--epochs", "1",
           "--budget", "1", "--quiet"]
    assert main([*run, "--net", "mlp6"]) == 2
    assert "Fisher features of the database are of digits/mlp, not digits/mlp6" in \
        capsys.readouterr().err
    assert main([*feats, "--net", "mlp6", "--force"]) == 0
    assert json.loads(capsys.readouterr().out)["computed"] > 0
    assert main([*run, "--net", "mlp6"]) == 0


def test_run_takes_a_users_training_function(dbfile, capsys, monkeypatch):
    import sys
    import types

    calls = []

    def fit(task, act, *, net, epochs, seed):
        calls.append((task.name, type(act()).__name__, net, epochs, seed))
        return {"val_acc": 0.5 + 0.1 * len(calls), "test_acc": 0.0, "runtime_s": 0.0}

    mod = types.ModuleType("pwlgen_test_user_fit")
    mod.fit = fit
    monkeypatch.setitem(sys.modules, "pwlgen_test_user_fit", mod)
    rc = main(["discover", "run", "--db", str(dbfile), "--budget", "4", "--embedding", "pca",
               "--train", "pwlgen_test_user_fit:fit", "--epochs", "3", "--json"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert calls == [("digits", "ExprActivation", "mlp", 3, 0)] * 4
    assert sorted(b["val_acc"] for b in doc["best"]) == pytest.approx([0.6, 0.7, 0.8, 0.9])
    assert doc["settings"]["train"] == "pwlgen_test_user_fit:fit"
