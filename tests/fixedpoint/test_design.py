import re

import numpy as np
import pytest

from pwlgen.errors import FormatError, SearchError
from pwlgen.fixedpoint import ROUNDING, Format, default_formats, design, error_report, quantize
from pwlgen.functions import get_target
from pwlgen.pwl import PWL

DEFAULTS = {"gelu": ("s3.12", "s3.12"), "silu": ("s3.12", "s3.12"),
            "sigmoid": ("s3.12", "u0.16"), "tanh": ("s3.12", "s0.15")}
FOLDS = {"gelu": "residual", "silu": "residual", "sigmoid": "point", "tanh": "odd"}


def _targets_lsb(fx, fn) -> np.ndarray:
    x = fx.in_fmt.codes()
    return get_target(fn).f(x.astype(np.float64) / 2.0**fx.in_fmt.frac_bits) \
        * 2.0**fx.out_fmt.frac_bits


def _errors_lsb(fx, fn) -> np.ndarray:
    """|output - f| in output LSBs on every input code, computed without pwlgen's report."""
    return np.abs(fx.evaluate(fx.in_fmt.codes()) - _targets_lsb(fx, fn))


def _assert_strictly_faithful(fx, fn):
    """Each output is floor(t) or ceil(t) of t = f(x) in LSB, and t where t is a code."""
    t = _targets_lsb(fx, fn)
    y = fx.evaluate(fx.in_fmt.codes())
    lo = np.clip(np.floor(t), fx.out_fmt.min_code, fx.out_fmt.max_code)
    hi = np.clip(np.ceil(t), fx.out_fmt.min_code, fx.out_fmt.max_code)
    representable = np.abs(t - np.round(t)) <= 1e-9
    hi = np.where(representable, np.round(t), hi)
    lo = np.where(representable, np.round(t), lo)
    bad = np.flatnonzero((y < lo) | (y > hi))
    assert bad.size == 0, f"{fn}: not faithful at codes {fx.in_fmt.codes()[bad[:5]].tolist()}"
    return int(representable.sum())


@pytest.fixture(scope="module")
def defaults():
    return {fn: design(fn) for fn in DEFAULTS}


@pytest.mark.parametrize("fn", list(DEFAULTS))
def test_default_design_is_strictly_faithful_on_every_16_bit_code(defaults, fn):
    fx = defaults[fn]
    assert (str(fx.in_fmt), str(fx.out_fmt)) == DEFAULTS[fn]
    assert fx.in_fmt.bits == 16 and fx.out_fmt.bits == 16
    assert fx.fold == FOLDS[fn]
    n_repr = _assert_strictly_faithful(fx, fn)
    err = _errors_lsb(fx, fn)
    assert err.size == 65536
    rep = error_report(fx, fn)
    assert rep["n_exceed"] == 0 and rep["faithful"] and rep["n_over_1"] == 0
    assert rep["n_representable"] == n_repr and rep["n_representable_inexact"] == 0
    assert rep["max_err_lsb"] == pytest.approx(err.max(), abs=1e-9)


def test_strict_faithfulness_is_exact_where_f_is_a_code():
    # elu(x) = x for x >= 0: every such code is representable and must come out unchanged
    fx = design("elu", "s3.8", "s3.8")
    x = fx.in_fmt.codes()
    pos = x >= 0
    assert np.array_equal(fx.evaluate(x[pos]), x[pos])
    _assert_strictly_faithful(fx, "elu")
    # the inclusive 1-LSB budget is looser: it may return x + 1 there, and never needs more
    loose = design("elu", "s3.8", "s3.8", max_error_lsb=1.0)
    assert loose.n_segments <= fx.n_segments and _errors_lsb(loose, "elu").max() <= 1.0


@pytest.mark.parametrize("fn", ["gelu", "hardswish", "softplus", "sigmoid"])
def test_folded_and_unfolded_designs_are_both_strictly_faithful(fn):
    folded = design(fn, "s3.8", "s3.8" if fn != "sigmoid" else "u0.10")
    plain = design(fn, "s3.8", "s3.8" if fn != "sigmoid" else "u0.10", symmetry="none")
    assert folded.fold != "none" and plain.fold == "none"
    assert folded.n_segments < plain.n_segments
    for fx in (folded, plain):
        _assert_strictly_faithful(fx, fn)


def test_a_symmetry_that_does_not_hold_is_refused():
    with pytest.raises(SearchError, match=r"^gelu has no odd symmetry on the codes of s3.8 -> "
                                          r"s3.8 \(found: residual\)$"):
        design("gelu", "s3.8", "s3.8", symmetry="odd")
    with pytest.raises(SearchError, match=r"^symmetry must be one of \('auto', 'none', "):
        design("gelu", "s3.8", "s3.8", symmetry="mirror")
    assert design("exp", "s1.6", "u3.4").fold == "none"


@pytest.mark.parametrize("fn", list(DEFAULTS))
def test_default_formats_are_the_documented_ones(fn):
    assert tuple(map(str, default_formats(fn))) == DEFAULTS[fn]


def test_default_formats_fit_the_range_of_any_other_function():
    in_fmt, out_fmt = default_formats("softplus")
    f = get_target("softplus").f(in_fmt.to_real(in_fmt.codes()))
    assert out_fmt.bits == 16 and not out_fmt.signed
    assert f.max() < 2.0**out_fmt.int_bits and f.max() >= 2.0 ** (out_fmt.int_bits - 1)


@pytest.mark.parametrize("rounding", ROUNDING)
@pytest.mark.parametrize("fn,fmts", [("sigmoid", ("s3.6", "u0.8")), ("gelu", ("s2.5", "s2.5"))])
def test_small_designs_meet_the_target_under_every_rounding(rounding, fn, fmts):
    for target in (1.0, 2.0):
        fx = design(fn, *fmts, max_error_lsb=target, rounding=rounding)
        assert fx.rounding == rounding
        assert _errors_lsb(fx, fn).max() <= target


def test_design_uses_the_fewest_segments():
    # greedy is optimal: one segment fewer cannot be faithful
    for sym in ("none", "auto"):
        fx = design("sigmoid", "s3.6", "u0.8", symmetry=sym, extra_segments=0)
        assert fx.n_segments > 1
        fewer = design("sigmoid", "s3.6", "u0.8", n_segments=fx.n_segments - 1, symmetry=sym)
        assert fewer.n_segments <= fx.n_segments - 1
        assert _errors_lsb(fewer, "sigmoid").max() > 1.0 - 1e-9


def test_fewer_segments_give_a_larger_error():
    errs = [_errors_lsb(design("gelu", "s2.5", "s2.5", n_segments=n), "gelu").max()
            for n in (1, 2, 4)]
    assert errs[0] >= errs[1] >= errs[2]
    assert errs[0] > errs[2]


def test_a_looser_target_needs_no_more_segments_or_bits():
    tight = design("tanh", "s3.6", "s0.7", max_error_lsb=1.0)
    loose = design("tanh", "s3.6", "s0.7", max_error_lsb=3.0)
    assert loose.n_segments <= tight.n_segments
    assert _errors_lsb(loose, "tanh").max() <= 3.0


@pytest.mark.parametrize("kwargs,message", [
    (dict(target="gelu", interval=(-10.0, 10.0)),
     "the input format s3.12 holds [-8, 7.99976], not the interval [-10, 10]"),
    (dict(target="gelu", in_fmt="s3.20"),
     "design works on every input code: at most 20 input bits, not 24 (s3.20); use quantize() "
     "for wider inputs"),
    (dict(target="exp", in_fmt="s3.4", out_fmt="s3.4"),
     "the output format s3.4 (range [-8, 7.9375]) cannot hold exp(x=2.125) = 8.3729 within "
     "1 LSB"),
    (dict(target="gelu", in_fmt="s3.4", out_fmt="s3.4", rounding="up"),
     "rounding must be one of nearest-even, nearest-away, truncate, not 'up'"),
    (dict(target="gelu", in_fmt="s3.4", out_fmt="s3.40"),
     "a format must have 1 to 32 bits, not 44 (s3.40)"),
])
def test_bad_formats_and_ranges_raise_format_error(kwargs, message):
    target = kwargs.pop("target")
    with pytest.raises(FormatError, match=f"^{re.escape(message)}$"):
        design(target, **kwargs)


def test_an_unreachable_error_target_raises_search_error():
    with pytest.raises(SearchError, match=r"^no segment count meets max_error_lsb=0.1: no u0.8 "
                                          r"code lies within 0.1 LSB of sigmoid\(x=.+\) = .+$"):
        design("sigmoid", "s3.4", "u0.8", max_error_lsb=0.1)
    with pytest.raises(SearchError, match=r"^n_segments must be a positive integer, not 0$"):
        design("sigmoid", "s3.4", "u0.8", n_segments=0)


def test_quantize_keeps_an_exactly_representable_pwl():
    # knots on codes and dyadic slopes: the integer model can reproduce the PWL exactly
    pwl = PWL([-2.0, 0.5, 3.0], [0.0, 1.25, 0.0], 0.0, 0.5)
    fx = quantize(pwl, "s3.4", "s3.4", rounding="nearest-even")
    assert fx.n_segments == 4
    assert fx.breakpoints.tolist() == [-2 * 16 + 1, 8 + 1, 3 * 16 + 1]
    x = fx.in_fmt.codes()
    want = np.clip(np.rint(pwl(fx.in_fmt.to_real(x)) * 16), -128, 127)
    assert np.array_equal(fx.evaluate(x), want)


def test_quantize_drops_pieces_outside_the_input_range_and_approaches_the_target():
    pwl = PWL([-20.0, -3.0, -1.0, 0.0, 1.0, 3.0, 20.0], get_target("gelu").f(
        np.array([-20.0, -3.0, -1.0, 0.0, 1.0, 3.0, 20.0])), 0.0, 1.0)
    fx = quantize(pwl, "s3.6", "s3.6", target="gelu")
    assert fx.n_segments == 6
    x = fx.in_fmt.codes()
    float_err = np.abs(np.rint(pwl(fx.in_fmt.to_real(x)) * 64) - get_target("gelu").f(
        fx.in_fmt.to_real(x)) * 64).max()
    assert _errors_lsb(fx, "gelu").max() <= float_err
    rep = error_report(fx, "gelu", pwl=pwl)
    assert rep["vs_pwl"]["codes"] == x.size


def test_quantize_needs_formats_without_a_target():
    with pytest.raises(FormatError, match=r"^quantize needs in_fmt and out_fmt when no target "
                                          r"is given$"):
        quantize(PWL([0.0], [0.0], 0.0, 1.0))


def test_quantize_with_fixed_precision_uses_it():
    pwl = PWL([0.0], [0.0], 0.0, 1.0)
    fx = quantize(pwl, "s3.4", "s3.4", slope_frac_bits=3, intercept_frac_bits=5)
    assert fx.slope_frac_bits == 3 and fx.intercept_frac_bits == 5
    assert Format.parse("s3.4") == fx.in_fmt


def test_extra_segments_trade_count_for_no_wider_slopes():
    base = design("gelu", "s3.8", "s3.8", extra_segments=0)
    traded = design("gelu", "s3.8", "s3.8", extra_segments=6)
    assert base.n_segments <= traded.n_segments <= base.n_segments + 6
    assert traded.slope_frac_bits <= base.slope_frac_bits
    assert _errors_lsb(traded, "gelu").max() <= 1.0
    with pytest.raises(SearchError, match=r"^extra_segments must be a non-negative integer "
                                          r"or 'auto', not -1$"):
        design("gelu", "s3.8", "s3.8", extra_segments=-1)


def test_design_with_a_pwl_keeps_its_pieces_and_approaches_the_target():
    knots = np.linspace(-4.0, 4.0, 9)
    pwl = PWL(knots, get_target("silu").f(knots), 0.0, 1.0)
    fx = design("silu", "s3.6", "s3.6", pwl=pwl)
    assert fx.n_segments == 10
    assert fx.function == "silu"
    assert np.array_equal(fx.breakpoints, np.floor(knots * 64).astype(np.int64) + 1)


def test_auto_extra_segments_keep_the_smallest_estimated_unit():
    from pwlgen.fixedpoint.area import lut4_estimate
    from pwlgen.fixedpoint.designer import AUTO_EXTRA

    def cost(fx):
        return lut4_estimate(fx.n_segments, fx.in_fmt.bits, fx.slope_bits, fx.intercept_bits,
                             fx.acc_bits)

    auto = design("gelu", "s3.10", "s3.10")
    tried = [design("gelu", "s3.10", "s3.10", extra_segments=e) for e in AUTO_EXTRA]
    assert cost(auto) == min(cost(fx) for fx in tried)
    _assert_strictly_faithful(auto, "gelu")
