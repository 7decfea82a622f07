"""The accuracy proof (pwlgen.hw.proof) and the test wrapper's pieces, without a simulator."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from pwlgen.errors import HardwareError, TargetError
from pwlgen.fixedpoint import Format
from pwlgen.functions import get_target
from pwlgen.hw.harness import read_capture, stimulus, wrapper_verilog
from pwlgen.hw.proof import (
    MP_FORMS,
    REPRESENTABLE_LSB,
    Reference,
    _mp_forms,
    allowed_codes,
    float64_t,
    prove_accuracy,
    reference,
)

S8 = Format.parse("s3.4")


def _ref(t) -> Reference:
    t = np.asarray(t, dtype=np.float64)
    return Reference("test", t, np.zeros(t.shape, bool), 0)


def test_allowed_codes_are_floor_and_ceil_or_the_representable_value_or_the_end_code():
    t = np.array([2.3, -2.3, 5.0, 5.0 + 0.5 * REPRESENTABLE_LSB, 5.0 + 3 * REPRESENTABLE_LSB,
                  127.4, 127.0 + 1e-12, 300.0, -128.5, -1000.0])
    lo, hi = allowed_codes(t, S8)
    assert lo.tolist() == [2, -3, 5, 5, 5, 127, 127, 127, -128, -128]
    assert hi.tolist() == [3, -2, 5, 5, 6, 127, 127, 127, -128, -128]


def test_strict_bar_refuses_one_lsb_off_a_representable_value_and_counts_each_class():
    x = np.arange(5)
    t = [1.0, 2.5, 3.25, 4.0, 10.0]
    y = [1, 3, 4, 5, 9]  # exact, ceil, ceil, 1 LSB off representable 4, 1 LSB off 10
    acc = prove_accuracy(_ref(t), x, y, S8)
    assert (acc["exact"], acc["below_1lsb"], acc["over_bar"]) == (1, 2, 2)
    assert {m["x"] for m in acc["first_over_bar"]} == {3, 4}
    assert acc["max_err_lsb"] == pytest.approx(1.0)


def test_max_error_bar_is_inclusive_and_counts_errors_of_1lsb_or_more():
    x = np.arange(4)
    t = [1.0, 2.5, 3.0, 4.0]
    y = [1, 4, 4, 6]  # errors 0, 1.5, 1, 2
    acc = prove_accuracy(_ref(t), x, y, S8, max_error_lsb=1.5)
    assert (acc["exact"], acc["below_1lsb"], acc["within_bar_1lsb_or_more"],
            acc["over_bar"]) == (1, 0, 2, 1)
    assert acc["first_over_bar"][0]["x"] == 3


def test_reference_is_f_times_2_to_the_output_fraction_bits():
    fin, fout = Format.parse("s2.5"), Format.parse("s1.6")
    x = fin.codes()
    ref = reference("tanh", fin, fout, x)
    assert np.allclose(ref.t, np.tanh(x / 32.0) * 64.0, rtol=0, atol=1e-9)
    assert ref.function == "tanh" and ref.undecided == 0


def test_reference_recomputes_in_mpmath_where_float64_cannot_decide():
    # GELU far right: f(x) = x * (1 - 1e-14): within 1e-9 LSB of x, so only x is allowed; float64
    # settles that (its error is ~1e-11 LSB), so nothing is recomputed for the faithful bar
    fin = fout = Format.parse("s3.12")
    x = np.array([31744, 4096, 0, -31744])
    ref = reference("gelu", fin, fout, x)
    assert not ref.refined.any()
    # a bar that t(4096) sits on: float64 cannot tell |y - t| <= E, mpmath recomputes it
    e = float(ref.t[1] - np.floor(ref.t[1]))
    on_bar = reference("gelu", fin, fout, x, max_error_lsb=e)
    assert on_bar.refined.tolist() == [False, True, False, False]
    with mpmath.workdps(50):
        want = float(mpmath.mpf(31744) * mpmath.erfc(-mpmath.mpf(31744) / 4096
                                                     / mpmath.sqrt(2)) / 2)
    assert ref.t[0] == pytest.approx(want, abs=1e-11)
    lo, hi = allowed_codes(ref.t, fout)
    assert lo[0] == hi[0] == 31744 and lo[3] == hi[3] == 0


def test_expression_targets_count_the_codes_float64_cannot_decide():
    fin, fout = Format.parse("s2.5"), Format.parse("s1.6")
    ref = reference("max(relu(x),tanh(x))", fin, fout, fin.codes())
    assert not ref.refined.any()
    dist = np.abs(ref.t - np.rint(ref.t))
    assert ref.undecided == int(np.count_nonzero(np.abs(dist - 1e-9) < 1e-10 + 2e-15
                                                 * np.abs(ref.t)))


@pytest.mark.parametrize("name", MP_FORMS)
def test_mpmath_forms_agree_with_the_float64_registry(name):
    f = get_target(name).f
    form = _mp_forms()[name]
    xs = [-7.5, -3.0, -0.75, -1e-3, 0.0, 0.4, 2.9, 3.0, 6.25]
    with mpmath.workdps(40):
        got = [float(form(mpmath.mpf(v))) for v in xs]
    want = f(np.array(xs))
    # float64 cancels where f is tiny (gelu_tanh far left gives 0 for 4e-18): hence atol,
    # far below an output LSB; a wrong form (a constant, a branch) is off by far more
    assert np.allclose(got, want, rtol=1e-12, atol=1e-15), (name, got, want.tolist())


@pytest.mark.parametrize("name", MP_FORMS)
def test_the_proofs_float64_forms_match_mpmath_to_a_few_ulps(name):
    form = _mp_forms()[name]
    xs = np.concatenate([np.linspace(-40.0, 40.0, 801), [-1e-3, 0.0, 1e-3, -745.0, 745.0]])
    got = float64_t(name, None, xs)
    with mpmath.workdps(40):
        want = np.array([float(form(mpmath.mpf(float(v)))) for v in xs])
    fine = np.isfinite(want)
    # within the error `_undecided` allows float64, 1e-10 LSB + 2e-15 relative, for outputs
    # of up to 24 fraction bits (erfc and exp lose relative precision near underflow only)
    assert np.array_equal(np.isfinite(got), fine), name
    assert np.allclose(got[fine], want[fine], rtol=2e-15, atol=1e-10 * 2.0**-24), name


def test_reference_refuses_unknown_functions_and_non_finite_values():
    fin, fout = Format.parse("s2.5"), Format.parse("s1.6")
    with pytest.raises(TargetError):
        reference("no_such_fn", fin, fout, fin.codes())
    with pytest.raises(HardwareError, match=r"is not finite"):
        reference("exp", Format.parse("s11.4"), fout, [2000 * 16])


def test_stimulus_is_every_code_up_to_the_limit_and_corners_plus_random_above():
    small = stimulus(Format.parse("s3.4"), [-5, 7], seed=0, max_codes=1 << 16)
    assert sorted(small.tolist()) == Format.parse("s3.4").codes().tolist()
    wide_fmt = Format.parse("s9.8")
    wide = stimulus(wide_fmt, [-5, 7], seed=0, max_codes=1000)
    assert wide.size == 1000
    assert {wide_fmt.min_code, wide_fmt.max_code, 0, -6, -5, -4, 6, 7, 8} <= set(wide.tolist())
    assert wide.min() >= wide_fmt.min_code and wide.max() <= wide_fmt.max_code
    assert stimulus(wide_fmt, [-5, 7], seed=1, max_codes=1000).tolist() != wide.tolist()


def test_capture_parser_skips_address_comments_and_counts_x_words():
    text = "// 0x00000000\nff\n01\n// 0x00000002\nxx\n7f\n"
    vals, n_x = read_capture(text, 4, signed=True, bits=8)
    assert vals.tolist() == [-1, 1, 0, 127] and n_x == 1
    vals, _ = read_capture(text, 2, signed=False, bits=8)
    assert vals.tolist() == [255, 1]


def test_wrapper_instantiates_every_port_and_bakes_the_stall_thresholds():
    text = wrapper_verilog("pwl_t", 8, 6, 256, seed=5, p_valid=0.5, p_ready=1.0,
                           reset_at=128, max_cycles=9999)
    for port in ("clk", "rst", "i_stream__payload", "i_stream__valid", "i_stream__ready",
                 "o_stream__payload", "o_stream__valid", "o_stream__ready"):
        assert f".{port}(" in text
    assert "module pwl_t_tb(" in text and "pwl_t dut(" in text
    assert f"17'd{1 << 15}" in text and f"17'd{1 << 16}" in text
    assert "localparam RESET_AT = 128;" in text and "localparam MAX_CYCLES = 9999;" in text
    assert "reg [7:0] stim [0:N-1];" in text and "reg [5:0] cap [0:N-1];" in text
