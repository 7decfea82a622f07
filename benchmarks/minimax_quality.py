"""minimax quality in the paper's setup: grid and continuous max, symmetry, time, vs many starts.

The ISOCC 2023 setup: 8 interior points on [-8, 8], the outer knots on the range ends, the
asymptotes' slopes outside, errors on the 0.001 grid. For sigmoid, tanh, SiLU and GELU
(tanh form) this runs the default `minimax` (4 starts, SLP polish) for the grid max and,
with ``continuous=True``, for the true max between the grid points, and prints the grid
max, the continuous max, whether the result is symmetric, and the wall time, next to the
figure before the SLP polish (`OLD`, measured on main before this change).

The reference is independent of the default's starts: `--seeds` runs from random
placements (the |f''|^(1/2) placement, each point moved by a normal step of 0.3 mean gaps,
seeds 1, 2, ...; each through the L-BFGS start and the polish). It prints the best max
found over them and the default's ratio to it; ``<= 1 + 1e-4`` is the issue's bar ("at
or below the optimum to 1e-4").

Run (from the repository root): ``.venv/bin/python -m benchmarks.minimax_quality
[--fn sigmoid tanh] [--seeds 8]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pwlgen.search.minimax import density_points, run
from pwlgen.search.rangefit import range_problem, range_target

OLD = {"sigmoid": 0.003817, "tanh": 0.008699, "silu": 0.009294, "gelu_tanh": 0.007453}
"""Grid max |err| of `minimax --points 8` before the SLP polish (main, seed 0)."""


def is_symmetric(pwl, kind: str | None) -> bool:
    """Knots mirrored about 0 (to 1e-9); values: v + v_mirror constant (point symmetry) or
    v - v_mirror = 2 a k (even once the line a x is taken off; to 1e-9)."""
    k, v = pwl.knots, pwl.values
    if kind is None or not np.allclose(k, -k[::-1], rtol=0, atol=1e-9):
        return False
    if kind == "point":
        return bool(np.allclose(v + v[::-1], v[0] + v[-1], rtol=0, atol=1e-9))
    d = v - v[::-1]
    a = np.dot(d, k) / (2.0 * np.dot(k, k))
    return bool(np.allclose(d, 2.0 * a * k, rtol=0, atol=1e-9))


def one(problem, seed: int, continuous: bool, init=None) -> tuple[float, object, dict, float]:
    """One minimax run: (its score, PWL, info, wall seconds)."""
    t0 = time.perf_counter()
    kw = {"starts": 1, "init": init} if init is not None else {}
    pwl, _, info = run(problem, np.random.default_rng(seed), points=8,
                       continuous=continuous, **kw)
    wall = time.perf_counter() - t0
    s = info["continuous_max_err_abs"] if continuous else info["grid_metrics"]["grid_max_err_abs"]
    return s, pwl, info, wall


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fn", nargs="+", default=list(OLD))
    ap.add_argument("--seeds", type=int, default=8, help="random-start reference runs per fn")
    args = ap.parse_args(argv)
    run(range_problem("sigmoid", 2), np.random.default_rng(0), points=2, starts=1, step=0.01,
        opt_step=0.05)  # imports outside the timings
    print(f"{'fn':<10} {'score':<10} {'old grid':>9} {'grid max':>11} {'cont max':>11} "
          f"{'sym':>4} {'time s':>6} {'best of seeds':>13} {'ratio':>10}")
    for name in args.fn:
        problem = range_problem(range_target(name, "isocc2023"), 8)
        f2 = density_points(problem.target, problem.interval, 8, "f2")
        for continuous in (False, True):
            s, pwl, info, wall = one(problem, 0, continuous)
            ref = np.inf
            for seed in range(1, args.seeds + 1):
                jitter = np.random.default_rng(seed).normal(0.0, 0.3 * 16.0 / 9.0, 8)
                init = np.sort(np.clip(f2 + jitter, -7.99, 7.99))
                ref = min(ref, one(problem, seed, continuous, init)[0])
            label = "cont" if continuous else "grid"
            old = f"{OLD[name]:9.6f}" if not continuous else f"{'':>9}"
            print(f"{name:<10} {label:<10} {old} {info['grid_metrics']['grid_max_err_abs']:11.9f} "
                  f"{info['continuous_max_err_abs']:11.9f} "
                  f"{'yes' if is_symmetric(pwl, info['symmetry']) else 'no':>4} {wall:6.2f} "
                  f"{ref:13.9f} {s / ref:10.7f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
