"""Fixed-point PWL: formats, the integer tables (`FixedPWL`), the golden model, design.

A `FixedPWL` is what the hardware computes, nothing more: the segment of an input code is
found among integer breakpoints, the segment's integer slope multiplies the code, its
integer intercept (shifted to the accumulator's fraction bits) is added, and the sum is
rounded to the output's fraction bits and saturated. `FixedPWL.evaluate` is the golden
model: integer-only numpy, bit-exact with the RTL and the C model.

`design` builds a FixedPWL straight from a target so that every input code is faithfully
rounded (or within ``max_error_lsb`` output LSBs) of the true function, with the fewest
segments, folding a symmetry of f when that halves the table, and then the narrowest
coefficients (see docs/fixedpoint.md for the algorithm); `quantize` turns a float
`PWL` (a search result) into one; `error_report` measures any FixedPWL over every input code.
"""


from .designer import MAX_DESIGN_BITS, MAX_SEGMENTS, default_formats, design, quantize
from .fixed_pwl import FIXED_SCHEMA, FOLDS, MAX_ACC_BITS, FixedPWL
from .format import MAX_FORMAT_BITS, ROUNDING, Format, round_shift, signed_width
from .report import EXACT_TOL_LSB, FAITHFUL_LSB, error_report
from .symmetry import SYMMETRIES, detect_folds

__all__ = [
    "Format",
    "FixedPWL",
    "ROUNDING",
    "FIXED_SCHEMA",
    "FOLDS",
    "SYMMETRIES",
    "FAITHFUL_LSB",
    "EXACT_TOL_LSB",
    "MAX_FORMAT_BITS",
    "MAX_ACC_BITS",
    "MAX_DESIGN_BITS",
    "MAX_SEGMENTS",
    "round_shift",
    "signed_width",
    "default_formats",
    "design",
    "quantize",
    "error_report",
    "detect_folds",
]
