"""Neural-network building blocks, named as in ``torch.nn``.

``Parameter`` and ``Module`` (``parameter.py``, ``module.py``); layers in ``layers/``;
initializers in ``init``; stateless functions in ``functional`` (import it as ``F``).

    from autograd import nn
    model = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 1))
    model.double()                          # float64, e.g. for a gradient check
    names = [n for n, _ in model.named_parameters()]   # ["0.weight", "0.bias", "2.weight", ...]
"""

from autograd.nn import functional, init
from autograd.nn.layers import (
    GELU,
    Dropout,
    Embedding,
    LayerNorm,
    Linear,
    ModuleDict,
    ModuleList,
    ReLU,
    Sequential,
    Tanh,
)
from autograd.nn.module import IncompatibleKeys, Module
from autograd.nn.parameter import Parameter

__all__ = [
    "GELU", "Dropout", "Embedding", "IncompatibleKeys", "LayerNorm", "Linear", "Module",
    "ModuleDict", "ModuleList", "Parameter", "ReLU", "Sequential", "Tanh", "functional", "init",
]  # fmt: skip
