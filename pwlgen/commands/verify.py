"""`pwlgen verify`: run the cocotb bench on an emitted unit (Icarus Verilog)."""

from __future__ import annotations

import sys

from ._common import add_command, print_json

__all__ = ["register", "cmd_verify"]


def register(sub) -> None:
    """Add the subcommand."""
    p = add_command(
        sub, "verify", cmd_verify,
        help="prove an emitted unit bit-exact with cocotb + Icarus",
        description=(
            "Simulate the Verilog named in an emit-verilog report with cocotb on Icarus "
            "Verilog: every input code (formats up to 16 bits; random codes plus corners "
            "above), seeded random valid/ready stalls and a reset in the middle of the stream. "
            "Each output is checked bit-exact against the golden model (the report's "
            "FixedPWL) and against the true function within the reported max error. "
            "Exit 1 on any mismatch."
        ),
        example="pwlgen verify rtl_out/pwl_gelu.json",
    )
    p.add_argument("report", help="the <name>.json written by emit-verilog")
    p.add_argument("--seed", type=int, default=0, help="stimulus order and stall seed")
    p.add_argument("--p-valid", type=float, default=0.9,
                   help="probability the driver offers a sample each cycle")
    p.add_argument("--p-ready", type=float, default=0.9,
                   help="probability the consumer is ready each cycle")
    p.add_argument("--no-reset", action="store_true", help="skip the mid-stream reset")
    p.add_argument("--max-codes", type=int, default=1 << 16,
                   help="wider inputs get this many random codes plus corners")
    p.add_argument("--build-dir", help="keep the simulator build here (default: temporary)")
    p.add_argument("--json", action="store_true",
                   help="print exactly one JSON document (the summary) on stdout")


def cmd_verify(args) -> int:
    """Run the bench; print vectors, mismatches, max error and wall time."""
    from ..errors import HardwareError
    from ..hw.sim import run_bench

    for name in ("p_valid", "p_ready"):
        v = getattr(args, name)
        if not 0 < v <= 1:
            raise HardwareError(f"--{name.replace('_', '-')} must be in (0, 1], not {v!r}")
    summary = run_bench(args.report, build_dir=args.build_dir, seed=args.seed,
                        p_valid=args.p_valid, p_ready=args.p_ready,
                        reset_at=-1 if args.no_reset else None, max_codes=args.max_codes)
    ok = summary["passed"] and summary["mismatches"] == 0
    if args.json:
        print_json(summary)
    else:
        err = summary.get("max_err_lsb")
        err_text = "n/a" if err is None else f"{err:.4f}"
        print(f"{summary['unit']}: {summary['checked']} vectors checked, "
              f"{summary['mismatches']} mismatches, max error {err_text} LSB vs f "
              f"(bound violations {summary['bound_violations']}), {summary['resets']} reset, "
              f"{summary['cycles']} cycles, {summary['wall_time_s']:.1f} s "
              f"-> {'PASS' if ok else 'FAIL'}")
        for m in summary.get("first_mismatches", [])[:5]:
            print(f"  x={m['x']} got={m['got']} want={m['want']}", file=sys.stderr)
    return 0 if ok else 1
