import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from pwlgen.discover.nets import build_net
from pwlgen.discover.tasks import Task, get_task, train_eval
from pwlgen.errors import SearchError


def test_digits_task_is_split_60_20_20_without_overlap():
    t = get_task("digits")
    xtr, ytr, xva, yva, xte, yte = t.data
    assert (len(xtr), len(xva), len(xte)) == (1078, 359, 360)
    assert t.input_shape == (1, 8, 8) and t.n_classes == 10
    rows = {tuple(r.tolist()) for r in torch.cat([xtr, xva, xte]).flatten(1)}
    assert len(rows) > 1700  # (a few digits images are duplicates in the data set itself)


def test_a_users_loaders_become_a_task_and_train():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 1, 4, 4, generator=g)
    y = (x.flatten(1).sum(1) > 0).long()
    dl = [DataLoader(TensorDataset(x[i::3], y[i::3]), batch_size=8) for i in range(3)]
    task = Task.from_loaders("mine", *dl, n_classes=2, epochs=2)
    assert task.input_shape == (1, 4, 4) and len(task.data[0]) == 32
    r = train_eval(task, nn.ReLU)
    assert set(r) >= {"train_acc", "val_acc", "test_acc", "train_loss", "runtime_s"}
    assert len(r["history"]) == 2


@pytest.mark.parametrize("net,depth", [("resnet8", 8), ("resnet20", 20), ("mlp", None)])
def test_macro_networks_give_logits_and_use_the_activation(net, depth):
    made = []

    def act():
        made.append(nn.Tanh())
        return made[-1]

    model = build_net(net, (1, 8, 8), 10, act)
    assert model(torch.randn(3, 1, 8, 8)).shape == (3, 10)
    convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    if depth is not None:  # 6n + 2 weighted layers on the main path, + 2 shortcuts
        assert convs + 1 == depth + 2
    assert len(made) == (2 if net == "mlp" else 1 + 2 * ((depth - 2) // 6) * 3)


@pytest.mark.parametrize("spec,message", [
    ("cifar", r"^unknown task 'cifar': choose one of digits, mnist5k"),
    ("os:path", r"^task 'os:path' is not a pwlgen.discover.tasks.Task$"),
    ("nope_mod:x", r"^cannot load task 'nope_mod:x': "),
])
def test_bad_task_is_a_clear_error(spec, message):
    with pytest.raises(SearchError, match=message):
        get_task(spec)


def test_unknown_net_is_a_clear_error():
    with pytest.raises(SearchError,
                       match=r"^unknown net 'vgg': choose one of mlp, mlp6, cnn, resnet8"):
        build_net("vgg", (1, 8, 8), 10, nn.ReLU)


@pytest.mark.parametrize("net,n_acts,n_norm", [("mlp6", 6, 0), ("cnn", 3, 0)])
def test_deep_test_bed_nets_have_no_normalisation(net, n_acts, n_norm):
    made = []

    def act():
        made.append(nn.Tanh())
        return made[-1]

    model = build_net(net, (1, 8, 8), 10, act)
    assert model(torch.randn(3, 1, 8, 8)).shape == (3, 10)
    assert len(made) == n_acts
    assert sum(isinstance(m, nn.BatchNorm2d | nn.LayerNorm) for m in model.modules()) == n_norm


def test_spirals_task_is_three_balanced_classes_in_the_plane():
    t = get_task("spirals")
    assert t.input_shape == (2,) and t.n_classes == 3
    ytr = t.data[1]
    assert sorted(torch.bincount(ytr).tolist())[0] > 0.3 * len(ytr)
    assert torch.equal(get_task("spirals").data[0], t.data[0])  # fixed seed
