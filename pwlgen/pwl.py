"""The continuous piecewise-linear function: knots, values, tail slopes; conversions; metrics.

A `PWL` is defined by sorted knots x_1 < ... < x_n, values y_i = h(x_i), the slope left of
x_1 and the slope right of x_n. It has n + 1 linear segments. The same function can be
written as

- the ReLU-sum (Approx-BP) form ``h(x) = b + s0*x + sum_i a_i * max(x - c_i, 0)`` with
  c = knots, a_i the change of slope at c_i, s0 the left slope;
- the change-point list ``[x_1..x_n, y_1..y_n]`` (Approx-BP's result rows);
- per-segment (slope, intercept) pairs between breakpoints.

Metrics against a target are exact where that is possible: the L2 errors use Gauss-Legendre
quadrature on each piece between knots (and the target's own kinks), so only the target's
smoothness limits their accuracy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from .errors import PWLError

__all__ = [
    "PWL",
    "ReluSum",
    "gauss_legendre",
    "gauss_legendre_pieces",
    "split_points",
    "l2_error",
    "l2_deriv_error",
    "max_error",
    "mean_error",
    "metrics",
]

_QUAD_ORDER = 24


def _as_float_array(name: str, value: Any) -> np.ndarray:
    try:
        arr = np.array(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as e:
        raise PWLError(f"{name} must be a sequence of numbers, not {value!r}") from e
    if not np.all(np.isfinite(arr)):
        raise PWLError(f"{name} must be finite, not {arr.tolist()!r}")
    return arr


@dataclass(frozen=True)
class ReluSum:
    """The ReLU-sum form ``h(x) = bias + left_slope*x + sum_i a[i] * max(x - c[i], 0)``.

    With left slope 0 this is Approx-BP's (a, c) form; for tails 0 and x it satisfies
    ``sum(a) == 1`` and ``sum(a*c) == 0`` (and then ``bias == 0``).
    """

    a: np.ndarray
    c: np.ndarray
    bias: float = 0.0
    left_slope: float = 0.0

    def constraint_residuals(self) -> tuple[float, float]:
        """Return ``(sum(a) - 1, sum(a*c))``: both zero for a unit with tails 0 and x."""
        return float(np.sum(self.a) - 1.0), float(np.sum(self.a * self.c))


@dataclass(frozen=True, eq=False)
class PWL:
    """A continuous piecewise-linear function.

    Parameters
    ----------
    knots : array_like, shape (n,)
        Strictly increasing, finite breakpoints.
    values : array_like, shape (n,)
        h(knots).
    left_slope, right_slope : float
        Slopes of the two unbounded pieces.

    Raises
    ------
    PWLError
        When knots are not strictly increasing, arrays differ in length, or anything is
        not finite.

    Examples
    --------
    >>> h = PWL([0.0], [0.0], 0.0, 1.0)   # ReLU
    >>> float(h(2.0)), float(h(-1.0))
    (2.0, 0.0)
    """

    knots: np.ndarray
    values: np.ndarray
    left_slope: float
    right_slope: float

    def __post_init__(self):
        knots = _as_float_array("knots", self.knots)
        values = _as_float_array("values", self.values)
        if knots.size == 0:
            raise PWLError("a PWL needs at least one knot")
        if knots.shape != values.shape:
            raise PWLError(
                f"knots and values must have the same length, not {knots.size} and {values.size}"
            )
        if np.any(np.diff(knots) <= 0):
            raise PWLError(f"knots must be strictly increasing, not {knots.tolist()!r}")
        for name in ("left_slope", "right_slope"):
            v = float(getattr(self, name))
            if not np.isfinite(v):
                raise PWLError(f"{name} must be finite, not {v!r}")
            object.__setattr__(self, name, v)
        knots.setflags(write=False)
        values.setflags(write=False)
        object.__setattr__(self, "knots", knots)
        object.__setattr__(self, "values", values)

    # ------------------------------------------------------------------ structure
    @property
    def n_knots(self) -> int:
        """Number of knots n (the function has n + 1 pieces)."""
        return int(self.knots.size)

    @property
    def slopes(self) -> np.ndarray:
        """Slopes of the n + 1 pieces, left tail first."""
        inner = np.diff(self.values) / np.diff(self.knots)
        return np.concatenate([[self.left_slope], inner, [self.right_slope]])

    @property
    def intercepts(self) -> np.ndarray:
        """Intercepts of the n + 1 pieces (h = slope*x + intercept on each)."""
        s = self.slopes
        anchors_x = np.concatenate([self.knots[:1], self.knots])
        anchors_y = np.concatenate([self.values[:1], self.values])
        return anchors_y - s * anchors_x

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PWL):
            return NotImplemented
        return (
            np.array_equal(self.knots, other.knots)
            and np.array_equal(self.values, other.values)
            and self.left_slope == other.left_slope
            and self.right_slope == other.right_slope
        )

    def __hash__(self) -> int:
        return hash((self.knots.tobytes(), self.values.tobytes(), self.left_slope,
                     self.right_slope))

    def __repr__(self) -> str:
        return (f"PWL(knots={self.knots.tolist()}, values={self.values.tolist()}, "
                f"left_slope={self.left_slope}, right_slope={self.right_slope})")

    # ------------------------------------------------------------------ evaluation
    def segment_index(self, x):
        """Index of the piece holding each x: the number of knots strictly below x."""
        if _is_torch(x):
            import torch

            k = torch.tensor(self.knots, dtype=x.dtype, device=x.device)
            return torch.searchsorted(k, x.contiguous(), side="left")
        return np.searchsorted(self.knots, np.asarray(x, dtype=np.float64), side="left")

    def __call__(self, x):
        """Evaluate h(x) on a numpy array, a scalar, or a torch tensor (same type back)."""
        if _is_torch(x):
            import torch

            idx = self.segment_index(x)
            s = torch.tensor(self.slopes, dtype=x.dtype, device=x.device)
            b = torch.tensor(self.intercepts, dtype=x.dtype, device=x.device)
            return s[idx] * x + b[idx]
        xa = np.asarray(x, dtype=np.float64)
        idx = self.segment_index(xa)
        return self.slopes[idx] * xa + self.intercepts[idx]

    evaluate = __call__

    def derivative(self, x):
        """Evaluate h'(x) (the slope of the piece holding x).

        A knot belongs to the piece on its left (the number of knots strictly below x),
        matching `segment_index` and the thermometer codes of the GPU ops.
        """
        if _is_torch(x):
            import torch

            s = torch.tensor(self.slopes, dtype=x.dtype, device=x.device)
            return s[self.segment_index(x)]
        return self.slopes[self.segment_index(np.asarray(x, dtype=np.float64))]

    # ------------------------------------------------------------------ conversions
    def to_relu_sum(self) -> ReluSum:
        """Return the ReLU-sum form (a, c, bias, left_slope) of this function."""
        a = np.diff(self.slopes)
        c = self.knots.copy()
        bias = float(self.values[0] - self.left_slope * self.knots[0])
        return ReluSum(a=a, c=c, bias=bias, left_slope=self.left_slope)

    @classmethod
    def from_relu_sum(cls, a, c, bias: float = 0.0, left_slope: float = 0.0) -> PWL:
        """Build a PWL from ``bias + left_slope*x + sum_i a_i*max(x - c_i, 0)``.

        The c_i may come in any order; they are sorted (and a with them).
        """
        a = _as_float_array("a", a)
        c = _as_float_array("c", c)
        if a.shape != c.shape:
            raise PWLError(f"a and c must have the same length, not {a.size} and {c.size}")
        order = np.argsort(c, kind="stable")
        a, c = a[order], c[order]
        if np.any(np.diff(c) <= 0):
            raise PWLError(f"the c must be distinct, not {c.tolist()!r}")
        values = bias + left_slope * c + np.array(
            [np.sum(a[:i] * (c[i] - c[:i])) for i in range(c.size)]
        )
        return cls(c, values, left_slope, left_slope + float(np.sum(a)))

    def to_change_points(self) -> np.ndarray:
        """Return the change-point list ``[x_1..x_n, y_1..y_n]``."""
        return np.concatenate([self.knots, self.values])

    @classmethod
    def from_change_points(cls, points, left_slope: float, right_slope: float) -> PWL:
        """Build a PWL from a change-point list ``[x_1..x_n, y_1..y_n]`` and tail slopes."""
        p = _as_float_array("change points", points)
        if p.size == 0 or p.size % 2:
            raise PWLError(
                f"a change-point list holds n knots then n values, not {p.size} numbers"
            )
        n = p.size // 2
        return cls(p[:n], p[n:], left_slope, right_slope)

    def to_segments(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (breakpoints, slopes, intercepts): n breakpoints, n + 1 pieces."""
        return self.knots.copy(), self.slopes, self.intercepts

    @classmethod
    def from_segments(cls, breakpoints, slopes, intercepts, *, atol: float = 1e-9) -> PWL:
        """Build a PWL from per-piece (slope, intercept); the pieces must meet at breakpoints.

        Raises
        ------
        PWLError
            When the counts do not match (n breakpoints, n + 1 pieces) or two neighbouring
            pieces do not meet at their breakpoint within `atol` (relative to the value).
        """
        bp = _as_float_array("breakpoints", breakpoints)
        s = _as_float_array("slopes", slopes)
        b = _as_float_array("intercepts", intercepts)
        if s.size != bp.size + 1 or b.size != bp.size + 1:
            raise PWLError(
                f"{bp.size} breakpoints need {bp.size + 1} slopes and intercepts, "
                f"not {s.size} and {b.size}"
            )
        left = s[:-1] * bp + b[:-1]
        right = s[1:] * bp + b[1:]
        gap = np.abs(left - right)
        if np.any(gap > atol * np.maximum(1.0, np.abs(left))):
            i = int(np.argmax(gap))
            raise PWLError(
                f"pieces must meet at breakpoint {float(bp[i])!r}: "
                f"{float(left[i])!r} != {float(right[i])!r}"
            )
        return cls(bp, 0.5 * (left + right), float(s[0]), float(s[-1]))

    def to_dict(self) -> dict:
        """Plain-Python description (knots, values, tails) for result files."""
        return {
            "knots": self.knots.tolist(),
            "values": self.values.tolist(),
            "left_slope": self.left_slope,
            "right_slope": self.right_slope,
        }

    @classmethod
    def from_dict(cls, d: dict) -> PWL:
        """Inverse of `to_dict`; raises `PWLError` on missing or bad fields."""
        try:
            return cls(d["knots"], d["values"], d["left_slope"], d["right_slope"])
        except (KeyError, TypeError) as e:
            raise PWLError(f"a PWL needs knots, values, left_slope and right_slope: {e}") from e


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "dtype") and hasattr(
        x, "device"
    )


# ---------------------------------------------------------------------- metrics
@lru_cache(maxsize=8)
def gauss_legendre(order: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [-1, 1], computed once per order (read-only)."""
    t, w = np.polynomial.legendre.leggauss(order)
    t.setflags(write=False)
    w.setflags(write=False)
    return t, w


def gauss_legendre_pieces(
    breaks: np.ndarray, order: int = _QUAD_ORDER
) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on each interval between consecutive `breaks`.

    Returns flat arrays (nodes, weights) of length ``order * (len(breaks) - 1)``.
    """
    t, w = gauss_legendre(order)
    a, b = breaks[:-1, None], breaks[1:, None]
    half = 0.5 * (b - a)
    nodes = (a + b) * 0.5 + half * t[None, :]
    weights = half * w[None, :]
    return nodes.ravel(), weights.ravel()


def split_points(lo: float, hi: float, *points) -> np.ndarray:
    """Sorted, distinct `lo`, `hi` and every given point that lies in [lo, hi].

    The breaks at which quadrature and error grids split [lo, hi] (knots, target kinks).
    """
    pts = np.concatenate([[lo, hi], *(np.asarray(p, dtype=np.float64).ravel() for p in points)])
    return np.unique(pts[(pts >= lo) & (pts <= hi)])


def l2_error(pwl: PWL, f: Callable, lo: float, hi: float, kinks: tuple = ()) -> float:
    """Exact-by-quadrature ``int_lo^hi (f(x) - h(x))^2 dx``.

    Gauss-Legendre on each piece between knots and the target's `kinks`, so the
    integrand is smooth on every piece.
    """
    nodes, weights = gauss_legendre_pieces(split_points(lo, hi, pwl.knots, kinks))
    r = f(nodes) - pwl(nodes)
    return float(np.sum(weights * r * r))


def l2_deriv_error(pwl: PWL, df: Callable, lo: float, hi: float, kinks: tuple = ()) -> float:
    """Exact-by-quadrature ``int_lo^hi (f'(x) - h'(x))^2 dx``."""
    nodes, weights = gauss_legendre_pieces(split_points(lo, hi, pwl.knots, kinks))
    r = df(nodes) - pwl.derivative(nodes)
    return float(np.sum(weights * r * r))


def max_error(
    pwl: PWL, f: Callable, lo: float, hi: float, n: int = 20001, refine: int = 8
) -> tuple[float, float]:
    """Max |f - h| on [lo, hi] and where it occurs: dense sampling, then golden refinement.

    Returns
    -------
    (max_err_abs, x_at_max)
    """
    from scipy.optimize import minimize_scalar

    x = split_points(lo, hi, np.linspace(lo, hi, n), pwl.knots)
    e = np.abs(f(x) - pwl(x))
    best_i = int(np.argmax(e))
    best = (float(e[best_i]), float(x[best_i]))
    # refine around the largest local maxima of the sampled error
    candidates = np.argsort(e)[::-1][: max(1, refine)]
    for i in candidates:
        a, b = x[max(i - 1, 0)], x[min(i + 1, x.size - 1)]
        if b <= a:
            continue
        res = minimize_scalar(
            lambda t: -abs(float(f(np.array([t]))[0] - pwl(np.array([t]))[0])),
            bounds=(a, b),
            method="bounded",
            options={"xatol": 1e-12 * max(1.0, abs(a))},
        )
        if -res.fun > best[0]:
            best = (float(-res.fun), float(res.x))
    return best


def mean_error(pwl: PWL, f: Callable, lo: float, hi: float, n: int = 16001) -> float:
    """Mean |f - h| on a uniform grid of `n` points over [lo, hi]."""
    x = np.linspace(lo, hi, n)
    return float(np.mean(np.abs(f(x) - pwl(x))))


def metrics(pwl: PWL, target, lo: float, hi: float) -> dict[str, float]:
    """All standard metrics of `pwl` against a `Target` on [lo, hi]."""
    kinks = tuple(getattr(target, "kinks", ()))
    max_abs, x_at = max_error(pwl, target.f, lo, hi)
    return {
        "l2": l2_error(pwl, target.f, lo, hi, kinks),
        "l2_deriv": l2_deriv_error(pwl, target.df, lo, hi, kinks),
        "max_err_abs": max_abs,
        "x_at_max_err": x_at,
        "mean_err_abs": mean_error(pwl, target.f, lo, hi),
    }
