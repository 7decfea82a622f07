"""Fixed-point formats (``s3.12``, ``u0.16``) and the integer rounding of the golden model."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from ..errors import FormatError

__all__ = ["Format", "ROUNDING", "MAX_FORMAT_BITS", "round_shift", "signed_width"]

ROUNDING = ("nearest-even", "nearest-away", "truncate")
"""Rounding modes of the final shift; ``truncate`` is floor (an arithmetic right shift)."""

FIXED_SCHEMA = 1
"""Schema version of the ``fixed_pwl`` document."""

MAX_FORMAT_BITS = 32
"""Widest input/output format."""
_FORMAT_RE = re.compile(r"^([su])(\d+)\.(\d+)$")

# --------------------------------------------------------------------------- formats
@dataclass(frozen=True)
class Format:
    """A two's-complement (``s``) or unsigned (``u``) fixed-point format.

    Parameters
    ----------
    signed : bool
        Whether a sign bit is present.
    int_bits : int, >= 0
        Integer bits (not counting the sign).
    frac_bits : int, >= 0
        Fraction bits; one code is ``2**-frac_bits``.

    Raises
    ------
    FormatError
        When a width is negative, the total is 0 or more than 32 bits.

    Examples
    --------
    >>> fmt = Format.parse("s3.12")
    >>> fmt.bits, fmt.min_code, fmt.max_code, str(fmt)
    (16, -32768, 32767, 's3.12')
    """

    signed: bool
    int_bits: int
    frac_bits: int

    def __post_init__(self):
        for name in ("int_bits", "frac_bits"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
                raise FormatError(f"{name} must be a non-negative integer, not {v!r}")
            object.__setattr__(self, name, int(v))
        object.__setattr__(self, "signed", bool(self.signed))
        if self.bits < 1 or self.bits > MAX_FORMAT_BITS:
            raise FormatError(
                f"a format must have 1 to {MAX_FORMAT_BITS} bits, not {self.bits} ({self})"
            )

    @classmethod
    def parse(cls, text: str | Format) -> Format:
        """Read ``"s3.12"`` / ``"u0.16"`` (sign, integer bits, dot, fraction bits)."""
        if isinstance(text, Format):
            return text
        m = _FORMAT_RE.match(str(text).strip())
        if m is None:
            raise FormatError(
                f"a fixed-point format looks like 's3.12' or 'u0.16', not {str(text)!r}"
            )
        return cls(m.group(1) == "s", int(m.group(2)), int(m.group(3)))

    def __str__(self) -> str:
        return f"{'s' if self.signed else 'u'}{self.int_bits}.{self.frac_bits}"

    @property
    def bits(self) -> int:
        """Total width in bits."""
        return int(self.signed) + self.int_bits + self.frac_bits

    @property
    def min_code(self) -> int:
        """Smallest code."""
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max_code(self) -> int:
        """Largest code."""
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def lsb(self) -> float:
        """Real value of one code, ``2**-frac_bits``."""
        return math.ldexp(1.0, -self.frac_bits)

    @property
    def min_real(self) -> float:
        """Real value of the smallest code."""
        return self.min_code * self.lsb

    @property
    def max_real(self) -> float:
        """Real value of the largest code."""
        return self.max_code * self.lsb

    def to_real(self, codes) -> np.ndarray:
        """Real values (float64) of integer codes."""
        return np.ldexp(np.asarray(codes, dtype=np.float64), -self.frac_bits)

    def from_real(self, x, rounding: str = "nearest-even") -> np.ndarray:
        """Codes (int64) of reals: rounded with `rounding`, saturated to the format."""
        _check_rounding(rounding)
        x = np.asarray(x, dtype=np.float64)
        if np.isnan(x).any():
            raise FormatError("cannot convert NaN to a fixed-point code")
        scaled = np.ldexp(x, self.frac_bits)
        if rounding == "truncate":
            r = np.floor(scaled)
        elif rounding == "nearest-even":
            r = np.rint(scaled)
        else:
            r = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)
        return np.clip(r, self.min_code, self.max_code).astype(np.int64)

    def codes(self) -> np.ndarray:
        """Every code, ascending (int64)."""
        return np.arange(self.min_code, self.max_code + 1, dtype=np.int64)


def _check_rounding(rounding: str) -> None:
    if rounding not in ROUNDING:
        raise FormatError(f"rounding must be one of {', '.join(ROUNDING)}, not {rounding!r}")


def signed_width(values) -> int:
    """Smallest two's-complement width that holds every integer in `values` (at least 1).

    Works on Python integers of any size, so a caller can size a sum before it fits int64.
    """
    ints = [int(v) for v in np.asarray(values, dtype=object).ravel()]
    if not ints:
        return 1
    # a negative v needs as many bits as its complement ~v = -v - 1 >= 0
    return max(1, max(max(ints), ~min(ints)).bit_length() + 1)


def round_shift(acc, s: int, rounding: str) -> np.ndarray:
    """``acc / 2**s`` rounded to an integer, for int64 `acc` and ``s >= 1``.

    ``truncate`` is floor (an arithmetic shift); ``nearest-away`` rounds halves away from
    zero; ``nearest-even`` rounds halves to the even neighbour.
    """
    acc = np.asarray(acc, dtype=np.int64)
    q = acc >> s
    if rounding == "truncate":
        return q
    rem = acc - (q << s)  # in [0, 2**s)
    half = np.int64(1) << (s - 1)
    if rounding == "nearest-even":
        up = (rem > half) | ((rem == half) & ((q & 1) == 1))
    elif rounding == "nearest-away":
        up = (rem > half) | ((rem == half) & (acc >= 0))
    else:
        raise FormatError(f"rounding must be one of {', '.join(ROUNDING)}, not {rounding!r}")
    return q + up.astype(np.int64)
