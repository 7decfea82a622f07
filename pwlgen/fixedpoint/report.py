"""The error report of a FixedPWL over every input code."""

from __future__ import annotations

import numpy as np

from ..errors import FormatError
from .fixed_pwl import FixedPWL
from .format import Format

__all__ = ["error_report"]

_CHUNK = 1 << 20


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


def error_report(fixed: FixedPWL, target=None, pwl=None, max_error_lsb: float = 1.0) -> dict:
    """Errors of a FixedPWL over every input code.

    Parameters
    ----------
    fixed : FixedPWL
        The unit.
    target : Target or str, optional
        The true function (default: ``fixed.function``).
    pwl : PWL, optional
        The float PWL it came from; adds the ``vs_pwl`` entry.
    max_error_lsb : float
        Target against which ``n_exceed`` counts codes.

    Returns
    -------
    dict
        ``codes``, ``max_err_lsb``, ``mean_err_lsb``, ``max_err_abs``, ``mean_err_abs``,
        ``worst_x`` (real input of the largest error), ``n_exceed`` (codes whose error is
        above `max_error_lsb`), ``max_error_lsb`` (that target), ``faithful`` (max error
        <= 1 LSB) vs the true f, and ``vs_pwl`` (the same errors vs the PWL, or None).
        Computed in chunks of 2**20 codes.
    """
    tgt = _as_target(target if target is not None else fixed.function)
    in_fmt, out_fmt = fixed.in_fmt, fixed.out_fmt
    acc = {"f": _ErrAcc(), "pwl": _ErrAcc() if pwl is not None else None}
    for start in range(in_fmt.min_code, in_fmt.max_code + 1, _CHUNK):
        x = np.arange(start, min(start + _CHUNK, in_fmt.max_code + 1), dtype=np.int64)
        y = fixed.evaluate(x).astype(np.float64)
        xr = in_fmt.to_real(x)
        acc["f"].add(xr, np.abs(y - np.ldexp(_reference(tgt, in_fmt, x), out_fmt.frac_bits)),
                     max_error_lsb)
        if pwl is not None:
            ref = np.ldexp(np.asarray(pwl(xr), dtype=np.float64), out_fmt.frac_bits)
            acc["pwl"].add(xr, np.abs(y - ref), max_error_lsb)
    report = {"function": tgt.name, **acc["f"].result(out_fmt.lsb), "max_error_lsb":
              float(max_error_lsb)}
    report["faithful"] = bool(report["max_err_lsb"] <= 1.0)
    report["vs_pwl"] = acc["pwl"].result(out_fmt.lsb) if pwl is not None else None
    return report


class _ErrAcc:
    """Running max / sum / count of |error| over chunks."""

    def __init__(self):
        self.n, self.total, self.max, self.worst, self.exceed = 0, 0.0, -1.0, 0.0, 0

    def add(self, x, err, limit):
        i = int(np.argmax(err))
        if err[i] > self.max:
            self.max, self.worst = float(err[i]), float(x[i])
        self.n += err.size
        self.total += float(err.sum())
        self.exceed += int(np.count_nonzero(err > limit))

    def result(self, lsb: float) -> dict:
        mean = self.total / max(self.n, 1)
        return {
            "codes": self.n,
            "max_err_lsb": self.max,
            "mean_err_lsb": mean,
            "max_err_abs": self.max * lsb,
            "mean_err_abs": mean * lsb,
            "worst_x": self.worst,
            "n_exceed": self.exceed,
        }
