"""Layer normalization over the last axis, through the fused LayerNorm kernels."""

from __future__ import annotations

import math

import numpy as np

from autograd.function import Function, check_in_place
from autograd.kernels import get_kernel
from autograd.ops.dropout import fused_dropout_seed
from autograd.tensor import Tensor


class LayerNorm(Function):
    r"""y = (x - \mu) / \sqrt{\sigma^2 + \epsilon} \cdot w + b, statistics over the last axis."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        y, mean, rstd = get_kernel("layer_norm_forward", x)(x, weight, bias, eps)
        return LayerNorm.keep(ctx, y, x, weight, bias, mean, rstd)

    @staticmethod
    def keep(ctx, y, x, weight, bias, mean, rstd):
        """Save what the backward reads (x is the normalized input) and return y."""
        ctx.save_for_backward(x, weight, mean, rstd)
        ctx.has_bias = bias is not None
        return y

    @staticmethod
    def backward(ctx, grad_out):
        x, weight, mean, rstd = ctx.saved_arrays
        return get_kernel("layer_norm_backward", x)(grad_out, x, weight, mean, rstd, ctx.has_bias)


def layer_norm(
    x: Tensor, weight: Tensor | None = None, bias: Tensor | None = None, eps: float = 1e-5
) -> Tensor:
    """Normalize ``x`` over its last axis, then scale by ``weight`` and shift by ``bias``.

    Shapes:
        x (..., H); weight and bias (H,); returns (..., H).
    """
    hidden = x.shape[-1]
    for name, param in (("weight", weight), ("bias", bias)):
        if param is not None and param.shape != (hidden,):
            raise ValueError(f"layer_norm: {name} has shape {param.shape}, expected ({hidden},)")
    return LayerNorm.apply(x, weight, bias, eps=eps)


class AddLayerNorm(Function):
    r"""y = LayerNorm(dropout(x + x_bias) + r): the post-LN residual block as one node and one
    pass over the rows.

    ``x_bias`` is the bias of the linear layer that made x (run without it) and the dropout is
    that of the block's branch; both optional. The sum s = dropout(x + x_bias) + r is written
    once, by the kernel that normalizes it, and kept for the backward, which is LayerNorm's on
    s: dL/dr = dL/ds, and dL/dx is dL/ds through the same dropout mask (from the seed), with
    dL/dx_bias its sum over the rows, in the same pass. Without a graph (no_grad, or no input
    needing a gradient) s is not kept and the kernel writes y only.
    """

    @staticmethod
    def forward(ctx, x, residual, weight, bias, x_bias, eps, p, seed, rows):
        keep_sum = bool(ctx.inputs)  # a graph node is recorded: the backward will need s
        kernel = get_kernel("add_layer_norm_forward", x)
        y, s, mean, rstd = kernel(
            x, residual, weight, bias, eps, keep_sum, x_bias, p, seed, rows=rows
        )
        ctx.has_x_bias, ctx.p, ctx.seed, ctx.rows = x_bias is not None, p, seed, rows
        return LayerNorm.keep(ctx, y, s, weight, bias, mean, rstd)

    @staticmethod
    def backward(ctx, grad_out):
        s, weight, mean, rstd = ctx.saved_arrays
        if not ctx.has_x_bias and ctx.p == 0:  # the plain residual block: LayerNorm's backward
            grad_s, grad_weight, grad_bias = LayerNorm.backward(ctx, grad_out)
            return grad_s, grad_s, grad_weight, grad_bias, None
        kernel = get_kernel("add_layer_norm_backward", s)
        grad_x, grad_residual, grad_weight, grad_bias, grad_x_bias = kernel(
            grad_out, s, weight, mean, rstd, ctx.has_bias, ctx.has_x_bias, ctx.p, ctx.seed,
            rows=ctx.rows,
        )  # fmt: skip
        return grad_x, grad_residual, grad_weight, grad_bias, grad_x_bias


def add_layer_norm(
    x: Tensor,
    residual: Tensor,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
    *,
    x_bias: Tensor | None = None,
    dropout_p: float = 0.0,
    generator: np.random.Generator | None = None,
    dropout_rows=None,
    inplace: bool = False,
) -> Tensor:
    """``layer_norm(dropout(x + x_bias) + residual, weight, bias, eps)`` in one node.

    ``x_bias`` (optional) is a linear layer's bias, for a layer run without it; ``dropout_p``
    drops elements of x + x_bias as ``autograd.dropout`` would, with one draw from
    ``generator`` (pass 0 in evaluation).

    ``dropout_rows`` (R,), for x holding R rows taken from a larger (N_rows, H) tensor (its rows
    ``dropout_rows``): each row then drops exactly what that row of the larger tensor would, so
    computing some rows alone changes nothing but the work. Dropout masks are counter-based
    (element i of a tensor hashes i), which makes that possible.

    ``inplace``: write the result over ``x`` and return ``x`` itself, as ``gelu(inplace=True)``
    does. For x the fresh output of a product, the pass then writes where it has just read
    instead of into a new array, whose memory the product has pushed out of the caches (and
    the sums are never stored). x must be a temporary nothing else reads. Only where no graph
    is recorded; in grad mode it raises.

    Shapes:
        x and residual (..., H), the same shape; weight, bias and x_bias (H,); dropout_rows
        (R,) for R rows of x (the product of its leading axes); returns (..., H).
    """
    if x.shape != residual.shape:
        raise ValueError(f"add_layer_norm: x {x.shape} and residual {residual.shape} differ")
    if dropout_rows is not None:
        n_rows = math.prod(x.shape[:-1])
        if getattr(dropout_rows, "shape", None) != (n_rows,) or dropout_rows.dtype.kind not in "iu":
            raise ValueError(
                f"add_layer_norm: dropout_rows must be an integer array of shape ({n_rows},), "
                f"one row index per row of x {x.shape}, got {getattr(dropout_rows, 'shape', None)}"
            )
    hidden = x.shape[-1]
    for name, param in (("weight", weight), ("bias", bias), ("x_bias", x_bias)):
        if param is not None and param.shape != (hidden,):
            raise ValueError(
                f"add_layer_norm: {name} has shape {param.shape}, expected ({hidden},)"
            )
    seed = fused_dropout_seed(dropout_p, generator, "add_layer_norm")
    if not inplace:
        return AddLayerNorm.apply(
            x, residual, weight, bias, x_bias, eps=eps, p=float(dropout_p), seed=seed,
            rows=dropout_rows,
        )  # fmt: skip
    tensors = (x, residual, weight, bias, x_bias)
    check_in_place("add_layer_norm", x, tensors, overwritten="x")
    arrays = [None if t is None else t.data for t in tensors]
    kernel = get_kernel("add_layer_norm_forward", x.data)
    kernel(*arrays[:4], eps, False, arrays[4], float(dropout_p), seed, out=x.data,
           rows=dropout_rows)  # fmt: skip
    return x
