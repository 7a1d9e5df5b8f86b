"""Dropout with a mask drawn from an explicit generator."""

from __future__ import annotations

import numpy as np

from autograd.function import Function
from autograd.kernels import dropout_seed, get_kernel
from autograd.tensor import Tensor


class Dropout(Function):
    """out = x * mask, where the mask holds 0 (dropped) or 1 / (1 - p) (kept).

    The mask is a function of ``seed`` (a counter hash, see ``reference.dropout_mask``), so the
    backward recomputes it from the seed instead of keeping an array as large as ``x``; the
    ``dropout_apply`` kernel hashes and multiplies in one pass.
    """

    @staticmethod
    def forward(ctx, x, p, seed):
        ctx.p, ctx.seed = p, seed
        return get_kernel("dropout_apply", x)(x, p, seed)

    @staticmethod
    def backward(ctx, grad_out):
        return get_kernel("dropout_apply", grad_out)(grad_out, ctx.p, ctx.seed)


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
    return Dropout.apply(x, p=p, seed=dropout_seed(generator))


def fused_dropout_seed(dropout_p: float, generator, name: str):
    """The seed for a dropout fused into another op (attention, ``add_layer_norm``): 0 when
    ``dropout_p`` is 0, else one draw from ``generator``, as ``dropout`` takes.

    Unlike ``dropout``, ``dropout_p`` must be below 1 (the fused kernels scale by 1 / (1 - p)).
    """
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"{name}: dropout_p must be in [0, 1), got {dropout_p}")
    if dropout_p == 0.0:
        return 0
    if not isinstance(generator, np.random.Generator):
        raise TypeError(
            f"{name}: dropout needs a numpy.random.Generator "
            "(generator=np.random.default_rng(seed))"
        )
    return dropout_seed(generator)
