import numpy as np
import pytest
import torch
from torch import nn

from pwlgen.discover.features import (
    CLIP,
    N_BINS,
    N_POINTS,
    decode,
    encode,
    fisher_features,
    output_features,
    sample_points,
)
from pwlgen.discover.nets import build_net


def test_output_features_are_the_function_on_fixed_points():
    p = sample_points()
    assert p.shape == (N_POINTS,) and np.all(np.abs(p) <= CLIP) and np.all(np.diff(p) >= 0)
    np.testing.assert_array_equal(p, sample_points())
    y = output_features(torch.tanh)
    np.testing.assert_allclose(y, np.tanh(p), rtol=1e-12)
    np.testing.assert_array_equal(decode(encode(y)), y)


@pytest.mark.parametrize("net,n_layers", [("mlp", 3), ("resnet8", 10)])
def test_fisher_features_have_fixed_length(net, n_layers):
    torch.manual_seed(0)
    x = torch.randn(32, 1, 8, 8)
    model = build_net(net, (1, 8, 8), 10, nn.ReLU)
    f = fisher_features(model, x)
    assert f.shape == (n_layers * N_BINS,)
    layers = f.reshape(n_layers, N_BINS)
    assert np.all((layers >= 0) & (layers <= 1))
    assert np.all(np.diff(layers, axis=1) >= 0)  # a CDF per layer
    model2 = build_net(net, (1, 8, 8), 10, nn.Tanh)
    assert fisher_features(model2, x).shape == f.shape
    assert not np.array_equal(fisher_features(model2, x), f)


def test_fisher_features_of_a_diverging_model_are_nan():
    class Inf(nn.Module):
        def forward(self, x):
            return x * float("inf")

    model = build_net("mlp", (1, 8, 8), 10, Inf)
    f = fisher_features(model, torch.randn(8, 1, 8, 8))
    assert f.shape == (3 * N_BINS,) and np.all(np.isnan(f))


def test_constant_functions_get_features_of_zero_gradients(tmp_path):
    from pwlgen.discover.db import FunctionDB
    from pwlgen.discover.features import compute_fisher
    from pwlgen.discover.tasks import get_task

    task = get_task("digits")
    with FunctionDB(tmp_path / "c.db") as db:
        db.add(["zero(x)", "one(x)", "relu(x)", "add(one(x),tanh(x))"])
        assert compute_fisher(db, task, "mlp", batch=32) == 4
        rows = {r["representative"]: r["fisher"] for r in db.classes(with_features=True)}
    assert all(f is not None and np.all(np.isfinite(f)) for f in rows.values())
    # zero(x) cuts the gradient to the first two layers: all their eigenvalues are ~0, below
    # the CDF's range, so their CDFs are 1 everywhere; relu's are not
    assert np.all(rows["zero(x)"][:64] == 1.0) and not np.all(rows["relu(x)"][:64] == 1.0)
