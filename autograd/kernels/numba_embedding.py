"""Numba scatter-add for the embedding backward (twin of ``reference.py``'s).

``np.add.at`` is correct for repeated indices but slow (it is unbuffered, element by element
through the ufunc machinery). A compiled loop that adds each row of ``grad_out`` into its table
row is about fifty times faster.

One thread, on purpose: the loop is bound by memory, and a plain serial loop measured 0.07 ms
for 4096 rows of 128 into an (8192, 128) table, against 0.3-0.4 ms for a version that split the
columns between two threads. Serial also makes it deterministic by construction: every table
entry receives its additions in index order, the order ``np.add.at`` uses, so the result equals
the reference bit for bit on every run (a parallel split by index would add in a racy order).
"""

from __future__ import annotations

import numpy as np

from autograd.kernels import reference
from autograd.kernels.numba_common import serial_kernel, supported
from autograd.kernels.registry import NUMBA, register


@serial_kernel
def _scatter_add(indices, grad_out, grad_weight):
    """grad_weight[indices[k], :] += grad_out[k, :] for k in order."""
    n, dim = grad_out.shape
    for k in range(n):
        row = indices[k]
        for j in range(dim):
            grad_weight[row, j] += grad_out[k, j]


@register("embedding_backward", NUMBA)
def embedding_backward(indices, grad_out, num_embeddings, padding_idx=None):
    """Scatter-add rows of ``grad_out`` (..., D) into a (num_embeddings, D) gradient table."""
    if not supported(grad_out) or not isinstance(indices, np.ndarray) or grad_out.ndim == 0:
        return reference.embedding_backward(indices, grad_out, num_embeddings, padding_idx)
    dim = grad_out.shape[-1]
    flat = np.ascontiguousarray(indices, dtype=np.int64).reshape(-1)  # (...) -> (N,)
    if flat.size * dim != grad_out.size or indices.dtype.kind not in "iu":
        return reference.embedding_backward(indices, grad_out, num_embeddings, padding_idx)
    lowest, highest = (int(flat.min()), int(flat.max())) if flat.size else (0, 0)
    if lowest < -num_embeddings or highest >= num_embeddings:
        # Out of range: the compiled loop would write outside the table; the reference raises.
        return reference.embedding_backward(indices, grad_out, num_embeddings, padding_idx)
    if lowest < 0:  # NumPy-style negative rows, as np.add.at reads them
        flat = np.where(flat < 0, flat + num_embeddings, flat)
    rows = np.ascontiguousarray(grad_out).reshape(flat.size, dim)  # (..., D) -> (N, D)
    grad_weight = np.zeros((num_embeddings, dim), dtype=grad_out.dtype)
    _scatter_add(flat, rows, grad_weight)
    if padding_idx is not None:
        grad_weight[padding_idx] = 0
    return grad_weight
