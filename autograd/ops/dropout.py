"""Dropout with a mask drawn from an explicit generator."""

from __future__ import annotations

import numpy as np

from autograd.function import Function
from autograd.kernels import get_kernel
from autograd.tensor import Tensor


class Dropout(Function):
    """out = x * mask, where the mask holds 0 (dropped) or 1 / (1 - p) (kept)."""

    @staticmethod
    def forward(ctx, x, mask):
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, grad_out):
        (mask,) = ctx.saved_arrays
        return grad_out * mask


def dropout(x: Tensor, p: float, generator: np.random.Generator, training: bool = True) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p).

    The scaling keeps the expected value unchanged, so evaluation (``training=False``) is the
    identity. ``generator`` is a seeded ``numpy.random.Generator``: the same seed gives the
    same masks.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    if not isinstance(generator, np.random.Generator):
        raise TypeError("dropout needs a numpy.random.Generator (np.random.default_rng(seed))")
    mask = get_kernel("dropout_mask", x.data)(x.data, p, generator)
    return Dropout.apply(x, mask=mask)
