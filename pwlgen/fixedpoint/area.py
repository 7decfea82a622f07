"""A LUT4 area model of the unit a FixedPWL becomes (iCE40, LUT-only, no block RAM or DSP).

Rough, calibrated on the measured 16-bit units (docs/hardware.md), and used only to choose:
the segment-select architecture, and how many segments above the fewest buy narrower slopes
(the multiplier is most of a unit's logic).
"""

from __future__ import annotations

import math

from ..errors import HardwareError

__all__ = ["SELECT_ARCHS", "select_cost", "choose_select_arch", "lut4_estimate"]

SELECT_ARCHS = ("parallel", "tree")
"""Segment-select architectures: parallel comparators + priority, or a binary comparison tree."""

def select_cost(arch: str, n_segments: int, in_bits: int) -> float:
    """Estimated LUT4 cost of the segment select (a model used to pick the architecture).

    ``parallel``: one comparator against a constant per breakpoint (about ``in_bits / 2``
    LUT4 each: a constant halves the inputs of every carry-chain stage) plus the thermometer-
    to-binary encoder (XORs, about ``S * log2(S) / 3`` LUT4). ``tree``: ``L = ceil(log2 S)``
    levels, each a comparator against a ``2**l``-entry constant table (``in_bits`` wide, a
    mux of ``2**l`` inputs is about ``2**l / 3`` LUT4 per bit, more or less shared with the
    comparator) plus the comparator (``in_bits + 1`` LUT4).
    """
    if n_segments <= 1:
        return 0.0
    if arch == "parallel":
        return (n_segments - 1) * (in_bits / 2 + 1) + n_segments * math.log2(n_segments) / 3
    if arch == "tree":
        levels = math.ceil(math.log2(n_segments))
        return sum(in_bits * (2 ** lvl) / 3 + in_bits + 1 for lvl in range(levels))
    raise HardwareError(f"select architecture must be one of {SELECT_ARCHS}, not {arch!r}")


def choose_select_arch(n_segments: int, in_bits: int) -> str:
    """The cheaper segment select by `select_cost` (ties go to ``parallel``)."""
    costs = {a: select_cost(a, n_segments, in_bits) for a in SELECT_ARCHS}
    return min(SELECT_ARCHS, key=lambda a: (costs[a], SELECT_ARCHS.index(a)))




def _rom_cost(n_segments: int, bits: int) -> float:
    """LUT4 of a constant table of `n_segments` entries and `bits` output bits."""
    addr = max(0, math.ceil(math.log2(n_segments))) if n_segments > 1 else 0
    per_bit = 1.0 if addr <= 4 else 1.5 * 2 ** (addr - 4)
    return bits * per_bit if n_segments > 1 else 0.0


def lut4_estimate(n_segments: int, in_bits: int, slope_bits: int, intercept_bits: int,
                  acc_bits: int) -> float:
    """Estimated LUT4 of a unit: select, coefficient ROM, multiplier, adders.

    The multiplier is about 2.5 LUT4 per partial-product bit (``in_bits * slope_bits``); the
    add, rounding and saturation about 2 per accumulator bit.
    """
    select = min(select_cost(a, n_segments, in_bits) for a in SELECT_ARCHS)
    rom = _rom_cost(n_segments, slope_bits + intercept_bits)
    return select + rom + 2.5 * in_bits * slope_bits + 2.0 * acc_bits
