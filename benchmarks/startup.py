"""CLI start-up: best-of-N wall and CPU time of `pwlgen --help` and a quick search.

Each command runs N times in a fresh interpreter (``python -m pwlgen``) in a temporary
folder; the best wall time is what an idle machine gives, the CPU time (user + system of
the child) is what the command costs whatever the load. Targets (issue 11, item 7):
``pwlgen --help`` <= 0.3 s and ``pwlgen search --fn gelu --kbit 2`` <= 0.8 s of wall time on
an idle machine; the issue measured about 2 s for the search before (torch imported at start).

Usage::

    python benchmarks/startup.py [--runs 5] [--src DIR] [--baseline DIR]

``--src`` is the source tree measured (default: this checkout), ``--baseline`` another tree
(e.g. ``git worktree add /tmp/old <commit>``) measured the same way, side by side.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = {
    "pwlgen --help": (["--help"], 0.3),
    "pwlgen search --fn gelu --kbit 2": (["search", "--fn", "gelu", "--kbit", "2", "-q"], 0.8),
}
"""Label -> (arguments, target wall time in seconds)."""

ISSUE_BEFORE_S = {"pwlgen --help": None, "pwlgen search --fn gelu --kbit 2": 2.0}
"""Wall times the issue reported before the change (idle machine); None: not reported."""


def measure(src: Path, argv: list[str], runs: int) -> tuple[float, float]:
    """Best wall time and best child CPU time (s) of ``python -m pwlgen ARGV`` over `runs`."""
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    best_wall = best_cpu = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "pwlgen", *argv], cwd=tmp, env=env,
                                  capture_output=True, text=True)
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if proc.returncode != 0:
                raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr}")
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
    return best_wall, best_cpu


def main() -> None:
    """Print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--src", type=Path, default=Path(__file__).resolve().parents[1])
    ap.add_argument("--baseline", type=Path, help="another source tree to measure alike")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    print(f"best of {args.runs}; load average {load:.2f} on {os.cpu_count()} CPUs "
          "(wall figures are only comparable with the targets on an idle machine)")
    head = f"{'command':<36} {'wall s':>7} {'cpu s':>6} {'target':>7}  {'ok':<4}"
    if args.baseline:
        head += f" {'baseline wall':>13} {'cpu':>5}"
    print(head + f" {'issue before':>12}")
    for label, (argv, target) in COMMANDS.items():
        wall, cpu = measure(args.src, argv, args.runs)
        ok = "yes" if wall <= target else "NO"
        line = f"{label:<36} {wall:7.3f} {cpu:6.3f} {target:7.2f}  {ok:<4}"
        if args.baseline:
            bwall, bcpu = measure(args.baseline, argv, args.runs)
            line += f" {bwall:13.3f} {bcpu:5.2f}"
        before = ISSUE_BEFORE_S[label]
        shown = f"~{before:.1f}" if before else "-"
        print(line + f" {shown:>12}")


if __name__ == "__main__":
    main()
