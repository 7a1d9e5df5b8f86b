"""Reductions: sum, mean, max, var, each with ``axis`` (int, tuple or None) and ``keepdims``."""

from __future__ import annotations

import builtins

from autograd.backend import get_xp
from autograd.function import Function
from autograd.tensor import Tensor


def normalize_axes(axis, ndim: int) -> tuple[int, ...]:
    """``axis`` as a sorted tuple of non-negative axes (None means every axis)."""
    if axis is None:
        return tuple(range(ndim))
    if ndim == 0:  # a scalar has no axes; axis 0 or -1 is accepted as "all of them" (as PyTorch)
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        if any(ax not in (0, -1) for ax in axes):
            raise ValueError(f"axis {axis} is out of range for a 0-dimensional tensor")
        return ()
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    normalized = []
    for ax in axes:
        if not -ndim <= ax < builtins.max(ndim, 1):
            raise ValueError(f"axis {ax} is out of range for a tensor with {ndim} dimensions")
        normalized.append(ax % builtins.max(ndim, 1))
    return tuple(sorted(set(normalized)))


def expand_reduced(grad, input_shape, axes, keepdims):
    """Give a reduced gradient back its reduced axes (as size 1) so it broadcasts to the input."""
    if not keepdims:
        grad = grad.reshape([1 if i in axes else n for i, n in enumerate(input_shape)])
    return grad


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdims):
        ctx.shape, ctx.axes, ctx.keepdims = a.shape, axes, keepdims
        return get_xp(a).sum(a, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad_out):
        grad = expand_reduced(grad_out, ctx.shape, ctx.axes, ctx.keepdims)
        return get_xp(grad).broadcast_to(grad, ctx.shape)


class Mean(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdims):
        ctx.shape, ctx.axes, ctx.keepdims = a.shape, axes, keepdims
        ctx.count = 1
        for ax in axes:
            ctx.count *= a.shape[ax]
        return get_xp(a).mean(a, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad_out):
        grad = expand_reduced(grad_out, ctx.shape, ctx.axes, ctx.keepdims) / ctx.count
        return get_xp(grad).broadcast_to(grad, ctx.shape)


class Max(Function):
    """Maximum over ``axes``. Where several entries tie for the maximum, the gradient is shared
    equally among them (as ``torch.amax``), which keeps it a valid subgradient."""

    @staticmethod
    def forward(ctx, a, axes, keepdims):
        xp = get_xp(a)
        out = xp.max(a, axis=axes, keepdims=True)
        is_max = a == out
        ctx.save_for_backward(is_max / xp.sum(is_max, axis=axes, keepdims=True).astype(a.dtype))
        ctx.shape, ctx.axes, ctx.keepdims = a.shape, axes, keepdims
        return out if keepdims else xp.squeeze(out, axis=axes)

    @staticmethod
    def backward(ctx, grad_out):
        (share,) = ctx.saved_arrays
        return expand_reduced(grad_out, ctx.shape, ctx.axes, ctx.keepdims) * share


class Var(Function):
    r"""Variance \frac{1}{N - ddof} \sum (x - \bar x)^2; ddof=0 is NumPy's default (biased)."""

    @staticmethod
    def forward(ctx, a, axes, keepdims, ddof):
        xp = get_xp(a)
        count = 1
        for ax in axes:
            count *= a.shape[ax]
        centered = a - xp.mean(a, axis=axes, keepdims=True)
        ctx.save_for_backward(centered)
        ctx.shape, ctx.axes, ctx.keepdims, ctx.denominator = a.shape, axes, keepdims, count - ddof
        return xp.sum(centered * centered, axis=axes, keepdims=keepdims) / ctx.denominator

    @staticmethod
    def backward(ctx, grad_out):
        (centered,) = ctx.saved_arrays
        grad = expand_reduced(grad_out, ctx.shape, ctx.axes, ctx.keepdims)
        return grad * centered * (2.0 / ctx.denominator)


def sum(a: Tensor, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return Sum.apply(a, axes=normalize_axes(axis, a.ndim), keepdims=keepdims)


def mean(a: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    return Mean.apply(a, axes=normalize_axes(axis, a.ndim), keepdims=keepdims)


def max(a: Tensor, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    if a.size == 0:
        raise ValueError("max of an empty tensor is undefined")
    return Max.apply(a, axes=normalize_axes(axis, a.ndim), keepdims=keepdims)


def var(a: Tensor, axis=None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    axes = normalize_axes(axis, a.ndim)
    count = 1
    for ax in axes:
        count *= a.shape[ax]
    if count - ddof <= 0:
        raise ValueError(f"var: {count} elements with ddof={ddof} leave no degrees of freedom")
    return Var.apply(a, axes=axes, keepdims=keepdims, ddof=ddof)
