"""`pwlgen verify`: prove an emitted unit with cocotb + Icarus, against a bar the user sets."""

from __future__ import annotations

import math
import os
import sys

from ._common import add_command, print_json

__all__ = ["register", "cmd_verify"]


def register(sub) -> None:
    """Add the subcommand."""
    p = add_command(
        sub, "verify", cmd_verify,
        help="prove an emitted unit: bit-exact and within the accuracy bar, every code",
        description=(
            "Simulate the Verilog named in an emit-verilog report with cocotb on Icarus "
            "Verilog, in a generated test wrapper: every input code (formats up to 16 bits; "
            "corners plus random codes above), seeded random valid/ready stalls and a reset in "
            "the middle of the stream. Every output must equal the golden model (the report's "
            "FixedPWL) and meet the accuracy bar against the function, recomputed in float64 "
            "(mpmath where float64 cannot decide) independently of the tables. The bar comes "
            "from the command line, never from the report: strict faithful by default (the "
            "output is floor or ceil of f(x)*2^F, exactly f where representable), or "
            "|error| <= --max-error-lsb. Exit 1 when the proof fails, 2 on bad input."
        ),
        example="pwlgen verify rtl_out/pwl_gelu.json --max-error-lsb 1",
    )
    p.add_argument("report", help="the <name>.json written by emit-verilog")
    p.add_argument("--max-error-lsb", type=float, default=None,
                   help="prove |error| <= this many output LSB instead of strict faithfulness")
    p.add_argument("--fn", default=None,
                   help="the function to prove against (default: the report's function)")
    p.add_argument("--seed", type=int, default=0, help="stimulus order and stall seed")
    p.add_argument("--p-valid", type=float, default=0.9,
                   help="probability the driver offers a sample each cycle")
    p.add_argument("--p-ready", type=float, default=0.9,
                   help="probability the consumer is ready each cycle")
    p.add_argument("--no-reset", action="store_true", help="skip the mid-stream reset")
    p.add_argument("--max-codes", type=int, default=1 << 16,
                   help="wider inputs get this many codes (corners plus random ones)")
    p.add_argument("--generation", choices=("2005", "2012"), default="2012",
                   help="Icarus Verilog language generation (-g2005 or -g2012)")
    p.add_argument("--build-dir", help="keep the simulator build here (default: temporary)")
    p.add_argument("--json", action="store_true",
                   help="print exactly one JSON document (the summary) on stdout")


def _check_args(args) -> None:
    from ..errors import HardwareError

    for name in ("p_valid", "p_ready"):
        v = getattr(args, name)
        if not 0 < v <= 1:
            raise HardwareError(f"--{name.replace('_', '-')} must be in (0, 1], not {v!r}")
    if args.max_codes < 1:
        raise HardwareError(f"--max-codes must be a positive integer, not {args.max_codes!r}")
    e = args.max_error_lsb
    if e is not None and not (math.isfinite(e) and e > 0):
        raise HardwareError(f"--max-error-lsb must be a finite number > 0, not {e!r}")


def cmd_verify(args) -> int:
    """Run the proof; print the bar, the function and formats, the counts and the verdict."""
    # the proof does no linear algebra: OpenBLAS' worker threads would only spin at start-up
    # (about 0.2 s of CPU here and in the simulator's Python); set before numpy loads
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from ..hw.sim import verify_unit

    _check_args(args)
    s = verify_unit(args.report, max_error_lsb=args.max_error_lsb, fn=args.fn,
                    build_dir=args.build_dir, seed=args.seed, p_valid=args.p_valid,
                    p_ready=args.p_ready, reset_at=-1 if args.no_reset else None,
                    max_codes=args.max_codes, generation=args.generation)
    if args.json:
        print_json(s)
        return 0 if s["passed"] else 1
    a = s["accuracy"]
    mp = f", {a['mpmath_codes']} codes recomputed in mpmath" if a["mpmath_codes"] else ""
    und = (f", {a['undecided_float64']} codes float64 could not decide (no mpmath form)"
           if a["undecided_float64"] else "")
    print(f"{s['unit']}: proving {a['function']} ({s['in_fmt']} -> {s['out_fmt']}), bar: "
          f"{a['bar']}{mp}{und}")
    print(f"  bench: {s['checked']}/{s['vectors']} outputs, {s['mismatches']} mismatches vs "
          f"the golden model, {s['lost']} lost, {s['x_outputs']} X, "
          f"{s['undefined_handshake_cycles']} cycles with undefined valid/ready, "
          f"{s['resets']} mid-stream reset, {s['cycles']} cycles (iverilog -g{args.generation})")
    print(f"  accuracy: {a['exact']} exact, {a['below_1lsb']} < 1 LSB, "
          + (f"{a['within_bar_1lsb_or_more']} >= 1 LSB within the bar, "
             if args.max_error_lsb is not None else "")
          + f"{a['over_bar']} over the bar; max error {a['max_err_lsb']:.4f} LSB")
    print(f"  -> {'PASS' if s['passed'] else 'FAIL'} ({s['wall_time_s']:.1f} s)")
    for m in s.get("first_mismatches", [])[:5]:
        print(f"  mismatch: x={m['x']} got={m['got']} want={m['want']}", file=sys.stderr)
    for m in a["first_over_bar"][:5]:
        print(f"  over the bar: x={m['x']} y={m['y']} f*2^F={m['t']:.6f} "
              f"(error {m['err_lsb']:.4f} LSB)", file=sys.stderr)
    return 0 if s["passed"] else 1
