"""CPU time of the whole `pwlgen verify rtl_out/pwl_gelu.json` command (start-up and build in).

Runs the command as a subprocess, best of N, measuring user + sys CPU of the children with
``resource.getrusage(RUSAGE_CHILDREN)`` (Python, iverilog, vvp and cocotb's Python inside it),
and prints it next to the issue's figures: the cocotb loop that awaited every clock cost about
10 s of CPU; the target is <= 3 s.

    python benchmarks/verify_speed.py [--repeat 3] [--report rtl_out/pwl_gelu.json] [-- ARGS]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ISSUE_PER_CLOCK_COCOTB_S = 10.0  # issue 10: the exhaustive per-clock cocotb run
TARGET_S = 3.0


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_once(argv: list[str]) -> tuple[float, float, int]:
    c0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, check=False)
    cpu, wall = _children_cpu() - c0, time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        sys.exit(f"verify failed to run: {proc.stderr.strip()}")
    return cpu, wall, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--report", default="rtl_out/pwl_gelu.json")
    ap.add_argument("extra", nargs="*", help="more verify options (after --)")
    args = ap.parse_args()
    argv = [sys.executable, "-m", "pwlgen", "verify", args.report, *args.extra]
    runs = [run_once(argv) for _ in range(args.repeat)]
    best = min(runs)
    print(f"pwlgen verify {args.report} {' '.join(args.extra)}".rstrip())
    for i, (cpu, wall, rc) in enumerate(runs):
        print(f"  run {i + 1}: {cpu:.2f} s CPU (user+sys), {wall:.1f} s wall, exit {rc}")
    print(f"best of {args.repeat}: {best[0]:.2f} s CPU  | per-clock cocotb loop (issue 10): "
          f"~{ISSUE_PER_CLOCK_COCOTB_S:.0f} s CPU ({ISSUE_PER_CLOCK_COCOTB_S / best[0]:.1f}x "
          f"less) | target <= {TARGET_S:.0f} s: {'met' if best[0] <= TARGET_S else 'MISSED'}")


if __name__ == "__main__":
    main()
