import json

import numpy as np
import pytest

from pwlgen.cli import main
from pwlgen.io import load
from pwlgen.pwl import PWL
from pwlgen.search import SearchResult

# Approx-BP's published ReGELU2 coefficients (LowMemoryBP), as change points
_A = np.array([-0.04922261145617846, 1.0979632065417297, -0.048740595085551286])
_C = np.array([-3.1858810036855245, -0.001178821281161997, 3.190832613414926])


def _approxbp_text():
    pts = PWL.from_relu_sum(_A, _C).to_change_points()
    worse = pts.copy()
    worse[4] -= 0.01
    row = lambda e, p: f"{e}, [{', '.join(repr(float(v)) for v in p)}]"  # noqa: E731
    return row(0.02, worse) + "\n" + row(0.0095, pts) + "\n"


def test_transform_of_a_search_result_checks_constraints(tmp_path, capsys):
    assert main(["search", "--method", "lstsq", "-o", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["transform", str(tmp_path / "gelu_lstsq_k2.yaml"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["constraints"]["applies"] and doc["constraints"]["ok"]
    assert abs(sum(doc["a"]) - 1) < 1e-12
    assert (tmp_path / "gelu_lstsq_k2_ac.yaml").exists()


def test_transform_imports_the_lowest_energy_approxbp_row(tmp_path, capsys):
    src = tmp_path / "regelu2.txt"
    src.write_text(_approxbp_text())
    assert main(["transform", str(src), "--fn", "gelu", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(doc["a"], _A, atol=1e-9)
    np.testing.assert_allclose(doc["c"], _C, atol=0)
    r = SearchResult.from_dict(load(tmp_path / "regelu2_result.yaml"))
    assert r.method == "approx-bp" and r.options["energy"] == 0.0095
    assert r.interval == (-6.0697, 6.0697)


@pytest.mark.parametrize(
    "text,message",
    [
        ("hello\n", "expected 'energy, [x1, ..., y1, ...]'"),
        ("0.1, [1, 2, 3]\n", "the list must hold n knots then n values, not 3 numbers"),
        ("0.1, [2, 1, 0, 1]\n", "knots must be strictly increasing"),
        ("", "holds no Approx-BP result rows"),
    ],
)
def test_corrupt_approxbp_text_is_exit_2(tmp_path, capsys, text, message):
    src = tmp_path / "bad.txt"
    src.write_text(text)
    assert main(["transform", str(src)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pwlgen: error: ") and message in err


def test_corrupt_result_file_is_exit_2(tmp_path, capsys):
    bad = tmp_path / "r.yaml"
    bad.write_text("kind: search_result\nschema: 1\nknots: [1, 0]\n")
    assert main(["transform", str(bad)]) == 2
    assert "malformed search result" in capsys.readouterr().err
