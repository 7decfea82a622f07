import csv
import json

import numpy as np
import pytest

from pwlgen.cli import main
from pwlgen.functions import get_target
from pwlgen.io import load
from pwlgen.search import SearchResult
from pwlgen.search.rangefit import evaluate_table, range_fit, region_table


def _fit(tmp_path, *extra):
    return main(["fit", "--fn", "gelu", "--points", "-5", "-4", "0", "1", "--range", "-8", "8",
                 "-o", str(tmp_path), *extra])


def test_fit_json_prints_one_document_with_grid_metrics_and_regions(tmp_path, capsys):
    assert _fit(tmp_path, "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    ref = range_fit("gelu", [-5, -4, 0, 1])
    assert doc["knots"] == [-8.0, -5.0, -4.0, 0.0, 1.0, 8.0]
    for k in ("grid_mean_err_abs", "grid_max_err_abs", "grid_mse", "max_err_abs", "l2"):
        assert doc["metrics"][k] == pytest.approx(ref.metrics[k])
    assert [r["kind"] for r in doc["regions"]] == ["asymptote"] + ["segment"] * 5 + ["asymptote"]
    r = SearchResult.from_dict(load(doc["path"]))
    assert r.pwl == ref.pwl and r.options["outside"] == "asymptote"


def test_fit_prints_the_piecewise_function_with_rounded_coefficients(tmp_path, capsys):
    assert _fit(tmp_path, "--round", "3") == 0
    out = capsys.readouterr().out
    rows = region_table(range_fit("gelu", [-5, -4, 0, 1]).pwl, get_target("gelu"))
    assert "x < -8" in out and "x > 8" in out and "-5 <= x < -4" in out and "1 <= x <= 8" in out
    assert "outside the range the function is the asymptote" in out
    assert f"{rows[4]['slope']:.3f}" in out and f"{rows[4]['intercept']:.3f}" in out
    assert "gelu_fit_p4.yaml" in out


def test_fit_writes_csv_and_test_vectors_that_match_the_reported_function(tmp_path):
    csv_path, vec_path = tmp_path / "t.csv", tmp_path / "v.csv"
    assert _fit(tmp_path, "--round", "5", "--csv", str(csv_path), "--vectors", str(vec_path)) == 0
    rows = list(csv.DictReader(csv_path.open()))
    assert [float(r["breakpoint"]) for r in rows] == [-np.inf, -8.0, -5.0, -4.0, 0.0, 1.0, 8.0]
    table = [{"lo": float(r["breakpoint"]), "slope": float(r["slope"]),
              "intercept": float(r["intercept"])} for r in rows]
    vec = list(csv.DictReader(vec_path.open()))
    assert {int(v["segment"]) for v in vec} == set(range(7))
    bounds = [(-np.inf, -8.0), (-8.0, -5.0), (-5.0, -4.0), (-4.0, 0.0), (0.0, 1.0), (1.0, 8.0),
              (8.0, np.inf)]
    for v in vec:  # every vector lies in the region it is filed under
        lo, hi = bounds[int(v["segment"])]
        x = float(v["input"])
        assert (lo < x <= hi) if lo == 8.0 else (lo <= x < hi)
    x = np.array([float(v["input"]) for v in vec])
    np.testing.assert_allclose([float(v["expected"]) for v in vec], evaluate_table(table, x))
    np.testing.assert_allclose([float(v["reference"]) for v in vec], get_target("gelu").f(x))
    exact = range_fit("gelu", [-5, -4, 0, 1]).pwl
    inside = (x >= -8) & (x <= 8)
    np.testing.assert_allclose(evaluate_table(table, x[inside]), exact(x[inside]), atol=1e-4)
    assert all(float(r["slope"]) == round(float(r["slope"]), 5) for r in rows)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--points", "-5", "9"],
         "breakpoints must lie strictly inside the range [-8, 8]: 9 does not"),
        (["--points", "1", "-5"],
         "breakpoints must be sorted in increasing order, not [1.0, -5.0]"),
        (["--points", "-5", "-5", "1"], "breakpoints must be distinct: -5 appears twice"),
        (["--points", "0", "--fn", "nosuch"], "unknown function 'nosuch'"),
        (["--points", "0", "--range", "2", "1"], "--range needs LO < HI, not 2 1"),
        (["--points", "0", "--round", "-1"], "argument --round: expected an integer in 0..17, "
         "not -1"),
        (["--points", "0", "--step", "1e-9"], "the grid (--range / --step) is at most"),
        (["--points", "0", "--step", "0"], "--step must be > 0, not 0"),
        (["--points", "0", "--step", "nan"], "argument --step: expected a finite number"),
        (["--points", "-1", "0", "1", "--csv", "afile/x.csv"], "cannot write 'afile/x.csv'"),
    ],
)
def test_fit_bad_input_gives_one_line_error_and_exit_2(tmp_path, capsys, monkeypatch, argv,
                                                       message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("a file, not a folder")
    assert main(["fit", *argv, "-o", "results"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pwlgen: error: {message}") and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_search_points_runs_the_range_workflow(tmp_path, capsys):
    rc = main(["search", "--fn", "sigmoid", "--method", "curvature", "--points", "8", "--json",
               "-o", str(tmp_path)])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["knots"]) == 10 and doc["knots"][0] == -8.0 and doc["knots"][-1] == 8.0
    assert doc["tails"] == "slope" and doc["options"]["points"] == 8
    assert doc["options"]["grid_metrics"]["grid_max_err_abs"] > 0


def test_search_help_says_8_points_are_9_segments_plus_2_asymptote_pieces(capsys):
    assert main(["search", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "8 points = 9 segments inside the range + 2 asymptote pieces" in out


def test_search_points_with_a_method_without_a_range_mode_is_a_one_line_error(tmp_path, capsys):
    rc = main(["search", "--fn", "sigmoid", "--method", "lstsq", "--points", "8",
               "-o", str(tmp_path)])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("pwlgen: error: --points works with the methods minimax, curvature, "
                          "uniform, rl, not 'lstsq'") and err.count("\n") == 1
