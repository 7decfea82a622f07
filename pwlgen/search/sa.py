"""`sa`: simulated annealing over the knots, as Approx-BP searched ReGELU2 / ReSiLU2.

The state is the knot vector; the values always come from the inner solve
(`pwlgen.search.inner`), so the energy is the objective at the best values for those knots.
Each step moves every knot by a Gaussian step whose sigma decays linearly from
``sigma0`` to ``sigma1`` (fractions of the interval width), clips the knots into the
interval and re-sorts them, and accepts by the Metropolis rule at temperature
``T0 / (k + 1)``; the best state ever seen is kept. Unlike the original, ``chains``
independent chains advance together and every step evaluates all their proposals in one
batched numpy call (`pwlgen.search.inner.batch_objective`), so a default run takes about a
second instead of hours. After the first round, each of the ``restarts`` further rounds
starts all chains from the best state so far with the schedule reset.

Paper: Yang et al., "Reducing Fine-Tuning Memory Overhead by Approximate and
Memory-Sharing Backpropagation", ICML 2024 (Approx-BP); Kirkpatrick, Gelatt & Vecchi,
"Optimization by Simulated Annealing", Science 220 (1983).
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from ..pwl import PWL
from .inner import (
    batch_objective,
    best_values,
    check_options,
    curvature_knots,
    positive_float,
    positive_int,
    sanitize_knots,
)
from .problem import Problem

__all__ = ["run", "DEFAULTS"]

DEFAULTS = {
    "chains": 16,  # chains advanced together (one batched evaluation per step)
    "iterations": 1000,  # steps per round
    "restarts": 1,  # further rounds started from the best state
    "t0": 0.01,  # initial temperature, relative to the median starting energy
    "sigma0": 0.02,  # initial step size, fraction of the interval width
    "sigma1": 1e-4,  # final step size, fraction of the interval width
}
_MAX_DEFAULTS = {"chains": 4, "iterations": 150}  # the minimax energy is an LP per state


def run(problem: Problem, rng: np.random.Generator, *, progress: bool = False,
        **options) -> tuple[PWL, list[float], dict]:
    """Anneal the knots; return the best PWL seen.

    Parameters
    ----------
    problem : Problem
    rng : numpy.random.Generator
        Draws the starts, the moves and the acceptance tests.
    progress : bool
        Show a progress bar over the steps (stderr).
    **options
        ``chains`` (16), ``iterations`` (steps per round, 1000), ``restarts`` (1),
        ``t0`` (initial temperature relative to the median starting energy, 0.01),
        ``sigma0`` / ``sigma1`` (first / last step size as a fraction of the interval
        width, 0.02 / 1e-4). For the ``max`` objective the defaults drop to 4 chains and
        150 steps (each energy is a linear programme).

    Returns
    -------
    pwl : PWL
    history : list of float
        Best energy so far, every 10 steps.
    info : dict
        ``evaluations``, ``acceptance`` (fraction of accepted moves), ``best_round``.

    Raises
    ------
    SearchError
        On an unknown or invalid option.
    """
    defaults = {**DEFAULTS, **(_MAX_DEFAULTS if problem.objective == "max" else {})}
    opt = check_options("sa", options, defaults)
    chains = positive_int("sa", "chains", opt["chains"])
    iters = positive_int("sa", "iterations", opt["iterations"])
    restarts = positive_int("sa", "restarts", opt["restarts"], minimum=0)
    t0 = positive_float("sa", "t0", opt["t0"], allow_zero=True)
    sigma0 = positive_float("sa", "sigma0", opt["sigma0"])
    sigma1 = positive_float("sa", "sigma1", opt["sigma1"])
    lo, hi = problem.interval
    width = hi - lo
    n = problem.n_knots

    starts = [problem.uniform_knots()] + [
        curvature_knots(problem, q=rng.uniform(0.0, 1.0, n)) for _ in range(chains - 1)
    ]
    state = sanitize_knots(problem, np.stack(starts))
    energy = batch_objective(problem, state)
    best_i = int(np.argmin(energy))
    best, best_e, best_round = state[best_i].copy(), float(energy[best_i]), 0
    temp0 = t0 * float(np.median(energy))
    history: list[float] = []
    accepted = evals = 0
    total = (restarts + 1) * iters
    bar = tqdm(total=total, desc="sa", unit="step", disable=(not progress) or None, leave=False)
    for rnd in range(restarts + 1):
        if rnd:
            state = np.repeat(best[None, :], chains, axis=0)
            energy = np.full(chains, best_e)
        for k in range(iters):
            frac = k / max(iters - 1, 1)
            sigma = width * (sigma0 + (sigma1 - sigma0) * frac)
            step = sigma * rng.standard_normal(state.shape)
            if n > 3:  # move ~2 knots: moving all of many knots at once is almost never accepted
                step *= rng.uniform(size=state.shape) < 2.0 / n
            prop = sanitize_knots(problem, state + step)
            e_new = batch_objective(problem, prop)
            evals += chains
            temp = temp0 / (k + 1.0)
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                p_acc = np.exp(-(e_new - energy) / temp) if temp > 0 else 0.0
            ok = (e_new <= energy) | (rng.uniform(size=chains) < p_acc)
            state = np.where(ok[:, None], prop, state)
            energy = np.where(ok, e_new, energy)
            accepted += int(ok.sum())
            i = int(np.argmin(energy))
            if energy[i] < best_e:
                best, best_e, best_round = state[i].copy(), float(energy[i]), rnd
            if k % 10 == 0 or k == iters - 1:
                history.append(best_e)
            bar.update(1)
    bar.close()
    pwl = best_values(problem, best)
    info = {"evaluations": evals, "acceptance": accepted / max(evals, 1),
            "best_round": best_round}
    return pwl, history, info
