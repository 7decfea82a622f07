"""Hardware cost of a candidate: segments of the fixed-point unit pwlgen would build.

The score of a class is ``pwlgen.fixedpoint.design(f, in_fmt, out_fmt, max_error_lsb)``'s
segment count -- the real unit, every input code within the error -- on the default formats
of f at a coarser width (`DEFAULT_BITS`, 8: input ``s3.4``, output sized to f; about 0.4 s
a design on one core, 1.5 s at 12 bits), cached by expression; it is stored on the class with
its formats, so ``pwlgen quantize --fn EXPR --in IN --out OUT`` designs the same unit.
`fixed_segments` gives the count at the full 16-bit default formats, which ``summary
--fixed`` runs for the classes it lists.

A greedy chord segmentation of the float function (`segment`, `pwl_of`) remains for
``--pwl float`` training (a continuous PWL within an absolute max error on a grid) and the
cell search's relative operator costs.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from ..pwl import PWL

__all__ = [
    "DEFAULT_BITS",
    "DEFAULT_MAX_ERR",
    "DEFAULT_RANGE",
    "segment",
    "segments_needed",
    "pwl_of",
    "PWLActivation",
    "design_cost",
    "score_classes",
    "pareto_front",
    "fixed_segments",
    "score_fixed",
]

DEFAULT_BITS = 8
"""Width of the formats of the stored hardware score."""
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


@functools.lru_cache(maxsize=4096)
def design_cost(expression: str, bits: int = DEFAULT_BITS, max_error_lsb: float | None = None
                ) -> tuple[int | None, str, str]:
    """Segments of the unit `pwlgen.fixedpoint.design` builds, and its formats.

    Parameters
    ----------
    expression : str
        The function.
    bits : int
        Width of the default formats (`pwlgen.fixedpoint.designer.default_formats`).
    max_error_lsb : float, optional
        Every input code within this many output LSBs; None: the designer's default,
        strict faithful rounding.

    Returns
    -------
    (int or None, str, str)
        The segment count (None when no unit meets the error or the output format cannot
        hold f), the input and the output format ("" when there are none).
    """
    from ..errors import PwlgenError
    from ..fixedpoint import design
    from ..fixedpoint.designer import default_formats

    try:
        in_fmt, out_fmt = default_formats(expression, bits)
        unit = design(expression, in_fmt, out_fmt, max_error_lsb=max_error_lsb)
    except PwlgenError:
        return None, "", ""
    return int(unit.n_segments), str(in_fmt), str(out_fmt)


def score_classes(db, *, bits: int = DEFAULT_BITS, max_error_lsb: float | None = None,
                  only_missing: bool = True) -> int:
    """Store `design_cost` of every finite class (-1: no unit); returns how many were scored.

    A class scored for other `bits` or `max_error_lsb` is scored again.
    """
    import sqlalchemy as sa

    from .db import classes_table as t

    q = sa.select(t.c.id, t.c.representative).where(t.c.finite.is_(True))
    if only_missing:
        q = q.where(sa.or_(t.c.segments.is_(None), t.c.hw_bits.is_distinct_from(bits),
                           t.c.hw_max_err_lsb.is_distinct_from(max_error_lsb)))
    with db.engine.connect() as c:
        rows = c.execute(q).all()
    for cid, text in rows:
        n, in_fmt, out_fmt = design_cost(text, bits, max_error_lsb)
        db.update_class(cid, segments=-1 if n is None else n, hw_bits=bits,
                        hw_max_err_lsb=max_error_lsb, hw_in_fmt=in_fmt, hw_out_fmt=out_fmt)
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


def fixed_segments(expression: str, max_error_lsb: float | None = None) -> int | None:
    """Segments of the unit `pwlgen.fixedpoint.design` builds at the 16-bit default formats.

    None when no design meets `max_error_lsb`. About half a second per function, so it is
    computed for chosen classes, not the whole database.
    """
    return design_cost(expression, 16, max_error_lsb)[0]


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
