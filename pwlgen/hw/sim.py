"""Prove an emitted unit: the bulk cocotb bench on Icarus Verilog, then the accuracy proof.

`run_bench` builds the unit with its test wrapper (`pwlgen.hw.harness`) and runs the cocotb
bench ``sim/pwl_unit_tests.py`` (bit-exact against the golden model, stalls, mid-stream reset);
`verify_unit` adds the accuracy proof of the captured outputs against the function, recomputed
independently of the tables and of the report's error entry (`pwlgen.hw.proof`). Shared by the
pytest runner (``sim/test_pwl_unit.py``) and ``pwlgen verify``.

This module imports neither Amaranth nor torch: verify starts fast.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from ..errors import HardwareError, ResultFileError

__all__ = ["BENCH_MODULE", "REPORT_KIND", "GENERATIONS", "bench_dir", "load_unit", "run_bench",
           "verify_unit"]

BENCH_MODULE = "pwl_unit_tests"
"""The cocotb test module (in the repository's ``sim/`` folder)."""
REPORT_KIND = "hw_report"
GENERATIONS = ("2005", "2012")
"""Icarus Verilog language generations the bench can compile the unit with."""
_PORTS = ("clk", "rst", "i_stream__payload", "i_stream__valid", "i_stream__ready",
          "o_stream__payload", "o_stream__valid", "o_stream__ready")


def bench_dir() -> Path:
    """The folder holding the cocotb benches (``<repo>/sim``, or ``$PWLGEN_SIM_DIR``)."""
    d = Path(os.environ.get("PWLGEN_SIM_DIR", Path(__file__).resolve().parents[2] / "sim"))
    if not (d / f"{BENCH_MODULE}.py").is_file():
        raise HardwareError(f"the cocotb bench {BENCH_MODULE}.py is not in {str(d)!r}")
    return d


def load_unit(report_path) -> tuple[dict, Path]:
    """Read an ``hw_report`` and find its Verilog; every missing piece is an error.

    Returns
    -------
    (dict, Path)
        The report (its ``fixed`` entry checked by `FixedPWL.from_dict`) and the Verilog path.

    Raises
    ------
    ResultFileError
        When the file is missing, is not an ``hw_report``, or lacks the unit's name, files,
        tables or formats.
    HardwareError
        When the Verilog file is missing or its ports do not match the report's formats.
    """
    from ..fixedpoint import FixedPWL
    from ..io import load

    path = Path(report_path)
    doc = load(path)  # ResultFileError for a missing or unparsable file
    if doc.get("kind") != REPORT_KIND:
        raise ResultFileError(f"{path}: expected a {REPORT_KIND!r} document, not "
                              f"{doc.get('kind')!r}")
    for key in ("name", "files", "fixed"):
        if key not in doc:
            raise ResultFileError(f"{path}: the report has no {key!r} entry")
    if not isinstance(doc["files"], dict) or not isinstance(doc["files"].get("verilog"), str):
        raise ResultFileError(f"{path}: the report names no Verilog file (files.verilog)")
    if not isinstance(doc["name"], str) or not re.fullmatch(r"[A-Za-z_]\w*", doc["name"]):
        raise ResultFileError(f"{path}: the unit name must be a Verilog identifier, not "
                              f"{doc['name']!r}")
    try:
        fixed = FixedPWL.from_dict(doc["fixed"])
    except ResultFileError as e:
        raise ResultFileError(f"{path}: {e}") from e
    verilog = path.resolve().parent / doc["files"]["verilog"]
    if not verilog.is_file():
        raise HardwareError(f"the Verilog file {str(verilog)!r} named in the report is missing")
    _check_ports(verilog, doc["name"], fixed)
    return doc, verilog


def _check_ports(verilog: Path, name: str, fixed) -> None:
    """The module's payload widths must be the report's formats (a silent truncation else)."""
    text = verilog.read_text(errors="replace")
    if not re.search(rf"^\s*module\s+{re.escape(name)}\b", text, re.M):
        raise HardwareError(f"{verilog.name} defines no module {name!r}")
    widths = {}
    for m in re.finditer(r"^\s*(?:input|output)\s+(?:reg\s+|wire\s+)?(?:signed\s+)?"
                         r"(?:\[(\d+):(\d+)\]\s*)?(\w+)\s*;", text, re.M):
        hi, lo, port = m.groups()
        widths[port] = 1 if hi is None else int(hi) - int(lo) + 1
    want = {"i_stream__payload": fixed.in_fmt.bits, "o_stream__payload": fixed.out_fmt.bits}
    for port in _PORTS:
        if port not in widths:
            raise HardwareError(f"{verilog.name}: module {name!r} has no port {port!r}")
        w = want.get(port, 1)
        if widths[port] != w:
            raise HardwareError(f"{verilog.name}: port {port!r} is {widths[port]} bits wide, "
                                f"the report's formats need {w}")


@contextmanager
def _build_dir(build_dir):
    """The build directory: the given one (kept) or a temporary one (always removed)."""
    if build_dir is None:
        tmp = Path(tempfile.mkdtemp(prefix="pwlgen_sim_"))
        try:
            yield tmp.resolve()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    path = Path(build_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise HardwareError(f"cannot create the build directory {str(path)!r}: "
                            f"{e.strerror or e}") from e
    yield path.resolve()


def _first_line(log: Path, pattern: str, flags: int = 0) -> str | None:
    """The first line of `log` matching `pattern` (stripped), else the first line, else None."""
    lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
    for line in lines:
        if re.search(pattern, line, flags):
            return line.strip()
    return lines[0].strip() if lines else None


def run_bench(report_path, *, build_dir=None, seed: int = 0, p_valid: float = 0.9,
              p_ready: float = 0.9, reset_at: int | None = None, reset_cycles: int = 2,
              max_codes: int = 1 << 16, generation: str = "2012",
              raise_on_fail: bool = False, keep_outputs: bool = True) -> dict:
    """Simulate the unit of `report_path` in its bulk test wrapper; return the bench summary.

    Parameters
    ----------
    report_path : path
        The report written by `pwlgen.hw.emit.emit`; the Verilog file sits next to it.
    build_dir : path or None
        Simulator build directory (kept); None: a temporary one, removed afterwards.
    seed : int
        Seed of the stimulus order and of the valid/ready stalls.
    p_valid, p_ready : float
        Probability that the wrapper offers a sample / accepts one, per cycle.
    reset_at : int or None
        Accepted inputs before the mid-stream reset (None: half the vectors; -1: no reset).
    reset_cycles : int
        Length of the mid-stream reset in cycles.
    max_codes : int, >= 1
        Formats with more codes get this many codes: corners plus random ones.
    generation : str
        Icarus language generation, ``"2012"`` (the runner's default: SystemVerilog semantics
        of variable initialisers) or ``"2005"``.
    raise_on_fail : bool
        Let a failing cocotb test raise (what pytest wants) instead of returning its summary.
    keep_outputs : bool
        Return the stimulus and the captured outputs as ``summary["x"]`` / ``summary["y"]``.

    Returns
    -------
    dict
        ``vectors``, ``checked``, ``lost``, ``mismatches``, ``first_mismatches``,
        ``x_outputs``, ``undefined_handshake_cycles``, ``cycles``, ``resets``, ``passed``,
        ``unit``, ``wall_time_s`` (and ``x``, ``y``).

    Raises
    ------
    HardwareError
        When the simulator is missing, the Verilog does not compile (the message names
        iverilog's first error) or the bench produced no summary.
    ResultFileError
        When `report_path` is not a complete ``hw_report``.
    """
    t0 = time.perf_counter()
    if generation not in GENERATIONS:
        raise HardwareError(f"generation must be one of {GENERATIONS}, not {generation!r}")
    if isinstance(max_codes, bool) or not isinstance(max_codes, int) or max_codes < 1:
        raise HardwareError(f"max_codes must be a positive integer, not {max_codes!r}")
    for name, p in (("p_valid", p_valid), ("p_ready", p_ready)):
        if not 0 < p <= 1:
            raise HardwareError(f"{name} must be in (0, 1], not {p!r}")
    if isinstance(reset_cycles, bool) or not isinstance(reset_cycles, int) \
            or not 1 <= reset_cycles <= 255:
        raise HardwareError(f"reset_cycles must be an integer in [1, 255], not {reset_cycles!r}")
    report_path = Path(report_path).resolve()
    report, verilog = load_unit(report_path)
    if shutil.which("iverilog") is None:
        raise HardwareError("iverilog is not installed (apt-get install -y iverilog)")
    import numpy as np

    from ..fixedpoint import FixedPWL
    from .harness import CAPTURE_FILE, STIM_FILE, wrapper_name, wrapper_verilog

    fixed = FixedPWL.from_dict(report["fixed"])
    n_codes = fixed.in_fmt.max_code - fixed.in_fmt.min_code + 1
    n = min(n_codes, max_codes)
    reset_at = n // 2 if reset_at is None else reset_at
    name, top = report["name"], wrapper_name(report["name"])
    sim_dir = str(bench_dir())
    with _build_dir(build_dir) as build:
        files = {k: build / k for k in ("summary.json", "outputs.npz", STIM_FILE, CAPTURE_FILE)}
        for p in files.values():
            p.unlink(missing_ok=True)
        wrapper = build / f"{top}.v"
        limit = int(40 * n / max(min(p_valid, p_ready), 1e-3)) + 1000
        text = wrapper_verilog(name, fixed.in_fmt.bits, fixed.out_fmt.bits, n, seed=seed,
                               p_valid=p_valid, p_ready=p_ready, reset_at=reset_at,
                               reset_cycles=reset_cycles, max_cycles=limit)
        # absolute paths: $readmemh / $writememh resolve against the simulator's cwd
        text = text.replace(f'"{STIM_FILE}"', json.dumps(str(files[STIM_FILE])))
        text = text.replace(f'"{CAPTURE_FILE}"', json.dumps(str(files[CAPTURE_FILE])))
        wrapper.write_text(text)
        _icarus_build(build, top, [wrapper, verilog], generation)
        env = {
            # no pytest assertion rewriting: the bench's asserts carry their own messages, and
            # the hook's set-up (pytest's config and plugins) costs ~0.2 s of CPU per run
            "COCOTB_REWRITE_ASSERTION_FILES": "",
            "PWLGEN_REPORT": str(report_path),
            "PWLGEN_SEED": str(seed),
            "PWLGEN_MAX_CODES": str(max_codes),
            "PWLGEN_STIM": str(files[STIM_FILE]),
            "PWLGEN_CAPTURE": str(files[CAPTURE_FILE]),
            "PWLGEN_SUMMARY": str(files["summary.json"]),
            "PWLGEN_OUTPUTS": str(files["outputs.npz"]),
        }
        n_tests, n_failed = _cocotb_test(build, top, sim_dir, seed, env)
        if raise_on_fail and n_failed:
            log = build / "sim.log"
            first = _first_line(log, r"AssertionError|Error|FAIL")
            raise AssertionError(f"the cocotb bench failed: {first or ''} (see {log})")
        if not files["summary.json"].is_file():
            raise HardwareError(f"the bench wrote no summary (see {build / 'sim.log'})")
        summary = json.loads(files["summary.json"].read_text())
        if keep_outputs:
            with np.load(files["outputs.npz"]) as z:
                summary["x"], summary["y"] = z["x"], z["y"]
    summary["passed"] = n_failed == 0 and n_tests > 0
    summary["unit"] = name
    summary["wall_time_s"] = time.perf_counter() - t0
    return summary


def _icarus_build(build: Path, top: str, sources: list[Path], generation: str) -> None:
    """Compile the wrapper and the unit with iverilog into ``build/sim.vvp``."""
    (build / "cmds.f").write_text("+timescale+1ns/1ps\n")
    cmd = ["iverilog", "-o", str(build / "sim.vvp"), "-s", top, f"-g{generation}",
           "-f", str(build / "cmds.f"), *(str(p) for p in sources)]
    log = build / "build.log"
    with open(log, "w") as fh:
        rc = subprocess.run(cmd, cwd=build, stdout=fh, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        first = _first_line(log, r"error|syntax|unknown module|not declared|unable", re.I)
        raise HardwareError(f"{sources[-1].name} does not compile with iverilog: "
                            f"{first or 'no compiler output'}")


def _cocotb_test(build: Path, top: str, sim_dir: str, seed: int, extra: dict) -> tuple[int, int]:
    """Run the cocotb bench in vvp (what cocotb's runner does for Icarus); (tests, failures).

    The environment is the runner's: the GPI users (libpython, then cocotb's entry point),
    the toplevel and test module, the Python path, the seed and the results file. Doing it
    here keeps cocotb itself (and pytest, which it imports) out of this process.
    """
    import cocotb_tools.config as config

    env = dict(os.environ)
    env.update(extra)
    env["PATH"] = env.get("PATH", "") + os.pathsep + str(config.libs_dir)
    env["PYTHONPATH"] = os.pathsep.join([sim_dir, *sys.path])
    env["PYGPI_PYTHON_BIN"] = sys.executable
    if "GPI_USERS" not in env:
        libpython = env.get("LIBPYTHON_LOC")
        if libpython is None:
            from find_libpython import find_libpython

            libpython = find_libpython()
            if libpython is None:
                raise HardwareError("cocotb needs libpython, and none was found")
        env["GPI_USERS"] = ";".join([libpython, config.pygpi_entry_point()])
    results = build / "results.xml"
    results.unlink(missing_ok=True)
    env.update(COCOTB_TOPLEVEL=top, COCOTB_TEST_MODULES=BENCH_MODULE, TOPLEVEL_LANG="verilog",
               COCOTB_RANDOM_SEED=str(seed), COCOTB_RESULTS_FILE=str(results))
    # verify under pytest reports the bench's summary, not pytest's view of it
    env.pop("PYTEST_CURRENT_TEST", None)
    cmd = ["vvp", "-m", config.lib_entry("vpi", "icarus"), str(build / "sim.vvp"), "-none"]
    with open(build / "sim.log", "w") as fh:
        subprocess.run(cmd, cwd=build, env=env, stdout=fh, stderr=subprocess.STDOUT)
    return _results(results)


def _results(path: Path) -> tuple[int, int]:
    """(tests, failures) of cocotb's JUnit results file; (0, 0) when it is missing."""
    import xml.etree.ElementTree as ET

    if not path.is_file():
        return 0, 0
    cases = ET.parse(path).getroot().iter("testcase")
    n = failed = 0
    for case in cases:
        n += 1
        failed += any(child.tag in ("failure", "error") for child in case)
    return n, failed



def verify_unit(report_path, *, max_error_lsb: float | None = None, fn: str | None = None,
                **bench) -> dict:
    """The whole proof of an emitted unit: `run_bench`, then the accuracy of its outputs.

    Parameters
    ----------
    report_path : path
        The unit's ``hw_report``.
    max_error_lsb : float or None
        The bar: None proves strict faithfulness, else ``|y - f(x)*2**F| <= max_error_lsb``.
        The report's own ``error`` entry is never read.
    fn : str or None
        The function to prove against (default: the report's ``function``).
    **bench
        Passed to `run_bench`.

    Returns
    -------
    dict
        The bench summary plus ``function``, ``in_fmt``, ``out_fmt``, ``accuracy`` (see
        `pwlgen.hw.proof.prove_accuracy`) and ``passed`` (bench and accuracy).

    Raises
    ------
    ResultFileError, HardwareError, TargetError
        For a missing or incomplete input (report, Verilog, function, formats).
    """
    from .proof import prove_accuracy, reference

    report, _ = load_unit(report_path)
    function = fn if fn is not None else report.get("function")
    if not isinstance(function, str) or not function.strip():
        raise ResultFileError(f"{report_path}: the report names no function; give --fn")
    from ..fixedpoint import FixedPWL
    from ..functions import get_target

    get_target(function)  # an unknown function is bad input, before any simulation
    fixed = FixedPWL.from_dict(report["fixed"])
    summary = run_bench(report_path, keep_outputs=True, **bench)
    x, y = summary.pop("x"), summary.pop("y")
    ref = reference(function, fixed.in_fmt, fixed.out_fmt, x, max_error_lsb)
    acc = prove_accuracy(ref, x, y, fixed.out_fmt, max_error_lsb)
    bench_ok = summary["passed"] and summary["mismatches"] == 0 and summary["lost"] == 0
    summary.update(function=ref.function, in_fmt=str(fixed.in_fmt), out_fmt=str(fixed.out_fmt),
                   accuracy=acc, bench_passed=bench_ok,
                   passed=bench_ok and acc["over_bar"] == 0 and acc["codes"] > 0)
    return summary
