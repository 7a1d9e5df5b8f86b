"""Numba dropout mask and dropout itself (twins of ``reference.py``'s): the same counter hash.

The reference hashes the element counters with SplitMix64 in about a dozen NumPy passes over
uint64 arrays; these kernels hash each counter in registers and write the scaled mask
(``dropout_mask``) or the input times it (``dropout_apply``, forward and backward of dropout in
one pass, with no mask in memory). Both take exactly one draw from the generator, so for one
seed they give the same mask bit for bit, and the tests hold them to it.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from autograd.kernels import reference
from autograd.kernels.numba_common import (
    as_flat,
    helper,
    launch,
    row_kernel,
    serial_kernel,
    supported,
)
from autograd.kernels.registry import NUMBA, register

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)


@helper
def kept(i, seed, threshold):
    """Whether element i survives: the top 53 bits of SplitMix64(seed + (i + 1) golden) are at
    least ``threshold`` (= p 2^53)."""
    z = np.uint64(i + 1) * _GOLDEN + seed
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    z = z ^ (z >> _S31)
    return (z >> _S11) >= threshold


@row_kernel
def _mask(seed, threshold, scale, out):
    """out[i] = scale where element i is kept, else 0."""
    zero = out.dtype.type(0)
    for i in prange(out.shape[0]):
        out[i] = scale if kept(i, seed, threshold) else zero


@row_kernel
def _apply(x, seed, threshold, scale, out):
    """out[i] = x[i] * (the mask of ``_mask`` at i): the same hash, fused with the product."""
    zero = out.dtype.type(0)
    for i in prange(out.shape[0]):
        out[i] = x[i] * (scale if kept(i, seed, threshold) else zero)


@serial_kernel
def apply_serial(x, first, seed, threshold, scale, out):
    """out[i] = x[i] * (the mask at first + i): ``_apply`` on elements ``first, first + 1, ...``
    of a larger array, on the calling thread (for callers that run their own threads)."""
    zero = out.dtype.type(0)
    for i in range(out.shape[0]):
        out[i] = x[i] * (scale if kept(first + i, seed, threshold) else zero)


def mask_args(dtype, p, seed):
    """(seed, threshold, keep scale): the hash's arguments for drop probability ``p`` < 1, as
    every kernel that drops elements takes them (here, in attention and in add_layer_norm)."""
    return np.uint64(seed), np.uint64(int(p * 2.0**53)), dtype.type(1.0 / (1.0 - p))


@register("dropout_apply", NUMBA)
def dropout_apply(x, p, seed):
    """``x`` times the mask of ``seed``, in one pass (see ``reference.dropout_apply``)."""
    if not supported(x) or p >= 1.0:
        return reference.dropout_apply(x, p, seed)
    out = np.empty(x.size, dtype=x.dtype)
    launch(_apply, out.size, as_flat(x), *mask_args(x.dtype, p, seed), out)
    return out.reshape(x.shape)


@register("dropout_mask", NUMBA)
def dropout_mask(like, p, generator):
    """A scaled keep-mask shaped like ``like``: 0 with probability p, else 1 / (1 - p)."""
    if not isinstance(like, np.ndarray) or like.dtype not in (np.float32, np.float64):
        return reference.dropout_mask(like, p, generator)
    seed = reference.dropout_seed(generator)  # the reference's one draw
    out = np.empty(like.size, dtype=like.dtype)
    launch(_mask, out.size, *mask_args(like.dtype, p, seed), out)
    return out.reshape(like.shape)
