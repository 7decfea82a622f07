"""Search quality: k-bit L2 optima, Few-Bit's step family, and `optimal` at every size.

Three sections (``--section``; all by default):

``kbit``

For GELU and SiLU with k = 2, 3, 4 (2**k - 1 knots, tails 0 and x, Approx-BP's intervals
GELU +-6.0697 and SiLU +-38.228) this prints the L2^2 error and wall time of lstsq on
uniform knots, optimal, sa, sgd and the other registered methods side by side, each as a
ratio to optimal; for k = 2 it also evaluates the published Approx-BP coefficients
(ReGELU2, ReSiLU2) with our metric and prints ours / published. Other registered methods
(``--methods``; all but ``rl`` and ``minimax`` by default) are listed with the L2^2 of
their result even when they optimise another objective.

``fewbit``
    The ``l2-deriv`` objective (int (f' - h')^2) on [-10, 10] for GELU and SiLU at
    B = 1..4: pwlgen's step family (``search(fn, kbit=B, objective="l2-deriv")``) next to
    Few-Bit's shipped levels and borders (skolai/fewbit ``fewbit/data/builtin.npz``; the
    numbers only), both measured with our exact metric; ratio ours / Few-Bit, the seeds
    that gave the same result, and whether the starts certified the optimum.
``sizes``
    ``search("silu", N, interval=(-8, 8))`` for N = 8..256: L2^2, wall time and L-BFGS
    iterations; issue 11's targets: N = 32 <= 4.13e-6, N = 64 <= 5 s, N = 128 <= 15 s.

Run: ``.venv/bin/python benchmarks/search_quality.py [--section fewbit] [--k 2 3 4]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pwlgen.functions import get_target
from pwlgen.pwl import PWL, l2_deriv_error, l2_error
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


# Few-Bit's shipped step functions (fewbit/data/builtin.npz, fitted on [-100, 100]): inner
# borders and the 2**B levels, left to right
FEWBIT = {
    ("gelu", 1): (
        (-4.226484143179032e-05,),
        (-2.1131717009875866e-07, 0.9999997886687558)),
    ("gelu", 2): (
        (-0.4535943509682957, 9.989794678179874e-06, 0.45360788676101765),
        (-0.0014811741797339684, 0.32506426288118356, 0.6749483148061111, 1.0014811963802677)),
    ("gelu", 3): (
        (-2.41658116954005, -0.7100080298552438, -0.3258405605020555, 0.00010694218776556477,
         0.32605716710624205, 0.7102408662564467, 2.414478888735787),
        (-0.00019399123669408362, -0.0882791290678004, 0.12568383354985802, 0.3723144154907068,
         0.6278513678266602, 0.8744505179754452, 1.0883480468965179, 1.0001949404007118)),
    ("gelu", 4): (
        (-2.992780304253979, -2.4941081421869766, -2.164917418343983, -1.8800016387085874,
         -0.9307958880051359, -0.6639971230015349, -0.45512570856158857, -0.27124533767775466,
         -0.09913636574675304, 0.06910843529264857, 0.24003066553979355, 0.4211002550329476,
         0.6240918118205511, 0.8759349274936571, 2.3588564904842477),
        (-4.264374081248176e-05, -0.02328244688351989, -0.05210718520061795,
         -0.08283560748912358, -0.1130414933460315, -0.016566784423756354, 0.09828292856898019,
         0.22332841154703878, 0.35427018244509434, 0.4880496970713448, 0.622057308257193,
         0.7537156703459548, 0.8800854655497443, 0.9971855155834626, 1.0979645524535615,
         1.0002214282145443)),
    ("silu", 1): (
        (7.938543812356892e-08,),
        (3.9692720605786164e-10, 1.0000000003969272)),
    ("silu", 2): (
        (-0.7432754121981399, 2.8676771883898183e-05, 0.743317994765398),
        (-0.0024134282347542803, 0.3222951733427406, 0.6777278401862188, 1.0024134978846462)),
    ("silu", 3): (
        (-4.6004048319160775, -1.2530336465646235, -0.7155969172897209, -0.29067550583509133,
         0.10143024691747264, 0.5044164080468019, 0.9722268409411096),
        (-0.00047970823417926747, -0.06949612692776304, 0.08078631593941292,
         0.26031542606926306, 0.45305919527301797, 0.6482033796782727, 0.8356162841015382,
         1.0026943440294824)),
    ("silu", 4): (
        (-5.401712406132045, -3.7574353260942184, -1.5441844156525695, -1.1445367624029072,
         -0.8420228246726654, -0.5840434705880102, -0.3497190285891471, -0.12752819663855985,
         0.09058684126500485, 0.3116880778913192, 0.5435590964536474, 0.7969549632696592,
         1.0906221656839257, 1.468842418687, 4.523960631044417),
        (-0.0002563070331601915, -0.03738105278235555, -0.08401847354748332,
         -0.011828796530608757, 0.07553946549778556, 0.17230617112815408, 0.27524924327413797,
         0.38204901199381935, 0.4907834573563487, 0.5996943248068071, 0.7070333291169718,
         0.8109128812826452, 0.909091198038444, 0.9985324521235551, 1.0740748576692856,
         1.0005084032224882)),
}


def fewbit_l2_deriv(name: str, bits: int, lo: float = -10.0, hi: float = 10.0) -> float:
    """Our exact int (f' - h')^2 on [lo, hi] of Few-Bit's shipped levels."""
    borders, levels = (np.asarray(v) for v in FEWBIT[(name, bits)])
    values = np.concatenate([[0.0], np.cumsum(levels[1:-1] * np.diff(borders))])
    t = get_target(name)
    return l2_deriv_error(PWL(borders, values, levels[0], levels[-1]), t.df, lo, hi, t.kinks)


def fewbit_section(seeds=(0, 1, 2)) -> None:
    """Print pwlgen's step family next to Few-Bit's shipped levels."""
    print("l2-deriv on [-10, 10]: int (f' - h')^2, h' a step function with 2**B levels")
    print(f"{'fn':<5} {'B':>2} {'pwlgen':>13} {'Few-Bit':>13} {'ours/FB':>10} "
          f"{'seeds same':>10} {'certified':>9} {'time s':>7}")
    for name in ("gelu", "silu"):
        for bits in (1, 2, 3, 4):
            t0 = time.perf_counter()
            rs = [search(name, kbit=bits, objective="l2-deriv", seed=s) for s in seeds]
            wall = (time.perf_counter() - t0) / len(seeds)
            ours = rs[0].metrics["l2_deriv"]
            same = all(r.pwl == rs[0].pwl for r in rs)
            fb = fewbit_l2_deriv(name, bits)
            print(f"{name:<5} {bits:>2} {ours:13.7g} {fb:13.7g} {ours / fb:10.7f} "
                  f"{str(same):>10} {str(rs[0].options['certified']):>9} {wall:7.2f}")


def sizes_section(sizes=(8, 16, 32, 64, 128, 256)) -> None:
    """Print `optimal` on SiLU [-8, 8] for growing knot counts."""
    print("optimal, silu on [-8, 8] (issue 11: N=32 <= 4.13e-6 (5.25e-6 before), "
          "N=64 <= 5 s (11 s), N=128 <= 15 s (107-160 s))")
    print(f"{'N':>4} {'L2^2':>13} {'time s':>7} {'iterations':>10} {'best start':>10}")
    for n in sizes:
        t0 = time.perf_counter()
        r = search("silu", n, interval=(-8.0, 8.0))
        wall = time.perf_counter() - t0
        print(f"{n:>4} {r.metrics['l2']:13.7g} {wall:7.2f} {r.options['iterations']:>10} "
              f"{r.options['best_start']:>10}")


def published_l2(name: str) -> float:
    """Our exact L2^2 of the published ReGELU2 / ReSiLU2 on the published interval."""
    t = get_target(name)
    lo, hi = t.default_interval()
    return l2_error(PWL.from_relu_sum(*PUBLISHED[name]), t.f, lo, hi, t.kinks)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--section", nargs="+", choices=("kbit", "fewbit", "sizes"),
                    default=["kbit", "fewbit", "sizes"])
    ap.add_argument("--fn", nargs="+", default=["gelu", "silu"])
    ap.add_argument("--k", nargs="+", type=int, default=[2, 3, 4])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--methods", nargs="+",
                    default=[*OURS, *(m for m in METHODS if m not in OURS + SKIP)],
                    help="registered methods to compare (optimal is always run)")
    args = ap.parse_args(argv)
    methods = list(dict.fromkeys(["optimal", *args.methods]))
    search("gelu", kbit=2, method="sgd", steps=2)  # imports (torch) outside the timings
    if "fewbit" in args.section:
        fewbit_section()
        print()
    if "sizes" in args.section:
        sizes_section()
        print()
    if "kbit" not in args.section:
        return 0
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
