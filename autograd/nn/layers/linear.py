"""``Linear``: the affine layer y = x W^T + b."""

from __future__ import annotations

import math

import numpy as np

from autograd import random
from autograd.nn import init
from autograd.nn.functional import linear
from autograd.nn.module import Module
from autograd.nn.parameter import Parameter


class Linear(Module):
    r"""y = x W^T + b, initialized as ``torch.nn.Linear``: W and b from U(-k, k), k = 1/\sqrt{in}.

    (PyTorch writes it as Kaiming-uniform with a = \sqrt{5}, which works out to the same k.)

    Args:
        in_features: size of each input's last axis.
        out_features: size of each output's last axis.
        bias: learn an additive bias b.
        generator: the ``numpy.random.Generator`` for the initial weights (None: the default).
        dtype: the parameters' dtype.

    Returns:
        ``forward(x)``: the output tensor.

    Shapes:
        x (..., in_features) -> (..., out_features); weight (out_features, in_features);
        bias (out_features,).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        generator: np.random.Generator | None = None,
        dtype=np.float32,
    ):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty((out_features,), dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(generator)

    def reset_parameters(self, generator: np.random.Generator | None = None) -> None:
        """Redraw W and then b (in that order, so one seed gives one layer)."""
        rng = random.resolve(generator)
        # in_features == 0 gives an empty weight; PyTorch uses bound 0 there, and so do we.
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
        init.uniform_(self.weight, -bound, bound, generator=rng)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound, generator=rng)

    def forward(self, x):
        return linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )
