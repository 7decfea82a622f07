"""The accuracy proof of `pwlgen verify`: RTL outputs against the true function, recomputed.

Nothing here reads the tables or the error report of the unit under test. The exact output
``t = f(x) * 2**F`` (F = output fraction bits) of every input code is recomputed from the
function in float64 (this module's own `math` forms for the built-ins of `MP_FORMS`, else
`pwlgen.functions.get_target`), and again in mpmath for the codes where float64 cannot decide
the verdict (t within `UNDECIDED_LSB` of an integer or of a half), for
the built-ins that have an mpmath form (`MP_FORMS`). The bar comes from the caller:

* strict faithful (default): the output is ``floor(t)`` or ``ceil(t)``, and exactly t when t is
  within `REPRESENTABLE_LSB` of an integer; when t lies beyond the output range, only the
  saturated end code is allowed;
* ``max_error_lsb=E``: ``|y - t| <= E``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import HardwareError

__all__ = [
    "REPRESENTABLE_LSB",
    "float64_t",
    "UNDECIDED_LSB",
    "MP_FORMS",
    "Reference",
    "reference",
    "allowed_codes",
    "prove_accuracy",
    "bar_text",
]

REPRESENTABLE_LSB = 1e-9
"""A t this close (in output LSB) to an integer counts as representable: only it is allowed."""
UNDECIDED_LSB = 1e-10
"""float64 error allowed for t (output LSB), plus 2e-15 relative: a code whose verdict this much
error could flip is recomputed in mpmath (when there is a form)."""
_MP_DPS = 40


def _mp_forms() -> dict:
    import mpmath as mp

    def sig(x):
        return 1 / (1 + mp.exp(-x))

    def softplus(x):
        return mp.log1p(mp.exp(x))

    c, k = mp.sqrt(2 / mp.pi), mp.mpf("0.044715")
    return {
        "gelu": lambda x: x * mp.erfc(-x / mp.sqrt(2)) / 2,
        # 1 + tanh(u) = 2 / (1 + exp(-2u)): no cancellation for very negative x
        "gelu_tanh": lambda x: x / (1 + mp.exp(-2 * c * (x + k * x**3))),
        "silu": lambda x: x * sig(x),
        "sigmoid": sig,
        "tanh": mp.tanh,
        "softplus": softplus,
        "elu": lambda x: x if x > 0 else mp.expm1(x),
        "exp": mp.exp,
        "mish": lambda x: x * mp.tanh(softplus(x)),
        "hardswish": lambda x: x * min(max(x + 3, mp.mpf(0)), mp.mpf(6)) / 6,
    }


def _exp(v: float) -> float:
    return math.exp(v) if v < 709.0 else math.inf


def _sig64(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _softplus64(x: float) -> float:
    return math.log1p(math.exp(x)) if x < 30.0 else x + math.log1p(math.exp(-x))


_C64, _K64 = math.sqrt(2.0 / math.pi), 0.044715
_F64_FORMS = {
    # float64 from the math module, independent of the registry's numpy / scipy forms (and
    # of scipy's start-up); the same expressions as the mpmath forms
    "gelu": lambda x: x * math.erfc(-x / math.sqrt(2.0)) / 2.0,
    "gelu_tanh": lambda x: x / (1.0 + _exp(-2.0 * _C64 * (x + _K64 * x**3))),
    "silu": lambda x: x * _sig64(x),
    "sigmoid": _sig64,
    "tanh": math.tanh,
    "softplus": _softplus64,
    "elu": lambda x: x if x > 0 else math.expm1(x),
    "exp": _exp,
    "mish": lambda x: x * math.tanh(_softplus64(x)),
    "hardswish": lambda x: x * min(max(x + 3.0, 0.0), 6.0) / 6.0,
}


def float64_t(name: str, target, x_real: np.ndarray) -> np.ndarray:
    """f(x) in float64: the `math` form of a built-in of `MP_FORMS`, else the target's own."""
    form = _F64_FORMS.get(name)
    if form is None:
        with np.errstate(all="ignore"):
            return np.asarray(target.f(x_real), dtype=np.float64)
    return np.fromiter((form(v) for v in x_real.tolist()), dtype=np.float64,
                       count=x_real.size)


MP_FORMS = ("gelu", "gelu_tanh", "silu", "sigmoid", "tanh", "softplus", "elu", "exp", "mish",
            "hardswish")
"""Built-ins (canonical names) whose exact values mpmath recomputes where float64 cannot decide."""


@dataclass(frozen=True)
class Reference:
    """The exact output ``t = f(x) * 2**F`` of each input code, in output LSB.

    Attributes
    ----------
    function : str
        Canonical name of the function.
    t : numpy.ndarray of float64
        t per input code (mpmath-refined where `refined` is set).
    refined : numpy.ndarray of bool
        Codes recomputed in mpmath.
    undecided : int
        Codes that float64 could not decide and that have no mpmath form (0 for the built-ins
        of `MP_FORMS`).
    """

    function: str
    t: np.ndarray
    refined: np.ndarray
    undecided: int


def _undecided(t: np.ndarray, max_error_lsb: float | None) -> np.ndarray:
    """Codes whose verdict under the bar float64's error could flip.

    Strict faithful: t near the representable threshold (1e-9 LSB from an integer), or near an
    integer when the error bound is itself that large. ``|y - t| <= E``: t near ``k +- E``.
    """
    delta = UNDECIDED_LSB + 2e-15 * np.abs(t)
    if max_error_lsb is None:
        dist = np.abs(t - np.rint(t))
        return (np.abs(dist - REPRESENTABLE_LSB) < delta) | (
            (dist < delta) & (2 * delta > REPRESENTABLE_LSB))
    near = np.zeros(t.shape, dtype=bool)
    for shifted in (t - max_error_lsb, t + max_error_lsb):
        near |= np.abs(shifted - np.rint(shifted)) < delta
    return near


def reference(function: str, in_fmt, out_fmt, x_codes,
              max_error_lsb: float | None = None) -> Reference:
    """Recompute t for `x_codes` from the function alone (float64, then mpmath where needed).

    Parameters
    ----------
    function : str
        A built-in name, an alias or an expression (`pwlgen.functions.get_target`).
    in_fmt, out_fmt : Format
        Input and output formats of the unit.
    x_codes : array_like of int
        Input codes.
    max_error_lsb : float or None
        The bar (None: strict faithful): it decides which codes float64 cannot settle.

    Returns
    -------
    Reference

    Raises
    ------
    TargetError
        For an unknown function or a bad expression.
    HardwareError
        When f is not finite at some input code.
    """
    from ..functions import get_target

    target = get_target(function)
    x = np.asarray(x_codes, dtype=np.int64)
    scale = 2.0 ** out_fmt.frac_bits
    t = float64_t(target.name, target, np.asarray(in_fmt.to_real(x), dtype=np.float64)) * scale
    bad = np.flatnonzero(~np.isfinite(t))
    if bad.size:
        xr = float(in_fmt.to_real(x[bad[0]]))
        raise HardwareError(f"{function}({xr!r}) is not finite: no exact output to compare with")
    near = _undecided(t, max_error_lsb)
    refined = np.zeros(t.shape, dtype=bool)
    name = target.name
    if name in MP_FORMS and near.any():
        import mpmath

        form = _mp_forms()[name]
        idx = np.flatnonzero(near)
        with mpmath.workdps(_MP_DPS):
            # input codes are dyadic: x = code / 2**frac_bits is exact in mpmath
            den = mpmath.mpf(2) ** in_fmt.frac_bits
            sc = mpmath.mpf(2) ** out_fmt.frac_bits
            vals = [float(form(mpmath.mpf(int(c)) / den) * sc) for c in x[idx]]
        t = t.copy()
        t[idx] = vals
        refined[idx] = True
        near[idx] = False
    return Reference(name, t, refined, int(near.sum()))


def allowed_codes(t: np.ndarray, out_fmt) -> tuple[np.ndarray, np.ndarray]:
    """The strict-faithful interval ``[lo, hi]`` of output codes for each t.

    ``floor(t)`` and ``ceil(t)``; only ``round(t)`` when t is representable (within
    `REPRESENTABLE_LSB`); only the saturated end code when t is beyond the output range.
    """
    lo_code, hi_code = out_fmt.min_code, out_fmt.max_code
    n = np.rint(t)
    exact = np.abs(t - n) <= REPRESENTABLE_LSB
    lo = np.where(exact, n, np.floor(t))
    hi = np.where(exact, n, np.ceil(t))
    above, below = t > hi_code + REPRESENTABLE_LSB, t < lo_code - REPRESENTABLE_LSB
    lo = np.where(above, hi_code, np.where(below, lo_code, lo))
    hi = np.where(above, hi_code, np.where(below, lo_code, hi))
    return lo.astype(np.int64), hi.astype(np.int64)


def bar_text(max_error_lsb: float | None) -> str:
    """The bar in words, as verify prints it."""
    if max_error_lsb is None:
        return "strict faithful (floor or ceil of f, exact where representable)"
    return f"|error| <= {max_error_lsb:g} LSB"


def prove_accuracy(ref: Reference, x_codes, y_codes, out_fmt,
                   max_error_lsb: float | None = None) -> dict:
    """Judge RTL outputs `y_codes` of `x_codes` against the bar.

    Parameters
    ----------
    ref : Reference
        From `reference` for the same `x_codes`.
    x_codes, y_codes : array_like of int
        Input codes and the unit's output codes.
    out_fmt : Format
        Output format.
    max_error_lsb : float or None
        None: strict faithful; else the largest allowed ``|y - t|`` in output LSB.

    Returns
    -------
    dict
        ``bar``, ``codes``, ``exact``, ``below_1lsb`` (not exact, < 1 LSB, within the bar),
        ``within_bar_1lsb_or_more``, ``over_bar``, ``max_err_lsb``, ``mpmath_codes``,
        ``undecided_float64`` and up to 20 ``first_over_bar`` entries.
    """
    x = np.asarray(x_codes, dtype=np.int64)
    y = np.asarray(y_codes, dtype=np.int64)
    err = np.abs(y - ref.t)
    exact = err <= REPRESENTABLE_LSB
    if max_error_lsb is None:
        lo, hi = allowed_codes(ref.t, out_fmt)
        ok = (y >= lo) & (y <= hi)
    else:
        ok = err <= max_error_lsb
    over = np.flatnonzero(~ok)
    order = over[np.argsort(-err[over], kind="stable")][:20]
    return {
        "bar": bar_text(max_error_lsb),
        "max_error_lsb": max_error_lsb,
        "function": ref.function,
        "codes": int(x.size),
        "exact": int(np.count_nonzero(exact & ok)),
        "below_1lsb": int(np.count_nonzero(~exact & ok & (err < 1))),
        "within_bar_1lsb_or_more": int(np.count_nonzero(ok & (err >= 1))),
        "over_bar": int(over.size),
        "max_err_lsb": float(err.max()) if err.size else 0.0,
        "mpmath_codes": int(np.count_nonzero(ref.refined)),
        "undecided_float64": ref.undecided,
        "first_over_bar": [{"x": int(x[i]), "y": int(y[i]), "t": float(ref.t[i]),
                            "err_lsb": float(err[i])} for i in order],
    }
