"""Search for the best PWL approximation: one entry point, `search`, and a method registry.

Every method lives in its own module with the same signature,
``run(problem, rng, *, progress=False, **options) -> (PWL, history, info)``, and is
registered by name in `METHODS` (module name = registry key = CLI value).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable

import numpy as np

from ..errors import SearchError, TargetTypeError
from ..functions import Target, get_target
from .problem import OBJECTIVE_NAMES, TAIL_MODES, Problem, SearchResult

__all__ = [
    "search",
    "kbit_problem",
    "FAMILIES",
    "STEP_INTERVAL",
    "METHODS",
    "method_names",
    "Problem",
    "SearchResult",
    "OBJECTIVE_NAMES",
    "TAIL_MODES",
]

METHODS: dict[str, str] = {
    "lstsq": "Fit values on given (default: uniform) knots by exact least squares.",
    "optimal": "Multi-start BFGS over the knots, best values solved inside (our best).",
    "sa": "Simulated annealing over the knots (Approx-BP), batched over parallel chains.",
    "sgd": "Gradient descent (Adam or SGD+momentum) in torch over knots and values.",
    "minimax": "Breakpoints and values minimising the grid max |err| (an LP inside).",
    "curvature": "Breakpoints at equal shares of the integrated curvature^(1/2) (Li et al.).",
    "uniform": "Evenly spaced breakpoints, least-squares values (baseline).",
    "rl": "PPO agent refines the breakpoints by bounded moves (ISOCC 2023; needs [rl]).",
}
"""Method name -> one-line description; the module ``pwlgen.search.<name>`` holds ``run``."""

MAX_KBIT = 8


def method_names() -> list[str]:
    """Registered method names."""
    return list(METHODS)


def _method(name: str) -> Callable:
    if name not in METHODS:
        raise SearchError(f"unknown method {name!r}: choose one of {', '.join(METHODS)}")
    return importlib.import_module(f"{__name__}.{name}").run


FAMILIES = ("step", "continuous")
"""Shapes of the k-bit problem for ``l2-deriv``.

- ``step`` (default for ``l2-deriv``): Few-Bit's; h' is a free step function of 2**k levels
  and 2**k - 1 borders (the tail levels are means of f' too); measured on
  `STEP_INTERVAL` unless an interval is given;
- ``continuous`` (the only shape for ``l2``): a continuous PWL whose tails lie on the
  asymptotes (ReGELU2's), so the outer levels are the asymptotes' slopes.
"""

STEP_INTERVAL = (-10.0, 10.0)
"""Where the step family is measured by default: Few-Bit's evaluation interval."""


def kbit_problem(target: Target | str, kbit: int, *, objective: str = "l2",
                 interval: tuple[float, float] | None = None,
                 family: str | None = None) -> Problem:
    """The k-bit problem: 2**k - 1 knots, in the shape `family` (see `FAMILIES`).

    ``family=None`` picks ``step`` for ``l2-deriv`` and ``continuous`` otherwise.

    Raises
    ------
    SearchError
        For a bad `kbit` or `family`, ``step`` with another objective than ``l2-deriv``,
        or a continuous problem on a target without both asymptotes.
    """
    if not isinstance(kbit, int | np.integer) or not 1 <= kbit <= MAX_KBIT:
        raise SearchError(f"kbit must be an integer in 1..{MAX_KBIT}, not {kbit!r}")
    if family is None:
        family = "step" if objective == "l2-deriv" else "continuous"
    if family not in FAMILIES:
        raise SearchError(f"family must be one of {', '.join(FAMILIES)}, not {family!r}")
    if family == "step" and objective != "l2-deriv":
        raise SearchError(f"the step family is the l2-deriv objective's, not {objective!r}'s")
    t = get_target(target) if isinstance(target, str) else target
    if family == "step":
        return Problem(t, 2**kbit - 1, interval or STEP_INTERVAL, objective, "free", int(kbit))
    if t.left is None or t.right is None:
        raise SearchError(f"the k-bit problem needs asymptotes on both sides; {t.name!r} lacks one")
    return Problem(t, 2**kbit - 1, interval or t.default_interval(), objective, "pinned", int(kbit))


def search(
    target: Target | str,
    n_knots: int | None = None,
    *,
    kbit: int | None = None,
    method: str = "optimal",
    objective: str = "l2",
    interval: tuple[float, float] | None = None,
    tails: str = "pinned",
    family: str | None = None,
    seed: int | None = 0,
    progress: bool = False,
    **options,
) -> SearchResult:
    """Find a PWL approximation of `target`.

    Parameters
    ----------
    target : Target or str
        A target or its name / expression.
    n_knots : int, optional
        Number of knots (general problem). Exclusive with `kbit`.
    kbit : int, optional
        The k-bit family: 2**k - 1 knots with tails on the asymptotes.
    method : str
        A key of `METHODS`.
    objective : {"l2", "l2-deriv", "max"}
    interval : (float, float), optional
        Where the objective is measured; defaults to where f differs from its asymptotes.
    tails : {"pinned", "slope", "free"}
        Of the general problem (the k-bit problem's follow from `family`).
    family : {"step", "continuous"}, optional
        Shape of the k-bit problem (see `FAMILIES`); default ``step`` for ``l2-deriv``.
    seed : int or None
        Seed of the method's random generator.
    progress : bool
        Show a progress bar (on stderr) for long methods.
    **options
        Passed to the method.

    Returns
    -------
    SearchResult

    Examples
    --------
    >>> r = search("gelu", kbit=2, method="lstsq")
    >>> r.n_knots
    3
    """
    t = _check_arguments(target, n_knots, kbit, interval, seed)
    if kbit is not None:
        problem = kbit_problem(t, kbit, objective=objective, interval=interval, family=family)
        family = "step" if problem.tails == "free" else "continuous"
    elif family is not None:
        raise SearchError("family applies to the k-bit problem (kbit=...), not to n_knots")
    else:
        problem = Problem(t, n_knots, interval or t.default_interval(), objective, tails)
    problem.check_finite()
    run = _method(method)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    pwl, history, info = run(problem, rng, progress=progress, **options)
    wall = time.perf_counter() - start
    return SearchResult(
        pwl=pwl,
        target=t.expression or t.name,
        method=method,
        objective=objective,
        interval=problem.interval,
        seed=seed,
        wall_time_s=wall,
        metrics=SearchResult.measure(pwl, t, problem.interval),
        history=[float(h) for h in history],
        options={**{k: v for k, v in options.items() if _plain(v)}, **info,
                 **({"family": family} if family else {})},
        kbit=problem.kbit,
        tails=problem.tails,
    )


def _check_arguments(target, n_knots, kbit, interval, seed) -> Target:
    """Validate `search`'s arguments before any work; return the target."""
    if isinstance(target, str):
        t = get_target(target)
    elif isinstance(target, Target):
        t = target
    else:
        raise TargetTypeError(f"target must be a Target or a string (a name or an expression), "
                              f"not {type(target).__name__}")
    if (n_knots is None) == (kbit is None):
        raise SearchError("give exactly one of n_knots and kbit")
    for name, v in (("n_knots", n_knots), ("kbit", kbit)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | np.integer)):
            raise SearchError(f"{name} must be an integer, not {v!r}")
    if interval is not None:
        try:
            lo, hi = (float(v) for v in interval)
        except (TypeError, ValueError):
            raise SearchError(f"interval must be two numbers (lo, hi), not {interval!r}") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise SearchError(f"interval must have lo < hi, both finite, not {interval!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)
                             or seed < 0):
        raise SearchError(f"seed must be None or a non-negative integer, not {seed!r}")
    return t


def _plain(v) -> bool:
    return isinstance(v, int | float | str | bool | type(None) | list | tuple)
