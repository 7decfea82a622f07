"""The search problem and its result: what every search method takes and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import __version__
from ..errors import ResultFileError, SearchError
from ..functions import Target, get_target
from ..pwl import PWL, metrics

__all__ = ["Problem", "SearchResult", "TAIL_MODES", "OBJECTIVE_NAMES", "RESULT_SCHEMA"]

TAIL_MODES = ("pinned", "slope", "free")
"""How the PWL continues outside its outer knots.

- ``pinned``: on the asymptote (value and slope), e.g. 0 and x for GELU / SiLU;
- ``slope``: with the asymptote's slope, the values at the outer knots free;
- ``free``: tail slopes fitted too.
A side with no asymptote behaves as ``free``.
"""

OBJECTIVE_NAMES = ("l2", "l2-deriv", "max")
RESULT_SCHEMA = 1


@dataclass(frozen=True)
class Problem:
    """One approximation problem: target, knot count, interval, objective, tails.

    Parameters
    ----------
    target : Target
    n_knots : int, >= 1
    interval : (float, float)
        The objective is measured on [lo, hi].
    objective : {"l2", "l2-deriv", "max"}
    tails : {"pinned", "slope", "free"}
    kbit : int or None
        Set for the k-bit family (2**k - 1 knots, tails on the asymptotes).
    """

    target: Target
    n_knots: int
    interval: tuple[float, float]
    objective: str = "l2"
    tails: str = "pinned"
    kbit: int | None = None

    def __post_init__(self):
        if not isinstance(self.n_knots, int | np.integer) or self.n_knots < 1:
            raise SearchError(
                f"the number of knots must be a positive integer, not {self.n_knots!r}"
            )
        lo, hi = (float(v) for v in self.interval)
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo >= hi:
            raise SearchError(f"the interval must have lo < hi, both finite, not [{lo}, {hi}]")
        object.__setattr__(self, "interval", (lo, hi))
        if self.objective not in OBJECTIVE_NAMES:
            raise SearchError(
                f"objective must be one of {', '.join(OBJECTIVE_NAMES)}, not {self.objective!r}"
            )
        if self.tails not in TAIL_MODES:
            raise SearchError(f"tails must be one of {', '.join(TAIL_MODES)}, not {self.tails!r}")

    @property
    def lo(self) -> float:
        """Left end of the interval."""
        return self.interval[0]

    @property
    def hi(self) -> float:
        """Right end of the interval."""
        return self.interval[1]

    def pinned(self, side: str):
        """The asymptote a tail is pinned to (``side`` 'left'/'right'), or None."""
        return getattr(self.target, side) if self.tails == "pinned" else None

    def tail_slope(self, side: str) -> float | None:
        """The fixed slope of a tail, or None when it is fitted."""
        asym = getattr(self.target, side)
        if self.tails == "free" or asym is None:
            return None
        return asym.slope

    def check_finite(self, points: int = 2001, bound: float = 1e100) -> None:
        """Refuse a target that is not finite (or beyond `bound`) on the interval.

        f is sampled on `points` even points of the interval, and f' too for the
        ``l2-deriv`` objective. A pole (``reciprocal(x)`` at 0), a 0/0 (``div(x,tanh(x))``
        at 0) or an overflow would otherwise end deep inside a method.

        Raises
        ------
        SearchError
            Naming the first bad point.
        """
        x = np.linspace(self.lo, self.hi, points)
        fns = [("f", self.target.f)] + ([("f'", self.target.df)]
                                         if self.objective == "l2-deriv" else [])
        for label, fn in fns:
            with np.errstate(all="ignore"):
                v = np.asarray(fn(x), dtype=np.float64)
            bad = ~(np.abs(v) <= bound)
            if bad.any():
                i = int(np.argmax(bad))
                raise SearchError(
                    f"{label} of {self.target.name!r} must be finite on [{self.lo:g}, "
                    f"{self.hi:g}], not {float(v[i])!r} at x = {float(x[i])!r}"
                )

    def uniform_knots(self) -> np.ndarray:
        """N knots evenly spaced strictly inside the interval: the default start."""
        return np.linspace(self.lo, self.hi, self.n_knots + 2)[1:-1]


@dataclass(frozen=True, eq=False)
class SearchResult:
    """A PWL and how it was found: method, objective, interval, seed, time, metrics, history.

    Round-trips through `to_dict` / `from_dict` (the result file of ``pwlgen search``).
    """

    pwl: PWL
    target: str
    method: str
    objective: str
    interval: tuple[float, float]
    seed: int | None
    wall_time_s: float
    metrics: dict[str, float]
    history: list[float] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    kbit: int | None = None
    tails: str = "pinned"
    version: str = __version__

    @property
    def n_knots(self) -> int:
        """Number of knots of the PWL."""
        return self.pwl.n_knots

    def get_target(self) -> Target:
        """The `Target` this result approximates."""
        return get_target(self.target)

    def summary(self) -> str:
        """One line: target, method, knots, objective value and time."""
        m = self.metrics
        return (
            f"{self.target}: {self.method} {self.n_knots} knots on "
            f"[{self.interval[0]:g}, {self.interval[1]:g}]  l2={m.get('l2', float('nan')):.6g}  "
            f"max={m.get('max_err_abs', float('nan')):.4g}  ({self.wall_time_s:.2f} s)"
        )

    def to_dict(self) -> dict:
        """Plain-Python document for YAML/JSON result files."""
        rs = self.pwl.to_relu_sum()
        doc = {
            "kind": "search_result",
            "schema": RESULT_SCHEMA,
            "pwlgen_version": self.version,
            "function": self.target,
            "method": self.method,
            "objective": self.objective,
            "interval": list(self.interval),
            "kbit": self.kbit,
            "tails": self.tails,
            "seed": self.seed,
            "wall_time_s": self.wall_time_s,
            **self.pwl.to_dict(),
            "a": rs.a.tolist(),
            "c": rs.c.tolist(),
            "bias": rs.bias,
            "metrics": dict(self.metrics),
            "options": dict(self.options),
            "history": list(self.history),
        }
        return doc

    @classmethod
    def from_dict(cls, doc: dict) -> SearchResult:
        """Inverse of `to_dict`; raises `ResultFileError` on a malformed document."""
        if doc.get("kind") != "search_result":
            raise ResultFileError(f"not a search result (kind is {doc.get('kind')!r})")
        if doc.get("schema") != RESULT_SCHEMA:
            raise ResultFileError(
                f"unsupported search result schema {doc.get('schema')!r} (expected {RESULT_SCHEMA})"
            )
        try:
            pwl = PWL.from_dict(doc)
            interval = tuple(float(v) for v in doc["interval"])
            if len(interval) != 2:
                raise ValueError("interval must hold two numbers")
            return cls(
                pwl=pwl,
                target=str(doc["function"]),
                method=str(doc["method"]),
                objective=str(doc["objective"]),
                interval=interval,
                seed=doc.get("seed"),
                wall_time_s=float(doc.get("wall_time_s", 0.0)),
                metrics={k: float(v) for k, v in (doc.get("metrics") or {}).items()},
                history=[float(v) for v in doc.get("history") or []],
                options=dict(doc.get("options") or {}),
                kbit=doc.get("kbit"),
                tails=str(doc.get("tails", "pinned")),
                version=str(doc.get("pwlgen_version", "")),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ResultFileError(f"malformed search result: {e}") from e

    @staticmethod
    def measure(pwl: PWL, target: Target, interval: tuple[float, float]) -> dict[str, float]:
        """The standard metrics of `pwl` on `interval` (see `pwlgen.pwl.metrics`)."""
        return metrics(pwl, target, *interval)
