"""Softmax and log-softmax, through the fused kernels of the registry."""

from __future__ import annotations

from autograd.function import Function
from autograd.kernels import get_kernel
from autograd.tensor import Tensor


def _last_axis_first(fn_name: str, a: Tensor, axis: int) -> int:
    if not -a.ndim <= axis < a.ndim:
        raise ValueError(f"{fn_name}: axis {axis} is out of range for shape {a.shape}")
    return axis % a.ndim


class Softmax(Function):
    r"""y = softmax(x * scale + mask) along the last axis; dL/dx = scale * y (g - \sum g y)."""

    @staticmethod
    def forward(ctx, x, scale, mask):
        y = get_kernel("softmax_forward", x)(x, scale, mask)
        ctx.save_for_backward(y)
        ctx.scale = scale
        return y

    @staticmethod
    def backward(ctx, grad_out):
        (y,) = ctx.saved_arrays
        return get_kernel("softmax_backward", y)(y, grad_out, ctx.scale)


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x):
        out = get_kernel("log_softmax_forward", x)(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved_arrays
        return get_kernel("log_softmax_backward", out)(out, grad_out)


def softmax(x: Tensor, axis: int = -1, *, scale: float = 1.0, mask=None) -> Tensor:
    r"""softmax(x * scale + mask) along ``axis``: exp(z_i) / \sum_j exp(z_j).

    Args:
        scale: multiplies the scores first (attention's 1/sqrt(head size)), fused in the kernel.
        mask: an additive array broadcasting against x (0 keeps, -inf or a large negative value
            drops); not differentiated. Only with the default ``axis=-1``.
    """
    axis = _last_axis_first("softmax", x, axis)
    mask = mask.data if isinstance(mask, Tensor) else mask
    if mask is not None and mask.dtype != x.dtype:
        mask = mask.astype(x.dtype)
    if axis == x.ndim - 1:
        return Softmax.apply(x, scale=scale, mask=mask)
    if mask is not None:
        raise ValueError("softmax: a mask is supported along the last axis only")
    moved = x.swapaxes(axis, -1)
    return Softmax.apply(moved, scale=scale, mask=None).swapaxes(axis, -1)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """log(softmax(x)) along ``axis``, computed stably as x - logsumexp(x)."""
    axis = _last_axis_first("log_softmax", x, axis)
    if axis == x.ndim - 1:
        return LogSoftmax.apply(x)
    return LogSoftmax.apply(x.swapaxes(axis, -1)).swapaxes(axis, -1)
