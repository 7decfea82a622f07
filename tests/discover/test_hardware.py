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
