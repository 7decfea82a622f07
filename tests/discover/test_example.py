import importlib.util
from pathlib import Path

from pwlgen.discover.db import FunctionDB

EXAMPLE = Path(__file__).parents[2] / "examples" / "discover_own_loop.py"


def test_the_own_loop_example_suggests_claims_and_reports_for_the_class(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("discover_own_loop", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    db = tmp_path / "own.db"
    with FunctionDB(db) as d:
        d.add(["abs(x)", "tanh(x)", "max(x,tanh(x))", "max(tanh(x),x)", "mul(x,sigmoid(x))"])
        d.add(["relu(x)", "swish(x)"], baseline=True)
    assert mod.main(["--db", str(db), "--budget", "4", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count(" val ") == 4 and "best of 4:" in out
    with FunctionDB(db, create=False) as d:
        done = d.classes(status="done")
        assert len(done) == 4 and {"relu(x)", "swish(x)"} <= {r["representative"] for r in done}
        assert all(0.0 <= r["val_acc"] <= 1.0 for r in done)
