import sqlite3

import numpy as np
import pytest

from pwlgen.discover.db import FunctionDB
from pwlgen.discover.expr import compile_expression
from pwlgen.discover.features import output_features
from pwlgen.errors import ResultFileError


@pytest.fixture
def db(tmp_path):
    with FunctionDB(tmp_path / "fns.db") as d:
        yield d


def test_equivalent_functions_share_a_class(db):
    rep = db.add(["add(x,tanh(x))", "add(tanh(x),x)",  # commutative: canonical form
                  "relu(x)", "max(x,zero(x))",         # same outputs, different trees
                  "tanh(x)", "negative(negative(tanh(x)))"])
    c = rep.classes
    assert c["add(x,tanh(x))"] == c["add(tanh(x),x)"]
    assert c["relu(x)"] == c["max(x,zero(x))"]
    assert c["tanh(x)"] == c["negative(negative(tanh(x)))"]
    assert len({c["add(x,tanh(x))"], c["relu(x)"], c["tanh(x)"]}) == 3
    assert rep.new_classes == 3 and rep.added == 6
    # model: two expressions share a class iff their outputs agree
    for a in c:
        for b in c:
            same = np.allclose(output_features(compile_expression(a).fn),
                               output_features(compile_expression(b).fn), rtol=0, atol=1e-6)
            assert (c[a] == c[b]) == same, (a, b)
    assert sorted(db.members(c["relu(x)"])) == ["max(x,zero(x))", "relu(x)"]


def test_non_finite_functions_are_marked_not_crashed_on(db):
    rep = db.add(["div(x,zero(x))", "exp(exp(exp(x)))", "relu(x)"])
    assert rep.invalid == 2
    rows = {r["representative"]: r for r in db.classes()}
    assert rows["div(x,zero(x))"]["status"] == "invalid" and not rows["div(x,zero(x))"]["finite"]
    assert rows["relu(x)"]["status"] == "pending" and rows["relu(x)"]["finite"]


def test_populating_twice_gives_the_same_rows(tmp_path):
    exprs = ["relu(x)", "max(x,zero(x))", "add(tanh(x),x)", "mul(x,sigmoid(x))", "swish(x)"]
    with FunctionDB(tmp_path / "a.db") as db:
        db.add_baselines()
        db.add(exprs)
        first = (db.functions(), db.classes(with_features=False), db.counts())
        again = db.add(exprs)
        db.add_baselines()
        assert again.added == 0 and again.existing == len(exprs)
        assert (db.functions(), db.classes(with_features=False), db.counts()) == first
    with FunctionDB(tmp_path / "a.db") as db:  # and after re-opening the file
        db.add(exprs)
        assert db.functions() == first[0]


def test_baselines_are_marked(db):
    db.add(["tanh(x)"])
    db.add_baselines()
    rows = {r["representative"]: r for r in db.classes()}
    assert rows["tanh(x)"]["is_baseline"] and rows["relu(x)"]["is_baseline"]
    assert rows["swish(x)"]["is_baseline"]


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    p = tmp_path / "notes.db"
    p.write_text("hello, not sqlite\n" * 100)
    with pytest.raises(ResultFileError, match=r"notes.db' is not a usable database: "):
        FunctionDB(p)


def test_a_database_that_is_not_ours_is_refused(tmp_path):
    p = tmp_path / "other.db"
    con = sqlite3.connect(p)
    con.execute("create table customers (id integer primary key, name text)")
    con.commit()
    con.close()
    with pytest.raises(ResultFileError,
                       match=r"other.db' is not a pwlgen discover database \(it has tables "
                             r"customers\)$"):
        FunctionDB(p)


def test_a_missing_database_is_an_error_when_not_creating(tmp_path):
    with pytest.raises(ResultFileError, match=r"no function database at .*nope.db"):
        FunctionDB(tmp_path / "nope.db", create=False)


def test_sqlite_file_uses_wal_and_typed_schema(db):
    db.add(["relu(x)"])
    con = sqlite3.connect(db.spec)
    assert con.execute("pragma journal_mode").fetchone()[0] == "wal"
    idx = {r[1] for r in con.execute("select * from sqlite_master where type='index'")}
    con.close()
    assert any("canonical" in (name or "") for name in idx)
    assert any("status" in (name or "") for name in idx)
    row = db.classes(with_features=True)[0]
    assert row["outputs"].dtype == np.float64 and row["outputs"].shape == (1000,)
