"""Numba dropout mask (twin of ``reference.py``'s): the same counter-based hash, fused.

The reference hashes the element counters with SplitMix64 in about a dozen NumPy passes over
uint64 arrays; this kernel hashes each counter in registers and writes the scaled mask directly.
Both take exactly one draw from the generator, so for one seed they give the same mask bit for
bit, and the tests hold them to it.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from autograd.kernels import reference
from autograd.kernels.numba_common import launch, row_kernel
from autograd.kernels.registry import NUMBA, register

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)


@row_kernel
def _mask(seed, threshold, scale, out):
    """out[i] = scale if the top 53 bits of SplitMix64(seed + (i + 1) golden) >= threshold."""
    zero = out.dtype.type(0)
    for i in prange(out.shape[0]):
        z = np.uint64(i + 1) * _GOLDEN + seed
        z = (z ^ (z >> _S30)) * _MIX1
        z = (z ^ (z >> _S27)) * _MIX2
        z = z ^ (z >> _S31)
        out[i] = scale if (z >> _S11) >= threshold else zero


@register("dropout_mask", NUMBA)
def dropout_mask(like, p, generator):
    """A scaled keep-mask shaped like ``like``: 0 with probability p, else 1 / (1 - p)."""
    if not isinstance(like, np.ndarray) or like.dtype not in (np.float32, np.float64):
        return reference.dropout_mask(like, p, generator)
    seed = np.uint64(generator.integers(2**63))  # the reference's one draw
    out = np.empty(like.size, dtype=like.dtype)
    threshold = np.uint64(int(p * 2.0**53))
    launch(_mask, out.size, seed, threshold, like.dtype.type(1.0 / (1.0 - p)), out)
    return out.reshape(like.shape)
