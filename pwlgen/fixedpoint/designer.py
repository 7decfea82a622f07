"""Designing a FixedPWL: straight from a target (`design`) or from a float PWL (`quantize`).

Every input code gets an interval of accumulator values that round (and saturate) to an
output code within the error target of the true f. A segment is feasible when one integer
line (slope, intercept on its grid) stays inside every one of its codes' intervals; a
greedy sweep makes each segment as long as possible, which gives the fewest segments.
See docs/fixedpoint.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import FormatError, SearchError
from .area import lut4_estimate
from .fixed_pwl import MAX_ACC_BITS, FixedPWL
from .format import Format, _check_rounding, signed_width
from .report import FAITHFUL_LSB, _as_target, _reference
from .symmetry import SYMMETRIES, Fold, detect_folds

__all__ = ["design", "quantize", "default_formats", "MAX_DESIGN_BITS", "MAX_SEGMENTS",
           "AUTO_EXTRA"]

MAX_DESIGN_BITS = 20
"""Widest input format `design` accepts (it works on every input code)."""

_DEFAULT_FORMATS = {
    "gelu": ("s3.12", "s3.12"),
    "gelu_tanh": ("s3.12", "s3.12"),
    "silu": ("s3.12", "s3.12"),
    "mish": ("s3.12", "s3.12"),
    "sigmoid": ("s3.12", "u0.16"),
    "tanh": ("s3.12", "s0.15"),
}


def default_formats(target, bits: int = 16) -> tuple[Format, Format]:
    """Default (input, output) formats of a target: 16 bits each.

    The input is ``s3.12`` ([-8, 8)); gelu, silu and mish output ``s3.12``, sigmoid
    ``u0.16`` and tanh ``s0.15``. Any other target gets the `bits`-bit output with the
    fewest integer bits that hold f over every input code (unsigned when f >= 0 there).
    """
    tgt = _as_target(target)
    if bits == 16 and tgt.name in _DEFAULT_FORMATS:
        i, o = _DEFAULT_FORMATS[tgt.name]
        return Format.parse(i), Format.parse(o)
    in_fmt = Format(True, 3, bits - 4)
    y = _reference(tgt, in_fmt, in_fmt.codes())
    signed = bool(y.min() < 0)
    mag = max(float(y.max()), -float(y.min()), 0.0)
    int_bits = 0
    while mag >= 2.0**int_bits:
        int_bits += 1
    frac = bits - int(signed) - int_bits
    if frac < 0:
        raise FormatError(
            f"{tgt.name} reaches {mag:g} on [{in_fmt.min_real:g}, {in_fmt.max_real:g}]: "
            f"more than a {bits}-bit output can hold"
        )
    return in_fmt, Format(signed, int_bits, frac)


# --------------------------------------------------------------------------- design
MAX_SEGMENTS = 4096
"""Most segments `design` looks for before it gives up."""


@dataclass
class _Bands:
    """Per-code integer bounds on the accumulator that give an allowed output code."""

    x: np.ndarray     # input codes, ascending, contiguous
    lo: np.ndarray    # int64 accumulator lower bounds
    hi: np.ndarray    # int64 accumulator upper bounds


def _output_interval(y_lsb: np.ndarray, err_lsb: float, out_fmt: Format, target_name: str,
                     in_fmt: Format, x: np.ndarray):
    """Allowed output codes [lo, hi] (within the format) per code: within `err_lsb` of y."""
    lo = np.maximum(np.ceil(y_lsb - err_lsb), out_fmt.min_code)
    hi = np.minimum(np.floor(y_lsb + err_lsb), out_fmt.max_code)
    bad = lo > hi
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        xr = float(in_fmt.to_real(x[i]))
        yv = float(y_lsb[i]) * out_fmt.lsb
        if yv > out_fmt.max_real or yv < out_fmt.min_real:
            raise FormatError(
                f"the output format {out_fmt} (range [{out_fmt.min_real:g}, "
                f"{out_fmt.max_real:g}]) cannot hold {target_name}(x={xr:g}) = {yv:g} "
                f"within {err_lsb:g} LSB"
            )
        raise SearchError(
            f"no segment count meets max_error_lsb={err_lsb:g}: no {out_fmt} code lies "
            f"within {err_lsb:g} LSB of {target_name}(x={xr:g}) = {yv:.9g}"
        )
    return lo.astype(np.int64), hi.astype(np.int64)


def _saturating(lo: np.ndarray, hi: np.ndarray, out_fmt: Format):
    """Widen [lo, hi] past the format's ends where saturation reaches them."""
    span = 1 << out_fmt.bits
    # saturation: a code at the format's end is also reached by anything beyond it
    rl = np.where(lo <= out_fmt.min_code, out_fmt.min_code - span, lo).astype(np.int64)
    ru = np.where(hi >= out_fmt.max_code, out_fmt.max_code + span, hi).astype(np.int64)
    return rl, ru


def _acc_bands(x, rl, ru, s: int, rounding: str) -> _Bands:
    """Accumulator values that round (shift by `s`) into [rl, ru]."""
    if s > 0:
        one = np.int64(1) << s
        if rounding == "truncate":
            lo, hi = rl * one, ru * one + one - 1
        else:  # exclude the exact halves: safe for both nearest modes
            half = one >> 1
            lo, hi = rl * one - half + 1, ru * one + half - 1
    elif s == 0:
        lo, hi = rl, ru
    else:
        t = -s
        lo = -((-rl) >> t)  # ceil(rl / 2**t)
        hi = ru >> t
    return _Bands(x, lo.astype(np.int64), hi.astype(np.int64))


def _fit(bands: _Bands, a: int, b: int, k: int, max_tries: int = 64):
    """Integer (slope, intercept) with every acc of codes [a, b) in its band, or None.

    The intercept is returned in units of ``2**k`` accumulator LSBs. For a slope m the
    feasible accumulator offsets form the interval [max(lo - m x), min(hi - m x)], whose
    width g(m) is concave in m, with the subgradient x(argmax lo - m x) - x(argmin hi - m x).
    A safeguarded cutting-plane search (Kelley steps alternating with bisection) returns
    the first slope whose interval holds a multiple of ``2**k``, and stops as soon as the
    two cutting planes prove g < 0 on the whole bracket.
    """
    x0 = int(bands.x[a])
    xr = bands.x[a:b] - x0
    lo = bands.lo[a:b]
    hi = bands.hi[a:b]
    step = 1 << k

    def probe(m):
        mx = m * xr
        up = hi - mx
        dn = lo - mx
        i_up = int(up.argmin())
        i_dn = int(dn.argmax())
        c_hi, c_lo = int(up[i_up]), int(dn[i_dn])
        return c_hi - c_lo, int(xr[i_dn]) - int(xr[i_up]), c_lo, c_hi

    def intercept(m, c_lo, c_hi):
        c_lo -= m * x0
        c_hi -= m * x0
        q = -((-c_lo) >> k)  # ceil(c_lo / 2**k)
        return q if q * step <= c_hi else None

    if b - a == 1:
        q = intercept(0, int(lo[0]), int(hi[0]))
        return None if q is None else (0, q)
    dx = int(xr[-1])
    m_a = (int(lo[-1]) - int(hi[0])) // dx
    m_b = -((int(lo[0]) - int(hi[-1])) // dx)
    if m_a > m_b:
        return None
    g_a, d_a, cl, ch = probe(m_a)
    if g_a >= 0 and (q := intercept(m_a, cl, ch)) is not None:
        return m_a, q
    g_b, d_b, cl, ch = probe(m_b)
    if g_b >= 0 and (q := intercept(m_b, cl, ch)) is not None:
        return m_b, q
    best, g_best = (m_a, g_a) if g_a >= g_b else (m_b, g_b)
    kelley = True
    while m_b - m_a > 1 and d_a > 0 and d_b < 0:
        # the two cutting planes bound g from above on [m_a, m_b]
        m_star = (g_b - g_a + d_a * m_a - d_b * m_b) / (d_a - d_b)
        if g_a + d_a * (m_star - m_a) < 0:
            return None
        mid = int(round(m_star)) if kelley else (m_a + m_b) // 2
        mid = min(max(mid, m_a + 1), m_b - 1)
        kelley = not kelley
        g, d, cl, ch = probe(mid)
        if g >= 0 and (q := intercept(mid, cl, ch)) is not None:
            return mid, q
        if g > g_best:
            best, g_best = mid, g
        if d > 0:
            m_a, g_a, d_a = mid, g, d
        elif d < 0:
            m_b, g_b, d_b = mid, g, d
        else:
            break
    if g_best < 0:
        return None
    # the top of g admits no multiple of 2**k: walk outwards while g stays >= 0
    for sign in (1, -1):
        for dist in range(1, max_tries):
            m = best + sign * dist
            g, _, cl, ch = probe(m)
            if g < 0:
                break
            if (q := intercept(m, cl, ch)) is not None:
                return m, q
    return None


def _greedy(bands: _Bands, k: int, cap: int):
    """Fewest segments: each one extended as far as an integer line fits (galloping).

    Greedy is optimal for the segment count because feasibility of a code range is
    monotone under inclusion. Returns (starts, coefficient pairs) or None past `cap`.
    """
    n = bands.x.size
    starts, coefs = [], []
    a = 0
    guess = 1
    while a < n:
        if len(starts) >= cap:
            return None
        fit = _fit(bands, a, a + 1, k)
        if fit is None:
            return None
        good, good_fit = 1, fit
        # gallop from the previous segment's length, then bisect
        ln = max(2, guess)
        bad = None
        while True:
            ln = min(ln, n - a)
            if ln <= good:
                break
            f = _fit(bands, a, a + ln, k)
            if f is None:
                bad = ln
                break
            good, good_fit = ln, f
            if ln == n - a:
                break
            ln *= 2
        if bad is not None:
            while bad - good > 1:
                mid = (good + bad) // 2
                f = _fit(bands, a, a + mid, k)
                if f is None:
                    bad = mid
                else:
                    good, good_fit = mid, f
        starts.append(a)
        coefs.append(good_fit)
        guess = good
        a += good
    return starts, coefs


def _fit_fixed(bands: _Bands, starts, k: int):
    """Coefficients for fixed segment starts, or None when a segment has no fit."""
    ends = list(starts[1:]) + [bands.x.size]
    coefs = []
    for a, b in zip(starts, ends, strict=True):
        f = _fit(bands, a, b, k)
        if f is None:
            return None
        coefs.append(f)
    return coefs


@dataclass
class _Twin:
    """Per core code: whether x = -v is a code with its own output, its target and the fold."""

    has: np.ndarray   # bool: v < 0 and -v in the format
    x: np.ndarray     # int64: -v
    y: np.ndarray     # float64: t(-v) in output LSB (= y where there is no twin)
    fold: Fold


class _Designer:
    """Bands for one (target, formats, rounding, fold) at any error target and precision.

    `x` are the core codes (every input code, or ``v <= 0`` with a fold) and `y` their
    targets in output LSB; with a `twin`, each code's allowed outputs are also those whose
    unfold meets the target of its mirror code.
    """

    def __init__(self, name, y_lsb, x, in_fmt, out_fmt, rounding, twin: _Twin | None = None):
        self.name, self.y, self.x = name, y_lsb, x
        self.in_fmt, self.out_fmt, self.rounding = in_fmt, out_fmt, rounding
        self.twin = twin
        self._cache = {}

    @property
    def fold(self) -> Fold:
        return self.twin.fold if self.twin is not None else Fold("none")

    def allowed(self, err: float, a: int = 0, b: int | None = None):
        """Accumulator-independent output bounds (saturation-widened) of codes [a, b)."""
        sl = slice(a, b)
        lo, hi = _output_interval(self.y[sl], err, self.out_fmt, self.name, self.in_fmt,
                                  self.x[sl])
        tw = self.twin
        if tw is not None:
            lo2, hi2 = _output_interval(tw.y[sl], err, self.out_fmt, self.name, self.in_fmt,
                                        tw.x[sl])
            plo, phi = tw.fold.preimage(tw.x[sl], lo2, hi2,
                                        self.out_fmt.frac_bits - self.in_fmt.frac_bits)
            has = tw.has[sl]
            lo = np.where(has, np.maximum(lo, plo), lo)
            hi = np.where(has, np.minimum(hi, phi), hi)
            bad = lo > hi
            if bad.any():
                xr = float(self.in_fmt.to_real(tw.x[sl][np.flatnonzero(bad)[0]]))
                raise SearchError(
                    f"the {tw.fold.kind} fold of {self.name} misses max_error_lsb={err:g} "
                    f"at x=\u00b1{xr:g}"
                )
        return _saturating(lo, hi, self.out_fmt)

    def bands(self, err: float, fs: int) -> _Bands:
        key = (err, fs)
        if key not in self._cache:
            rl, ru = self.allowed(err)
            s = self.in_fmt.frac_bits + fs - self.out_fmt.frac_bits
            self._cache = {key: _acc_bands(self.x, rl, ru, s, self.rounding)}
        return self._cache[key]

    def fixed(self, starts, coefs, fs: int, k: int) -> FixedPWL:
        acc_frac = self.in_fmt.frac_bits + fs
        return FixedPWL(
            function=self.name,
            in_fmt=self.in_fmt,
            out_fmt=self.out_fmt,
            breakpoints=np.asarray(self.x[np.asarray(starts[1:], dtype=np.int64)], dtype=np.int64),
            slopes=np.array([m for m, _ in coefs], dtype=np.int64),
            slope_frac_bits=fs,
            intercepts=np.array([c for _, c in coefs], dtype=np.int64),
            intercept_frac_bits=acc_frac - k,
            rounding=self.rounding,
            fold=self.fold.kind,
            fold_center=self.fold.center,
        )


def _smallest(lo: int, hi: int, ok) -> int:
    """Smallest v in [lo, hi] with ok(v), assuming ok is monotone and ok(hi) holds."""
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi


def _narrow(des: _Designer, err: float, starts, fs_max: int, greedy_ok: bool, cap: int,
            extra: int = 0):
    """Smallest slope then intercept fraction bits keeping a fit with <= len(starts) segments.

    Tries the current segmentation first, then (when `greedy_ok`) a fresh greedy run.
    Returns (starts, coefs, fs, k).
    """
    n_seg = len(starts) + extra
    found = {}

    def attempt(fs, k):
        if fs + des.in_fmt.frac_bits - k < 0:
            return None
        b = des.bands(err, fs)
        coefs = _fit_fixed(b, found.get("starts", starts), k)
        if coefs is not None:
            return found.get("starts", starts), coefs
        if greedy_ok:
            g = _greedy(b, k, min(cap, n_seg))
            if g is not None:
                return g
        return None

    fs_lo = max(-des.in_fmt.frac_bits, des.out_fmt.frac_bits - des.in_fmt.frac_bits - 2)

    def ok_fs(fs):
        r = attempt(fs, 0)
        if r is not None:
            found[("fs", fs)] = r
        return r is not None

    fs = _smallest(fs_lo, fs_max, ok_fs) if ok_fs(fs_max) else None
    if fs is None:
        return None
    found["starts"] = found[("fs", fs)][0]
    acc_frac = des.in_fmt.frac_bits + fs
    k_max = max(0, acc_frac - max(0, des.out_fmt.frac_bits - 4))

    def ok_k(negk):
        r = attempt(fs, -negk)
        if r is not None:
            found[("k", -negk)] = r
        return r is not None

    found[("k", 0)] = found[("fs", fs)]
    k = -_smallest(-k_max, 0, ok_k)
    starts, coefs = found[("k", k)]
    return starts, coefs, fs, k


def _segment_fit(des: _Designer, a: int, b: int, fs: int, k: int, err: float):
    """Integer fit of codes [a, b) within `err` LSB of the reference, or None."""
    try:
        rl, ru = des.allowed(err, a, b)
    except (SearchError, FormatError):
        return None
    s = des.in_fmt.frac_bits + fs - des.out_fmt.frac_bits
    return _fit(_acc_bands(des.x[a:b], rl, ru, s, des.rounding), 0, b - a, k)


def _polish(des: _Designer, err: float | None, starts, coefs, fs: int, k: int,
            steps: int = 12):
    """Quantisation-aware pass: per segment, the integer coefficients of least max error.

    Bisects each segment's own error target in (0, err] with the exact integer fit; with
    `coefs` given, a better fit is kept only when it does not widen the slope or
    intercept tables. With ``err=None`` (and ``coefs=None``) the bracket grows until the
    segment fits. Returns (coefs, per-segment error bounds in LSB).
    """
    ends = list(starts[1:]) + [des.x.size]
    if coefs is not None:
        s_bits = signed_width([m for m, _ in coefs])
        c_bits = signed_width([c for _, c in coefs])
        out = list(coefs)
    else:
        s_bits = c_bits = 64
        out = [None] * len(starts)
    bounds = []
    limit = float(2 << des.out_fmt.bits)
    for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
        lo, hi = 0.0, err
        if hi is None:
            hi = 1.0
            while (f := _segment_fit(des, a, b, fs, k, hi)) is None:
                lo, hi = hi, 2 * hi
                if hi > limit:
                    raise SearchError(f"no {des.out_fmt} line fits {des.name} on segment {i}")
            out[i] = f
        for _ in range(steps):
            mid = 0.5 * (lo + hi)
            f = _segment_fit(des, a, b, fs, k, mid)
            if f is not None and signed_width([f[0]]) <= s_bits and signed_width([f[1]]) <= c_bits:
                hi, out[i] = mid, f
            else:
                lo = mid
        bounds.append(hi)
    return out, bounds


def design(target, in_fmt=None, out_fmt=None, max_error_lsb: float | None = None,
           n_segments: int | None = None, rounding: str = "truncate", pwl=None, *,
           interval: tuple[float, float] | None = None, extra_segments: int | str = "auto",
           symmetry: str = "auto") -> FixedPWL:
    """Design a FixedPWL for a target straight from its input codes.

    Parameters
    ----------
    target : Target or str
        The function (a built-in name, an expression or a `Target`).
    in_fmt, out_fmt : Format or str, optional
        Formats; default `default_formats` (16 bits each).
    max_error_lsb : float, optional
        Every input code's output within this many output LSBs of the true f. None (the
        default) is strict faithful rounding: the output is one of the two codes next to
        f(x), error < 1 LSB, and exactly f(x) where that is a code (to 1e-9 LSB). Ignored
        when `n_segments` is given.
    n_segments : int, optional
        Use at most this many segments and make the max error as small as they allow.
    rounding : str
        Final rounding, one of `ROUNDING`. The default truncates: the error bound is in the
        design's constraints, so round-to-nearest would only add an adder to the unit.
    pwl : PWL, optional
        Take the segments from this float PWL instead (see `quantize`; no fold).
    interval : (float, float), optional
        Input range the unit must cover; checked against `in_fmt`.
    extra_segments : int >= 0 or "auto"
        Segments allowed above the fewest when narrowing the coefficients: a few more
        segments can buy much narrower slopes (a smaller multiplier). ``auto`` tries
        `AUTO_EXTRA` and keeps the smallest unit by `pwlgen.fixedpoint.area.lut4_estimate`.
    symmetry : str
        One of `SYMMETRIES`: a fold to use (see `FixedPWL`: the tables then cover
        ``v = -|x|`` only), ``none``, or ``auto``: every fold that holds on the codes is
        designed next to the unfolded table and the smallest estimated unit wins (ties: no
        fold).

    Returns
    -------
    FixedPWL
        The fewest segments meeting the target, then the fewest slope and intercept
        fraction bits, then per-segment coefficients of least max error.

    Raises
    ------
    FormatError
        Bad formats, an input format wider than `MAX_DESIGN_BITS`, an `interval` the input
        format cannot hold, or an output format that cannot hold f.
    SearchError
        When no segment count (up to `MAX_SEGMENTS`) meets `max_error_lsb`, or a requested
        fold does not hold.

    Examples
    --------
    >>> fx = design("sigmoid", "s3.8", "u0.8")
    >>> (fx.fold, error_report(fx, "sigmoid")["faithful"])
    ('point', True)
    """
    tgt = _as_target(target)
    _check_rounding(rounding)
    if extra_segments != "auto" and (isinstance(extra_segments, bool) or not isinstance(
            extra_segments, int) or extra_segments < 0):
        raise SearchError(
            f"extra_segments must be a non-negative integer or 'auto', not {extra_segments!r}")
    if symmetry not in SYMMETRIES:
        raise SearchError(f"symmetry must be one of {SYMMETRIES}, not {symmetry!r}")
    in_fmt, out_fmt = _formats(tgt, in_fmt, out_fmt)
    if in_fmt.bits > MAX_DESIGN_BITS:
        raise FormatError(
            f"design works on every input code: at most {MAX_DESIGN_BITS} input bits, not "
            f"{in_fmt.bits} ({in_fmt}); use quantize() for wider inputs"
        )
    _check_interval(in_fmt, interval)
    if pwl is not None:
        return quantize(pwl, in_fmt, out_fmt, rounding=rounding, target=tgt,
                        max_error_lsb=max_error_lsb)
    if n_segments is not None:
        if isinstance(n_segments, bool) or not isinstance(n_segments, int) or n_segments < 1:
            raise SearchError(f"n_segments must be a positive integer, not {n_segments!r}")
    else:
        err = _error_target(max_error_lsb)
    x = in_fmt.codes()
    y = np.ldexp(_reference(tgt, in_fmt, x), out_fmt.frac_bits)
    folds = _folds(symmetry, y, in_fmt, out_fmt, tgt.name)
    err = err if n_segments is None else None
    # the fold first (at the fewest segments), then the extra segments for that fold only
    best = None
    for fold in folds:
        des = _designer(tgt.name, y, in_fmt, out_fmt, rounding, fold)
        try:
            fx = _design_tables(des, err, n_segments, 0 if len(folds) > 1 else extra_segments)
        except SearchError:
            if symmetry != "auto" or fold.kind == "none":
                raise
            continue  # a fold that holds only approximately may miss the target
        if best is None or _cost(fx) < _cost(best):
            best, best_des = fx, des
    if len(folds) > 1 and extra_segments != 0:
        traded = _design_tables(best_des, err, n_segments, extra_segments)
        best = traded if _cost(traded) < _cost(best) else best
    return best


AUTO_EXTRA = (0, 1, 2, 4, 8, 16, 24)
"""Extra segment counts `design` tries with ``extra_segments="auto"``."""


def _cost(fx: FixedPWL) -> float:
    return lut4_estimate(fx.n_segments, fx.in_fmt.bits, fx.slope_bits, fx.intercept_bits,
                         fx.acc_bits)


def _error_target(max_error_lsb) -> float:
    """The inclusive error bound of a ``max_error_lsb`` (None: strict faithful)."""
    if max_error_lsb is None:
        return FAITHFUL_LSB
    if isinstance(max_error_lsb, bool) or not isinstance(max_error_lsb, int | float) \
            or not 0 < max_error_lsb < float("inf"):
        raise SearchError(f"max_error_lsb must be positive and finite, not {max_error_lsb!r}")
    return float(max_error_lsb)


def _folds(symmetry: str, y, in_fmt: Format, out_fmt: Format, name: str) -> list[Fold]:
    """The folds to design: none first, then those `symmetry` asks for and that hold."""
    if symmetry == "none":
        return [Fold("none")]
    found = detect_folds(y, in_fmt, out_fmt)
    if symmetry == "auto":
        return [Fold("none"), *found]
    match = [f for f in found if f.kind == symmetry]
    if not match:
        raise SearchError(
            f"{name} has no {symmetry} symmetry on the codes of {in_fmt} -> {out_fmt} "
            f"(found: {', '.join(f.kind for f in found) or 'none'})"
        )
    return match


def _designer(name, y, in_fmt: Format, out_fmt: Format, rounding: str, fold: Fold):
    """The designer of the unfolded table, or of the half range v <= 0 with its mirror codes."""
    x = in_fmt.codes()
    if fold.kind == "none":
        return _Designer(name, y, x, in_fmt, out_fmt, rounding)
    v = x[x <= 0]
    mirror = -v
    has = (v < 0) & (mirror <= in_fmt.max_code)
    mirror = np.where(has, mirror, v)
    twin = _Twin(has, mirror, y[mirror - in_fmt.min_code], fold)
    return _Designer(name, y[v - in_fmt.min_code], v, in_fmt, out_fmt, rounding, twin)


def _design_tables(des: _Designer, err: float | None, n_segments: int | None,
                   extra_segments: int) -> FixedPWL:
    """Fewest segments, then narrowest coefficients, then the polish, for one designer."""
    fs_max = _fs_max(des.in_fmt, des.out_fmt)
    if n_segments is not None:
        err = _least_error(des, fs_max, n_segments)
        cap = n_segments
    else:
        cap = MAX_SEGMENTS
    g = _greedy(des.bands(err, fs_max), 0, cap)
    if g is None:
        raise SearchError(
            f"no segment count up to {cap} meets max_error_lsb={err:g} for {des.name} "
            f"({des.in_fmt} -> {des.out_fmt}, {des.rounding}, fold {des.fold.kind})"
        )
    fewest, _ = g
    candidates = AUTO_EXTRA if extra_segments == "auto" else (extra_segments,)
    best = None
    for wanted in candidates:
        extra = wanted if n_segments is None else min(wanted, cap - len(fewest))
        if best is not None and extra == 0:
            continue
        starts, coefs, fs, k = _narrow(des, err, fewest, fs_max, True, cap + extra, extra)
        coefs, _ = _polish(des, err, starts, coefs, fs, k)
        fx = des.fixed(starts, coefs, fs, k)
        if best is None or _cost(fx) < _cost(best):
            best = fx
    return best


def _least_error(des: _Designer, fs_max: int, n: int, resolution: float = 1.0 / 64) -> float:
    """Smallest error target (in LSB, to `resolution`) that `n` segments meet."""
    def ok(e):
        try:
            return _greedy(des.bands(e, fs_max), 0, n) is not None
        except (SearchError, FormatError):  # no output code within e of f somewhere
            return False

    hi = 1.0
    while not ok(hi):
        hi *= 2.0
        if hi > float(1 << des.out_fmt.bits):
            raise SearchError(f"{n} segments cannot approximate {des.name} in {des.out_fmt}")
    lo = 0.0
    while hi - lo > resolution:
        mid = 0.5 * (lo + hi)
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _fs_max(in_fmt: Format, out_fmt: Format) -> int:
    """Most slope fraction bits tried: 24 guard bits below the output LSB at most.

    The bands hold about ``2**(out_fmt.bits + 1 + s)`` with ``s`` = accumulator minus output
    fraction bits; s is capped so that they stay within int64.
    """
    s = min(24, MAX_ACC_BITS - 3 - out_fmt.bits)
    return out_fmt.frac_bits - in_fmt.frac_bits + s


def _formats(tgt, in_fmt, out_fmt) -> tuple[Format, Format]:
    if in_fmt is None or out_fmt is None:
        d_in, d_out = default_formats(tgt)
        in_fmt = d_in if in_fmt is None else in_fmt
        out_fmt = d_out if out_fmt is None else out_fmt
    return Format.parse(in_fmt), Format.parse(out_fmt)


def _check_interval(in_fmt: Format, interval) -> None:
    if interval is None:
        return
    lo, hi = (float(v) for v in interval)
    if lo < in_fmt.min_real - in_fmt.lsb or hi > in_fmt.max_real + in_fmt.lsb:
        raise FormatError(
            f"the input format {in_fmt} holds [{in_fmt.min_real:g}, {in_fmt.max_real:g}], "
            f"not the interval [{lo:g}, {hi:g}]"
        )


# --------------------------------------------------------------------------- quantize
def _pwl_starts(pwl, in_fmt: Format) -> list[int]:
    """Indices (into ``in_fmt.codes()``) where the PWL's pieces start within the format."""
    # code c lies right of knot t iff c * lsb > t, i.e. c >= floor(t / lsb) + 1
    bp = np.floor(np.ldexp(np.asarray(pwl.knots, dtype=np.float64), in_fmt.frac_bits)) + 1
    bp = bp[(bp > in_fmt.min_code) & (bp <= in_fmt.max_code)]
    bp = np.unique(bp.astype(np.int64))
    return [0] + (bp - in_fmt.min_code).tolist()


def quantize(pwl, in_fmt=None, out_fmt=None, *, rounding: str = "truncate", target=None,
             max_error_lsb: float | None = None, slope_frac_bits: int | None = None,
             intercept_frac_bits: int | None = None, function: str | None = None,
             interval: tuple[float, float] | None = None) -> FixedPWL:
    """Quantise a float `PWL` (e.g. a search result) to a FixedPWL.

    The segments are the PWL's pieces that hold at least one input code (breakpoint =
    first code right of a knot). Each segment gets the integer slope and intercept of
    least max error over its codes against `target` when given (else against the PWL
    itself), so a segment may leave the PWL's line where that is closer to f.

    Parameters
    ----------
    pwl : PWL
        The float function.
    in_fmt, out_fmt : Format or str, optional
        Formats; default `default_formats` of `target` (required without a target).
    rounding : str
        One of `ROUNDING` (default truncate, as in `design`).
    target : Target or str, optional
        The true function the coefficients should approach.
    max_error_lsb : float, optional
        Coefficient widths are the smallest that keep every segment within
        ``max(max_error_lsb, its least error)`` LSB (None: strict faithful, as in `design`).
    slope_frac_bits, intercept_frac_bits : int, optional
        Fix the coefficient precision instead of choosing it.
    function : str, optional
        Name written into the FixedPWL (default: the target's name, else ``"pwl"``).
    interval : (float, float), optional
        Input range (e.g. the search result's) that `in_fmt` must hold.

    Raises
    ------
    FormatError
        Bad formats, no formats without a target, or an `interval` that `in_fmt` cannot
        hold.
    """
    _check_rounding(rounding)
    tgt = _as_target(target) if target is not None else None
    if tgt is not None:
        in_fmt, out_fmt = _formats(tgt, in_fmt, out_fmt)
    elif in_fmt is None or out_fmt is None:
        raise FormatError("quantize needs in_fmt and out_fmt when no target is given")
    in_fmt, out_fmt = Format.parse(in_fmt), Format.parse(out_fmt)
    if in_fmt.bits > MAX_DESIGN_BITS:
        raise FormatError(
            f"quantize works on every input code: at most {MAX_DESIGN_BITS} input bits, not "
            f"{in_fmt.bits} ({in_fmt})"
        )
    _check_interval(in_fmt, interval)
    name = function or (tgt.name if tgt is not None else "pwl")
    x = in_fmt.codes()
    if tgt is not None:
        y = _reference(tgt, in_fmt, x)
    else:
        y = np.asarray(pwl(in_fmt.to_real(x)), dtype=np.float64)
    des = _Designer(name, np.ldexp(y, out_fmt.frac_bits), x, in_fmt, out_fmt, rounding)
    starts = _pwl_starts(pwl, in_fmt)
    fs_max = _fs_max(in_fmt, out_fmt)
    if slope_frac_bits is not None:
        fs_max = int(slope_frac_bits)
        s_top = MAX_ACC_BITS - 3 - out_fmt.bits
        if not -in_fmt.frac_bits <= fs_max <= out_fmt.frac_bits - in_fmt.frac_bits + s_top:
            raise FormatError(
                f"slope_frac_bits must lie in [{-in_fmt.frac_bits}, "
                f"{out_fmt.frac_bits - in_fmt.frac_bits + s_top}] for {in_fmt} -> {out_fmt}, "
                f"not {slope_frac_bits!r}"
            )
    # the least error each segment can reach at full precision sets the budget
    _, bounds = _polish(des, None, starts, None, fs_max, 0, steps=10)
    err = max(_error_target(max_error_lsb), max(bounds))
    if slope_frac_bits is not None or intercept_frac_bits is not None:
        fs = fs_max
        acc_frac = in_fmt.frac_bits + fs
        k = 0 if intercept_frac_bits is None else acc_frac - int(intercept_frac_bits)
        if k < 0:
            raise FormatError(
                f"intercept_frac_bits must be <= acc_frac_bits ({acc_frac}), "
                f"not {intercept_frac_bits!r}"
            )
        coefs, _ = _polish(des, None, starts, None, fs, k)
    else:
        narrowed = _narrow(des, err, starts, fs_max, False, len(starts))
        if narrowed is None:  # pragma: no cover - full precision fits by construction
            raise SearchError(f"cannot quantise the PWL of {name} to {out_fmt}")
        starts, coefs, fs, k = narrowed
        coefs, _ = _polish(des, err, starts, coefs, fs, k)
    return des.fixed(starts, coefs, fs, k)
