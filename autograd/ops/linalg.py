"""Matrix multiplication with NumPy's batch-broadcasting rules, through the ``matmul`` kernel."""

from __future__ import annotations

import numpy as np

from autograd.function import Function
from autograd.kernels import get_kernel
from autograd.tensor import Tensor


class MatMul(Function):
    r"""C = A B. With G = dL/dC: dL/dA = G B^T and dL/dB = A^T G.

    Batch axes broadcast (the engine sums the gradients back over them), and 1-D operands are
    treated as a row vector (left) or column vector (right), as in ``numpy.matmul``.
    """

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        matmul = get_kernel("matmul", a)
        if a.ndim > 2 and b.ndim == 2:
            # A stack of rows times one matrix (every Linear layer) is one big product:
            # fold the batch axes into rows instead of running many small products.
            out = matmul(a.reshape(-1, a.shape[-1]), b)  # (..., k) -> (N, k) @ (k, m)
            return out.reshape(a.shape[:-1] + (b.shape[-1],))  # (N, m) -> (..., m)
        return matmul(a, b)

    @staticmethod
    def backward(ctx, grad_out):
        a, b = ctx.saved_arrays
        matmul = get_kernel("matmul", grad_out)
        if a.ndim > 2 and b.ndim == 2:
            g = grad_out.reshape(-1, grad_out.shape[-1])  # (..., m) -> (N, m)
            grad_a = grad_b = None
            if ctx.needs_input_grad[0]:
                grad_a = matmul(g, b, transpose_b=True).reshape(a.shape)  # (N, m) @ (m, k)
            if ctx.needs_input_grad[1]:
                # One (k, N) @ (N, m) product sums over every row at once, instead of a stack
                # of per-batch products that the engine would then have to add up.
                grad_b = matmul(a.reshape(-1, a.shape[-1]), g, transpose_a=True)
            return grad_a, grad_b
        # Give vectors their matrix shapes back: (k,) @ (..., k, m) is (1, k) @ (..., k, m).
        a2 = a.reshape(1, -1) if a.ndim == 1 else a  # (k,) -> (1, k)
        b2 = b.reshape(-1, 1) if b.ndim == 1 else b  # (k,) -> (k, 1)
        g = grad_out
        if a.ndim == 1:
            g = g.reshape(g.shape[:-1] + (1,) + g.shape[-1:])  # (..., m) -> (..., 1, m)
        if b.ndim == 1:
            g = g.reshape(g.shape + (1,))  # (..., n) -> (..., n, 1)
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = matmul(g, b2, transpose_b=True)  # (..., n, m) @ (..., m, k) -> (..., n, k)
            if a.ndim == 1:
                grad_a = grad_a.reshape(grad_a.shape[:-2] + grad_a.shape[-1:])  # drop the 1
        if ctx.needs_input_grad[1]:
            grad_b = matmul(a2, g, transpose_a=True)  # (..., k, n) @ (..., n, m) -> (..., k, m)
            if b.ndim == 1:
                grad_b = grad_b[..., 0]  # (..., k, 1) -> (..., k)
        return grad_a, grad_b


class Linear(Function):
    r"""y = x W^T + b in one node: dL/dx = G W, dL/dW = G^T x, dL/db = \sum_{rows} G.

    One GEMM on x with its batch axes folded into rows; the bias is added in place to the
    product (no temporary), and the backward reads W and x where they lie (BLAS takes the
    transposes as flags). Against ``matmul(x, W.T) + b`` this saves two graph nodes (the
    transpose and the add), the product's copy in the add, and the engine's un-broadcast of b.
    """

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        rows = x.reshape(-1, x.shape[-1])  # (..., in) -> (N, in)
        out = get_kernel("matmul", x)(rows, weight, transpose_b=True)  # (N, in) @ (in, out)
        if bias is not None:
            get_kernel("add_bias_", out)(out, bias)  # in place: no temporary
        return out.reshape(x.shape[:-1] + (weight.shape[0],))  # (N, out) -> (..., out)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_arrays
        matmul = get_kernel("matmul", grad_out)
        g = grad_out.reshape(-1, weight.shape[0])  # (..., out) -> (N, out)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = matmul(g, weight).reshape(x.shape)  # (N, out) @ (out, in) -> (..., in)
        if ctx.needs_input_grad[1]:
            rows = x.reshape(-1, x.shape[-1])  # (..., in) -> (N, in)
            grad_w = matmul(g, rows, transpose_a=True)  # (out, N) @ (N, in)
        if ctx.needs_input_grad[2]:
            grad_b = get_kernel("bias_grad", g)(g)  # (N, out) -> (out,)
        return grad_x, grad_w, grad_b


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x W^T + b through ``Linear``; shapes are checked by ``autograd.nn.functional.linear``."""
    return Linear.apply(x, weight, bias)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    a = a if isinstance(a, Tensor) else Tensor(a)
    b = b if isinstance(b, Tensor) else Tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul needs at least 1-D operands, got shapes {a.shape} and {b.shape}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned ({k_a} != {k_b})")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(
            f"matmul: batch shapes of {a.shape} and {b.shape} do not broadcast"
        ) from None
    return MatMul.apply(a, b)
