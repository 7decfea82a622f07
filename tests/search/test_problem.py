import numpy as np
import pytest

from pwlgen.errors import ResultFileError, SearchError
from pwlgen.functions import get_target
from pwlgen.pwl import PWL
from pwlgen.search import Problem, SearchResult, kbit_problem, search


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_knots": 0}, r"^the number of knots must be a positive integer, not 0$"),
        ({"interval": (1.0, 1.0)},
         r"^the interval must have lo < hi, both finite, not \[1.0, 1.0\]$"),
        ({"interval": (0.0, np.inf)}, r"^the interval must have lo < hi, both finite, .*$"),
        ({"objective": "l1"}, r"^objective must be one of l2, l2-deriv, max, not 'l1'$"),
        ({"tails": "loose"}, r"^tails must be one of pinned, slope, free, not 'loose'$"),
    ],
)
def test_problem_rejects_bad_input(kwargs, match):
    args = {"target": get_target("gelu"), "n_knots": 3, "interval": (-1.0, 1.0), **kwargs}
    with pytest.raises(SearchError, match=match):
        Problem(**args)


@pytest.mark.parametrize(
    ("tails", "pinned", "slopes"),
    [("pinned", True, (0.0, 1.0)), ("slope", False, (0.0, 1.0)), ("free", False, (None, None))],
)
def test_tail_modes_pin_value_and_slope_as_documented(tails, pinned, slopes):
    t = get_target("gelu")
    p = Problem(t, 3, (-4.0, 4.0), tails=tails)
    assert (p.pinned("left") is t.left) == pinned
    assert (p.tail_slope("left"), p.tail_slope("right")) == slopes


def test_side_without_asymptote_is_free():
    p = Problem(get_target("exp"), 3, (-4.0, 2.0))
    assert p.pinned("right") is None and p.tail_slope("right") is None


def test_uniform_knots_split_the_interval_evenly():
    k = Problem(get_target("gelu"), 3, (-4.0, 4.0)).uniform_knots()
    np.testing.assert_allclose(k, [-2.0, 0.0, 2.0])


@pytest.mark.parametrize("k", [1, 2, 4])
def test_kbit_problem_has_2k_minus_1_pinned_knots(k):
    p = kbit_problem("gelu", k)
    assert p.n_knots == 2**k - 1 and p.tails == "pinned" and p.kbit == k
    assert p.interval == get_target("gelu").default_interval()


@pytest.mark.parametrize("k", [0, 9, 2.5])
def test_kbit_out_of_range_is_refused(k):
    with pytest.raises(SearchError, match=rf"^kbit must be an integer in 1\.\.8, not {k!r}$"):
        kbit_problem("gelu", k)


def test_search_needs_exactly_one_shape_and_a_known_method():
    with pytest.raises(SearchError, match=r"^give exactly one of n_knots and kbit$"):
        search("gelu", 3, kbit=2)
    with pytest.raises(SearchError, match=r"^unknown method 'magic': choose one of .*$"):
        search("gelu", kbit=2, method="magic")


def test_search_result_round_trips_through_its_document():
    r = search("gelu", kbit=2, method="lstsq")
    back = SearchResult.from_dict(r.to_dict())
    assert back.pwl == r.pwl
    assert (back.target, back.method, back.interval, back.kbit) == (
        r.target, r.method, r.interval, r.kbit)
    assert back.metrics == r.metrics


def test_search_result_document_holds_the_relu_sum_form():
    r = search("silu", kbit=2, method="lstsq")
    doc = r.to_dict()
    h = PWL.from_relu_sum(doc["a"], doc["c"], doc["bias"])
    x = np.linspace(-40, 40, 101)
    np.testing.assert_allclose(h(x), r.pwl(x), atol=1e-12)


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ({"kind": "fixed_pwl"}, r"^not a search result \(kind is 'fixed_pwl'\)$"),
        ({"kind": "search_result", "schema": 99}, r"^unsupported search result schema 99 .*$"),
        ({"kind": "search_result", "schema": 1}, r"^malformed search result: .*$"),
    ],
)
def test_search_result_rejects_bad_documents(doc, match):
    with pytest.raises(ResultFileError, match=match):
        SearchResult.from_dict(doc)


def test_search_refuses_a_target_that_is_not_finite_on_the_interval():
    import re
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(SearchError, match=re.escape(
                "f of 'reciprocal(x)' must be finite on [-8, 8], not inf at x = 0.0")):
            search("reciprocal(x)", 4)
