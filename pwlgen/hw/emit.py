# amaranth: UnusedElaboratable=no
"""Emission: Verilog, integer tables, C model and a JSON report for one PWL unit.

Everything is written into a staging folder first and published into the output directory only
when every file is complete, the report last (`pwlgen.io.publish`), so a failure leaves the
output directory as it was.
"""

from __future__ import annotations

import csv
import io
import json
import re

from ..io import atomic_write, load, publish, to_jsonable
from .lint import waiver_text
from .unit import PWLUnit, select_cost

__all__ = [
    "REPORT_KIND",
    "unit_name",
    "to_verilog",
    "tables_csv",
    "tables_hex",
    "build_report",
    "emit",
    "load_report",
    "fixed_from_report",
    "update_report",
]

REPORT_KIND = "hw_report"
_SCHEMA = 1


def unit_name(function: str) -> str:
    """The module / file stem of a unit: ``pwl_<function>`` (``pwl_expr`` for expressions)."""
    stem = function if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", function or "") else "expr"
    return f"pwl_{stem}"


def to_verilog(unit: PWLUnit, name: str) -> str:
    """The unit as Verilog text (module `name`; no source locations, so the output is stable)."""
    from amaranth.back import verilog

    if unit.stages:
        return verilog.convert(unit, name=name, emit_src=False)
    # a combinational unit has no clock domain: keep clk / rst ports (unused) so that every
    # unit plugs in, and is simulated, the same way
    from amaranth.hdl import ClockDomain, Module

    top = Module()
    top.domains.sync = cd = ClockDomain()
    top.submodules.unit = unit
    ports = [cd.clk, cd.rst, unit.i_stream.payload, unit.i_stream.valid, unit.i_stream.ready,
             unit.o_stream.payload, unit.o_stream.valid, unit.o_stream.ready]
    return verilog.convert(top, name=name, ports=ports, emit_src=False)


def _hex(values, bits: int) -> str:
    mask = (1 << bits) - 1
    digits = max(1, -(-bits // 4))
    return "".join(f"{int(v) & mask:0{digits}x}\n" for v in values)


def tables_hex(unit: PWLUnit) -> dict[str, str]:
    """``$readmemh`` files (two's complement) of the breakpoints, slopes and intercepts."""
    bp_bits = unit.in_fmt.bits
    return {
        "breakpoints": _hex(unit._bps, bp_bits),
        "slopes": _hex(unit._slopes, unit.slope_bits),
        "intercepts": _hex(unit._intercepts, unit.intercept_bits),
    }


def tables_csv(unit: PWLUnit) -> str:
    """One row per segment: index, first and last table code, slope, intercept (integers).

    Table codes are the input codes, or ``v = -|x|`` for a folded unit.
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["segment", "first_code", "last_code", "slope", "intercept"])
    edges = [unit.in_fmt.min_code, *unit._bps, unit.fixed.table_max_code + 1]
    for i in range(unit.n_segments):
        w.writerow([i, edges[i], edges[i + 1] - 1, unit._slopes[i], unit._intercepts[i]])
    return buf.getvalue()


def build_report(unit: PWLUnit, name: str, files: dict[str, str], error: dict | None) -> dict:
    """The JSON report of an emitted unit (kind ``hw_report``)."""
    fixed = unit.fixed
    return {
        "kind": REPORT_KIND,
        "schema": _SCHEMA,
        "name": name,
        "function": fixed.function,
        "in_fmt": str(unit.in_fmt),
        "out_fmt": str(unit.out_fmt),
        "rounding": fixed.rounding,
        "saturation": True,
        "fold": fixed.fold,
        "fold_center": fixed.fold_center,
        "n_segments": unit.n_segments,
        "slope_bits": unit.slope_bits,
        "slope_frac_bits": fixed.slope_frac_bits,
        "intercept_bits": unit.intercept_bits,
        "intercept_frac_bits": fixed.intercept_frac_bits,
        "acc_bits": unit.acc_bits,
        "stages": unit.stages,
        "max_stages": unit.max_stages,
        "latency_cycles": unit.latency,
        "throughput": unit.throughput,
        "select_arch": unit.select_arch,
        "select_cost_lut4": {
            a: round(select_cost(a, unit.n_segments, unit.in_fmt.bits), 1)
            for a in ("parallel", "tree")
        },
        "ports": {
            "clk": "clk", "rst": "rst (synchronous, active high; i_stream ready is low in reset)",
            "i_stream": ["i_stream__payload", "i_stream__valid", "i_stream__ready"],
            "o_stream": ["o_stream__payload", "o_stream__valid", "o_stream__ready"],
        },
        "files": files,
        "error": error,
        "synthesis": {},
        "fixed": fixed.to_dict(),
    }


def emit(fixed, out_dir, *, stages: int | None = None, select_arch: str | None = None,
         name: str | None = None, target=None, c_model: bool = True) -> dict:
    """Write ``<name>.v``, tables, C header and ``<name>.json`` for `fixed` into `out_dir`.

    Parameters
    ----------
    fixed : FixedPWL
        The integer tables (`pwlgen.fixedpoint.FixedPWL`).
    out_dir : path
        Output directory (created if missing).
    stages : int or None
        Pipeline depth (None: fully registered), see `PWLUnit`.
    select_arch : str or None
        ``"parallel"``, ``"tree"`` or None (chosen by the area model).
    name : str or None
        Module and file stem (default ``pwl_<function>``).
    target : Target or None
        The true function for the error report (default: ``get_target(fixed.function)``).
    c_model : bool
        Also write the C header when `pwlgen.hw.c_model` is available.

    Returns
    -------
    dict
        The report, as written to ``<name>.json`` (``report["path"]`` is added, not saved).

    Raises
    ------
    HardwareError
        When the unit cannot be built (e.g. `stages` out of range).
    """
    name = name or unit_name(fixed.function)
    unit = PWLUnit(fixed, stages=stages, select_arch=select_arch)
    error = _error_report(fixed, target)
    texts: dict[str, str] = {f"{name}.v": to_verilog(unit, name)}
    texts[f"{name}_tables.csv"] = tables_csv(unit)
    for key, text in tables_hex(unit).items():
        texts[f"{name}_{key}.hex"] = text
    if c_model:
        header = _c_header(fixed, name)
        if header is not None:
            texts[f"{name}.h"] = header
    files = {
        "verilog": f"{name}.v",
        "tables_csv": f"{name}_tables.csv",
        **{f"{k}_hex": f"{name}_{k}.hex" for k in ("breakpoints", "slopes", "intercepts")},
    }
    if f"{name}.h" in texts:
        files["c_header"] = f"{name}.h"
    # Verilator waivers, each with its reason, for what Amaranth's output always has
    texts[f"{name}.vlt"] = waiver_text(texts[f"{name}.v"], f"{name}.v")
    files["verilator_waivers"] = f"{name}.vlt"
    report = build_report(unit, name, files, error)
    texts[f"{name}.json"] = json.dumps(to_jsonable(report), indent=2) + "\n"
    # all or nothing: staged in out_dir, then published with the report (manifest) last
    return {**report, "path": str(publish(out_dir, texts, manifest=f"{name}.json"))}


def _error_report(fixed, target) -> dict:
    from ..fixedpoint import error_report

    if target is None:
        from ..functions import get_target

        target = get_target(fixed.function)
    return to_jsonable(error_report(fixed, target))


def _c_header(fixed, name: str) -> str | None:
    try:
        from .c_model import c_header
    except ImportError:
        return None
    return c_header(fixed, name=name)


def load_report(path) -> dict:
    """Read an ``hw_report`` JSON file; ResultFileError when it is not one."""
    from ..errors import ResultFileError

    doc = load(path)  # always a mapping: io.load rejects anything else
    if doc.get("kind") != REPORT_KIND:
        raise ResultFileError(
            f"{path}: expected a {REPORT_KIND!r} document, not {doc.get('kind')!r}"
        )
    for key in ("name", "files", "fixed"):
        if key not in doc:
            raise ResultFileError(f"{path}: the report has no {key!r} entry")
    return doc


def fixed_from_report(doc: dict):
    """Rebuild the FixedPWL (golden model) stored in a report."""
    from ..fixedpoint import FixedPWL

    return FixedPWL.from_dict(doc["fixed"])


def update_report(path, **entries) -> dict:
    """Set top-level entries of a report file (e.g. ``synth``) and rewrite it atomically."""
    doc = load_report(path)
    doc.update(to_jsonable(entries))
    atomic_write(path, json.dumps(to_jsonable(doc), indent=2) + "\n")
    return doc
