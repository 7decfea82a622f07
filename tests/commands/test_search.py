import json
import os

import pytest

from pwlgen.cli import main
from pwlgen.io import load
from pwlgen.search import SearchResult


def test_search_writes_a_result_that_round_trips(tmp_path, capsys):
    rc = main(["search", "--fn", "gelu", "--kbit", "2", "--method", "lstsq", "-o", str(tmp_path)])
    assert rc == 0
    files = os.listdir(tmp_path)
    assert files == ["gelu_lstsq_k2.yaml"]
    doc = load(tmp_path / files[0])
    r = SearchResult.from_dict(doc)
    assert r.n_knots == 3 and r.kbit == 2 and r.seed == 0
    assert r.pwl.left_slope == 0.0 and r.pwl.right_slope == 1.0
    assert "gelu_lstsq_k2.yaml" in capsys.readouterr().out


def test_search_json_prints_exactly_one_document(tmp_path, capsys):
    rc = main(["search", "--fn", "silu", "--knots", "5", "--range", "-6", "6", "--method", "lstsq",
               "--json", "-o", str(tmp_path / "r.json")])
    assert rc == 0
    out = capsys.readouterr().out
    doc = json.loads(out)
    assert doc["function"] == "silu" and len(doc["knots"]) == 5 and doc["interval"] == [-6, 6]
    assert (tmp_path / "r.json").exists()


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--fn", "nosuch"], "unknown function 'nosuch'"),
        (["--kbit", "0"], "--kbit: expected an integer in 1..8, not 0"),
        (["--kbit", "9"], "--kbit: expected an integer in 1..8, not 9"),
        (["--knots", "3", "--range", "2", "1"], "--range needs LO < HI, not 2 1"),
        (["--knots", "0"], "--knots: expected an integer >= 1, not 0"),
        (["--continuous"], "--continuous is an option of --method minimax, not lstsq"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, argv, message):
    rc = main(["search", "--method", "lstsq", *argv, "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("pwlgen: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_unwritable_output_directory_is_exit_2(tmp_path, capsys, monkeypatch):
    # root may write anywhere, so deny write access the way a read-only mount would
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if mode == os.W_OK else real_access(p, mode)
    )
    rc = main(["search", "--method", "lstsq", "-o", str(tmp_path / "out")])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("pwlgen: error: cannot write") and "is not writable" in err
    assert not (tmp_path / "out").exists()


def test_output_path_that_is_a_file_is_exit_2(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    rc = main(["search", "--method", "lstsq", "-o", str(tmp_path / "f" / "sub")])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("pwlgen: error: cannot write") and err.endswith("is not a directory\n")


def test_unknown_method_is_a_usage_error(capsys):
    assert main(["search", "--method", "nosuch"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_help_shows_defaults_and_an_example(capsys):
    assert main(["search", "--help"]) == 0
    out = capsys.readouterr().out
    assert "(default: gelu)" in out and "example:" in out


def _combinations():
    """Every documented flag combination of `search`: shape x method x tails x objective."""
    shapes = [[], ["--kbit", "1"], ["--knots", "3"], ["--points", "2"]]
    methods = ["lstsq", "optimal", "sa", "sgd", "minimax", "curvature", "uniform", "rl"]
    extras = [[], ["--range", "-4", "4"], ["--timesteps", "64"]]
    for shape in shapes:
        for method in methods:
            for tails in [None, "pinned", "slope", "free"]:
                for objective in [None, "l2", "l2-deriv", "max"]:
                    for extra in extras if tails is objective is None else extras[:1]:
                        argv = [*shape, "--method", method, *extra]
                        argv += ["--tails", tails] if tails else []
                        argv += ["--objective", objective] if objective else []
                        yield argv


def test_every_flag_combination_is_honoured_or_refused_in_one_line(tmp_path, monkeypatch,
                                                                    capsys):
    """Each combination either refuses in one line, or reaches the method with its options.

    The method is replaced by a cheap stand-in that checks the options against the real
    method's signature and returns least-squares values on uniform knots, so the test
    covers every combination (the real methods have their own tests).
    """
    import importlib
    import inspect

    import pwlgen.search as ps
    from pwlgen.search import lstsq

    seen = []

    def fake_method(name):
        real = importlib.import_module(f"pwlgen.search.{name}").run

        def run(problem, rng, *, progress=False, **options):
            inspect.signature(real).bind(problem, rng, progress=progress, **options)
            seen.append((name, problem.tails, problem.objective, problem.kbit, options))
            return lstsq.run(problem, rng)

        return run

    monkeypatch.setattr(ps, "_method", fake_method)
    accepted = refused = 0
    for argv in _combinations():
        seen.clear()
        rc = main(["search", *argv, "-q", "-o", str(tmp_path / "r.yaml")])
        err = capsys.readouterr().err
        if rc == 2:
            assert err.startswith("pwlgen: error: ") and err.count("\n") == 1, (argv, err)
            refused += 1
            continue
        assert rc == 0 and err == "", (argv, err)
        accepted += 1
        name, tails, objective, kbit, options = seen[0]
        doc = load(tmp_path / "r.yaml")
        # what was asked is what ran and what the result says
        if "--tails" in argv:
            assert tails == argv[argv.index("--tails") + 1] == doc["tails"]
        if "--objective" in argv:
            assert objective == argv[argv.index("--objective") + 1] == doc["objective"]
        if "--range" in argv:
            assert doc["interval"] == [-4.0, 4.0]
        if "--points" in argv:
            assert options["points"] == 2 and tails == "slope" and len(doc["knots"]) == 4
        if "--timesteps" in argv:
            assert name == "rl" and options["timesteps"] == 64
        if "--kbit" in argv or not any(s in argv for s in ("--knots", "--points")):
            # l2-deriv's k-bit default is Few-Bit's step family: free levels, no tails
            step = objective == "l2-deriv" and "continuous" not in argv
            assert kbit == (1 if "--kbit" in argv else 2)
            assert tails == ("free" if step else "pinned")
    assert accepted > 50 and refused > 50


def test_points_with_range_runs_for_real(tmp_path):
    """The `TypeError: got multiple values for 'interval'` of --points with --range, for real."""
    rc = main(["search", "--fn", "sigmoid", "--method", "curvature", "--points", "8",
               "--range", "-6", "6", "-q", "-o", str(tmp_path / "r.yaml")])
    doc = load(tmp_path / "r.yaml")
    assert rc == 0 and doc["interval"] == [-6.0, 6.0] and len(doc["knots"]) == 10
