"""Fused Numba LayerNorm over the last axis (twins of ``reference.py``'s).

Forward: one row per ``prange`` iteration; the row stays in L1 while its mean, variance and
output are computed (the reference makes about eight passes over memory). The fused
``add_layer_norm_forward`` builds the row (the residual sum) in the same pass.

BERT's input embeddings take two: ``embedding_layer_norm_forward`` gathers each token's rows
from the tables and sums them into one (R, N) array, then runs this module's LayerNorm on it
(instead of an array per lookup and per sum: 1.33 -> 0.62 ms on a 32 x 128 batch of the tiny
config, 3.2 -> 1.15 ms at MiniLM's shape; one pass measured 0.49 and 0.92). The second pass is
the LayerNorm kernel itself, so y is its result on the sum bit for bit: the same helper inlined
into a different kernel may round its reductions differently under fast-math reassociation.

Backward: one pass over the rows. ``grad_weight`` and ``grad_bias`` are sums over every row, so
rows are split into a fixed number of chunks, each chunk sums into its own partial row, and the
partials are added at the end in a fixed order: no two threads ever add into the same number,
and the result does not depend on how many threads ran.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from autograd.kernels import reference
from autograd.kernels.numba_common import (
    ROW_CHUNKS,
    as_rows,
    helper,
    launch,
    row_kernel,
    supported,
)
from autograd.kernels.numba_dropout import kept, mask_args
from autograd.kernels.registry import NUMBA, register


@helper
def _normalize_row(s, weight, bias, eps, y):
    """y = (s - mean) * rstd * weight + bias for one row ``s``; returns (mean, rstd).

    ``y`` may be ``s`` itself (each element is read before it is overwritten), but then the
    last loop runs one element at a time (see ``add_layer_norm_forward``).
    """
    n = s.shape[0]
    inv_n = s.dtype.type(1) / s.dtype.type(n)
    total = s.dtype.type(0)
    for j in range(n):
        total += s[j]
    mu = total * inv_n
    # Correct the mean by its own rounding error (as the reference does): a row of equal values
    # then centres to exact zeros instead of +-1 ulp that rstd = 1 / sqrt(eps) amplifies.
    error = s.dtype.type(0)
    for j in range(n):
        error += s[j] - mu
    mu += error * inv_n
    sq = s.dtype.type(0)
    for j in range(n):
        c = s[j] - mu
        sq += c * c
    r = s.dtype.type(1) / np.sqrt(sq * inv_n + eps)
    for j in range(n):
        y[j] = ((s[j] - mu) * r) * weight[j] + bias[j]
    return mu, r


@row_kernel
def _forward_rows(x, weight, bias, eps, y, mean, rstd):
    """y[i] = (x[i] - mean_i) * rstd_i * weight + bias, with mean_i and rstd_i stored.

    An absent weight comes as ones and an absent bias as zeros: multiplying by 1 and adding 0
    are exact, so one loop serves all four cases with the reference's rounding.
    """
    for i in prange(x.shape[0]):
        mean[i], rstd[i] = _normalize_row(x[i], weight, bias, eps, y[i])


@row_kernel
def _add_forward_rows(x, x_bias, seed, threshold, keep_scale, dropout, counter_rows, residual,
                      weight, bias, eps, s, y, mean, rstd):  # fmt: skip
    """s[i] = dropout(x[i] + x_bias) + residual[i], then y[i] = LayerNorm(s[i]) while the row is
    in L1.

    ``x_bias`` is zeros when there is none; the dropout mask is ``numba_dropout``'s counter hash
    of the flat index counter_rows[i] * n + j (with counter_rows = 0, 1, ..., what
    ``dropout_apply`` on (R, N) gives). The normalization is the one ``_forward_rows`` runs, so
    y is bit for bit the LayerNorm kernel's result on s.

    ``s`` is either (R, N), every sum kept, or (ROW_CHUNKS, N): one scratch row per chunk of
    rows, written over for each row of the chunk. The same loops run on either, so y has the
    same bits. y may be x itself: row i of x is read whole into the sum before y[i] is written.
    """
    n_rows, n = x.shape
    keep_all = s.shape[0] == n_rows
    zero = x.dtype.type(0)
    for c in prange(ROW_CHUNKS):
        for i in range(c * n_rows // ROW_CHUNKS, (c + 1) * n_rows // ROW_CHUNKS):
            row = s[i] if keep_all else s[c]
            if dropout:
                first = counter_rows[i] * n
                for j in range(n):
                    keep = keep_scale if kept(first + j, seed, threshold) else zero
                    row[j] = (x[i, j] + x_bias[j]) * keep + residual[i, j]
            else:
                for j in range(n):
                    row[j] = (x[i, j] + x_bias[j]) + residual[i, j]
            mean[i], rstd[i] = _normalize_row(row, weight, bias, eps, y[i])


@row_kernel
def _gather_sum_rows(tables, indices, s):
    """s[i] = tables[0][indices[0][i]] + tables[1][indices[1][i]] + ..., left to right as the
    reference adds: the rows are gathered straight from the tables."""
    n = s.shape[1]
    for i in prange(s.shape[0]):
        first = tables[0][indices[0][i]]
        for j in range(n):
            s[i, j] = first[j]
        for k in range(1, len(tables)):
            looked_up = tables[k][indices[k][i]]
            for j in range(n):
                s[i, j] += looked_up[j]


@row_kernel
def _backward_rows(grad_out, x, weight, mean, rstd, grad_x, part_w, part_b,
                   seed, threshold, keep_scale, dropout, counter_rows, through, grad_h,
                   part_h):  # fmt: skip
    """grad_x rows, and per-chunk partial sums of grad_out * xhat (part_w) and grad_out (part_b).

    With xhat = (x - mean) * rstd and gh = grad_out * weight (weight = ones when absent):
    grad_x = rstd * (gh - mean(gh) - xhat * mean(gh * xhat)).

    For ``add_layer_norm`` with an x_bias or a dropout (``through``), the same pass also writes
    grad_h = grad_x through the dropout mask (the forward's: row i hashes the counters of row
    counter_rows[i]) and its per-chunk row sums (part_h, the x_bias gradient); otherwise grad_h
    and part_h are empty and untouched.
    """
    n_rows, n = x.shape
    n_chunks = part_w.shape[0]
    inv_n = x.dtype.type(1) / x.dtype.type(n)
    zero = x.dtype.type(0)
    for c in prange(n_chunks):
        start = c * n_rows // n_chunks
        stop = (c + 1) * n_rows // n_chunks
        for j in range(n):
            part_w[c, j] = 0
            part_b[c, j] = 0
        if through:
            for j in range(n):
                part_h[c, j] = 0
        for i in range(start, stop):
            mu = mean[i]
            r = rstd[i]
            sum_gh = x.dtype.type(0)
            sum_gh_xhat = x.dtype.type(0)
            for j in range(n):
                gh = grad_out[i, j] * weight[j]
                sum_gh += gh
                sum_gh_xhat += gh * ((x[i, j] - mu) * r)
            a = sum_gh * inv_n
            b = sum_gh_xhat * inv_n
            for j in range(n):
                g = grad_out[i, j]
                xhat = (x[i, j] - mu) * r
                grad_x[i, j] = r * ((g * weight[j] - a) - xhat * b)
                part_w[c, j] += g * xhat
                part_b[c, j] += g
            if through:
                if dropout:
                    first = counter_rows[i] * n
                    for j in range(n):
                        keep = keep_scale if kept(first + j, seed, threshold) else zero
                        grad_h[i, j] = grad_x[i, j] * keep
                else:
                    for j in range(n):
                        grad_h[i, j] = grad_x[i, j]
                for j in range(n):
                    part_h[c, j] += grad_h[i, j]


def _param(p, n, dtype, absent):
    """A (N,) contiguous parameter in ``dtype``; ``absent`` (1 or 0) everywhere when it is None."""
    if p is None:
        return np.full(n, absent, dtype=dtype)
    return np.ascontiguousarray(np.broadcast_to(p, (n,)), dtype=dtype)


@register("layer_norm_forward", NUMBA)
def layer_norm_forward(x, weight, bias, eps):
    """Normalize over the last axis; returns ``(y, mean, rstd)`` with mean/rstd shaped (..., 1)."""
    params = [p for p in (weight, bias) if p is not None]
    same = all(p.dtype == x.dtype for p in params)
    if not supported(x, *params, min_ndim=1) or not same or x.shape[-1] == 0:
        return reference.layer_norm_forward(x, weight, bias, eps)
    n = x.shape[-1]
    x2 = as_rows(x)  # (..., N) -> (R, N)
    y = np.empty(x2.shape, dtype=x.dtype)
    mean = np.empty(x2.shape[0], dtype=x.dtype)
    rstd = np.empty(x2.shape[0], dtype=x.dtype)
    w, b = _param(weight, n, x.dtype, 1), _param(bias, n, x.dtype, 0)
    launch(_forward_rows, y.size, x2, w, b, x.dtype.type(eps), y, mean, rstd)
    stats_shape = x.shape[:-1] + (1,)
    return y.reshape(x.shape), mean.reshape(stats_shape), rstd.reshape(stats_shape)


def _dropout_args(dtype, p, seed, n_rows, rows=None):
    """``numba_dropout.mask_args``, whether to drop at all (no dropout when p is 0), and each
    row's counter row: ``rows`` (R,), or 0, 1, ..., R - 1 (the rows' own). Without dropout the
    kernels read no counter, and get an empty array."""
    if p <= 0.0:
        counter_rows = np.empty(0, dtype=np.int64)
    else:
        counter_rows = np.arange(n_rows) if rows is None else np.ascontiguousarray(rows, np.int64)
    return (*mask_args(dtype, p, seed), p > 0.0, counter_rows)


@register("add_layer_norm_forward", NUMBA)
def add_layer_norm_forward(
    x, residual, weight, bias, eps, keep_sum=True, x_bias=None, p=0.0, seed=0, out=None, rows=None
):
    """LayerNorm(dropout(x + x_bias) + residual) in one pass; ``(y, s, mean, rstd)`` as the
    reference, y written into ``out`` when given (x itself included), x's rows dropped as rows
    ``rows`` of a larger tensor when given.

    Without ``keep_sum`` (no backward will read the sums) each sum is built in a scratch row
    that stays in L1, one per chunk of rows, and never goes to memory; with ``out=x`` the
    normalized rows go back where x's were, so the pass reads x and the residual and writes
    nothing new: right after the product that made x, (4096, 384) measured 0.73 ms this way
    against 1.26 with the sums and y in fresh arrays, whose pages the product had pushed out
    of the caches. (The sums written into y and normalized there would be slower still: given
    two names for one row, LLVM's run-time overlap check fails and the normalize loop runs one
    element at a time.)
    """
    params = [a for a in (weight, bias, x_bias) if a is not None]
    same = all(a.dtype == x.dtype for a in params + [residual])
    if (
        not supported(x, residual, *params, min_ndim=1)
        or not same
        or residual.shape != x.shape
        or x.shape[-1] == 0
        or p >= 1.0
        or not (out is None or _is_rows_of(out, x))
        or not _counter_rows_ok(rows, x)
    ):
        return reference.add_layer_norm_forward(
            x, residual, weight, bias, eps, keep_sum, x_bias, p, seed, out, rows
        )
    n = x.shape[-1]
    x2, r2 = as_rows(x), as_rows(residual)  # (..., N) -> (R, N)
    y = np.empty(x2.shape, dtype=x.dtype) if out is None else out.reshape(x2.shape)  # a view
    s = np.empty(x2.shape if keep_sum else (ROW_CHUNKS, n), dtype=x.dtype)
    mean = np.empty(x2.shape[0], dtype=x.dtype)
    rstd = np.empty(x2.shape[0], dtype=x.dtype)
    w, b = _param(weight, n, x.dtype, 1), _param(bias, n, x.dtype, 0)
    xb = _param(x_bias, n, x.dtype, 0)
    dropout = _dropout_args(x.dtype, p, seed, x2.shape[0], rows)
    launch(
        _add_forward_rows, y.size, x2, xb, *dropout, r2, w, b, x.dtype.type(eps), s, y, mean,
        rstd,
    )  # fmt: skip
    stats_shape = x.shape[:-1] + (1,)
    return (
        y.reshape(x.shape),
        s.reshape(x.shape) if keep_sum else None,
        mean.reshape(stats_shape),
        rstd.reshape(stats_shape),
    )


def _counter_rows_ok(rows, x) -> bool:
    """Whether ``rows`` is absent or a NumPy integer array with one entry per row of x."""
    if rows is None:
        return True
    n_rows = math.prod(x.shape[:-1])
    return isinstance(rows, np.ndarray) and rows.dtype.kind in "iu" and rows.shape == (n_rows,)


def _is_rows_of(out, x) -> bool:
    """Whether ``out`` can take the kernel's y for x: a C-contiguous writable NumPy array of
    x's shape and dtype (anything else goes through the reference twin, which copies)."""
    return (
        isinstance(out, np.ndarray)
        and out.shape == x.shape
        and out.dtype == x.dtype
        and out.flags.c_contiguous
        and out.flags.writeable
    )


def _backward(grad_out, x, weight, mean, rstd, p, seed, through, rows=None):
    """Run ``_backward_rows``; returns (grad_x, grad_h or None, part_w, part_b, part_h) with
    grad_x and grad_h as (R, N) rows."""
    n = x.shape[-1]
    x2 = as_rows(x)  # (..., N) -> (R, N)
    n_rows = x2.shape[0]
    stats_shape = x.shape[:-1] + (1,)
    mean1 = np.ascontiguousarray(np.broadcast_to(mean, stats_shape)).reshape(n_rows)
    rstd1 = np.ascontiguousarray(np.broadcast_to(rstd, stats_shape)).reshape(n_rows)
    grad_x = np.empty(x2.shape, dtype=x.dtype)
    n_chunks = max(1, min(ROW_CHUNKS, n_rows))  # grad_weight/grad_bias partials, as bias_grad
    part_w = np.empty((n_chunks, n), dtype=x.dtype)
    part_b = np.empty((n_chunks, n), dtype=x.dtype)
    grad_h = np.empty(x2.shape if through else (0, n), dtype=x.dtype)
    part_h = np.empty((n_chunks if through else 0, n), dtype=x.dtype)
    w = _param(weight, n, x.dtype, 1)
    args = (as_rows(grad_out), x2, w, mean1, rstd1, grad_x, part_w, part_b)
    dropout = _dropout_args(x.dtype, p, seed, n_rows, rows)
    launch(_backward_rows, grad_x.size, *args, *dropout, through, grad_h, part_h)
    return grad_x, (grad_h if through else None), part_w, part_b, part_h


def _backward_ok(grad_out, x, weight, mean, rstd) -> bool:
    arrays = (grad_out, x, mean, rstd) + ((weight,) if weight is not None else ())
    return (
        supported(*arrays, min_ndim=1)
        and all(a.dtype == x.dtype for a in arrays)
        and grad_out.shape == x.shape
        and x.shape[-1] != 0
    )


@register("add_layer_norm_backward", NUMBA)
def add_layer_norm_backward(
    grad_out, s, weight, mean, rstd, has_bias, has_x_bias, p=0.0, seed=0, rows=None
):
    """Gradients of ``add_layer_norm_forward`` in one pass (see the reference twin)."""
    usable = _backward_ok(grad_out, s, weight, mean, rstd) and _counter_rows_ok(rows, s)
    if not usable or p >= 1.0:
        return reference.add_layer_norm_backward(
            grad_out, s, weight, mean, rstd, has_bias, has_x_bias, p, seed, rows
        )
    through = has_x_bias or p > 0
    grad_s, grad_x, part_w, part_b, part_h = _backward(
        grad_out, s, weight, mean, rstd, p, seed, through, rows
    )
    grad_s = grad_s.reshape(s.shape)
    return (
        grad_x.reshape(s.shape) if through else grad_s,
        grad_s,
        part_w.sum(axis=0) if weight is not None else None,
        part_b.sum(axis=0) if has_bias else None,
        part_h.sum(axis=0) if has_x_bias else None,
    )


def _writable(a: np.ndarray) -> np.ndarray:
    """``a``, or a copy when it is read-only: Numba types a tuple only when its arrays agree,
    read-only flag included (a broadcast position index is read-only)."""
    return a if a.flags.writeable else a.copy()


@register("embedding_layer_norm_forward", NUMBA)
def embedding_layer_norm_forward(tables, indices, weight, bias, eps, keep_sum=True):
    """LayerNorm of the summed lookups ``tables[k][indices[k]]``; ``(y, s, mean, rstd)`` as the
    reference twin. Two passes: the gathered sum, then ``layer_norm_forward`` on it."""
    params = [a for a in (weight, bias) if a is not None]
    dtype = tables[0].dtype if tables else None
    n = tables[0].shape[-1] if tables and tables[0].ndim == 2 else 0
    usable = (
        supported(*tables, *params)
        and all(t.ndim == 2 and t.shape[1] == n and t.dtype == dtype for t in tables)
        and all(p.dtype == dtype for p in params)
        and n > 0
        and len(indices) == len(tables)
        and all(isinstance(i, np.ndarray) and i.dtype.kind in "iu" for i in indices)
        and len({i.shape for i in indices}) == 1
    )
    if usable:
        flat = tuple(
            _writable(np.ascontiguousarray(i, dtype=np.int64)).reshape(-1) for i in indices
        )  # (...) -> (R,) each
        # Negative or out-of-range rows: the compiled gather would read outside its table; the
        # reference wraps negatives and raises on the rest, as NumPy's take does.
        usable = all(
            f.size == 0 or (int(f.min()) >= 0 and int(f.max()) < t.shape[0])
            for f, t in zip(flat, tables, strict=True)
        )
    if not usable:
        return reference.embedding_layer_norm_forward(tables, indices, weight, bias, eps, keep_sum)
    lookups = tuple(_writable(np.ascontiguousarray(t)) for t in tables)  # usually no copy
    lead = indices[0].shape
    s = np.empty((flat[0].size, n), dtype=dtype)
    launch(_gather_sum_rows, s.size, lookups, flat, s)
    s = s.reshape(lead + (n,))  # (R, D) -> (..., D)
    y, mean, rstd = layer_norm_forward(s, weight, bias, eps)
    return y, (s if keep_sum else None), mean, rstd


@register("layer_norm_backward", NUMBA)
def layer_norm_backward(grad_out, x, weight, mean, rstd, has_bias=True):
    """Gradients ``(grad_x, grad_weight, grad_bias)`` of LayerNorm over the last axis."""
    if not _backward_ok(grad_out, x, weight, mean, rstd):
        return reference.layer_norm_backward(grad_out, x, weight, mean, rstd, has_bias)
    grad_x, _, part_w, part_b, _ = _backward(grad_out, x, weight, mean, rstd, 0.0, 0, False)
    grad_weight = part_w.sum(axis=0) if weight is not None else None
    grad_bias = part_b.sum(axis=0) if has_bias else None
    return grad_x.reshape(x.shape), grad_weight, grad_bias
