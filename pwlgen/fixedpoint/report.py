"""The error report of a FixedPWL over every input code."""

from __future__ import annotations

import numpy as np

from ..errors import FormatError
from .fixed_pwl import FixedPWL
from .format import Format

__all__ = ["error_report", "FAITHFUL_LSB", "EXACT_TOL_LSB"]

_CHUNK = 1 << 20

EXACT_TOL_LSB = 1e-9
"""A target within this many LSB of a code counts as representable (and an output as exact)."""
FAITHFUL_LSB = 1.0 - EXACT_TOL_LSB
"""Strict faithful rounding as an inclusive bound: an integer output within it of f(x) is one
of the two codes next to f(x), and f(x) itself where f(x) is representable."""


def _as_target(target):
    from ..functions import get_target

    return get_target(target) if isinstance(target, str) else target


def _reference(target, in_fmt: Format, x_codes: np.ndarray) -> np.ndarray:
    """Evaluate f at the real value of each input code (float64); non-finite: FormatError."""
    with np.errstate(all="ignore"):
        y = np.asarray(target.f(in_fmt.to_real(x_codes)), dtype=np.float64)
    bad = ~np.isfinite(y)
    if bad.any():
        x = float(in_fmt.to_real(x_codes[bad][0]))
        raise FormatError(
            f"{target.name} is not finite at x={x:g}: the input format {in_fmt} covers "
            f"[{in_fmt.min_real:g}, {in_fmt.max_real:g}]"
        )
    return y


def error_report(fixed: FixedPWL, target=None, pwl=None,
                 max_error_lsb: float | None = None) -> dict:
    """Errors of a FixedPWL over every input code.

    Parameters
    ----------
    fixed : FixedPWL
        The unit.
    target : Target or str, optional
        The true function (default: ``fixed.function``).
    pwl : PWL, optional
        The float PWL it came from; adds the ``vs_pwl`` entry.
    max_error_lsb : float, optional
        The bar against which ``n_exceed`` counts codes (None: strict faithful).

    Returns
    -------
    dict
        ``codes``, ``max_err_lsb``, ``mean_err_lsb``, ``max_err_abs``, ``mean_err_abs``,
        ``worst_x`` (real input of the largest error), ``n_exact`` (error <= 1e-9 LSB),
        ``n_inexact_below_1`` (error in (1e-9, 1) LSB), ``n_over_1`` (error >= 1 LSB),
        ``n_representable`` (codes where f(x) is an output code to 1e-9 LSB) and
        ``n_representable_inexact`` (of those, outputs that are not f(x)), ``n_exceed``
        (codes beyond the bar), ``max_error_lsb`` (the bar; None for faithful),
        ``faithful`` (strict: every output is one of the two codes next to f(x), and f(x)
        where representable) vs the true f, and ``vs_pwl`` (the same errors vs the PWL,
        or None). Computed in chunks of 2**20 codes.
    """
    tgt = _as_target(target if target is not None else fixed.function)
    in_fmt, out_fmt = fixed.in_fmt, fixed.out_fmt
    bar = FAITHFUL_LSB if max_error_lsb is None else float(max_error_lsb)
    acc = {"f": _ErrAcc(), "pwl": _ErrAcc() if pwl is not None else None}
    for start in range(in_fmt.min_code, in_fmt.max_code + 1, _CHUNK):
        x = np.arange(start, min(start + _CHUNK, in_fmt.max_code + 1), dtype=np.int64)
        y = fixed.evaluate(x).astype(np.float64)
        xr = in_fmt.to_real(x)
        acc["f"].add(xr, y, np.ldexp(_reference(tgt, in_fmt, x), out_fmt.frac_bits), bar)
        if pwl is not None:
            ref = np.ldexp(np.asarray(pwl(xr), dtype=np.float64), out_fmt.frac_bits)
            acc["pwl"].add(xr, y, ref, bar)
    report = {"function": tgt.name, **acc["f"].result(out_fmt.lsb),
              "max_error_lsb": None if max_error_lsb is None else bar}
    report["faithful"] = bool(report["max_err_lsb"] <= FAITHFUL_LSB)
    report["vs_pwl"] = acc["pwl"].result(out_fmt.lsb) if pwl is not None else None
    return report


class _ErrAcc:
    """Running max / sum / counts of |error| over chunks."""

    def __init__(self):
        self.n, self.total, self.max, self.worst = 0, 0.0, -1.0, 0.0
        self.counts = dict.fromkeys(("n_exact", "n_inexact_below_1", "n_over_1",
                                     "n_representable", "n_representable_inexact",
                                     "n_exceed"), 0)

    def add(self, x, y, ref, limit):
        err = np.abs(y - ref)
        i = int(np.argmax(err))
        if err[i] > self.max:
            self.max, self.worst = float(err[i]), float(x[i])
        self.n += err.size
        self.total += float(err.sum())
        exact = err <= EXACT_TOL_LSB
        over = err > FAITHFUL_LSB
        representable = np.abs(ref - np.round(ref)) <= EXACT_TOL_LSB
        c = self.counts
        c["n_exact"] += int(np.count_nonzero(exact))
        c["n_over_1"] += int(np.count_nonzero(over))
        c["n_inexact_below_1"] += int(np.count_nonzero(~exact & ~over))
        c["n_representable"] += int(np.count_nonzero(representable))
        c["n_representable_inexact"] += int(np.count_nonzero(representable & ~exact))
        c["n_exceed"] += int(np.count_nonzero(err > limit))

    def result(self, lsb: float) -> dict:
        mean = self.total / max(self.n, 1)
        return {
            "codes": self.n,
            "max_err_lsb": self.max,
            "mean_err_lsb": mean,
            "max_err_abs": self.max * lsb,
            "mean_err_abs": mean * lsb,
            "worst_x": self.worst,
            **self.counts,
        }
