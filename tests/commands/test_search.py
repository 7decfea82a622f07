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
