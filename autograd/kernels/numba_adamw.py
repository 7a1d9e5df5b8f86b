"""Fused Numba AdamW step (twin of ``reference.py``'s), in place, one pass over memory.

The reference runs about ten array operations, each a full pass over the parameter, the
gradient and both moments; for a 4M-parameter tensor that is ~600 MB of memory traffic. The
kernel reads each element of the four arrays once and writes three, on both cores.

It does the reference's operations in the reference's order with the scalars rounded to the
array's dtype exactly as NumPy rounds them, and compiles *without* fast-math (no FMA
contraction, no reassociation), so float64 results equal the reference bit for bit and float32
results agree to the last bit or so.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from autograd.kernels import reference
from autograd.kernels.numba_common import exact_kernel, launch
from autograd.kernels.registry import NUMBA, register


@exact_kernel
def _adamw(param, grad, exp_avg, exp_avg_sq, decay, beta1, one_minus_beta1, beta2,
           one_minus_beta2, bias_correction2_sqrt, eps, step_size):  # fmt: skip
    for i in prange(param.shape[0]):
        g = grad[i]
        p = param[i] * decay
        m = exp_avg[i] * beta1
        m = m + one_minus_beta1 * g
        v = exp_avg_sq[i] * beta2
        v = v + (one_minus_beta2 * g) * g
        denom = np.sqrt(v) / bias_correction2_sqrt + eps
        param[i] = p - step_size * (m / denom)
        exp_avg[i] = m
        exp_avg_sq[i] = v


def _flat_view(a):
    """A 1-D view sharing memory with ``a`` (so in-place writes land in it), or None."""
    if a.flags.c_contiguous or a.flags.f_contiguous:
        return a.ravel(order="K")  # a view for any contiguous layout
    return None


def _broadcasts_to(shape, target) -> bool:
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


@register("adamw_step", NUMBA)
def adamw_step(param, grad, exp_avg, exp_avg_sq, *, lr, beta1, beta2, eps, weight_decay, step):
    """One AdamW update, in place on ``param``, ``exp_avg`` and ``exp_avg_sq``."""
    states = (param, exp_avg, exp_avg_sq)
    views = [_flat_view(a) if isinstance(a, np.ndarray) else None for a in states]
    if (
        any(v is None for v in views)
        or param.dtype not in (np.float32, np.float64)
        or any(a.dtype != param.dtype or a.shape != param.shape for a in states)
        or any(a.strides != param.strides for a in states)  # same element order in all three
        or not isinstance(grad, np.ndarray)
        or grad.dtype != param.dtype
        or not _broadcasts_to(grad.shape, param.shape)
    ):
        reference.adamw_step(
            param, grad, exp_avg, exp_avg_sq, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
            weight_decay=weight_decay, step=step,
        )  # fmt: skip
        return
    p, m, v = views
    # The gradient read in the parameter's memory order (a copy only when it differs).
    order = "F" if param.flags.f_contiguous and not param.flags.c_contiguous else "C"
    g = np.asarray(np.broadcast_to(grad, param.shape), order=order).ravel(order="K")
    f = param.dtype.type  # NumPy rounds a Python float scalar to the array's dtype: so do we
    bias_correction1 = 1.0 - beta1**step
    bias_correction2_sqrt = math.sqrt(1.0 - beta2**step)
    launch(
        _adamw, p.size, p, g, m, v, f(1.0 - lr * weight_decay), f(beta1), f(1.0 - beta1),
        f(beta2), f(1.0 - beta2), f(bias_correction2_sqrt), f(eps), f(lr / bias_correction1),
    )  # fmt: skip
