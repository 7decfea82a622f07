"""GPU training ops: k-bit memory-saving activations, the hardware-faithful PWL activation.

- `ReGELU2`, `ReSiLU2`: drop-ins for ``nn.GELU()`` / ``nn.SiLU()`` that keep 2 bits per
  element for backward (Approx-BP layout);
- `FewBitActivation`: any target, k in 1..4, objective ``l2`` or ``l2-deriv``;
- `PWLActivation`: what the emitted hardware unit computes, bit-exact with its golden model;
- `convert`: swap the activations of an existing model, reporting every site and the
  memory saved for backward, measured (`memory_report`: saved-tensor hooks).

The ops are ``torch.library`` custom ops (``pwlgen::kbit_act``, ``pwlgen::kbit_act_backward``)
backed by Triton kernels (`pwlgen.nn.kbit_act`) with a pure-torch reference
(`pwlgen.nn.reference`).
"""

from .convert import ConversionReport, Site, convert
from .kbit_act import kbit_act_backward, kbit_activation
from .memory import MemoryReport, memory_report
from .modules import FewBitActivation, PWLActivation, ReGELU2, ReSiLU2
from .pwl_act import pwl_activation
from .reference import OpError

__all__ = [
    "ConversionReport",
    "FewBitActivation",
    "MemoryReport",
    "OpError",
    "PWLActivation",
    "ReGELU2",
    "ReSiLU2",
    "Site",
    "convert",
    "kbit_act_backward",
    "kbit_activation",
    "memory_report",
    "pwl_activation",
]
