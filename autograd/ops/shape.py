"""Ops that move elements around without arithmetic: reshape, permute, index, join, device."""

from __future__ import annotations

import numpy as np

from autograd.backend import get_xp
from autograd.function import Function
from autograd.kernels import get_kernel
from autograd.tensor import Tensor


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.input_shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out.reshape(ctx.input_shape)


class Permute(Function):
    @staticmethod
    def forward(ctx, a, axes):
        ctx.axes = axes
        return get_xp(a).transpose(a, axes)

    @staticmethod
    def backward(ctx, grad_out):
        # The inverse permutation puts every axis back where it came from.
        return get_xp(grad_out).transpose(grad_out, tuple(np.argsort(ctx.axes)))


class BroadcastTo(Function):
    @staticmethod
    def forward(ctx, a, shape):
        return get_xp(a).broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out  # the engine's unbroadcast sums it back to the input's shape


class GetItem(Function):
    """``a[index]`` for slices, integers, None, Ellipsis, boolean masks and integer arrays."""

    @staticmethod
    def forward(ctx, a, index):
        ctx.input_shape, ctx.index = a.shape, index
        return a[index]

    @staticmethod
    def backward(ctx, grad_out):
        index, input_shape = ctx.index, ctx.input_shape
        if _gathers_rows(index) and grad_out.size:
            # a[rows] is an embedding lookup with a as the table, so its gradient is the
            # embedding's scatter-add (a compiled loop, ~6x faster than ``np.add.at`` on
            # BERT's masked positions), rows flattened to one axis and back.
            row_size = grad_out.size // index.size
            rows = grad_out.reshape(index.size, row_size)  # (*index.shape, ...) -> (n, row)
            scatter_add = get_kernel("embedding_backward", grad_out)
            return scatter_add(index, rows, input_shape[0]).reshape(input_shape)
        xp = get_xp(grad_out)
        grad = xp.zeros(input_shape, dtype=grad_out.dtype)
        if _gathers(index):
            # An integer array may name the same element twice: those gradients must add up,
            # which ``grad[index] = g`` would not do (the last write would win).
            xp.add.at(grad, index, grad_out)
        else:
            grad[index] = grad_out
        return grad


def _gathers(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(hasattr(p, "dtype") and p.dtype.kind in "iu" for p in parts)


def _gathers_rows(index) -> bool:
    """Whether ``index`` is one integer array, which picks whole rows along the first axis."""
    return hasattr(index, "dtype") and index.dtype.kind in "iu" and index.size > 0


class Concatenate(Function):
    @staticmethod
    def forward(ctx, *arrays, axis):
        ctx.axis = axis
        ctx.sizes = [a.shape[axis] for a in arrays]
        return get_xp(arrays[0]).concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad_out):
        xp = get_xp(grad_out)
        boundaries = np.cumsum(ctx.sizes)[:-1].tolist()
        return tuple(xp.split(grad_out, boundaries, axis=ctx.axis))


class Stack(Function):
    @staticmethod
    def forward(ctx, *arrays, axis):
        ctx.axis = axis
        return get_xp(arrays[0]).stack(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad_out):
        xp = get_xp(grad_out)
        return tuple(xp.moveaxis(grad_out, ctx.axis, 0))


class ToDevice(Function):
    @staticmethod
    def forward(ctx, a, device):
        ctx.source_xp = get_xp(a)
        return _move(a, device)

    @staticmethod
    def backward(ctx, grad_out):
        # Back through the input's own module (CuPy, or a stand-in such as StrictArray's), so
        # the gradient lands on the device the input lives on.
        xp = ctx.source_xp
        return _move(grad_out, "cpu") if xp.__name__ == "numpy" else xp.asarray(grad_out)


def _move(array, device: str):
    if device == "cpu":
        return array if get_xp(array).__name__ == "numpy" else array.get()
    import cupy  # only when a GPU is asked for

    return cupy.asarray(array)


# ----------------------------------------------------------------------------- functional API


def _shape_argument(shape) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(n) for n in shape)


def reshape(a: Tensor, *shape) -> Tensor:
    """``a`` with a new shape of the same size (one entry may be -1: inferred)."""
    shape = _shape_argument(shape)
    known = int(np.prod([n for n in shape if n != -1]))
    if shape.count(-1) > 1 or (
        -1 not in shape and known != a.size or -1 in shape and (known == 0 or a.size % known)
    ):
        raise ValueError(f"cannot reshape a tensor of shape {a.shape} to {shape}")
    return Reshape.apply(a, shape=shape)


def permute(a: Tensor, *axes) -> Tensor:
    axes = _shape_argument(axes)
    if sorted(ax % a.ndim for ax in axes) != list(range(a.ndim)):
        raise ValueError(f"permute: {axes} is not a permutation of the {a.ndim} axes of {a.shape}")
    return Permute.apply(a, axes=tuple(ax % a.ndim for ax in axes))


def swapaxes(a: Tensor, axis0: int, axis1: int) -> Tensor:
    axes = list(range(a.ndim))
    axes[axis0], axes[axis1] = axes[axis1], axes[axis0]
    return Permute.apply(a, axes=tuple(axes))


def unsqueeze(a: Tensor, axis: int) -> Tensor:
    axis = axis % (a.ndim + 1)
    return Reshape.apply(a, shape=a.shape[:axis] + (1,) + a.shape[axis:])


def squeeze(a: Tensor, axis=None) -> Tensor:
    if axis is None:
        return Reshape.apply(a, shape=tuple(n for n in a.shape if n != 1))
    axis = axis % a.ndim
    if a.shape[axis] != 1:
        raise ValueError(f"squeeze: axis {axis} of shape {a.shape} has size {a.shape[axis]}, not 1")
    return Reshape.apply(a, shape=a.shape[:axis] + a.shape[axis + 1 :])


def broadcast_to(a: Tensor, shape) -> Tensor:
    shape = tuple(shape)
    try:
        if np.broadcast_shapes(a.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"broadcast_to: shape {a.shape} cannot be broadcast to {shape}") from None
    return BroadcastTo.apply(a, shape=shape)


def getitem(a: Tensor, index) -> Tensor:
    """Index like NumPy; integer tensors and lists in the index act as integer arrays."""
    xp = get_xp(a.data)
    parts = index if isinstance(index, tuple) else (index,)
    converted = []
    for part in parts:
        if isinstance(part, Tensor):
            part = part.data
        elif isinstance(part, list):
            part = xp.asarray(part)
        converted.append(part)
    index = tuple(converted) if isinstance(index, tuple) else converted[0]
    try:
        return GetItem.apply(a, index=index)
    except IndexError as error:
        raise IndexError(
            f"index {index!r} is invalid for a tensor of shape {a.shape}: {error}"
        ) from None


def _join_check(name: str, tensors, axis: int, same_shape: bool) -> None:
    if not tensors:
        raise ValueError(f"{name} needs at least one tensor")
    first = tensors[0].shape
    for t in tensors[1:]:
        mismatch = (
            t.shape != first
            if same_shape
            else (
                len(t.shape) != len(first)
                or any(
                    n != m
                    for i, (n, m) in enumerate(zip(t.shape, first, strict=True))
                    if i != axis % len(first)
                )
            )
        )
        if mismatch:
            raise ValueError(f"{name} along axis {axis}: shapes {first} and {t.shape} do not fit")


def concatenate(tensors, axis: int = 0) -> Tensor:
    tensors = list(tensors)
    _join_check("concatenate", tensors, axis, same_shape=False)
    return Concatenate.apply(*tensors, axis=axis)


def stack(tensors, axis: int = 0) -> Tensor:
    tensors = list(tensors)
    _join_check("stack", tensors, axis, same_shape=True)
    return Stack.apply(*tensors, axis=axis)


def to_device(a: Tensor, device: str) -> Tensor:
    if device not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}; expected 'cpu' or 'cuda'")
    if device == a.device:
        return a
    return ToDevice.apply(a, device=device)
