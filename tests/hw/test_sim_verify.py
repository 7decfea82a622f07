"""`pwlgen verify` on the command line: output, exit status and every bad input (exit 2)."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from pwlgen.cli import main
from pwlgen.fixedpoint import FixedPWL, design
from pwlgen.hw.emit import emit

pytestmark = pytest.mark.skipif(shutil.which("iverilog") is None,
                                reason="iverilog missing (make sysdeps)")



@pytest.fixture(scope="module")
def emitted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("unit") / "rtl"
    emit(design("tanh", "s2.5", "s1.6"), out, c_model=False)
    return out


@pytest.fixture
def unit(emitted, tmp_path, monkeypatch) -> Path:
    """A private copy of the unit (tests edit it); temporary build dirs go to tmp/."""
    rtl = tmp_path / "rtl"
    shutil.copytree(emitted, rtl)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    return rtl / "pwl_tanh.json"


def _edit(report: Path, fn) -> None:
    doc = json.loads(report.read_text())
    fn(doc)
    report.write_text(json.dumps(doc))


def _one_error_line(capsys) -> str:
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pwlgen: error: "), cap.err
    assert cap.out == ""
    return lines[0]


def _left_behind(unit: Path) -> list[str]:
    return sorted(p.name for p in (unit.parent.parent / "tmp").iterdir())


def test_verify_prints_bar_function_formats_and_counts_then_passes(unit, capsys):
    assert main(["verify", str(unit)]) == 0
    out = capsys.readouterr().out
    assert "proving tanh (s2.5 -> s1.6), bar: strict faithful" in out
    assert "256/256 outputs, 0 mismatches" in out and "1 mid-stream reset" in out
    assert " exact, " in out and " < 1 LSB, 0 over the bar" in out and "PASS" in out
    assert _left_behind(unit) == []


def test_verify_json_is_one_document_with_the_bar_used(unit, capsys):
    assert main(["verify", str(unit), "--json", "--max-error-lsb", "1"]) == 0
    doc = json.loads(capsys.readouterr().out)
    acc = doc["accuracy"]
    assert doc["passed"] and doc["checked"] == 256 and acc["max_error_lsb"] == 1.0
    assert acc["exact"] + acc["below_1lsb"] + acc["within_bar_1lsb_or_more"] == 256


def test_verify_exits_1_when_the_golden_model_differs_from_the_verilog(unit, capsys):
    def tamper(doc):
        fixed = FixedPWL.from_dict(doc["fixed"])
        seg = max(range(fixed.n_segments), key=lambda i: abs(int(fixed.slopes[i])))
        doc["fixed"]["slopes"][seg] += 1 if fixed.slopes[seg] < 0 else -1
    _edit(unit, tamper)
    assert main(["verify", str(unit)]) == 1
    cap = capsys.readouterr()
    assert "FAIL" in cap.out and "mismatch: x=" in cap.err


def test_verify_keeps_the_build_dir_it_was_given(unit, tmp_path, capsys):
    build = tmp_path / "b" / "c"
    assert main(["verify", str(unit), "--build-dir", str(build)]) == 0
    assert (build / "pwl_tanh_tb.v").is_file() and (build / "capture.hex").is_file()


@pytest.mark.parametrize("case,pattern", [
    ("no report", r"no such file|not found|does not exist"),
    ("not an hw_report", r"hw_report"),
    ("formats missing", r"lacks in_fmt"),
    ("no fixed entry", r"no 'fixed' entry"),
    ("verilog missing", r"Verilog file .* is missing"),
    ("no function", r"names no function; give --fn"),
    ("unknown function", r"unknown function 'nope'"),
    ("port width", r"port 'o_stream__payload' is 8 bits wide, the report's formats need 9"),
    ("does not compile", r"pwl_tanh\.v does not compile with iverilog: .*pwl_tanh\.v:\d+: "
                         r"syntax error"),
])
def test_bad_input_is_one_error_line_exit_2_and_leaves_nothing(unit, capsys, case, pattern):
    argv = ["verify", str(unit)]
    if case == "no report":
        argv[1] = str(unit.parent / "missing.json")
    elif case == "not an hw_report":
        unit.write_text('{"kind": "search_result"}')
    elif case == "formats missing":
        _edit(unit, lambda d: d["fixed"].pop("in_fmt"))
    elif case == "no fixed entry":
        _edit(unit, lambda d: d.pop("fixed"))
    elif case == "verilog missing":
        (unit.parent / "pwl_tanh.v").unlink()
    elif case == "no function":
        _edit(unit, lambda d: d.pop("function"))
    elif case == "unknown function":
        argv += ["--fn", "nope"]
    elif case == "port width":
        _edit(unit, lambda d: d["fixed"].update(out_fmt="s2.6"))
    elif case == "does not compile":
        v = unit.parent / "pwl_tanh.v"
        v.write_text(v.read_text().replace("endmodule", "endmodle"))
    assert main(argv) == 2
    line = _one_error_line(capsys)
    assert re.search(pattern, line, flags=re.I), line
    assert _left_behind(unit) == []


def test_a_report_without_function_verifies_with_fn(unit, capsys):
    _edit(unit, lambda d: d.pop("function"))
    assert main(["verify", str(unit), "--fn", "tanh"]) == 0
    assert "proving tanh" in capsys.readouterr().out


@pytest.mark.parametrize("argv,pattern", [
    (["--max-codes", "-1"], "--max-codes must be a positive integer, not -1"),
    (["--max-codes", "0"], "--max-codes must be a positive integer, not 0"),
    (["--max-error-lsb", "0"], "--max-error-lsb must be a finite number > 0, not 0.0"),
    (["--max-error-lsb", "-1"], "--max-error-lsb must be a finite number > 0, not -1.0"),
    (["--max-error-lsb", "nan"], "--max-error-lsb must be a finite number > 0, not nan"),
    (["--max-error-lsb", "inf"], "--max-error-lsb must be a finite number > 0, not inf"),
    (["--p-valid", "0"], "--p-valid must be in (0, 1], not 0.0"),
])
def test_bad_options_are_refused_before_anything_runs(unit, capsys, argv, pattern):
    assert main(["verify", str(unit), *argv]) == 2
    assert _one_error_line(capsys) == f"pwlgen: error: {pattern}"
    assert _left_behind(unit) == []


def test_build_dir_under_a_regular_file_is_one_error_line(unit, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["verify", str(unit), "--build-dir", str(blocker / "build")]) == 2
    assert "cannot create the build directory" in _one_error_line(capsys)
    assert blocker.read_text() == "x"
