import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pwlgen.errors import FormatError
from pwlgen.fixedpoint import ROUNDING, Format, round_shift, signed_width


def _round_model(v: Fraction, rounding: str) -> int:
    """Independent rounding of an exact rational."""
    if rounding == "truncate":
        return math.floor(v)
    if rounding == "nearest-even":
        return round(v)  # Python rounds Fractions half to even
    return int(math.copysign(math.floor(abs(v) + Fraction(1, 2)), v))


@pytest.mark.parametrize("text,signed,i,f", [
    ("s3.12", True, 3, 12), ("u0.16", False, 0, 16), ("s0.15", True, 0, 15),
    ("u8.0", False, 8, 0), ("s15.16", True, 15, 16),
])
def test_parse_reads_sign_integer_and_fraction_bits_and_str_gives_the_text_back(
        text, signed, i, f):
    fmt = Format.parse(text)
    assert (fmt.signed, fmt.int_bits, fmt.frac_bits) == (signed, i, f)
    assert str(fmt) == text
    assert fmt.bits == int(signed) + i + f
    assert Format.parse(fmt) is fmt


@pytest.mark.parametrize("text", ["s3.12", "u0.8", "s0.3", "u2.1"])
def test_codes_span_the_twos_complement_or_unsigned_range(text):
    fmt = Format.parse(text)
    codes = fmt.codes()
    assert codes.size == 2**fmt.bits
    assert np.all(np.diff(codes) == 1)
    lo = -(2 ** (fmt.bits - 1)) if fmt.signed else 0
    assert codes[0] == fmt.min_code == lo
    assert codes[-1] == fmt.max_code == lo + 2**fmt.bits - 1
    assert fmt.lsb == 2.0 ** -fmt.frac_bits
    assert np.array_equal(fmt.to_real(codes), codes * 2.0 ** -fmt.frac_bits)
    assert fmt.min_real == codes[0] * fmt.lsb and fmt.max_real == codes[-1] * fmt.lsb


@pytest.mark.parametrize("text,message", [
    ("s3", "a fixed-point format looks like 's3.12' or 'u0.16', not 's3'"),
    ("q3.12", "a fixed-point format looks like 's3.12' or 'u0.16', not 'q3.12'"),
    ("s-1.12", "a fixed-point format looks like 's3.12' or 'u0.16', not 's-1.12'"),
    ("", "a fixed-point format looks like 's3.12' or 'u0.16', not ''"),
    ("s20.20", "a format must have 1 to 32 bits, not 41 (s20.20)"),
    ("u16.17", "a format must have 1 to 32 bits, not 33 (u16.17)"),
    ("u0.0", "a format must have 1 to 32 bits, not 0 (u0.0)"),
])
def test_parse_rejects_bad_text_and_widths_with_one_line(text, message):
    with pytest.raises(FormatError, match=f"^{__import__('re').escape(message)}$"):
        Format.parse(text)


def test_constructor_rejects_negative_widths():
    with pytest.raises(FormatError, match=r"^frac_bits must be a non-negative integer, not -1$"):
        Format(True, 3, -1)
    with pytest.raises(FormatError, match=r"^int_bits must be a non-negative integer, not 2.5$"):
        Format(True, 2.5, 3)


@pytest.mark.parametrize("rounding", ROUNDING)
@pytest.mark.parametrize("text", ["s3.1", "u2.2"])
def test_from_real_rounds_like_the_model_and_saturates(rounding, text):
    fmt = Format.parse(text)
    # every quarter-LSB step (halves included) and well beyond both ends
    steps = np.arange(4 * (fmt.min_code - 5), 4 * (fmt.max_code + 5) + 1)
    x = steps * (fmt.lsb / 4)
    got = fmt.from_real(x, rounding)
    want = [min(max(_round_model(Fraction(int(s), 4), rounding), fmt.min_code), fmt.max_code)
            for s in steps]
    assert got.dtype == np.int64
    assert got.tolist() == want


def test_from_real_rejects_nan_and_unknown_rounding():
    fmt = Format.parse("s3.4")
    with pytest.raises(FormatError, match=r"^cannot convert NaN to a fixed-point code$"):
        fmt.from_real([np.nan])
    with pytest.raises(FormatError, match=r"^rounding must be one of nearest-even, "
                                          r"nearest-away, truncate, not 'up'$"):
        fmt.from_real([1.0], "up")


@pytest.mark.parametrize("rounding", ROUNDING)
@pytest.mark.parametrize("s", [1, 2, 3, 7])
def test_round_shift_matches_exact_rational_rounding_at_every_half(rounding, s):
    acc = np.arange(-(4 << s), (4 << s) + 1, dtype=np.int64)
    got = round_shift(acc, s, rounding)
    want = [_round_model(Fraction(int(a), 2**s), rounding) for a in acc]
    assert got.tolist() == want


@given(st.text(max_size=12))
@settings(max_examples=200, deadline=None)
def test_any_text_parses_to_a_format_that_prints_back_or_raises_format_error(text):
    try:
        fmt = Format.parse(text)
    except FormatError:
        return
    assert Format.parse(str(fmt)) == fmt and 1 <= fmt.bits <= 32


@pytest.mark.parametrize("values,bits", [([0], 1), ([-1], 1), ([1], 2), ([127, -128], 8),
                                         ([128], 9), ([-129], 9), ([], 1), ([1 << 70], 72)])
def test_signed_width_is_the_smallest_twos_complement_width(values, bits):
    assert signed_width(values) == bits
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    assert all(lo <= v <= hi for v in values)
