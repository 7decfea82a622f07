import math
import re
from fractions import Fraction

import numpy as np
import pytest

from pwlgen.errors import FormatError, ResultFileError
from pwlgen.fixedpoint import ROUNDING, FixedPWL, Format
from pwlgen.io import load, save


def _round_model(v: Fraction, rounding: str) -> int:
    if rounding == "truncate":
        return math.floor(v)
    if rounding == "nearest-even":
        return round(v)
    return int(math.copysign(math.floor(abs(v) + Fraction(1, 2)), v))


def _reference(fx: FixedPWL, x: int) -> int:
    """Slow model in exact rationals: linear scan for the segment, exact line, round, clip;
    with a fold, the line is evaluated at -|x| and unfolded for x > 0, then clipped again."""
    v = -abs(x) if fx.fold != "none" else x
    seg = sum(1 for b in fx.breakpoints.tolist() if b <= v)
    two = Fraction(2)
    real = (int(fx.slopes[seg]) * two**-fx.slope_frac_bits * v * two**-fx.in_fmt.frac_bits
            + int(fx.intercepts[seg]) * two**-fx.intercept_frac_bits)
    lo, hi = fx.out_fmt.min_code, fx.out_fmt.max_code
    g = min(max(_round_model(real * 2**fx.out_fmt.frac_bits, fx.rounding), lo), hi)
    if x <= 0 or fx.fold in ("none", "even"):
        return g
    relu = Fraction(x) * two**-fx.in_fmt.frac_bits * 2**fx.out_fmt.frac_bits
    y = {"odd": -g, "point": fx.fold_center - g, "residual": g + int(relu)}[fx.fold]
    return min(max(y, lo), hi)


def _twos_width(values) -> int:
    w = 1
    while not all(-(2 ** (w - 1)) <= v < 2 ** (w - 1) for v in values):
        w += 1
    return w


def _random_table(rng) -> FixedPWL:
    in_fmt = Format(bool(rng.integers(2)), int(rng.integers(0, 4)), int(rng.integers(1, 6)))
    out_fmt = Format(bool(rng.integers(2)), int(rng.integers(0, 4)), int(rng.integers(1, 8)))
    n_seg = int(rng.integers(1, min(6, 2**in_fmt.bits) + 1))
    bps = np.sort(rng.choice(np.arange(in_fmt.min_code + 1, in_fmt.max_code + 1), n_seg - 1,
                             replace=False))
    fs = int(rng.integers(-in_fmt.frac_bits, 8))
    fc = int(rng.integers(-3, in_fmt.frac_bits + fs + 1))
    return FixedPWL(
        "random", in_fmt, out_fmt, bps,
        rng.integers(-(2**10), 2**10, n_seg), fs,
        rng.integers(-(2**12), 2**12, n_seg), fc,
        str(rng.choice(ROUNDING)),
    )


@pytest.mark.parametrize("seed", range(40))
def test_golden_model_matches_an_exact_rational_model_on_random_tables(seed):
    fx = _random_table(np.random.default_rng(seed))
    x = fx.in_fmt.codes()
    got = fx.evaluate(x)
    want = [_reference(fx, int(v)) for v in x]
    assert got.dtype == np.int64
    bad = np.flatnonzero(got != np.array(want))
    assert bad.size == 0, f"{fx}: first mismatches at codes {x[bad[:5]].tolist()}"


def _random_folded_table(rng) -> FixedPWL:
    in_fmt = Format(True, int(rng.integers(0, 4)), int(rng.integers(1, 6)))
    out_fmt = Format(bool(rng.integers(2)), int(rng.integers(0, 4)),
                     int(rng.integers(in_fmt.frac_bits, 8)))
    fold = str(rng.choice(["odd", "point", "even", "residual"]))
    n_seg = int(rng.integers(1, 6))
    bps = np.sort(rng.choice(np.arange(in_fmt.min_code + 1, 1), n_seg - 1, replace=False))
    fs = int(rng.integers(-in_fmt.frac_bits, 8))
    fc = int(rng.integers(-3, in_fmt.frac_bits + fs + 1))
    return FixedPWL(
        "random", in_fmt, out_fmt, bps,
        rng.integers(-(2**10), 2**10, n_seg), fs,
        rng.integers(-(2**12), 2**12, n_seg), fc,
        str(rng.choice(ROUNDING)), fold=fold,
        fold_center=int(rng.integers(-50, 300)) if fold == "point" else 0,
    )


@pytest.mark.parametrize("seed", range(40))
def test_folded_golden_model_matches_an_exact_rational_model(seed):
    fx = _random_folded_table(np.random.default_rng(1000 + seed))
    x = fx.in_fmt.codes()
    want = np.array([_reference(fx, int(v)) for v in x])
    bad = np.flatnonzero(fx.evaluate(x) != want)
    assert bad.size == 0, f"{fx}: first mismatches at codes {x[bad[:5]].tolist()}"


def test_folded_tables_cover_the_non_positive_half_only():
    fx = FixedPWL("f", "s3.4", "s3.4", [-16], [1, 2], 0, [0, 0], 0, fold="odd")
    assert fx.segment_bounds()[1].tolist() == [-17, 0]
    assert fx.table_code([-128, -3, 0, 3, 127]).tolist() == [-128, -3, 0, -3, -127]
    with pytest.raises(FormatError, match=r"^breakpoints must lie in \(-128, 0\] "):
        FixedPWL("f", "s3.4", "s3.4", [5], [1, 2], 0, [0, 0], 0, fold="odd")


@pytest.mark.parametrize("kwargs,message", [
    (dict(fold="mirror"),
     "fold must be one of ('none', 'odd', 'point', 'even', 'residual'), not 'mirror'"),
    (dict(fold="odd", in_fmt="u3.4"), "a odd fold needs a signed input format, not u3.4"),
    (dict(fold="residual", out_fmt="s3.2"),
     "a residual fold adds relu(x) exactly: the output needs at least the input's fraction "
     "bits (s3.2 has fewer than s3.4)"),
    (dict(fold="even", fold_center=3), "fold_center is only for the point fold, not 'even'"),
])
def test_constructor_rejects_bad_folds(kwargs, message):
    base = dict(function="f", in_fmt="s3.4", out_fmt="s3.4", breakpoints=[], slopes=[1],
                slope_frac_bits=0, intercepts=[0], intercept_frac_bits=0)
    with pytest.raises(FormatError, match=f"^{re.escape(message)}$"):
        FixedPWL(**{**base, **kwargs})


def test_schema_1_documents_still_read_and_a_fold_round_trips():
    doc = FixedPWL("f", "s3.4", "s3.4", [-3], [1, 2], 2, [0, 1], 2).to_dict()
    old = {k: v for k, v in doc.items() if k not in ("fold", "fold_center")}
    assert FixedPWL.from_dict({**old, "schema": 1}).fold == "none"
    folded = FixedPWL("f", "s3.4", "u0.8", [-3], [1, 2], 2, [0, 1], 2, fold="point",
                      fold_center=256)
    assert FixedPWL.from_dict(folded.to_dict()) == folded
    with pytest.raises(ResultFileError, match=r"^bad fixed_pwl document: a schema 1 document"):
        FixedPWL.from_dict({**folded.to_dict(), "schema": 1})


@pytest.mark.parametrize("folded", [False, True])
@pytest.mark.parametrize("seed", range(10))
def test_widths_hold_every_table_entry_and_every_accumulator(seed, folded):
    rng = np.random.default_rng(100 + seed)
    fx = _random_folded_table(rng) if folded else _random_table(rng)
    assert fx.slope_bits == _twos_width(fx.slopes.tolist())
    assert fx.intercept_bits == _twos_width(fx.intercepts.tolist())
    x = fx.in_fmt.codes()
    v = fx.table_code(x).tolist()
    k = fx.acc_frac_bits - fx.intercept_frac_bits
    accs = [int(fx.slopes[s]) * c + (int(fx.intercepts[s]) << k)
            for c, s in zip(v, fx.segment_index(x).tolist(), strict=True)]
    assert fx.acc_bits == max(2, _twos_width(accs))


@pytest.mark.parametrize("rounding", ROUNDING)
def test_evaluate_rounds_exact_halves_by_the_mode(rounding):
    # y = x / 2: every odd input code lands on an exact half of an output LSB
    fx = FixedPWL("half", "s3.4", "s3.4", [], [1], 1, [0], 0, rounding)
    x = fx.in_fmt.codes()
    want = [_round_model(Fraction(int(v), 2), rounding) for v in x]
    assert fx.evaluate(x).tolist() == want


def test_evaluate_saturates_at_both_ends():
    # y = 3x overflows the output on both sides
    fx = FixedPWL("steep", "s3.4", "s3.4", [0], [3, 3], 0, [0, 0], 0)
    x = fx.in_fmt.codes()
    y = fx.evaluate(x)
    assert y[0] == fx.out_fmt.min_code and y[-1] == fx.out_fmt.max_code
    assert np.array_equal(y, np.clip(3 * x, fx.out_fmt.min_code, fx.out_fmt.max_code))
    unsigned = FixedPWL("neg", "s3.4", "u2.2", [], [1], -2, [0], 0)
    assert unsigned.evaluate([-128, -1]).tolist() == [0, 0]


def test_segments_follow_searchsorted_right_on_breakpoints():
    fx = FixedPWL("steps", "u3.0", "u3.0", [2, 5], [0, 0, 0], 0, [1, 3, 7], 0)
    assert fx.evaluate(np.arange(8)).tolist() == [1, 1, 3, 3, 3, 7, 7, 7]
    lo, hi = fx.segment_bounds()
    assert lo.tolist() == [0, 2, 5] and hi.tolist() == [1, 4, 7]


def test_evaluate_rejects_codes_outside_the_input_format():
    fx = FixedPWL("id", "s3.4", "s3.4", [], [1], 0, [0], 0)
    with pytest.raises(FormatError, match=r"^input code 128 is outside the input format s3.4$"):
        fx.evaluate([0, 128])


@pytest.mark.parametrize("kwargs,message", [
    (dict(breakpoints=[3, 3]), "breakpoints must be strictly increasing, not [3, 3]"),
    (dict(breakpoints=[-128, 3]),
     "breakpoints must lie in (-128, 127] (input format s3.4), not -128..3"),
    (dict(breakpoints=[1]),
     "S segments need S slopes, S intercepts and S-1 breakpoints, not 3, 3 and 1"),
    (dict(intercept_frac_bits=9), "intercept_frac_bits must be <= acc_frac_bits (6), not 9"),
    (dict(slope_frac_bits=-5), "acc_frac_bits (input frac bits + slope_frac_bits) must be >= 0, "
                               "not -1"),
    (dict(rounding="up"),
     "rounding must be one of nearest-even, nearest-away, truncate, not 'up'"),
    (dict(slopes=[1.5, 2, 3]),
     "slopes must be a 1-D array of integers, not array([1.5, 2. , 3. ])"),
])
def test_constructor_rejects_inconsistent_tables(kwargs, message):
    base = dict(function="f", in_fmt="s3.4", out_fmt="s3.4", breakpoints=[-3, 3],
                slopes=[1, 2, 3], slope_frac_bits=2, intercepts=[0, 1, 2], intercept_frac_bits=2)
    with pytest.raises(FormatError, match=f"^{re.escape(message)}$"):
        FixedPWL(**{**base, **kwargs})


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_to_dict_round_trips_through_a_file(tmp_path, suffix):
    fx = _random_table(np.random.default_rng(7))
    doc = fx.to_dict()
    assert doc["kind"] == "fixed_pwl" and doc["schema"] == 2
    assert doc["in_fmt"] == str(fx.in_fmt) and doc["out_fmt"] == str(fx.out_fmt)
    save(doc, tmp_path / f"t{suffix}")
    back = FixedPWL.from_dict(load(tmp_path / f"t{suffix}"))
    assert back == fx
    assert np.array_equal(back.evaluate(fx.in_fmt.codes()), fx.evaluate(fx.in_fmt.codes()))


@pytest.mark.parametrize("change,message", [
    ({"kind": "search_result"}, "not a fixed_pwl document (kind is 'search_result')"),
    ({"schema": 7}, "unsupported fixed_pwl schema 7 (expected 2)"),
    ({"slopes": None}, "bad fixed_pwl document: slopes must be a list of integers, not None"),
    ({"in_fmt": "s99.1"}, "bad fixed_pwl document: a format must have 1 to 32 bits, not 101 "
                          "(s99.1)"),
    ({"breakpoints": [5, 1]},
     "bad fixed_pwl document: breakpoints must be strictly increasing, not [5, 1]"),
])
def test_from_dict_rejects_bad_documents(change, message):
    doc = FixedPWL("f", "s3.4", "s3.4", [-3, 3], [1, 2, 3], 2, [0, 1, 2], 2).to_dict()
    doc.update(change)
    with pytest.raises(ResultFileError, match=f"^{re.escape(message)}$"):
        FixedPWL.from_dict(doc)


def test_constructor_rejects_an_accumulator_wider_than_int64_can_hold_exactly():
    # |2**40 * x| reaches 2**71 on s15.16: 72 two's-complement bits
    with pytest.raises(FormatError, match=r"^the accumulator needs 72 bits, more than the 62 "
                                          r"supported$"):
        FixedPWL("wide", "s15.16", "s15.16", [], [2**40], 0, [0], 0)


def test_from_dict_names_missing_keys():
    doc = FixedPWL("f", "s3.4", "s3.4", [], [1], 2, [0], 2).to_dict()
    del doc["slopes"], doc["rounding"]
    with pytest.raises(ResultFileError, match=r"^fixed_pwl document lacks slopes, rounding$"):
        FixedPWL.from_dict(doc)
