"""Search quality: L2^2 error and wall time of every method on the k-bit problems.

For GELU and SiLU with k = 2, 3, 4 (2**k - 1 knots, tails 0 and x, Approx-BP's intervals
GELU +-6.0697 and SiLU +-38.228) this prints the L2^2 error and wall time of lstsq on
uniform knots, optimal, sa, sgd and the other registered methods side by side, each as a
ratio to optimal; for k = 2 it also evaluates the published Approx-BP coefficients
(ReGELU2, ReSiLU2) with our metric and prints ours / published. Other registered methods
(``--methods``; all but ``rl`` and ``minimax`` by default) are listed with the L2^2 of
their result even when they optimise another objective.

Run: ``.venv/bin/python benchmarks/search_quality.py [--k 2 3 4] [--fn gelu silu]``.
"""

from __future__ import annotations

import argparse
import time

from pwlgen.functions import get_target
from pwlgen.pwl import PWL, l2_error
from pwlgen.search import METHODS, search

OURS = ("lstsq", "optimal", "sa", "sgd")
# rl trains an agent per problem, minimax takes minutes on SiLU's +-38: ask for them by
# --methods
SKIP = ("rl", "minimax")

# Approx-BP's published (a, c), h(x) = sum a_i max(x - c_i, 0)  (LowMemoryBP, ICML 2024)
PUBLISHED = {
    "gelu": ((-0.04922261145617846, 1.0979632065417297, -0.048740595085551286),
             (-3.1858810036855245, -0.001178821281161997, 3.190832613414926)),
    "silu": ((-0.04060357190528599, 1.080925428529668, -0.040321856624382146),
             (-6.3050461001646445, -0.0008684942046214787, 6.325815242089708)),
}


def published_l2(name: str) -> float:
    """Our exact L2^2 of the published ReGELU2 / ReSiLU2 on the published interval."""
    t = get_target(name)
    lo, hi = t.default_interval()
    return l2_error(PWL.from_relu_sum(*PUBLISHED[name]), t.f, lo, hi, t.kinks)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fn", nargs="+", default=["gelu", "silu"])
    ap.add_argument("--k", nargs="+", type=int, default=[2, 3, 4])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--methods", nargs="+",
                    default=[*OURS, *(m for m in METHODS if m not in OURS + SKIP)],
                    help="registered methods to compare (optimal is always run)")
    args = ap.parse_args(argv)
    methods = list(dict.fromkeys(["optimal", *args.methods]))
    search("gelu", kbit=2, method="sgd", steps=2)  # imports (torch) outside the timings
    print(f"{'fn':<5} {'k':>2} {'method':<8} {'L2^2':>13} {'/optimal':>9} {'time s':>7}")
    for name in args.fn:
        for k in args.k:
            rows = {}
            for m in methods:
                t0 = time.perf_counter()
                r = search(name, kbit=k, method=m, seed=args.seed)
                rows[m] = (r.metrics["l2"], time.perf_counter() - t0)
            best = rows["optimal"][0]
            for m, (l2, wall) in rows.items():
                print(f"{name:<5} {k:>2} {m:<8} {l2:13.7g} {l2 / best:9.5f} {wall:7.2f}")
            if k == 2 and name in PUBLISHED:
                pub = published_l2(name)
                print(f"{name:<5} {k:>2} {'Approx-BP':<8} {pub:13.7g} {pub / best:9.5f}"
                      f"   (published)")
                print("      ours/published: " + "  ".join(
                    f"{m} {rows[m][0] / pub:.5f}" for m in methods))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
