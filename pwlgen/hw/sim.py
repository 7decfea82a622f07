"""Run the cocotb bench (``sim/pwl_unit_tests.py``) on an emitted unit with Icarus Verilog.

Shared by the pytest runner (``sim/test_pwl_unit.py``) and ``pwlgen verify``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ..errors import HardwareError
from .emit import load_report

__all__ = ["BENCH_MODULE", "bench_dir", "run_bench"]

BENCH_MODULE = "pwl_unit_tests"
"""The cocotb test module (in the repository's ``sim/`` folder)."""


def bench_dir() -> Path:
    """The folder holding the cocotb bench (``<repo>/sim``, or ``$PWLGEN_SIM_DIR``)."""
    d = Path(os.environ.get("PWLGEN_SIM_DIR", Path(__file__).resolve().parents[2] / "sim"))
    if not (d / f"{BENCH_MODULE}.py").is_file():
        raise HardwareError(f"the cocotb bench {BENCH_MODULE}.py is not in {str(d)!r}")
    return d


def run_bench(report_path, *, build_dir=None, seed: int = 0, p_valid: float = 0.9,
              p_ready: float = 0.9, reset_at: int | None = None, max_codes: int = 1 << 16,
              simulator: str = "icarus", raise_on_fail: bool = False) -> dict:
    """Simulate the unit of `report_path` (an ``hw_report`` JSON) and return the bench summary.

    Parameters
    ----------
    report_path : path
        The report written by `pwlgen.hw.emit.emit`; the Verilog file sits next to it.
    build_dir : path or None
        Simulator build directory (default: a temporary one, removed afterwards).
    seed : int
        Seed of the stimulus order and of the valid/ready stalls.
    p_valid, p_ready : float
        Probability that the driver offers a sample / the monitor accepts one, per cycle.
    reset_at : int or None
        Input transfers before the mid-stream reset (None: half of the vectors; -1: no reset).
    max_codes : int
        Formats with more codes get this many random codes plus corners.
    simulator : str
        A `cocotb_tools.runner` simulator name.
    raise_on_fail : bool
        Let a failing cocotb test raise (what pytest wants) instead of returning its summary.

    Returns
    -------
    dict
        ``vectors``, ``checked``, ``mismatches``, ``max_err_lsb``, ``bound_violations``, ...,
        ``passed`` and ``wall_time_s``.

    Raises
    ------
    HardwareError
        When the simulator is missing or the bench produced no summary.
    ResultFileError
        When `report_path` is not an ``hw_report``.
    """
    t0 = time.perf_counter()
    report_path = Path(report_path).resolve()
    report = load_report(report_path)
    verilog = report_path.parent / report["files"]["verilog"]
    if not verilog.is_file():
        raise HardwareError(f"the Verilog file {str(verilog)!r} named in the report is missing")
    if simulator == "icarus" and shutil.which("iverilog") is None:
        raise HardwareError("iverilog is not installed (apt-get install -y iverilog)")
    from cocotb_tools.runner import get_results, get_runner

    sim_dir = str(bench_dir())
    own_tmp = build_dir is None
    build = Path(tempfile.mkdtemp(prefix="pwlgen_sim_")) if own_tmp else Path(build_dir)
    build = build.resolve()
    build.mkdir(parents=True, exist_ok=True)
    summary_path = build / "summary.json"
    summary_path.unlink(missing_ok=True)
    added = sim_dir not in sys.path
    if added:  # the runner hands sys.path to the simulator's Python as PYTHONPATH
        sys.path.insert(0, sim_dir)
    try:
        runner = get_runner(simulator)
        runner.build(sources=[verilog], hdl_toplevel=report["name"], build_dir=build,
                     always=True, timescale=("1ns", "1ps"), log_file=build / "build.log")
        env = {
            "PWLGEN_REPORT": str(report_path),
            "PWLGEN_SUMMARY": str(summary_path),
            "PWLGEN_SEED": str(seed),
            "PWLGEN_P_VALID": str(p_valid),
            "PWLGEN_P_READY": str(p_ready),
            "PWLGEN_MAX_CODES": str(max_codes),
        }
        ref = _reference_table(report, build)
        if ref is not None:
            env["PWLGEN_REF_F"] = str(ref)
        if reset_at is not None:
            env["PWLGEN_RESET_AT"] = str(reset_at)
        kw = {} if raise_on_fail else {"log_file": build / "sim.log"}
        saved = os.environ.pop("PYTEST_CURRENT_TEST", None) if not raise_on_fail else None
        try:
            results = runner.test(test_module=BENCH_MODULE, hdl_toplevel=report["name"],
                                  build_dir=build, test_dir=build, seed=seed, extra_env=env,
                                  **kw)
        finally:
            if saved is not None:
                os.environ["PYTEST_CURRENT_TEST"] = saved
        n_tests, n_failed = get_results(results)
        if not summary_path.is_file():
            raise HardwareError(f"the bench wrote no summary (see {build / 'sim.log'})")
        summary = json.loads(summary_path.read_text())
    finally:
        if added:
            sys.path.remove(sim_dir)
        if own_tmp:
            shutil.rmtree(build, ignore_errors=True)
    summary["passed"] = n_failed == 0 and n_tests > 0
    summary["wall_time_s"] = time.perf_counter() - t0
    summary["unit"] = report["name"]
    return summary


def _reference_table(report: dict, build: Path) -> Path | None:
    """The true f at every input code (a float64 ``.npy``) for formats of <= 20 bits."""
    import numpy as np

    from ..fixedpoint import FixedPWL
    from ..functions import get_target

    if not report.get("error"):
        return None
    fixed = FixedPWL.from_dict(report["fixed"])
    if fixed.in_fmt.bits > 20:
        return None
    f = get_target(report["function"]).f
    path = build / "ref_f.npy"
    np.save(path, np.asarray(f(fixed.in_fmt.to_real(fixed.in_fmt.codes())), dtype=np.float64))
    return path
