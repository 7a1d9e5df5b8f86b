"""Elementwise ops: arithmetic, unary math, activations, casts, and selection.

Binary ops broadcast like NumPy. Their backward returns gradients shaped like the output; the
engine sums them back to each input's shape.
"""

from __future__ import annotations

import numpy as np

from autograd.backend import get_xp, is_floating
from autograd.function import Function, check_in_place
from autograd.kernels import get_kernel
from autograd.tensor import Tensor


def as_operands(name: str, a, b) -> tuple[Tensor, Tensor]:
    """Make tensors of two operands, giving a Python number the other operand's dtype and module.

    Raises a ValueError naming both shapes when they do not broadcast.
    """
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"{name}: at least one operand must be a Tensor")
    like = a if isinstance(a, Tensor) else b
    a = a if isinstance(a, Tensor) else _constant_like(a, like)
    b = b if isinstance(b, Tensor) else _constant_like(b, like)
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{name}: shapes {a.shape} and {b.shape} do not broadcast") from None
    return a, b


def _constant_like(value, like: Tensor) -> Tensor:
    xp = get_xp(like.data)
    if isinstance(value, (int, float, bool, np.number)):
        dtype = like.dtype if is_floating(like.dtype) or isinstance(value, int) else np.float32
        return Tensor(xp.asarray(value, dtype=dtype))
    return Tensor(value)  # an array: keeps its own dtype, and mismatches are reported by apply


# ---------------------------------------------------------------------------------- arithmetic


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out, grad_out


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out, -grad_out


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad_out):
        a, b = ctx.saved_arrays
        grad_a = grad_out * b if ctx.needs_input_grad[0] else None
        grad_b = grad_out * a if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad_out):
        a, b = ctx.saved_arrays
        grad_a = grad_out / b if ctx.needs_input_grad[0] else None
        grad_b = -grad_out * a / (b * b) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad_out):
        return -grad_out


class PowScalar(Function):
    """x ** p for a constant exponent p: d/dx = p * x ** (p - 1)."""

    @staticmethod
    def forward(ctx, a, exponent):
        ctx.save_for_backward(a)
        ctx.exponent = exponent
        return a ** a.dtype.type(exponent)

    @staticmethod
    def backward(ctx, grad_out):
        (a,) = ctx.saved_arrays
        if ctx.exponent == 0:  # x ** 0 is constant; p * x ** (p - 1) would be 0 * inf at x = 0
            return get_xp(a).zeros_like(a)
        p = a.dtype.type(ctx.exponent)
        return grad_out * p * a ** (p - 1)


class Pow(Function):
    """a ** b for tensors: d/da = b a^(b-1), d/db = a^b log(a) (a must be positive for b's)."""

    @staticmethod
    def forward(ctx, a, b):
        out = a**b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        a, b, out = ctx.saved_arrays
        xp = get_xp(a)
        grad_a = grad_out * b * a ** (b - 1) if ctx.needs_input_grad[0] else None
        grad_b = None
        if ctx.needs_input_grad[1]:
            # d(a^b)/db = a^b log a. At a = 0 the product is 0 * -inf; its limit (and PyTorch's
            # answer) is 0. Negative bases have no real logarithm: NaN, as in PyTorch.
            log_a = xp.log(xp.where(a > 0, a, 1))
            log_a = xp.where(a > 0, log_a, xp.where(a == 0, 0, xp.nan))
            grad_b = grad_out * out * log_a
        return grad_a, grad_b


def add(a, b) -> Tensor:
    return Add.apply(*as_operands("add", a, b))


def sub(a, b) -> Tensor:
    return Sub.apply(*as_operands("sub", a, b))


def mul(a, b) -> Tensor:
    return Mul.apply(*as_operands("mul", a, b))


def div(a, b) -> Tensor:
    return Div.apply(*as_operands("div", a, b))


def neg(a: Tensor) -> Tensor:
    return Neg.apply(a)


def pow(base, exponent) -> Tensor:  # noqa: A001  (mirrors torch.pow)
    """``base ** exponent``; a Python-number exponent is a constant (the common, cheaper case)."""
    if isinstance(base, Tensor) and isinstance(exponent, (int, float)):
        return PowScalar.apply(base, exponent=exponent)
    return Pow.apply(*as_operands("pow", base, exponent))


# ---------------------------------------------------------------------------------- unary math


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        out = get_xp(a).exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved_arrays
        return grad_out * out


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return get_xp(a).log(a)

    @staticmethod
    def backward(ctx, grad_out):
        (a,) = ctx.saved_arrays
        return grad_out / a


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        out = get_xp(a).sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved_arrays
        return grad_out / (2 * out)


class Tanh(Function):
    @staticmethod
    def forward(ctx, a):
        out = get_xp(a).tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved_arrays
        return grad_out * (1 - out * out)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, a):
        xp = get_xp(a)
        # Two branches so exp never overflows: 1/(1+e^-a) for a >= 0, e^a/(1+e^a) otherwise.
        e = xp.exp(-xp.abs(a))
        out = xp.where(a >= 0, 1 / (1 + e), e / (1 + e))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved_arrays
        return grad_out * out * (1 - out)


class ReLU(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a > 0)
        return get_xp(a).maximum(a, 0)

    @staticmethod
    def backward(ctx, grad_out):
        (positive,) = ctx.saved_arrays
        return grad_out * positive


class GELU(Function):
    """Gaussian Error Linear Unit of a + bias, through the ``gelu_forward``/``gelu_backward``
    kernels; the bias (optional, along the last axis) is a linear layer's, added in the kernel,
    and its gradient is summed in the backward kernel's pass (``gelu_bias_backward``).
    """

    @staticmethod
    def forward(ctx, a, bias, approximate):
        ctx.save_for_backward(a, bias)
        ctx.approximate = approximate
        return get_kernel("gelu_forward", a)(a, approximate, bias)

    @staticmethod
    def backward(ctx, grad_out):
        a, bias = ctx.saved_arrays
        if bias is not None and ctx.needs_input_grad[1]:  # (..., N), and its sum (N,)
            return get_kernel("gelu_bias_backward", a)(a, grad_out, ctx.approximate, bias)
        return get_kernel("gelu_backward", a)(a, grad_out, ctx.approximate, bias), None


def exp(a: Tensor) -> Tensor:
    return Exp.apply(a)


def log(a: Tensor) -> Tensor:
    return Log.apply(a)


def sqrt(a: Tensor) -> Tensor:
    return Sqrt.apply(a)


def tanh(a: Tensor) -> Tensor:
    return Tanh.apply(a)


def sigmoid(a: Tensor) -> Tensor:
    return Sigmoid.apply(a)


def relu(a: Tensor) -> Tensor:
    return ReLU.apply(a)


def gelu(
    a: Tensor, approximate: str = "none", bias: Tensor | None = None, inplace: bool = False
) -> Tensor:
    r"""GELU(x) = x \Phi(x). ``approximate="none"``: the exact erf form (BERT, transformers'
    ``"gelu"``); ``"tanh"``: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (``"gelu_new"``).

    ``bias``: a vector along the last axis added first, GELU(a + bias) in one pass (a linear
    layer's bias, when the layer is run without it); differentiated too.

    ``inplace``: write the result over ``a`` and return ``a`` itself, as PyTorch's
    ``F.relu(x, inplace=True)``: no second array of a's size to allocate and write, which on a
    (4096, 1536) float32 activation is 25 MB less memory traffic. Only where no graph is being
    recorded (under ``no_grad``, or nothing requires grad): the backward needs the input this
    would overwrite, so in grad mode it raises.
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    if bias is not None and (bias.ndim != 1 or a.ndim == 0 or bias.shape[0] != a.shape[-1]):
        raise ValueError(
            f"gelu: bias must be a vector as long as the last axis of {a.shape}, got {bias.shape}"
        )
    if not inplace:
        return GELU.apply(a, bias, approximate=approximate)
    check_in_place("gelu", a, (a, bias), overwritten="the input that its backward needs")
    get_kernel("gelu_forward_", a.data)(a.data, approximate, None if bias is None else bias.data)
    return a


# ------------------------------------------------------------------------------ casts, select


class Cast(Function):
    @staticmethod
    def forward(ctx, a, dtype):
        ctx.input_dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out.astype(ctx.input_dtype)


def cast(a: Tensor, dtype) -> Tensor:
    dtype = np.dtype(dtype)
    if dtype == a.dtype:
        return a
    if a.requires_grad and not is_floating(dtype):
        raise TypeError(f"cannot cast a tensor that requires grad to {dtype}: use .detach() first")
    return Cast.apply(a, dtype=dtype)


class Where(Function):
    @staticmethod
    def forward(ctx, a, b, condition):
        ctx.condition = condition
        return get_xp(a).where(condition, a, b)

    @staticmethod
    def backward(ctx, grad_out):
        xp = get_xp(grad_out)
        zero = grad_out.dtype.type(0)
        grad_a = xp.where(ctx.condition, grad_out, zero) if ctx.needs_input_grad[0] else None
        grad_b = xp.where(ctx.condition, zero, grad_out) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


def where(condition, a, b) -> Tensor:
    """Elementwise ``a`` where ``condition`` (a boolean array) holds, else ``b``."""
    a, b = as_operands("where", a, b)
    condition = condition.data if isinstance(condition, Tensor) else condition
    try:
        np.broadcast_shapes(tuple(condition.shape), a.shape, b.shape)
    except ValueError:
        raise ValueError(
            f"where: condition shape {tuple(condition.shape)} does not broadcast with "
            f"{a.shape} and {b.shape}"
        ) from None
    return Where.apply(a, b, condition=condition)


def masked_fill(a: Tensor, mask, value: float) -> Tensor:
    """``a`` with ``value`` wherever the boolean ``mask`` is True (mask broadcasts against a)."""
    return where(mask, value, a)
