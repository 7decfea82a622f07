import json

import pytest
import torch

from pwlgen.discover.cell import CELLS, Cell, _unary_costs, run_cell_search, search_cell
from pwlgen.discover.tasks import Task, get_task
from pwlgen.errors import SearchError
from pwlgen.functions import get_target
from pwlgen.io import load


@pytest.fixture(scope="module")
def tiny():
    xtr, ytr, xva, yva, xte, yte = get_task("digits").data
    return Task("tiny", (xtr[:256], ytr[:256], xva[:128], yva[:128], xte[:128], yte[:128]), 10,
                epochs=1)


@pytest.mark.parametrize("optimizer", ["darts", "gdas", "drnas"])
def test_cell_search_runs_and_discretises_to_a_valid_expression(tiny, optimizer):
    r = search_cell(tiny, optimizer=optimizer, epochs=3, warmup=1, seed=1)
    assert [e["phase"] for e in r["errors"]] == ["warmup", "search", "search", "search"]
    for e in r["errors"]:
        assert 0.0 <= e["train_acc"] <= 1.0 and 0.0 <= e["val_acc"] <= 1.0
    # a grammar expression pwlgen can use as a target, equal to the cell's choice
    t = get_target(r["expression"])
    x = torch.linspace(-3, 3, 7, dtype=torch.float64)
    assert torch.isfinite(torch.as_tensor(t(x.numpy()))).all()
    assert set(r["choice"]) == {"u0", "u1", "u2", "u3", "b0", "b1"}
    for a in r["alphas"]:
        for k in r["choice"]:
            assert sum(a[k]) == pytest.approx(1.0)


def test_discretised_cell_computes_the_expression():
    c = Cell(["relu", "tanh", "identity"], ["left", "add", "mul"], "full", "darts", "relu")
    with torch.no_grad():
        c.alpha_u.zero_()
        c.alpha_b.zero_()
        c.alpha_u[0, 1] = c.alpha_u[1, 0] = c.alpha_u[2, 2] = c.alpha_u[3, 1] = 5.0
        c.alpha_b[0, 1] = c.alpha_b[1, 2] = 5.0
    assert c.expression() == get_target("mul(add(relu(x),tanh(x)),tanh(x))").name
    # when all weight sits on one operator per edge, the relaxed cell is that expression
    with torch.no_grad():
        c.alpha_u.mul_(100)
        c.alpha_b.mul_(100)
    c.eval()
    x = torch.linspace(-2, 2, 11)
    torch.testing.assert_close(c(x), (torch.relu(x) + torch.tanh(x)) * torch.tanh(x))


def test_warm_start_cell_is_the_baseline_and_shrinking_leaves_one_operator():
    c = Cell(None, None, "small", "drnas", "relu")
    assert c.expression() == "relu(x)"
    c.fixed = True
    x = torch.linspace(-2, 2, 9)
    torch.testing.assert_close(c(x), torch.relu(x))
    n_e, n_v = CELLS["small"]
    for left in (3, 2, 1, 0):
        c.shrink(left)
    assert c.mask_u.sum().item() == n_e and c.mask_b.sum().item() == n_v


def test_cost_gradient_lowers_the_expected_segments():
    names = ["relu", "square", "tanh", "identity", "swish"]
    costs = _unary_costs(names)
    assert costs[3] < costs[0] < costs[2] < costs[1]  # identity < relu < tanh < square
    c = Cell(names, ["left", "add"], "small", "darts", "relu")
    before = float(c.expected_cost(costs).detach())
    c.expected_cost(costs).backward()
    assert (c.alpha_u.grad[:, 1] > 0).all()  # the costliest operator is pushed down
    with torch.no_grad():
        c.alpha_u -= 1.0 * c.alpha_u.grad
    assert float(c.expected_cost(costs).detach()) < before


def test_cost_term_moves_the_search_to_cheaper_operators(tiny):
    names = ["relu", "square", "tanh", "identity", "swish"]
    costs = _unary_costs(names)
    kw = dict(optimizer="darts", epochs=2, warmup=0, seed=0, cell="small", unary=names,
              binary=["left", "add"], arch_lr=0.2)

    def expected(r):
        p = torch.tensor([r["alphas"][-1][k] for k in ("u0", "u1")])
        return float((p * costs).sum())

    assert expected(search_cell(tiny, cost=50.0, **kw)) < expected(search_cell(tiny, **kw))


def test_run_cell_search_writes_its_files(tiny, tmp_path):
    doc = run_cell_search(net="mlp", task=tiny, optimizer="drnas", cell="small", epochs=2,
                          warmup=1, eval_epochs=1, compare=["relu", "silu"], out=str(tmp_path))
    names = {p.name for p in tmp_path.iterdir()}
    assert {"errors.json", "alphas.json", "alphas.png", "search.log", "result.yaml"} <= names
    errors = json.loads((tmp_path / "errors.json").read_text())
    assert len(errors) == 3 and {"train_acc", "val_acc", "test_acc", "train_loss"} <= set(errors[0])
    saved = load(tmp_path / "result.yaml")
    assert saved["expression"] == doc["expression"]
    assert {"relu(x)", "swish(x)", doc["expression"]} == set(saved["comparison"])
    assert doc["expression"] in (tmp_path / "search.log").read_text()


@pytest.mark.parametrize("kw,message", [
    (dict(optimizer="sgd"), r"^unknown optimizer 'sgd': choose one of darts, gdas, drnas$"),
    (dict(cell="big"), r"^unknown cell 'big': choose one of full, small$"),
    (dict(unary=["relu", "nope"]), r"^unknown unary operator 'nope' for the cell"),
    (dict(binary=["add", "tanh"]), r"^unknown binary operator 'tanh' for the cell"),
    (dict(baseline="gelu", unary=["relu", "tanh"]), r"^the baseline 'gelu' must be one of"),
    (dict(epochs=0), r"^epochs must be a positive integer, not 0$"),
])
def test_bad_cell_search_input_is_a_clear_error(tiny, kw, message):
    with pytest.raises(SearchError, match=message):
        search_cell(tiny, **kw)


@pytest.mark.parametrize("optimizer", ["darts", "drnas"])
def test_search_ends_with_one_operator_per_edge_and_vertex(tiny, optimizer):
    r = search_cell(tiny, optimizer=optimizer, cell="full", epochs=2, warmup=0, seed=0)
    n_e, n_v = CELLS["full"]
    assert sorted(r["active"]) == [*(f"b{v}" for v in range(n_v)), *(f"u{e}" for e in range(n_e))]
    assert all(len(ops) == 1 for ops in r["active"].values())
    assert {k: ops[0] for k, ops in r["active"].items()} == r["choice"]


def test_cell_search_pins_one_thread_and_restores_it(tiny, tmp_path, monkeypatch):
    import pwlgen.discover.cell as cell_mod

    seen = []
    real = cell_mod.search_cell

    def spy(*a, **kw):
        seen.append(torch.get_num_threads())
        return real(*a, **kw)

    monkeypatch.setattr(cell_mod, "search_cell", spy)
    torch.set_num_threads(2)
    run_cell_search(task=tiny, cell="small", epochs=1, warmup=0, eval_epochs=1, compare=[],
                    out=str(tmp_path / "o"))
    assert seen == [1] and torch.get_num_threads() == 2


def test_a_bad_net_leaves_no_output_directory(tmp_path):
    out = tmp_path / "cellout"
    with pytest.raises(SearchError, match=r"^unknown net 'nonet'"):
        run_cell_search(net="nonet", out=str(out))
    assert not out.exists()
