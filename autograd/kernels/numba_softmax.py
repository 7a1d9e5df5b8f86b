"""Fused Numba softmax and log-softmax over the last axis (twins of ``reference.py``'s).

The reference makes five or six passes over memory (scale, add mask, max, exp, sum, divide);
these kernels read a row once into cache and finish it there, one row per ``prange`` iteration.
A broadcast mask (attention's (B, 1, 1, T) against scores (B, nh, T, T)) is never materialized:
each row of scores looks up its row of the small mask through an index table.

The exponentials are ``exp_flushed``: a probability below 1.2e-38 (float32) comes out as 0 rather
than as a denormal, which would cost a microcode assist in every later operation on it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from autograd.kernels import reference
from autograd.kernels.numba_common import (
    as_rows,
    exp_flushed,
    fmaximum,
    helper,
    launch,
    row_kernel,
    serial_kernel,
    supported,
)
from autograd.kernels.registry import NUMBA, register


@helper
def _softmax_row(x, scale, mask, out):
    """out = softmax(x * scale + mask) for one row; a row that is all -inf gives zeros.

    ``out`` may be ``x`` itself: each element is read before it is overwritten.
    """
    n = x.shape[0]
    m = x.dtype.type(-np.inf)
    for j in range(n):
        z = x[j] * scale + mask[j]
        out[j] = z
        m = fmaximum(m, z)
    if not math.isfinite(m):  # fully masked (or inf/NaN) row: as the reference, shift by 0
        m = x.dtype.type(0)
    total = x.dtype.type(0)
    for j in range(n):
        e = exp_flushed(out[j] - m)
        out[j] = e
        total += e
    inv = x.dtype.type(1) / total if total != 0 else x.dtype.type(1)
    for j in range(n):
        out[j] *= inv


@helper
def _softmax_backward_row(y, grad_out, scale, out):
    """out = scale * y * (g - sum(g * y)) for one row; ``out`` may be ``grad_out`` itself."""
    n = y.shape[0]
    dot = y.dtype.type(0)
    for j in range(n):
        dot += grad_out[j] * y[j]
    for j in range(n):
        out[j] = (y[j] * (grad_out[j] - dot)) * scale


@row_kernel
def _softmax_rows(x, scale, mask, mask_row, out):
    """out[i] = softmax(x[i] * scale + mask[mask_row[i]]); rows that are all -inf give zeros.

    Without a mask, ``mask`` is one row of zeros (adding 0 is exact) and every ``mask_row`` 0.
    """
    for i in prange(x.shape[0]):
        _softmax_row(x[i], scale, mask[mask_row[i]], out[i])


@serial_kernel
def softmax_rows_serial(x, scale, mask, mask_row, out):
    """``_softmax_rows`` on the calling thread alone (for callers that run their own threads)."""
    for i in range(x.shape[0]):
        _softmax_row(x[i], scale, mask[mask_row[i]], out[i])


@row_kernel
def _softmax_backward_rows(y, grad_out, scale, out):
    """out[i] = scale * y[i] * (g[i] - sum(g[i] * y[i]))."""
    for i in prange(y.shape[0]):
        _softmax_backward_row(y[i], grad_out[i], scale, out[i])


@serial_kernel
def softmax_backward_rows_serial(y, grad_out, scale, out):
    """``_softmax_backward_rows`` on the calling thread alone."""
    for i in range(y.shape[0]):
        _softmax_backward_row(y[i], grad_out[i], scale, out[i])


@row_kernel
def _log_softmax_rows(x, out):
    """out[i] = (x[i] - max) - log(sum(exp(x[i] - max)))."""
    n_rows, n = x.shape
    for i in prange(n_rows):
        m = x.dtype.type(-np.inf)
        for j in range(n):
            m = fmaximum(m, x[i, j])
        total = x.dtype.type(0)
        for j in range(n):
            shifted = x[i, j] - m
            out[i, j] = shifted
            total += exp_flushed(shifted)
        log_total = math.log(total)
        for j in range(n):
            out[i, j] -= log_total


@row_kernel
def _log_softmax_backward_rows(out, grad_out, grad):
    """grad[i] = g[i] - exp(out[i]) * sum(g[i])."""
    n_rows, n = out.shape
    for i in prange(n_rows):
        total = grad_out.dtype.type(0)
        for j in range(n):
            total += grad_out[i, j]
        for j in range(n):
            grad[i, j] = grad_out[i, j] - exp_flushed(out[i, j]) * total


# ----------------------------------------------------------------------------------- wrappers


def broadcast_mask_rows(mask, shape):
    """A broadcast mask as (unique rows (M, N), row index (R,)) for scores of ``shape`` (..., N).

    Attention's (B, 1, 1, T) mask against (B, nh, T, T) scores becomes B rows and a table that
    points each of the B*nh*T score rows at its batch's row; nothing of size R*N is built.
    """
    n = shape[-1]
    lead = shape[:-1]
    mask = mask.reshape((1,) * (len(shape) - mask.ndim) + mask.shape)  # left-pad to x's ndim
    mask_lead = mask.shape[:-1]
    rows = np.ascontiguousarray(np.broadcast_to(mask, mask_lead + (n,))).reshape(-1, n)  # (M, N)
    index = np.arange(rows.shape[0], dtype=np.int64).reshape(mask_lead)
    return rows, np.ascontiguousarray(np.broadcast_to(index, lead)).reshape(-1)  # (R,)


@register("softmax_forward", NUMBA)
def softmax_forward(x, scale=1.0, mask=None):
    """softmax(x * scale + mask) along the last axis; see the reference twin."""
    if not supported(x, min_ndim=1) or (mask is not None and not isinstance(mask, np.ndarray)):
        return reference.softmax_forward(x, scale, mask)
    if mask is not None:
        dtype = np.result_type(x.dtype, mask.dtype)
        if dtype not in (np.float32, np.float64):
            return reference.softmax_forward(x, scale, mask)
        shape = np.broadcast_shapes(x.shape, mask.shape)
        x = np.broadcast_to(x.astype(dtype, copy=False), shape)
        mask_rows, mask_row = broadcast_mask_rows(mask.astype(dtype, copy=False), shape)
    x2 = as_rows(x)  # (..., N) -> (R, N)
    if mask is None:
        mask_rows = np.zeros((1, x2.shape[1]), dtype=x.dtype)
        mask_row = np.zeros(x2.shape[0], dtype=np.int64)
    out = np.empty(x2.shape, dtype=x.dtype)
    launch(_softmax_rows, out.size, x2, x.dtype.type(scale), mask_rows, mask_row, out)
    return out.reshape(x.shape)


@register("softmax_backward", NUMBA)
def softmax_backward(y, grad_out, scale=1.0):
    """scale * y * (grad_out - sum(grad_out * y)) along the last axis."""
    same = y.dtype == grad_out.dtype and y.shape == grad_out.shape
    if not supported(y, grad_out, min_ndim=1) or not same:
        return reference.softmax_backward(y, grad_out, scale)
    y2 = as_rows(y)  # (..., N) -> (R, N)
    out = np.empty(y2.shape, dtype=y.dtype)
    launch(_softmax_backward_rows, out.size, y2, as_rows(grad_out), y.dtype.type(scale), out)
    return out.reshape(y.shape)


@register("log_softmax_forward", NUMBA)
def log_softmax_forward(x):
    """x - logsumexp(x) along the last axis."""
    if not supported(x, min_ndim=1) or x.shape[-1] == 0:
        return reference.log_softmax_forward(x)
    x2 = as_rows(x)  # (..., N) -> (R, N)
    out = np.empty(x2.shape, dtype=x.dtype)
    launch(_log_softmax_rows, out.size, x2, out)
    return out.reshape(x.shape)


@register("log_softmax_backward", NUMBA)
def log_softmax_backward(out, grad_out):
    """grad_out - softmax * sum(grad_out) along the last axis."""
    same = out.dtype == grad_out.dtype and out.shape == grad_out.shape
    if not supported(out, grad_out, min_ndim=1) or not same:
        return reference.log_softmax_backward(out, grad_out)
    out2 = as_rows(out)  # (..., N) -> (R, N)
    grad = np.empty(out2.shape, dtype=out.dtype)
    launch(_log_softmax_backward_rows, grad.size, out2, as_rows(grad_out), grad)
    return grad.reshape(out.shape)
