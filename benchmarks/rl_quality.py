"""RL breakpoint search vs the ISOCC 2023 paper: 8 points on [-8, 8], max |err| side by side.

For sigmoid, SiLU and GELU in the paper's tanh form this trains the `rl` method (PPO) for
``--timesteps`` steps per seed, from the start placement of `START` (or ``--start``), and
prints, next to the paper's published figures, the grid max and mean |err| of the best
deterministic placement (the range fit on the 0.001 grid), its ratio to the paper's max,
whether it meets it, the step at which it was found, and the wall and CPU time of the run
(CPU time of this process: the machine may be shared).

Run: ``.venv/bin/python benchmarks/rl_quality.py [--fn sigmoid silu gelu_tanh]
[--timesteps 300000] [--seeds 0] [--start curvature|even]``.
"""

from __future__ import annotations

import argparse
import time

from pwlgen.search import search

# the start placement per function (option start of the rl method), as measured best
START = {"sigmoid": "curvature", "silu": "curvature", "gelu_tanh": "curvature"}

# ISOCC 2023, 8 interior points on [-8, 8]: published grid mean and max |err|
PAPER = {
    "sigmoid": (0.0017676, 0.0054386),
    "silu": (0.0047654, 0.0147828),
    "gelu_tanh": (0.0021572, 0.0113623),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fn", nargs="+", default=list(PAPER), choices=list(PAPER))
    ap.add_argument("--timesteps", type=int, default=300_000)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--start", choices=["curvature", "even"],
                    help="one start for all functions (default: the START table)")
    args = ap.parse_args(argv)
    import stable_baselines3  # noqa: F401  (imports outside the timings)

    print(f"{'fn':<10} {'start':<9} {'seed':>4} {'max':>10} {'paper max':>10} {'ratio':>6} "
          f"{'meets':>5} {'mean':>10} {'paper mean':>10} {'best at':>8} {'steps':>7} {'wall s':>7} "
          f"{'cpu s':>7}")
    for name in args.fn:
        start = args.start or START[name]
        for seed in args.seeds:
            wall, cpu = time.perf_counter(), time.process_time()
            r = search(name, 10, method="rl", points=8, interval=(-8.0, 8.0), tails="slope",
                       timesteps=args.timesteps, seed=seed, start=start)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            gm = r.options["grid_metrics"]
            mean, mx = gm["grid_mean_err_abs"], gm["grid_max_err_abs"]
            p_mean, p_max = PAPER[name]
            print(f"{name:<10} {start:<9} {seed:>4} {mx:>10.7f} {p_max:>10.7f} {mx / p_max:>6.3f} "
                  f"{'yes' if mx <= p_max else 'NO':>5} {mean:>10.7f} {p_mean:>10.7f} "
                  f"{r.options['best_at_step']:>8} {r.options['timesteps_used']:>7} "
                  f"{wall:>7.1f} {cpu:>7.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
