"""Symmetry folds: find them on the input codes, and map a twin's allowed outputs to the core.

A folded unit evaluates its tables on ``v = -|x|`` only and unfolds the core code ``g`` for
``x > 0`` (see `FixedPWL`). With ``t(x) = f(x) * 2**out_frac``:

- ``odd``: t(-x) = -t(x) (tanh), output -g;
- ``point``: t(-x) = C - t(x) for an integer C = 2c in output codes (sigmoid: C = 2**out_frac),
  output C - g;
- ``even``: t(-x) = t(x), output g;
- ``residual``: t(x) - relu(x) is even (GELU, SiLU), output g + relu(x).

A fold is detected numerically on every pair of codes (x, -x); whether it holds well enough
for the error target is settled by the designer, which intersects, for every core code, the
outputs allowed at v with those whose unfold is allowed at -v.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fixed_pwl import FOLDS
from .format import Format

__all__ = ["Fold", "SYMMETRIES", "detect_folds"]

SYMMETRIES = ("auto", *FOLDS)
"""Values of ``design(symmetry=...)``: a fold, or ``auto`` (each detected fold and none; the
fewest segments win, ties go to no fold)."""

_TOL_LSB = 1e-6
"""Largest deviation (output LSB, plus 1e-12 relative) from a symmetry still called one."""


@dataclass(frozen=True)
class Fold:
    """A symmetry fold: its kind and, for ``point``, the centre C = 2c in output codes."""

    kind: str
    center: int = 0

    def preimage(self, x_twin: np.ndarray, lo: np.ndarray, hi: np.ndarray, relu_shift: int):
        """Core codes g whose unfold at the positive codes `x_twin` lies in [lo, hi].

        Saturation after the unfold is not relied on, so the interval is exact or smaller.
        """
        if self.kind == "odd":
            return -hi, -lo
        if self.kind == "point":
            return self.center - hi, self.center - lo
        if self.kind == "residual":
            r = np.asarray(x_twin, dtype=np.int64) << relu_shift
            return lo - r, hi - r
        return lo, hi  # even


def detect_folds(t: np.ndarray, in_fmt: Format, out_fmt: Format) -> list[Fold]:
    """The folds that hold for the target values `t` (output LSB) of every input code.

    Parameters
    ----------
    t : numpy.ndarray of float64, shape (2**in_fmt.bits,)
        ``f(x) * 2**out_fmt.frac_bits`` at every code of `in_fmt`, in code order.
    in_fmt, out_fmt : Format
        The unit's formats; folds need a signed input, the residual fold an output with at
        least the input's fraction bits.

    Returns
    -------
    list of Fold
        In the order of `FOLDS` (``odd`` is reported instead of a point fold about 0).
    """
    if not in_fmt.signed:
        return []
    p = np.arange(1, in_fmt.max_code + 1, dtype=np.int64)
    tp, tn = t[p - in_fmt.min_code], t[-p - in_fmt.min_code]
    tol = _TOL_LSB + 1e-12 * np.maximum(np.abs(tp), np.abs(tn))

    def holds(dev) -> bool:
        return bool(np.all(np.abs(dev) <= tol))

    found = []
    center = float(np.median(tp + tn)) if p.size else 0.0
    c_int = int(round(center))
    if abs(center - c_int) <= _TOL_LSB and holds(tp + tn - c_int):
        found.append(Fold("odd") if c_int == 0 else Fold("point", c_int))
    if holds(tp - tn):
        found.append(Fold("even"))
    shift = out_fmt.frac_bits - in_fmt.frac_bits
    if shift >= 0 and holds(tp - np.ldexp(p.astype(np.float64), shift) - tn):
        found.append(Fold("residual"))
    return found
