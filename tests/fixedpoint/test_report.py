import numpy as np
import pytest

import pwlgen.fixedpoint.report as report_mod
from pwlgen.fixedpoint import FixedPWL, error_report
from pwlgen.functions import get_target
from pwlgen.pwl import PWL


@pytest.fixture
def unit():
    # a 3-segment sigmoid-ish unit, s3.4 -> u0.8
    return FixedPWL("sigmoid", "s3.4", "u0.8", [-32, 32], [0, 8, 0], 6, [8, 128, 248], 8)


def test_report_matches_a_direct_computation(unit):
    x = unit.in_fmt.codes()
    xr = x / 16.0
    y = unit.evaluate(x)
    err = np.abs(y - get_target("sigmoid").f(xr) * 256)
    pwl = PWL([-2.0, 2.0], [0.03125, 0.96875], 0.0, 0.0)
    err_pwl = np.abs(y - pwl(xr) * 256)
    rep = error_report(unit, "sigmoid", pwl=pwl, max_error_lsb=4.0)
    assert rep["codes"] == 256 and rep["function"] == "sigmoid"
    assert rep["max_err_lsb"] == pytest.approx(err.max())
    assert rep["mean_err_lsb"] == pytest.approx(err.mean())
    assert rep["max_err_abs"] == pytest.approx(err.max() / 256)
    assert rep["mean_err_abs"] == pytest.approx(err.mean() / 256)
    assert rep["worst_x"] == xr[err.argmax()]
    assert rep["n_exceed"] == int((err > 4.0).sum()) > 0
    assert rep["max_error_lsb"] == 4.0 and rep["faithful"] == (err.max() < 1)
    exact = err <= 1e-9
    assert rep["n_exact"] == int(exact.sum())
    assert rep["n_over_1"] == int((err >= 1).sum())
    assert rep["n_exact"] + rep["n_inexact_below_1"] + rep["n_over_1"] == 256
    t = get_target("sigmoid").f(xr) * 256
    representable = np.abs(t - np.round(t)) <= 1e-9
    assert rep["n_representable"] == int(representable.sum())
    assert rep["n_representable_inexact"] == int((representable & ~exact).sum())
    assert rep["vs_pwl"]["max_err_lsb"] == pytest.approx(err_pwl.max())
    assert rep["vs_pwl"]["n_exceed"] == int((err_pwl > 4.0).sum())


def test_report_without_a_pwl_has_no_pwl_entry_and_defaults_to_the_unit_function(unit):
    rep = error_report(unit)
    assert rep["vs_pwl"] is None and rep["function"] == "sigmoid"
    assert rep["max_error_lsb"] is None  # the bar is strict faithfulness


def test_one_lsb_off_an_exact_code_is_not_faithful():
    # identity in s3.4: every f(x) is a code; an output of x + 1 is 1 LSB off, never faithful
    off = FixedPWL("x", "s3.4", "s3.4", [], [1], 0, [1], 4)
    rep = error_report(off, "x", max_error_lsb=1.0)
    assert rep["max_err_lsb"] == 1.0 and rep["n_exceed"] == 0
    assert not rep["faithful"] and rep["n_over_1"] == 255 and rep["n_representable"] == 256


def test_report_in_chunks_equals_the_report_in_one_piece(unit, monkeypatch):
    whole = error_report(unit, "sigmoid")
    monkeypatch.setattr(report_mod, "_CHUNK", 7)
    chunked = error_report(unit, "sigmoid")
    assert chunked["max_err_lsb"] == whole["max_err_lsb"]
    assert chunked["worst_x"] == whole["worst_x"]
    assert chunked["n_exceed"] == whole["n_exceed"]
    assert chunked["mean_err_lsb"] == pytest.approx(whole["mean_err_lsb"], rel=1e-12)
