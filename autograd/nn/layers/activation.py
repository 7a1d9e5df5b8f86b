"""Activation layers: ``GELU``, ``ReLU``, ``Tanh`` (module wrappers of the ops, for Sequential)."""

from __future__ import annotations

from autograd.nn.functional import gelu, relu, tanh
from autograd.nn.module import Module


class GELU(Module):
    r"""GELU(x) = x \Phi(x), \Phi the standard normal CDF (BERT's activation).

    Args:
        approximate: ``"none"`` for the exact erf form (BERT, transformers' ``"gelu"``) or
            ``"tanh"`` for 0.5 x (1 + tanh(\sqrt{2/\pi} (x + 0.044715 x^3))).

    Returns:
        ``forward(x)``: the activated tensor.

    Shapes:
        x (...) -> (...), the same shape.
    """

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class ReLU(Module):
    """ReLU(x) = max(x, 0).

    Args:
        none.

    Returns:
        ``forward(x)``: the activated tensor.

    Shapes:
        x (...) -> (...), the same shape.
    """

    def forward(self, x):
        return relu(x)


class Tanh(Module):
    """tanh(x) (BERT's pooler activation).

    Args:
        none.

    Returns:
        ``forward(x)``: the activated tensor.

    Shapes:
        x (...) -> (...), the same shape.
    """

    def forward(self, x):
        return tanh(x)
