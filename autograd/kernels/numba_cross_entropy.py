"""Fused Numba cross-entropy from logits (twins of ``reference.py``'s).

Forward: per row, the max, the log-sum-exp, the log-probabilities and the loss in one visit to
the row (the reference runs a log-softmax, a gather and, with label smoothing, a mean: about
eight passes over an (N, C) array that, for a BERT vocabulary, is far larger than the caches).
Backward: softmax - target distribution, scaled per row, in one pass.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from autograd.kernels import reference
from autograd.kernels.numba_common import fast_exp, fmaximum, launch, row_kernel, supported
from autograd.kernels.registry import NUMBA, register


@row_kernel
def _forward_rows(logits, targets, ignore_index, smoothing, losses, log_probs):
    """log_probs[i] = logits[i] - logsumexp(logits[i]); losses[i] = smoothed NLL (0 if ignored)."""
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
        for j in range(n_classes):
            total += fast_exp(logits[i, j] - m)
        log_total = math.log(total)
        lp_sum = zero
        for j in range(n_classes):
            lp = (logits[i, j] - m) - log_total
            log_probs[i, j] = lp
            lp_sum += lp
        t = targets[i]
        if t == ignore_index:
            losses[i] = zero
        elif smoothing != 0.0:
            losses[i] = keep * -log_probs[i, t] + eps * -(lp_sum * inv_c)
        else:
            losses[i] = -log_probs[i, t]


@row_kernel
def _backward_rows(log_probs, targets, grad_losses, ignore_index, smoothing, grad):
    """grad[i] = (exp(log_probs[i]) - smoothing / C - (1 - smoothing) one_hot) * grad_losses[i]."""
    n_rows, n_classes = log_probs.shape
    off = log_probs.dtype.type(smoothing / n_classes)
    hit = log_probs.dtype.type(1.0 - smoothing)
    for i in prange(n_rows):
        t = targets[i]
        if t == ignore_index:
            for j in range(n_classes):
                grad[i, j] = 0
            continue
        scale = grad_losses[i]
        for j in range(n_classes):
            grad[i, j] = (fast_exp(log_probs[i, j]) - off) * scale
        grad[i, t] = ((fast_exp(log_probs[i, t]) - off) - hit) * scale


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
    """Per-row cross-entropy of (N, C) logits; returns ``(losses (N,), log_probs (N, C))``."""
    if not supported(logits) or logits.ndim != 2 or logits.shape[1] == 0:
        return reference.cross_entropy_forward(logits, targets, ignore_index, label_smoothing)
    n_rows, n_classes = logits.shape
    t = _checked_targets(targets, n_rows, n_classes, ignore_index)
    if t is None:
        return reference.cross_entropy_forward(logits, targets, ignore_index, label_smoothing)
    logits = np.ascontiguousarray(logits)
    losses = np.empty(n_rows, dtype=logits.dtype)
    log_probs = np.empty(logits.shape, dtype=logits.dtype)
    args = (logits, t, int(ignore_index), float(label_smoothing), losses, log_probs)
    launch(_forward_rows, log_probs.size, *args)
    return losses, log_probs


@register("cross_entropy_backward", NUMBA)
def cross_entropy_backward(log_probs, targets, grad_losses, ignore_index=-100, label_smoothing=0.0):
    """Gradient w.r.t. the logits, (N, C)."""
    if not supported(log_probs) or log_probs.ndim != 2 or log_probs.shape[1] == 0:
        return reference.cross_entropy_backward(
            log_probs, targets, grad_losses, ignore_index, label_smoothing
        )
    n_rows, n_classes = log_probs.shape
    t = _checked_targets(targets, n_rows, n_classes, ignore_index)
    if t is None:
        return reference.cross_entropy_backward(
            log_probs, targets, grad_losses, ignore_index, label_smoothing
        )
    g = np.ascontiguousarray(np.broadcast_to(grad_losses, (n_rows,)), dtype=log_probs.dtype)
    grad = np.empty(log_probs.shape, dtype=log_probs.dtype)
    args = (np.ascontiguousarray(log_probs), t, g, int(ignore_index), float(label_smoothing), grad)
    launch(_backward_rows, grad.size, *args)
    return grad
