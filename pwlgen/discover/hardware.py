"""Hardware cost of a candidate: PWL segments needed for a max error on a range.

The estimate is a greedy max-error segmentation on a grid (our own, independent of the
search methods): from the left end of the range, each segment is the longest chord of f
between grid points whose deviation from f stays within ``max_err`` on the grid points it
spans. Chords share their end points, so the result is a continuous PWL, the kind the unit
computes; outside the range it continues with the end segments' slopes. Fewer segments
means a smaller breakpoint table and comparator tree in the unit.

Where the fixed-point designer (`pwlgen.fixedpoint.design`) is available, `fixed_segments`
gives the count of the unit pwlgen would actually emit (every input code within a max error
in output LSBs); it costs about a second per function, so `score_fixed` runs it for chosen
classes (the summary's best and the baselines).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..pwl import PWL
from .expr import compile_expression

__all__ = [
    "DEFAULT_MAX_ERR",
    "DEFAULT_RANGE",
    "segment",
    "segments_needed",
    "pwl_of",
    "PWLActivation",
    "score_classes",
    "pareto_front",
    "fixed_segments",
    "score_fixed",
]

DEFAULT_MAX_ERR = 2.0**-8
DEFAULT_RANGE = (-8.0, 8.0)
_GRID = 4001
MAX_SEGMENTS = 4096


def _values(fn, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        y = fn(torch.as_tensor(x, dtype=torch.float64))
    return torch.as_tensor(y, dtype=torch.float64).broadcast_to(x.shape).numpy()


def _chord_ok(x, y, i, j, max_err) -> bool:
    xs, ys = x[i:j + 1], y[i:j + 1]
    line = ys[0] + (ys[-1] - ys[0]) * (xs - xs[0]) / (xs[-1] - xs[0])
    return bool(np.max(np.abs(line - ys)) <= max_err)


def segment(fn, lo: float = DEFAULT_RANGE[0], hi: float = DEFAULT_RANGE[1],
            max_err: float = DEFAULT_MAX_ERR, n_grid: int = _GRID) -> np.ndarray | None:
    """Breakpoints of a greedy chord segmentation of `fn` on [lo, hi].

    Parameters
    ----------
    fn : callable
        A torch function of one float64 tensor.
    lo, hi : float
        The range the unit covers.
    max_err : float
        The largest |f - PWL| allowed on the grid.
    n_grid : int
        Grid points on [lo, hi].

    Returns
    -------
    ndarray or None
        The knots (range ends included), or None when f is not finite on the range.
    """
    x = np.linspace(lo, hi, n_grid)
    y = _values(fn, x)
    if not np.all(np.isfinite(y)):
        return None
    knots = [0]
    i = 0
    while i < n_grid - 1:
        # exponential then binary search for the longest acceptable chord from i
        step = 1
        while i + step < n_grid - 1 and _chord_ok(x, y, i, i + 2 * step, max_err):
            step *= 2
        good, bad = i + step, min(i + 2 * step, n_grid - 1)
        if good >= n_grid - 1 or not _chord_ok(x, y, i, bad, max_err):
            while bad - good > 1:
                mid = (good + bad) // 2
                if _chord_ok(x, y, i, mid, max_err):
                    good = mid
                else:
                    bad = mid
        else:
            good = bad
        i = min(good, n_grid - 1)
        knots.append(i)
        if len(knots) > MAX_SEGMENTS:
            return None
    return x[np.array(knots)]


def segments_needed(fn, lo: float = DEFAULT_RANGE[0], hi: float = DEFAULT_RANGE[1],
                    max_err: float = DEFAULT_MAX_ERR) -> int | None:
    """How many PWL segments `fn` needs on [lo, hi] for `max_err` (None: not finite)."""
    k = segment(fn, lo, hi, max_err)
    return None if k is None else len(k) - 1


def pwl_of(fn, lo: float = DEFAULT_RANGE[0], hi: float = DEFAULT_RANGE[1],
           max_err: float = DEFAULT_MAX_ERR) -> PWL | None:
    """The hardware PWL of `fn`: the greedy segmentation, end slopes continued outside."""
    k = segment(fn, lo, hi, max_err)
    if k is None:
        return None
    v = _values(fn, k)
    s = np.diff(v) / np.diff(k)
    return PWL(k, v, float(s[0]), float(s[-1]))


class PWLActivation(nn.Module):
    """An activation computing a fixed `PWL` (the function the hardware delivers)."""

    def __init__(self, pwl: PWL):
        super().__init__()
        self.pwl = pwl

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Evaluate the PWL (differentiable in x)."""
        return self.pwl(x)


def score_classes(db, *, lo: float = DEFAULT_RANGE[0], hi: float = DEFAULT_RANGE[1],
                  max_err: float = DEFAULT_MAX_ERR, only_missing: bool = True) -> int:
    """Store the segments needed by every finite class; returns how many were scored."""
    import sqlalchemy as sa

    from .db import classes_table as t

    q = sa.select(t.c.id, t.c.representative).where(t.c.finite.is_(True))
    if only_missing:
        q = q.where(t.c.segments.is_(None))
    with db.engine.connect() as c:
        rows = c.execute(q).all()
    for cid, text in rows:
        n = segments_needed(compile_expression(text).fn, lo, hi, max_err)
        db.update_class(cid, segments=n if n is not None else -1, hw_max_err=max_err,
                        hw_lo=lo, hw_hi=hi)
    return len(rows)


def pareto_front(acc: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both (higher acc, lower cost)."""
    acc, cost = np.asarray(acc, float), np.asarray(cost, float)
    order = np.lexsort((-acc, cost))  # by cost, then best accuracy first
    front, best = [], -np.inf
    for i in order:
        if acc[i] > best:
            front.append(i)
            best = acc[i]
    return np.array(front, dtype=int)


def fixed_segments(expression: str, max_error_lsb: float = 1.0) -> int | None:
    """Segments of the fixed-point unit `pwlgen.fixedpoint.design` builds for `expression`.

    The hardware-faithful count (default 16-bit formats, every input code within
    `max_error_lsb` output LSBs); None when no design meets it. Costs about a second per
    function, so it is computed for the evaluated classes, not the whole database.
    """
    from ..errors import PwlgenError
    from ..fixedpoint import design

    try:
        return int(design(expression, max_error_lsb=max_error_lsb).n_segments)
    except PwlgenError:
        return None


def score_fixed(db, class_ids, *, max_error_lsb: float = 1.0) -> int:
    """Store `fixed_segments` for the given classes that lack it; returns how many."""
    rows = {r["id"]: r for r in db.classes()}
    n = 0
    for cid in class_ids:
        r = rows.get(cid)
        if r is None or not r["finite"] or (r["fixed_segments"] is not None
                                            and r["fixed_max_err_lsb"] == max_error_lsb):
            continue
        s = fixed_segments(r["representative"], max_error_lsb)
        db.update_class(cid, fixed_segments=-1 if s is None else s,
                        fixed_max_err_lsb=max_error_lsb)
        n += 1
    return n
