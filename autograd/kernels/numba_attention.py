r"""Scaled dot-product attention on the CPU: BLAS products and Numba softmax, a few heads at a time.

Per batch item and head, attention is two small products around a softmax:

.. math:: S = Q K^\top, \quad P = \operatorname{softmax}(S \cdot \text{scale} + M), \quad
    C = \operatorname{dropout}(P)\, V

Run as separate ops over the whole batch, each step is a pass over the (B, nh, Tq, Tk) scores in
memory (25 MB per layer at MiniLM's shape: product out, softmax in and out, dropout in and out,
product in), and the context comes out (B, nh, Tq, hs), to be copied to (B, Tq, H).

Here the batch is cut into chunks of a few batch items whose scores fit in L2 (``CHUNK_BYTES``),
and each chunk goes through every step while its scores are in cache: ``numpy.matmul`` (BLAS)
for the products, the serial Numba softmax and dropout kernels in between. The chunks are
shared between the cores as ``blas_threads.split_matmul`` shares a stack (each core one BLAS
thread), and the products write their results straight into the layout the next op wants: the
context and the gradients of Q, K and V as (B, T, nh, hs), where merging the heads back into
(B, T, H) costs nothing.

The numbers are the reference twin's: the same products, the softmax kernel of
``numba_softmax`` and the dropout mask of ``numba_dropout`` (element i of P uses the counter
of P's flat index i, so the mask equals ``dropout_apply(P, p, seed)`` bit for bit).
"""

from __future__ import annotations

import numpy as np

from autograd.kernels import blas_threads, reference
from autograd.kernels.numba_common import serial_kernel, supported
from autograd.kernels.numba_dropout import apply_serial, kept, mask_args
from autograd.kernels.numba_softmax import (
    broadcast_mask_rows,
    softmax_backward_rows_serial,
    softmax_rows_serial,
)
from autograd.kernels.registry import NUMBA, register

# Scores of one chunk: small enough to stay in a core's L2 (1-2 MiB) between the steps.
CHUNK_BYTES = 512 << 10


def _usable(q, k, v, *more) -> bool:
    """Whether the fast path takes these operands (else the reference twin runs)."""
    if not supported(q, k, v, *more) or q.ndim != 4 or len({a.dtype for a in (q, k, v)}) != 1:
        return False
    B, nh, _, hs = q.shape
    return k.shape[:2] == (B, nh) and k.shape == v.shape and k.shape[3] == hs


def _chunk_items(shape, itemsize: int) -> int:
    """How many batch items make one chunk of (nh, Tq, Tk) scores."""
    _, nh, tq, tk = shape
    return max(1, CHUNK_BYTES // max(1, nh * tq * tk * itemsize))


def _threads(batch: int) -> int:
    return max(1, min(blas_threads.blas_threads(), batch))


@serial_kernel
def _dropout_softmax_backward_rows(probs, grad, first, seed, threshold, keep_scale, scale, dropped):
    """For each row i (flat element index ``first + i * Tk`` onwards): dropped = P * mask, and
    grad (dL/dPd on entry) becomes dS = scale * P * (dP - sum(dP * P)) with dP = dL/dPd * mask.

    The dropout mask is hashed once per element for both uses (``numba_dropout.kept``).
    """
    n_rows, n = probs.shape
    zero = probs.dtype.type(0)
    for i in range(n_rows):
        start = first + i * n
        dot = zero
        for j in range(n):
            keep = keep_scale if kept(start + j, seed, threshold) else zero
            dropped[i, j] = probs[i, j] * keep
            g = grad[i, j] * keep
            grad[i, j] = g
            dot += g * probs[i, j]
        for j in range(n):
            grad[i, j] = (probs[i, j] * (grad[i, j] - dot)) * scale


@register("attention_forward", NUMBA)
def attention_forward(q, k, v, mask=None, scale=1.0, p=0.0, seed=0, need_probs=True):
    """(context (B, nh, Tq, hs), probs (B, nh, Tq, Tk) or None); see the reference twin.

    The context is a (B, nh, Tq, hs) view of a C-contiguous (B, Tq, nh, hs) array.
    """
    if not _usable(q, k, v) or p >= 1.0 or (mask is not None and not supported(mask)):
        return reference.attention_forward(q, k, v, mask, scale, p, seed, need_probs)
    B, nh, Tq, hs = q.shape
    Tk = k.shape[2]
    shape = (B, nh, Tq, Tk)
    dtype = q.dtype
    if mask is None:
        rows, row_of = np.zeros((1, Tk), dtype=dtype), np.zeros(B * nh * Tq, dtype=np.int64)
    else:
        rows, row_of = broadcast_mask_rows(mask.astype(dtype, copy=False), shape)
    out = np.empty((B, Tq, nh, hs), dtype=dtype)
    context = out.transpose(0, 2, 1, 3)  # (B, Tq, nh, hs) -> (B, nh, Tq, hs), a view
    probs = np.empty(shape, dtype=dtype) if need_probs else None
    chunk = _chunk_items(shape, dtype.itemsize)
    seed, threshold, keep_scale = mask_args(dtype, p, seed)
    scale = dtype.type(scale)
    per_item = nh * Tq * Tk

    def share(lo: int, hi: int) -> None:
        # Each step writes a buffer other than the one it reads: the Numba loops vectorize only
        # when their input and output do not overlap.
        scores = np.empty((min(chunk, hi - lo), nh, Tq, Tk), dtype=dtype)
        own = np.empty_like(scores) if not need_probs else None
        dropped = np.empty_like(scores) if p > 0 else None
        for b0 in range(lo, hi, chunk):
            b1 = min(b0 + chunk, hi)
            n = b1 - b0
            np.matmul(q[b0:b1], k[b0:b1].swapaxes(-1, -2), out=scores[:n])  # (n, nh, Tq, Tk)
            weights = probs[b0:b1] if need_probs else own[:n]
            softmax_rows_serial(
                scores[:n].reshape(-1, Tk), scale, rows, row_of[b0 * nh * Tq : b1 * nh * Tq],
                weights.reshape(-1, Tk),
            )  # fmt: skip
            if p > 0:
                counters = (b0 * per_item, seed, threshold, keep_scale)  # from P's flat index
                apply_serial(weights.reshape(-1), *counters, dropped[:n].reshape(-1))
                weights = dropped[:n]
            np.matmul(weights, v[b0:b1], out=context[b0:b1])  # (n, nh, Tq, hs)

    blas_threads.run_shares(B, _threads(B), share)
    return context, probs


@register("attention_backward", NUMBA)
def attention_backward(q, k, v, probs, grad, scale=1.0, p=0.0, seed=0, out=None):
    """(dq, dk, dv) of attention; see the reference twin. Each is a (B, nh, T, hs) view of a
    C-contiguous (B, T, nh, hs) array, or the given ``out`` arrays, written in place."""
    usable = _usable(q, k, v, probs, grad) and p < 1.0 and grad.shape == q.shape
    if out is not None:
        usable = usable and all(
            isinstance(o, np.ndarray) and o.shape == x.shape and o.dtype == q.dtype
            for o, x in zip(out, (q, k, v), strict=True)
        )
    if not usable or probs.shape != q.shape[:3] + (k.shape[2],) or probs.dtype != q.dtype:
        return reference.attention_backward(q, k, v, probs, grad, scale, p, seed, out)
    B, nh, Tq, hs = q.shape
    Tk = k.shape[2]
    dtype = q.dtype
    probs = np.ascontiguousarray(probs)
    grad = grad.astype(dtype, copy=False)
    if out is None:  # (B, nh, T, hs) views of (B, T, nh, hs) arrays
        dq = np.empty((B, Tq, nh, hs), dtype=dtype).transpose(0, 2, 1, 3)
        dk = np.empty((B, Tk, nh, hs), dtype=dtype).transpose(0, 2, 1, 3)
        dv = np.empty((B, Tk, nh, hs), dtype=dtype).transpose(0, 2, 1, 3)
    else:
        dq, dk, dv = out
    chunk = _chunk_items(probs.shape, dtype.itemsize)
    seed, threshold, keep_scale = mask_args(dtype, p, seed)
    scale = dtype.type(scale)
    per_item = nh * Tq * Tk

    def share(lo: int, hi: int) -> None:
        # Two scratch buffers: the softmax backward without dropout reads one and writes the
        # other (its loops vectorize only then, see forward); with dropout, one kernel turns
        # dL/dPd into dS in place, one row at a time, and writes the dropped P to the other.
        first = np.empty((min(chunk, hi - lo), nh, Tq, Tk), dtype=dtype)
        second = np.empty_like(first)
        for b0 in range(lo, hi, chunk):
            b1 = min(b0 + chunk, hi)
            n = b1 - b0
            p_rows = probs[b0:b1].reshape(-1, Tk)  # (n, nh, Tq, Tk) -> (n nh Tq, Tk)
            grad_weights = second[:n]
            np.matmul(grad[b0:b1], v[b0:b1].swapaxes(-1, -2), out=grad_weights)  # dL/dPd
            if p > 0:  # the forward's dropped probabilities and dS, one hash per element
                weights = first[:n]
                _dropout_softmax_backward_rows(
                    p_rows, grad_weights.reshape(-1, Tk), b0 * per_item, seed, threshold,
                    keep_scale, scale, weights.reshape(-1, Tk),
                )  # fmt: skip
                grad_scores = grad_weights  # dS, written over dL/dPd row by row
            else:
                weights = probs[b0:b1]
                grad_scores = first[:n]
                rows = grad_scores.reshape(-1, Tk)
                softmax_backward_rows_serial(p_rows, grad_weights.reshape(-1, Tk), scale, rows)
            np.matmul(weights.swapaxes(-1, -2), grad[b0:b1], out=dv[b0:b1])  # Pd^T G
            np.matmul(grad_scores, k[b0:b1], out=dq[b0:b1])  # dS K
            np.matmul(grad_scores.swapaxes(-1, -2), q[b0:b1], out=dk[b0:b1])  # dS^T Q

    blas_threads.run_shares(B, _threads(B), share)
    return dq, dk, dv
