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
