import json
import os

import numpy as np
import pytest

from pwlgen.cli import main
from pwlgen.fixedpoint import FixedPWL, error_report
from pwlgen.functions import get_target
from pwlgen.io import load, save
from pwlgen.search import SearchResult


def _faithful(fx: FixedPWL, fn: str, target: float = 1.0) -> bool:
    x = fx.in_fmt.codes()
    f = get_target(fn).f(fx.in_fmt.to_real(x)) * 2.0**fx.out_fmt.frac_bits
    return bool(np.abs(fx.evaluate(x) - f).max() <= target)


def test_quantize_fn_writes_a_fixed_pwl_with_its_report(tmp_path, capsys):
    rc = main(["quantize", "--fn", "sigmoid", "--in", "s3.6", "--out", "u0.8",
               "-o", str(tmp_path)])
    assert rc == 0
    assert os.listdir(tmp_path) == ["sigmoid_s3.6_u0.8.yaml"]
    doc = load(tmp_path / "sigmoid_s3.6_u0.8.yaml")
    fx = FixedPWL.from_dict(doc)
    assert str(fx.in_fmt) == "s3.6" and str(fx.out_fmt) == "u0.8"
    assert _faithful(fx, "sigmoid")
    assert doc["report"]["max_err_lsb"] == pytest.approx(error_report(fx)["max_err_lsb"])
    out = capsys.readouterr().out
    assert "segments" in out and "strictly faithful" in out and "sigmoid_s3.6_u0.8.yaml" in out


def test_quantize_json_prints_exactly_one_document(tmp_path, capsys):
    rc = main(["quantize", "--fn", "tanh", "--in", "s3.5", "--out", "s0.7", "--max-error-lsb",
               "2", "--rounding", "truncate", "--json", "-o", str(tmp_path / "t.json")])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "fixed_pwl" and doc["rounding"] == "truncate"
    assert doc["report"]["max_error_lsb"] == 2.0 and doc["report"]["n_exceed"] == 0
    assert _faithful(FixedPWL.from_dict(load(tmp_path / "t.json")), "tanh", 2.0)


def test_quantize_segments_caps_the_segment_count(tmp_path, capsys):
    rc = main(["quantize", "--fn", "gelu", "--in", "s2.5", "--out", "s2.5", "--segments", "3",
               "--json", "-o", str(tmp_path)])
    assert rc == 0
    assert json.loads(capsys.readouterr().out)["n_segments"] <= 3


def test_quantize_a_search_result_keeps_its_pieces(tmp_path, capsys):
    assert main(["search", "--fn", "gelu", "--knots", "6", "--range", "-6", "6", "--method",
                 "lstsq", "-q", "-o", str(tmp_path / "r.yaml")]) == 0
    result = SearchResult.from_dict(load(tmp_path / "r.yaml"))
    rc = main(["quantize", str(tmp_path / "r.yaml"), "--in", "s3.6", "--out", "s3.6", "--json",
               "-o", str(tmp_path / "q")])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["n_segments"] == result.n_knots + 1
    assert doc["report"]["vs_pwl"] is not None and doc["source"] == str(tmp_path / "r.yaml")
    assert os.listdir(tmp_path / "q") == ["gelu_s3.6_s3.6.yaml"]


@pytest.mark.parametrize("argv,message", [
    (["--fn", "gelu", "--in", "s3.40"], "a format must have 1 to 32 bits, not 44 (s3.40)"),
    (["--fn", "gelu", "--in", "x3.4"],
     "a fixed-point format looks like 's3.12' or 'u0.16', not 'x3.4'"),
    (["--fn", "gelu", "--in", "s3.20"],
     "design works on every input code: at most 20 input bits, not 24 (s3.20)"),
    (["--fn", "nosuch"], "unknown function 'nosuch'"),
    (["--fn", "sigmoid", "--in", "s3.4", "--out", "u0.8", "--max-error-lsb", "0.1"],
     "no segment count meets max_error_lsb=0.1"),
    ([], "give a search result file or --fn NAME"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, argv, message):
    rc = main(["quantize", *argv, "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("pwlgen: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists() or os.listdir(tmp_path / "out") == []


def test_bad_result_files_are_exit_2(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("kind: [unclosed\n")
    save({"kind": "fixed_pwl"}, tmp_path / "fx.yaml")
    assert main(["search", "--fn", "gelu", "--knots", "4", "--range", "-10", "10", "--method",
                 "lstsq", "-q", "-o", str(tmp_path / "wide.yaml")]) == 0
    cases = [
        ([str(tmp_path / "bad.yaml")], "does not parse"),
        ([str(tmp_path / "fx.yaml")], "is not a search_result file (kind is 'fixed_pwl')"),
        ([str(tmp_path / "missing.yaml")], "cannot read"),
        ([str(tmp_path / "wide.yaml"), "--in", "s3.4", "--out", "s3.4"],
         "the input format s3.4 holds [-8, 7.9375], not the interval [-10, 10]"),
        ([str(tmp_path / "wide.yaml"), "--segments", "3"], "--segments needs --fn"),
    ]
    for argv, message in cases:
        rc = main(["quantize", *argv, "-o", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert rc == 2 and message in err and err.count("\n") == 1, (argv, err)
    assert not (tmp_path / "out").exists()


def test_help_shows_defaults_and_an_example(capsys):
    assert main(["quantize", "--help"]) == 0
    out = capsys.readouterr().out
    assert "(default: truncate)" in out and "example:" in out
