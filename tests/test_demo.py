"""The README's main job (`make demo` runs scripts/demo.sh) end to end on its defaults."""

import subprocess
import sys
from pathlib import Path

import pytest

from pwlgen.io import load

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_runs_search_quantize_emit_verify_plot(tmp_path):
    out = tmp_path / "demo"
    r = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh"), sys.executable, str(out)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "0 mismatches" in r.stdout and "PASS" in r.stdout
    report = load(out / "rtl" / "pwl_gelu.json")
    assert report["error"]["max_err_lsb"] <= 1.0 and report["error"]["n_exceed"] == 0
    for png in ("gelu_k2.png", "gelu_n16.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
