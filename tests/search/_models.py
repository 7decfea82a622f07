"""Shared test models for the search tests: a target whose optimum is a known PWL."""

import numpy as np

from pwlgen.functions import Asymptote, Target
from pwlgen.pwl import PWL

# ReGELU2 / ReSiLU2 as published (Approx-BP, LowMemoryBP), on their intervals
PUBLISHED = {
    "gelu": (
        (-0.04922261145617846, 1.0979632065417297, -0.048740595085551286),
        (-3.1858810036855245, -0.001178821281161997, 3.190832613414926),
        (-6.0697, 6.0697),
    ),
    "silu": (
        (-0.04060357190528599, 1.080925428529668, -0.040321856624382146),
        (-6.3050461001646445, -0.0008684942046214787, 6.325815242089708),
        (-38.228, 38.228),
    ),
}


def published_pwl(name: str) -> PWL:
    a, c, _ = PUBLISHED[name]
    return PWL.from_relu_sum(a, c)


def pwl_target(pwl: PWL, name: str = "pwl_target") -> Target:
    """A Target that *is* `pwl`: its own tails are the asymptotes, its knots the kinks."""
    import torch

    rs = pwl.to_relu_sum()
    a = torch.tensor(rs.a, dtype=torch.float64)
    c = torch.tensor(rs.c, dtype=torch.float64)

    def torch_fn(x):
        return rs.bias + rs.left_slope * x + (a * torch.relu(x[..., None] - c)).sum(-1)

    k0, kn = pwl.knots[0], pwl.knots[-1]
    return Target(
        name=name,
        f=lambda x: pwl(np.asarray(x, dtype=np.float64)),
        df=lambda x: pwl.derivative(np.asarray(x, dtype=np.float64)),
        d2f=lambda x: np.zeros_like(np.asarray(x, dtype=np.float64)),
        torch_fn=torch_fn,
        left=Asymptote(pwl.left_slope, float(pwl(k0)) - pwl.left_slope * k0),
        right=Asymptote(pwl.right_slope, float(pwl(kn)) - pwl.right_slope * kn),
    )


# a PWL with tails 0 and x (like ReGELU2) and knots well inside (-4, 4)
TRUE_PWL = PWL.from_relu_sum([-0.2, 1.5, -0.3], [-2.0, 0.5, 2.5])
