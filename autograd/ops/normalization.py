"""Layer normalization over the last axis, through the fused LayerNorm kernels."""

from __future__ import annotations

from autograd.function import Function
from autograd.kernels import get_kernel
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
    r"""y = LayerNorm(x + r): the post-LN residual block as one node and one pass over the rows.

    The sum s = x + r is written once, by the kernel that normalizes it, and kept for the
    backward, which is LayerNorm's on s; dL/dx = dL/dr = dL/ds. Without a graph (no_grad, or
    no input needing a gradient) s is not kept and the kernel writes y only.
    """

    @staticmethod
    def forward(ctx, x, residual, weight, bias, eps):
        keep_sum = bool(ctx.inputs)  # a graph node is recorded: the backward will need s
        kernel = get_kernel("add_layer_norm_forward", x)
        y, s, mean, rstd = kernel(x, residual, weight, bias, eps, keep_sum)
        return LayerNorm.keep(ctx, y, s, weight, bias, mean, rstd)

    @staticmethod
    def backward(ctx, grad_out):
        grad_s, grad_weight, grad_bias = LayerNorm.backward(ctx, grad_out)
        return grad_s, grad_s, grad_weight, grad_bias


def add_layer_norm(
    x: Tensor,
    residual: Tensor,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """``layer_norm(x + residual, weight, bias, eps)`` in one node.

    Shapes:
        x and residual (..., H), the same shape; weight and bias (H,); returns (..., H).
    """
    if x.shape != residual.shape:
        raise ValueError(f"add_layer_norm: x {x.shape} and residual {residual.shape} differ")
    hidden = x.shape[-1]
    for name, param in (("weight", weight), ("bias", bias)):
        if param is not None and param.shape != (hidden,):
            raise ValueError(
                f"add_layer_norm: {name} has shape {param.shape}, expected ({hidden},)"
            )
    return AddLayerNorm.apply(x, residual, weight, bias, eps=eps)
