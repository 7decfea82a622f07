"""Verilator lint of emitted units with their generated waiver files (pwlgen.hw.lint)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from pwlgen.errors import HardwareError
from pwlgen.fixedpoint import design
from pwlgen.hw.emit import emit
from pwlgen.hw.lint import lint, verilator_path, waiver_text

RTL = Path(__file__).resolve().parents[2] / "rtl_out"
UNITS = ["gelu", "silu", "sigmoid", "tanh"]


def _has_verilator() -> bool:
    try:
        verilator_path()
    except HardwareError:
        return False
    return True


needs_verilator = pytest.mark.skipif(not _has_verilator(),
                                     reason="verilator is not installed (the [synth] extra)")


def _with_waivers(verilog: Path, tmp_path: Path) -> Path:
    w = tmp_path / (verilog.stem + ".vlt")
    w.write_text(waiver_text(verilog.read_text(), verilog.name))
    return w


@needs_verilator
@pytest.mark.parametrize("fn", UNITS)
def test_rtl_out_unit_is_lint_clean_with_its_waivers(fn, tmp_path):
    v = RTL / f"pwl_{fn}.v"
    assert lint(v), "without waivers Verilator flags Amaranth's output (else this test is moot)"
    left = lint(v, _with_waivers(v, tmp_path))
    assert left == [], "\n".join(map(str, left))
    shipped = RTL / f"pwl_{fn}.vlt"  # the waiver file emit-verilog writes beside the unit
    assert lint(v, shipped) == []


@needs_verilator
@pytest.mark.parametrize("stages,select",
                         list(itertools.product([0, 1, None], ["parallel", "tree"])))
def test_small_units_of_every_shape_are_lint_clean(stages, select, tmp_path):
    fixed = design("sigmoid", "s3.5", "u0.8", rounding="nearest-away")
    r = emit(fixed, tmp_path, stages=stages, select_arch=select, c_model=False)
    v = tmp_path / r["files"]["verilog"]
    left = lint(v, _with_waivers(v, tmp_path))
    assert left == [], "\n".join(map(str, left))


@needs_verilator
def test_waivers_do_not_hide_a_new_unused_signal_or_width_bug(tmp_path):
    src = RTL / "pwl_gelu.v"
    v = tmp_path / src.name
    text = src.read_text()
    waivers = _with_waivers(src, tmp_path)
    # Added after the waivers were written, before the last endmodule (no line moves).
    i = text.rindex("endmodule")
    v.write_text(text[:i] + "  wire [3:0] stray;\n  assign stray = 4'h3;\n"
                 "  wire [7:0] narrow;\n  assign narrow = 4'h3 + 4'h1;\n" + text[i:])
    left = lint(v, waivers)
    found = {(w.rule, w.message.split(": ")[-1]) for w in left}
    assert ("UNUSEDSIGNAL", "'stray'") in found
    assert any(w.rule == "WIDTHEXPAND" and w.line > text.count("\n") for w in left)


def test_every_waiver_is_narrow_and_has_a_reason():
    text = waiver_text((RTL / "pwl_sigmoid.v").read_text(), "pwl_sigmoid.v")
    lines = text.splitlines()
    assert lines[0] == "`verilator_config"
    reason_rule = None
    n = 0
    for line in lines[1:]:
        if line.startswith("//"):
            m = re.match(r"^// ([A-Z]+): \S", line)
            reason_rule = m.group(1) if m else reason_rule
            continue
        n += 1
        m = re.fullmatch(r'lint_off -rule ([A-Z]+) -file "\*pwl_sigmoid\.v" '
                         r'(-match "[^"*]+\*?"|-lines \d+)', line)
        assert m, line
        assert m.group(1) == reason_rule, line
    assert n > 0


def test_waiver_text_needs_no_verilator_and_waives_only_what_it_finds():
    v = "\n".join(["module m(a, y);", "  input [3:0] a;", "  output y;", "  wire [3:0] t;",
                   "  wire [3:0] u;", "  assign t = a;", "  assign u = a;", "  assign y = u[1];",
                   "endmodule"])
    text = waiver_text(v, "m.v")
    assert "Signal is not used: 't'" in text
    assert "Bits of signal are not used: 'u'*" in text
    assert "'a'" not in text and "'y'" not in text


def test_lint_missing_file_raises(tmp_path):
    with pytest.raises(HardwareError, match=r"^no file at '.*nope\.v'$"):
        lint(tmp_path / "nope.v")
