import numpy as np
import pytest
import torch

from pwlgen.discover.hardware import pareto_front, pwl_of, segment, segments_needed


def test_segments_of_piecewise_linear_functions_are_their_pieces():
    assert segments_needed(torch.relu) == 2
    assert segments_needed(lambda x: x) == 1
    assert segments_needed(lambda x: torch.clamp(x, -1, 1), -8, 8) == 3


def test_fewer_segments_for_a_looser_error():
    counts = [segments_needed(torch.tanh, max_err=e) for e in (1e-1, 1e-2, 1e-3)]
    assert counts[0] < counts[1] < counts[2]


@pytest.mark.parametrize("fn", [torch.tanh, torch.nn.functional.gelu, torch.sigmoid])
def test_hardware_pwl_meets_its_max_error_on_the_grid(fn):
    max_err = 2.0**-8
    h = pwl_of(fn, -6, 6, max_err)
    x = np.linspace(-6, 6, 4001)
    y = fn(torch.as_tensor(x)).numpy()
    assert np.max(np.abs(h(x) - y)) <= max_err + 1e-12
    assert h.n_knots - 1 == segments_needed(fn, -6, 6, max_err)


def test_non_finite_function_has_no_segmentation():
    assert segment(lambda x: 1.0 / torch.zeros_like(x)) is None
    assert segments_needed(torch.reciprocal) is None  # inf at 0, on the grid


def test_pareto_front_matches_brute_force():
    rng = np.random.default_rng(1)
    acc = rng.random(40)
    cost = rng.integers(1, 10, 40).astype(float)
    front = set(pareto_front(acc, cost).tolist())
    brute = {i for i in range(40)
             if not any((acc[j] >= acc[i] and cost[j] <= cost[i])
                        and (acc[j] > acc[i] or cost[j] < cost[i]) for j in range(40))}
    assert front == brute


@pytest.mark.parametrize("expr", ["tanh(x)", "gelu(x)", "max(arctan(x),tanh(x))", "relu(x)"])
def test_stored_segments_are_what_quantize_designs(tmp_path, capsys, expr):
    import json

    from pwlgen.cli import main

    db = tmp_path / "q.db"
    assert main(["discover", "populate", "--db", str(db), "--fn", expr, "--no-baselines",
                 "--hw-bits", "10", "-q"]) == 0
    from pwlgen.discover.db import FunctionDB

    with FunctionDB(db, create=False) as d:
        (row,) = d.classes()
    assert row["hw_bits"] == 10 and row["hw_in_fmt"] == "s3.6"
    assert main(["quantize", "--fn", expr, "--in", row["hw_in_fmt"], "--out", row["hw_out_fmt"],
                 "--json", "-o", str(tmp_path / "q.json")]) == 0
    assert json.loads(capsys.readouterr().out)["n_segments"] == row["segments"]


@pytest.mark.filterwarnings("ignore:exp\\(exp\\(x\\)\\) is not finite")
def test_design_cost_is_none_for_a_function_no_format_holds():
    from pwlgen.discover.hardware import design_cost

    assert design_cost("exp(exp(x))") == (None, "", "")
    assert design_cost("abs(x)", bits=8)[1:] == ("s3.4", "u4.4")
