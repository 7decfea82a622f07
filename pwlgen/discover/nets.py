"""Macro networks whose activations are the candidate: MLPs, a small CNN, ResNet8 and ResNet20.

``mlp`` (64-64) is shallow; ``mlp6`` (six hidden layers of 32, no normalisation) and ``cnn``
(two 3x3 convolutions and a hidden linear layer, no normalisation) are test beds where the
activation decides whether the gradients survive the depth.

ResNets follow He et al. (2016)'s CIFAR design: a 3x3 stem, three stages of basic blocks
(widths 16, 32, 64; stride 2 between stages), global average pooling and a linear layer;
depth 6n + 2 (ResNet8: n = 1, ResNet20: n = 3).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ..errors import SearchError

__all__ = ["NETS", "MLP", "SmallCNN", "ResNet", "build_net"]

ActFactory = Callable[[], nn.Module]


class MLP(nn.Module):
    """Linear layers with the activation between them.

    Parameters
    ----------
    in_features, n_classes : int
        Input width (inputs are flattened) and number of logits.
    act : callable
        Returns a fresh activation module for each position.
    hidden : tuple of int
        Hidden widths.
    """

    def __init__(self, in_features: int, n_classes: int, act: ActFactory,
                 hidden: tuple[int, ...] = (64, 64)):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), act()]
            width = h
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        """Logits."""
        return self.net(x)


class SmallCNN(nn.Module):
    """conv 3x3 (16) -> act -> conv 3x3 stride 2 (32) -> act -> linear (64) -> act -> linear.

    No normalisation layers, so the activation alone shapes the signal.

    Parameters
    ----------
    in_channels, n_classes : int
        Image channels and number of logits.
    side : int
        Image height and width (square images).
    act : callable
        Returns a fresh activation module for each position.
    """

    def __init__(self, in_channels: int, n_classes: int, side: int, act: ActFactory):
        super().__init__()
        half = (side + 1) // 2
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, 1, 1), act(),
            nn.Conv2d(16, 32, 3, 2, 1), act(),
            nn.Flatten(), nn.Linear(32 * half * half, 64), act(),
            nn.Linear(64, n_classes))

    def forward(self, x):
        """Logits."""
        return self.net(x)


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, act: ActFactory):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act1 = act()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.act2 = act()
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR-style ResNet of depth 6n + 2.

    Parameters
    ----------
    depth : int
        8 or 20 (any 6n + 2).
    in_channels, n_classes : int
        Image channels and number of logits.
    act : callable
        Returns a fresh activation module for each position.
    widths : tuple of int
        Channels of the three stages.
    """

    def __init__(self, depth: int, in_channels: int, n_classes: int, act: ActFactory,
                 widths: tuple[int, int, int] = (16, 32, 64)):
        super().__init__()
        if (depth - 2) % 6 or depth < 8:
            raise SearchError(f"a CIFAR ResNet has depth 6n + 2 (8, 14, 20...), not {depth!r}")
        n = (depth - 2) // 6
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(widths[0]), act())
        blocks = []
        cin = widths[0]
        for s, w in enumerate(widths):
            for b in range(n):
                blocks.append(_Block(cin, w, 2 if (s > 0 and b == 0) else 1, act))
                cin = w
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, n_classes))

    def forward(self, x):
        """Logits."""
        return self.head(self.blocks(self.stem(x)))


NETS = {
    "mlp": "two hidden layers of 64 units",
    "mlp6": "six hidden layers of 32 units, no normalisation",
    "cnn": "two 3x3 convolutions (16, 32) and a hidden layer of 64, no normalisation",
    "resnet8": "CIFAR-style ResNet, depth 8 (widths 16/32/64)",
    "resnet20": "CIFAR-style ResNet, depth 20 (widths 16/32/64)",
}
"""Net name -> description."""


def build_net(name: str, input_shape: tuple[int, ...], n_classes: int,
              act: ActFactory) -> nn.Module:
    """Build a macro network for inputs of `input_shape` (C, H, W), one batch axis excluded.

    Raises
    ------
    SearchError
        For an unknown net name.
    """
    if name in ("mlp", "mlp6"):
        size = 1
        for d in input_shape:
            size *= d
        return MLP(size, n_classes, act, (64, 64) if name == "mlp" else (32,) * 6)
    if name == "cnn":
        if len(input_shape) != 3 or input_shape[1] != input_shape[2]:
            raise SearchError(f"cnn needs square image inputs (C, H, H), not shape "
                              f"{input_shape!r}")
        return SmallCNN(input_shape[0], n_classes, input_shape[1], act)
    if name in ("resnet8", "resnet20"):
        if len(input_shape) != 3:
            raise SearchError(f"{name} needs image inputs (C, H, W), not shape {input_shape!r}")
        return ResNet(int(name[6:]), input_shape[0], n_classes, act)
    raise SearchError(f"unknown net {name!r}: choose one of {', '.join(NETS)}")
