"""Fused Numba cross-entropy from logits (twins of ``reference.py``'s).

Forward: per row, the max, the log-sum-exp and the loss in one visit to the row, writing only
the row's log-sum-exp (the reference runs a log-softmax, a gather and, with label smoothing, a
mean: about eight passes over an (N, C) array that, for a BERT vocabulary, is far larger than the
caches). Backward: softmax - target distribution, scaled per row, in one pass over the logits
(which the caller keeps anyway), so no (N, C) array of log-probabilities is written or held
between the passes.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from autograd.kernels import reference
from autograd.kernels.numba_common import exp_flushed, fmaximum, launch, row_kernel, supported
from autograd.kernels.registry import NUMBA, register


@row_kernel
def _forward_rows(logits, targets, ignore_index, smoothing, losses, log_normalizer):
    """losses[i] = smoothed NLL of row i (0 if ignored); log_normalizer[i] = logsumexp(row i)."""
    n_rows, n_classes = logits.shape
    zero = logits.dtype.type(0)
    keep = logits.dtype.type(1.0 - smoothing)
    eps = logits.dtype.type(smoothing)
    inv_c = logits.dtype.type(1) / logits.dtype.type(n_classes)
    for i in prange(n_rows):
        m = logits.dtype.type(-np.inf)
        for j in range(n_classes):
            m = fmaximum(m, logits[i, j])
        total = zero
        shifted_sum = zero
        for j in range(n_classes):
            shifted = logits[i, j] - m
            total += exp_flushed(shifted)
            shifted_sum += shifted
        log_total = math.log(total)
        log_normalizer[i, 0] = m + log_total
        t = targets[i]
        if t == ignore_index:
            losses[i] = zero
            continue
        nll = -((logits[i, t] - m) - log_total)
        if smoothing != 0.0:
            # mean of -log_probs = log_total - mean(shifted)
            losses[i] = keep * nll + eps * (log_total - shifted_sum * inv_c)
        else:
            losses[i] = nll


@row_kernel
def _backward_rows(logits, log_normalizer, targets, grad_losses, ignore_index, smoothing, grad):
    """grad[i] = (exp(logits[i] - lse_i) - smoothing / C - (1 - smoothing) one_hot) * g_i."""
    n_rows, n_classes = logits.shape
    off = logits.dtype.type(smoothing / n_classes)
    hit = logits.dtype.type(1.0 - smoothing)
    for i in prange(n_rows):
        t = targets[i]
        if t == ignore_index:
            for j in range(n_classes):
                grad[i, j] = 0
            continue
        scale = grad_losses[i]
        lse = log_normalizer[i, 0]
        for j in range(n_classes):
            grad[i, j] = (exp_flushed(logits[i, j] - lse) - off) * scale
        grad[i, t] = ((exp_flushed(logits[i, t] - lse) - off) - hit) * scale


def _checked_targets(targets, n_rows, n_classes, ignore_index):
    """Targets as contiguous int64, or None when some target is out of range (let the reference
    raise its IndexError rather than read outside the row)."""
    t = np.ascontiguousarray(targets, dtype=np.int64).reshape(-1)
    if t.shape[0] != n_rows:
        return None
    counted = t[t != ignore_index]
    if counted.size and (counted.min() < -n_classes or counted.max() >= n_classes):
        return None
    if counted.size and counted.min() < 0:  # NumPy-style negative class index, as the reference
        t = np.where((t < 0) & (t != ignore_index), t + n_classes, t)
    return t


@register("cross_entropy_forward", NUMBA)
def cross_entropy_forward(logits, targets, ignore_index=-100, label_smoothing=0.0):
    """Per-row cross-entropy of (N, C) logits; returns ``(losses (N,), log_normalizer (N, 1))``."""
    if not supported(logits) or logits.ndim != 2 or logits.shape[1] == 0:
        return reference.cross_entropy_forward(logits, targets, ignore_index, label_smoothing)
    n_rows, n_classes = logits.shape
    t = _checked_targets(targets, n_rows, n_classes, ignore_index)
    if t is None:
        return reference.cross_entropy_forward(logits, targets, ignore_index, label_smoothing)
    logits = np.ascontiguousarray(logits)
    losses = np.empty(n_rows, dtype=logits.dtype)
    log_normalizer = np.empty((n_rows, 1), dtype=logits.dtype)
    args = (logits, t, int(ignore_index), float(label_smoothing), losses, log_normalizer)
    launch(_forward_rows, logits.size, *args)
    return losses, log_normalizer


@register("cross_entropy_backward", NUMBA)
def cross_entropy_backward(
    logits, log_normalizer, targets, grad_losses, ignore_index=-100, label_smoothing=0.0
):
    """Gradient w.r.t. the logits, (N, C)."""
    args = (logits, log_normalizer, targets, grad_losses, ignore_index, label_smoothing)
    if not supported(logits, log_normalizer) or logits.ndim != 2 or logits.shape[1] == 0:
        return reference.cross_entropy_backward(*args)
    n_rows, n_classes = logits.shape
    t = _checked_targets(targets, n_rows, n_classes, ignore_index)
    if t is None or log_normalizer.shape != (n_rows, 1) or log_normalizer.dtype != logits.dtype:
        return reference.cross_entropy_backward(*args)
    g = np.ascontiguousarray(np.broadcast_to(grad_losses, (n_rows,)), dtype=logits.dtype)
    grad = np.empty(logits.shape, dtype=logits.dtype)
    launch(
        _backward_rows, grad.size, np.ascontiguousarray(logits),
        np.ascontiguousarray(log_normalizer), t, g, int(ignore_index), float(label_smoothing),
        grad,
    )  # fmt: skip
    return grad
