"""A tiled, parallel matmul written in Numba, and the dispatcher that picks it or BLAS per shape.

``numba_matmul(a, b, transpose_a, transpose_b)`` computes ``op(a) @ op(b)`` as the reference
twin does (batch axes broadcast as in ``numpy.matmul``), organised as in BLIS / GotoBLAS:

- **cache blocking**: the K axis is cut into slabs of ``kc`` and C into blocks of ``mc`` rows and
  ``nc`` columns, so a packed block of A stays in L2 and a micro-panel of B in L1 while it is
  reused;
- **packing**: the micro-kernel reads rows that are contiguous along K. An operand that already
  is (row-major A; B with ``transpose_b``, as in ``x @ W^T`` and ``Q @ K^T``) is read in place;
  the other is copied block by block into ``a_pack`` (mc, kc) or ``b_pack`` (nc, kc), with K
  contiguous and zero-padded to a multiple of 16. Packing reads through the strides, so a
  transposed operand, a broadcast batch axis or any other non-contiguous view is never copied
  whole. At C's ragged edges the micro-kernel computes a whole tile into a scratch tile, of
  which only the valid part is added to C;
- **register blocking**: the micro-kernel computes a 4 x 6 tile of C from 4 rows of op(A) and
  6 rows of op(B)^T with 24 accumulators. Each accumulator is a dot product over K, which
  LLVM vectorizes with AVX-512 FMAs once it may reassociate the sum (``fastmath`` reassoc +
  contract; no ``nnan``/``ninf``, so NaN and inf propagate as in NumPy);
- **threads**: ``prange`` over tasks, a task being one batch item's block of rows (or columns)
  of C, so both cores work on a single big product and on a batch of small ones alike.

Why dot products and not the outer-product micro-kernel of BLIS: Numba cannot tell LLVM that a
tile of accumulators held in an array does not alias the inputs, so an outer-product kernel keeps
its tile in memory; the dot-product form keeps its accumulators in registers as reductions, at
the price of one horizontal sum per accumulator per K slab (hence the long ``kc``).

``matmul`` (registered as the NUMBA "matmul" kernel) is a dispatcher: from the static table
``POLICY`` below, measured on our 2-core machine, it sends each shape class to this kernel or to
NumPy's BLAS. The table is fixed in the source, never measured at run time, so a run computes the
same bits every time.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from autograd.kernels import blas_threads, reference
from autograd.kernels.registry import NUMBA, register

JIT_DISABLED = bool(numba.config.DISABLE_JIT)

# Reassociation lets LLVM vectorize the dot-product reductions; contraction makes them FMAs.
_FASTMATH = {"reassoc", "contract"}

MR = 4  # rows of C per micro-tile
NR = 6  # columns of C per micro-tile
# Cache blocking, in elements. A long KC amortizes the micro-kernel's horizontal sums; a_pack
# (MC x KC, 256 KiB) stays in L2 (1 MiB per core) and b_pack (NC x KC, 4 MiB) in L3; the 10 rows
# the micro-kernel streams (40 KiB) come from L1 and L2.
_BLOCKING = {  # dtype: (KC, MC, NC), tuned on the 2-core machine (see the bench)
    np.dtype(np.float32): (1024, 64, 1024),
    np.dtype(np.float64): (512, 64, 1024),
}


# ----------------------------------------------------------------------------------- the kernel


@numba.njit(cache=True, nogil=True)
def _round_up(n, multiple):
    return (n + multiple - 1) // multiple * multiple


@numba.njit(cache=True, nogil=True)
def _pack(src, offset, row_stride, k_stride, rows, kc, dst, ld):
    """dst[r * ld + k] = src[offset + r * row_stride + k * k_stride] for r < rows, k < kc.

    ``src`` is a flat view of an operand's memory; ``dst`` holds ``rows`` rows of ``ld``
    elements, each row contiguous along K, which is the layout the micro-kernel reads. Each row
    is zero-padded to a multiple of 16 along K, so that the micro-kernel's vector loop (16 lanes
    of float32) never needs a scalar remainder.
    """
    if k_stride == 1:  # rows already contiguous along K: straight copies
        for r in range(rows):
            src_start = offset + r * row_stride
            dst[r * ld : r * ld + kc] = src[src_start : src_start + kc]
    elif row_stride == 1:  # a transposed read: 16 rows at a time, contiguous in the source
        for r0 in range(0, rows, 16):
            r1 = min(r0 + 16, rows)
            for k in range(kc):
                src_start = offset + k * k_stride
                column = src[src_start + r0 : src_start + r1]
                dst_k = dst[r0 * ld + k :]
                for r in range(r1 - r0):
                    dst_k[r * ld] = column[r]
    else:
        for r in range(rows):
            src_start = offset + r * row_stride
            for k in range(kc):
                dst[r * ld + k] = src[src_start + k * k_stride]
    for r in range(rows):
        dst[r * ld + kc : r * ld + _round_up(kc, 16)] = 0


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _micro_tile(a, a_rows, b, b_rows, kc, out, i, j):
    """out[i:i+4, j:j+6] += the 4 x 6 tile of dot products (row r of A) . (row s of B^T).

    Row r of A is ``a[a_rows[r]:a_rows[r] + kc]`` and row s of B^T is ``b[b_rows[s]:...]``,
    each contiguous along K. ``out`` is C itself, or a scratch tile at C's ragged edges.
    """
    a0 = a[a_rows[0] : a_rows[0] + kc]
    a1 = a[a_rows[1] : a_rows[1] + kc]
    a2 = a[a_rows[2] : a_rows[2] + kc]
    a3 = a[a_rows[3] : a_rows[3] + kc]
    b0 = b[b_rows[0] : b_rows[0] + kc]
    b1 = b[b_rows[1] : b_rows[1] + kc]
    b2 = b[b_rows[2] : b_rows[2] + kc]
    b3 = b[b_rows[3] : b_rows[3] + kc]
    b4 = b[b_rows[4] : b_rows[4] + kc]
    b5 = b[b_rows[5] : b_rows[5] + kc]
    zero = out.dtype.type(0)
    c00 = c01 = c02 = c03 = c04 = c05 = zero
    c10 = c11 = c12 = c13 = c14 = c15 = zero
    c20 = c21 = c22 = c23 = c24 = c25 = zero
    c30 = c31 = c32 = c33 = c34 = c35 = zero
    for k in range(kc):
        x0 = a0[k]
        x1 = a1[k]
        x2 = a2[k]
        x3 = a3[k]
        y0 = b0[k]
        y1 = b1[k]
        y2 = b2[k]
        y3 = b3[k]
        y4 = b4[k]
        y5 = b5[k]
        c00 += x0 * y0
        c01 += x0 * y1
        c02 += x0 * y2
        c03 += x0 * y3
        c04 += x0 * y4
        c05 += x0 * y5
        c10 += x1 * y0
        c11 += x1 * y1
        c12 += x1 * y2
        c13 += x1 * y3
        c14 += x1 * y4
        c15 += x1 * y5
        c20 += x2 * y0
        c21 += x2 * y1
        c22 += x2 * y2
        c23 += x2 * y3
        c24 += x2 * y4
        c25 += x2 * y5
        c30 += x3 * y0
        c31 += x3 * y1
        c32 += x3 * y2
        c33 += x3 * y3
        c34 += x3 * y4
        c35 += x3 * y5
    out[i, j] += c00
    out[i, j + 1] += c01
    out[i, j + 2] += c02
    out[i, j + 3] += c03
    out[i, j + 4] += c04
    out[i, j + 5] += c05
    out[i + 1, j] += c10
    out[i + 1, j + 1] += c11
    out[i + 1, j + 2] += c12
    out[i + 1, j + 3] += c13
    out[i + 1, j + 4] += c14
    out[i + 1, j + 5] += c15
    out[i + 2, j] += c20
    out[i + 2, j + 1] += c21
    out[i + 2, j + 2] += c22
    out[i + 2, j + 3] += c23
    out[i + 2, j + 4] += c24
    out[i + 2, j + 5] += c25
    out[i + 3, j] += c30
    out[i + 3, j + 1] += c31
    out[i + 3, j + 2] += c32
    out[i + 3, j + 3] += c33
    out[i + 3, j + 4] += c34
    out[i + 3, j + 5] += c35


@numba.njit(cache=True, nogil=True)
def _gemm_block(a, a_off, a_rs, a_ks, b, b_off, b_ks, b_ns, c, m0, m1, n0, n1, k_total, blocking):
    """c[m0:m1, n0:n1] += op(A)[m0:m1, :] @ op(B)[:, n0:n1], on one thread, cache-blocked.

    op(A)[m, k] is ``a[a_off + m * a_rs + k * a_ks]`` and op(B)[k, n] is
    ``b[b_off + k * b_ks + n * b_ns]``; ``c`` is this batch item's (M, N) output.
    """
    kc_max, mc_max, nc_max = blocking
    kc_cap = min(kc_max, k_total)
    # An operand already contiguous along K is read in place; the other is packed. Packed rows
    # are padded to a whole number of 64-byte lines plus one, so that the 10 rows the
    # micro-kernel streams do not all fall into the same L1 cache set.
    a_in_place = a_ks == 1
    b_in_place = b_ks == 1
    ld = _round_up(kc_cap, 16) + 16
    a_pack = np.empty(0 if a_in_place else min(mc_max, m1 - m0) * ld, dtype=c.dtype)  # (mc, ld)
    b_pack = np.empty(0 if b_in_place else min(nc_max, n1 - n0) * ld, dtype=c.dtype)  # (nc, ld)
    a_rows = np.empty(MR, dtype=np.int64)
    b_rows = np.empty(NR, dtype=np.int64)
    tile = np.empty((MR, NR), dtype=c.dtype)
    for jc in range(n0, n1, nc_max):
        nc = min(nc_max, n1 - jc)
        for pc in range(0, k_total, kc_max):
            kc = min(kc_max, k_total - pc)
            # Packs hold zeros from kc to the next multiple of 16 (no scalar remainder loop);
            # an operand read in place has no such padding, so then the loop stops at kc.
            kc_loop = kc if a_in_place or b_in_place else _round_up(kc, 16)
            b_first = b_off + jc * b_ns + pc * b_ks  # op(B)[pc, jc]
            if b_in_place:  # row n of op(B)^T starts at b[b_src_first + n * b_src_stride]
                b_src, b_src_first, b_src_stride = b, b_first, b_ns
            else:
                _pack(b, b_first, b_ns, b_ks, nc, kc, b_pack, ld)
                b_src, b_src_first, b_src_stride = b_pack, 0, ld
            for ic in range(m0, m1, mc_max):
                mc = min(mc_max, m1 - ic)
                a_first = a_off + ic * a_rs + pc * a_ks  # op(A)[ic, pc]
                if a_in_place:
                    a_src, a_src_first, a_src_stride = a, a_first, a_rs
                else:
                    _pack(a, a_first, a_rs, a_ks, mc, kc, a_pack, ld)
                    a_src, a_src_first, a_src_stride = a_pack, 0, ld
                for jr in range(0, nc, NR):
                    n_valid = min(NR, nc - jr)
                    for s in range(NR):  # past the edge, repeat the last row: computed, unused
                        b_rows[s] = b_src_first + min(jr + s, nc - 1) * b_src_stride
                    for ir in range(0, mc, MR):
                        m_valid = min(MR, mc - ir)
                        for r in range(MR):
                            a_rows[r] = a_src_first + min(ir + r, mc - 1) * a_src_stride
                        whole = m_valid == MR and n_valid == NR
                        if whole:  # straight into C
                            out, out_i, out_j = c, ic + ir, jc + jr
                        else:  # into the scratch tile, then its valid part into C
                            tile[:] = 0
                            out, out_i, out_j = tile, 0, 0
                        _micro_tile(a_src, a_rows, b_src, b_rows, kc_loop, out, out_i, out_j)
                        if not whole:
                            for r in range(m_valid):
                                for s in range(n_valid):
                                    c[ic + ir + r, jc + jr + s] += tile[r, s]


@numba.njit(cache=True, nogil=True, parallel=True)
def _gemm_tasks(
    a, a_offs, a_rs, a_ks, b, b_offs, b_ks, b_ns, c, k_total, m_block, n_block, blocking
):
    """c[t] += op(A)[t] @ op(B)[t] for every batch item t, ``prange`` over (item, block) tasks."""
    n_batch, m_total, n_total = c.shape
    grid_m = (m_total + m_block - 1) // m_block
    grid_n = (n_total + n_block - 1) // n_block
    per_item = grid_m * grid_n
    for task in prange(n_batch * per_item):
        item = task // per_item
        block_m = (task % per_item) // grid_n
        block_n = task % grid_n
        m0 = block_m * m_block
        n0 = block_n * n_block
        _gemm_block(
            a, a_offs[item], a_rs, a_ks, b, b_offs[item], b_ks, b_ns, c[item],
            m0, min(m0 + m_block, m_total), n0, min(n0 + n_block, n_total), k_total, blocking,
        )  # fmt: skip


# ------------------------------------------------------------------------------ the Python side


def _flat_view(x: np.ndarray) -> tuple[np.ndarray, int, tuple[int, ...]]:
    """A 1-D view over ``x``'s memory, the offset of ``x[0, ..., 0]`` in it, and ``x``'s strides
    counted in elements: how the kernel reads any view without copying it.

    The view is always 1-D and writeable (the kernel only reads it), so that it has the type of
    the packing buffers and each dtype compiles one specialization whatever the layout. A
    broadcast view (read-only, over writeable memory) is made writeable; memory that is truly
    read-only is copied once.
    """
    itemsize = x.itemsize
    if any(s % itemsize for s in x.strides):  # a view into a record array: copy once
        x = np.ascontiguousarray(x)
    strides = tuple(s // itemsize for s in x.strides)
    lowest = x[tuple(slice(None, None, -1) if s < 0 else slice(None) for s in strides)]
    offset = sum((n - 1) * -s for n, s in zip(x.shape, strides, strict=True) if s < 0)
    span = 1 + sum((n - 1) * abs(s) for n, s in zip(x.shape, strides, strict=True))
    flat = np.lib.stride_tricks.as_strided(lowest, shape=(span,), strides=(itemsize,))
    if not flat.flags.writeable:
        try:
            flat.flags.writeable = True
        except ValueError:  # read-only memory
            return _flat_view(np.array(x))
    return flat, offset, strides


def _batch_offsets(x: np.ndarray, offset: int, strides, batch_shape) -> np.ndarray:
    """Element offset of each matrix of ``x`` (..., R, C), broadcast to ``batch_shape``."""
    offsets = np.full((), offset, dtype=np.int64)
    for n, s in zip(x.shape[:-2], strides[:-2], strict=True):
        offsets = offsets[..., None] + np.arange(n, dtype=np.int64) * s  # one more batch axis
    # A fresh, writeable array every time: a read-only one would compile another specialization.
    return np.array(np.broadcast_to(offsets, batch_shape), dtype=np.int64).reshape(-1)


def _split(n_batch: int, m: int, n: int, k: int, a_ks: int, b_ks: int) -> tuple[int, int]:
    """(m_block, n_block): how each item's C is cut into tasks so that every thread has work.

    A batch that divides evenly among the threads runs one task per item. Otherwise each item is
    cut into one block per thread, along M or N: every task packs its rows of op(A) and its
    columns of op(B), so the cut goes through the operand that costs more to pack (nothing when
    it is contiguous along K and read in place).
    """
    threads = numba.get_num_threads()
    if threads == 1 or n_batch % threads == 0:
        return m, n
    a_cost = 0 if a_ks == 1 else m * k
    b_cost = 0 if b_ks == 1 else k * n
    if (a_cost >= b_cost and m >= threads * MR) or n < threads * NR:
        return -(-m // (threads * MR)) * MR, n
    return m, -(-n // (threads * NR)) * NR


def numba_matmul(a, b, transpose_a: bool = False, transpose_b: bool = False) -> np.ndarray:
    """``op(a) @ op(b)`` by the Numba kernel: the reference twin's contract, float32/float64 only.

    Args:
        a, b: NumPy arrays, (..., M, K) and (..., K, N) after the optional transposes of their
            last two axes; batch axes broadcast. A 1-D operand is a row (a) or column (b) vector,
            as in ``numpy.matmul`` (no transpose then).
        transpose_a, transpose_b: use the operand with its last two axes swapped; read through
            the strides, never copied.

    Returns:
        A new C-contiguous array, (broadcast batch..., M, N), of ``np.result_type(a, b)``.
    """
    a = np.asarray(a)
    b = np.asarray(b)
    dtype = np.result_type(a.dtype, b.dtype)
    if dtype not in _BLOCKING:
        raise TypeError(f"numba_matmul computes float32 or float64, got {a.dtype} and {b.dtype}")
    if (a.ndim == 1 and transpose_a) or (b.ndim == 1 and transpose_b) or not (a.ndim and b.ndim):
        raise ValueError(f"matmul: cannot use shapes {a.shape} and {b.shape} with these transposes")
    a_vector, b_vector = a.ndim == 1, b.ndim == 1
    a = a[None, :] if a_vector else a  # (K,) -> (1, K)
    b = b[:, None] if b_vector else b  # (K,) -> (K, 1)
    a = a.astype(dtype, copy=False)
    b = b.astype(dtype, copy=False)
    m, k = a.shape[-2:][::-1] if transpose_a else a.shape[-2:]
    k_b, n = b.shape[-2:][::-1] if transpose_b else b.shape[-2:]
    if k != k_b:
        raise ValueError(
            f"matmul: op(a) is {m}x{k} but op(b) is {k_b}x{n} (shapes {a.shape}, {b.shape}, "
            f"transpose_a={transpose_a}, transpose_b={transpose_b})"
        )
    batch_shape = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    out = np.zeros(batch_shape + (m, n), dtype=dtype)  # the kernel adds into it
    if out.size and k:
        a_flat, a_off, a_strides = _flat_view(a)
        b_flat, b_off, b_strides = _flat_view(b)
        a_rs, a_ks = a_strides[-2:][::-1] if transpose_a else a_strides[-2:]
        b_ks, b_ns = b_strides[-2:][::-1] if transpose_b else b_strides[-2:]
        c = out.reshape(-1, m, n)  # (batch..., M, N) -> (items, M, N), a view
        m_block, n_block = _split(c.shape[0], m, n, k, a_ks, b_ks)
        _gemm_tasks(
            a_flat, _batch_offsets(a, a_off, a_strides, batch_shape), a_rs, a_ks,
            b_flat, _batch_offsets(b, b_off, b_strides, batch_shape), b_ks, b_ns,
            c, k, m_block, n_block, _BLOCKING[dtype],
        )  # fmt: skip
    if a_vector or b_vector:  # drop the axes the vectors were given, as numpy.matmul does
        out = out.reshape(batch_shape + out.shape[-2:][a_vector : 2 - b_vector])
    return out


# ------------------------------------------------------------------------------ the dispatcher

# Below this many multiply-adds (batch * M * N * K) a product is "small": thread start-up and
# packing outweigh any kernel difference (128^3 is 2.1e6).
_SMALL_WORK = 1 << 21


def shape_class(a_shape, b_shape, transpose_a: bool = False, transpose_b: bool = False) -> str:
    """The name under which ``POLICY`` files a product: one of ``SHAPE_CLASSES``."""
    m, k = (a_shape[-1], a_shape[-2]) if transpose_a else (a_shape[-2], a_shape[-1])
    n = b_shape[-2] if transpose_b else b_shape[-1]
    batch = int(np.prod(np.broadcast_shapes(tuple(a_shape[:-2]), tuple(b_shape[:-2]))))
    if batch * m * n * k < _SMALL_WORK:
        return "small"
    if batch > 1:
        return "batched"
    if min(m, n) < 64:
        return "skinny"
    if k < 256:
        return "short_k"
    return "large"


SHAPE_CLASSES = ("small", "batched", "skinny", "short_k", "large")
IMPLEMENTATIONS = ("numba", "blas", "blas-split")

# Which implementation each (dtype, shape class) runs: whichever was faster on our 2-core machine
# (2 vCPUs of an AMD EPYC Zen 4 with AVX-512, lscpu says), measured by `benchmarks/matmul.py`: both
# in one process, median of 10 calls after a warm-up, in each of 6-7 runs on a shared, busy machine.
# The best GFLOP/s over the runs, Numba / BLAS (np.matmul: OpenBLAS, 2 threads each), and the
# median over the runs of BLAS time / Numba time:
#   large    f32 256^3          100 / 177  0.56    f32 512^3            150 / 204  0.65
#            f32 1024^3         167 / 194  0.86    f32 2048^3           166 / 200  0.84
#            f64 512^3           79 / 102  0.87    f64 1024^3            85 / 100  0.95
#            f32 G @ W^T (4096x512 @ (128x512)^T)  127 / 186  0.72
#            f32 x^T @ G ((4096x128)^T @ 4096x512) 103 / 152  0.86
#   short_k  f32 x @ W (4096x128 @ 128x512)        101 / 192  0.50
#   batched  f32 64 x (128x64 @ 64x128)             44 / 109  0.26
#            f32 64 x Q @ K^T                       47 /  94  0.38
#            f32 64 x P @ V (128x128 @ 128x64)      64 / 137  0.53
#   skinny   f32 16x1024 @ 1024x1024                41 / 121  0.32
#   small    f32 64^3                               11 /  86  0.10
# On one thread (CPU time, which the neighbours disturb less) Numba reaches 0.56 / 0.64 / 0.76 /
# 0.83 of OpenBLAS on f32 squares 256 / 512 / 1024 / 2048, 0.33-0.54 on the attention shapes.
# BLAS wins every class: OpenBLAS's outer-product micro-kernel holds its tile in registers and
# needs no horizontal sums, which the dot-product kernel above pays once per output element and K
# slab (most at short K: attention's K = 64, the FFN's K = 128), and packing dominates skinny and
# small products. The table is static on purpose: a run-time race would make results differ bit
# for bit from run to run.
# Batched products go to "blas-split" (``blas_threads``): the stack is cut between the cores, each
# running its share with single-threaded BLAS; 384 x (128x32 @ 32x128), attention's Q @ K^T at
# MiniLM's shape, went from 55 to 139 GFLOP/s that way, because one small product is too small
# for BLAS to split between threads. (Where OpenBLAS cannot be reached, or the stack is too
# small to be worth it, it is plain BLAS.)
POLICY = {
    ("float32", "small"): "blas",
    ("float32", "batched"): "blas-split",
    ("float32", "skinny"): "blas",
    ("float32", "short_k"): "blas",
    ("float32", "large"): "blas",
    ("float64", "small"): "blas",
    ("float64", "batched"): "blas-split",
    ("float64", "skinny"): "blas",
    ("float64", "short_k"): "blas",
    ("float64", "large"): "blas",
}


def matmul_choice(a_shape, b_shape, dtype, transpose_a=False, transpose_b=False) -> str:
    """``"numba"``, ``"blas"`` or ``"blas-split"`` (a stack cut across the cores, one
    single-threaded BLAS call per product: ``blas_threads``): what the registered ``matmul`` runs.

    BLAS whenever the Numba kernel cannot or should not run: JIT disabled, a dtype other than
    float32/float64, a 1-D operand (a matrix-vector product), an empty product.
    """
    dtype = np.dtype(dtype)
    if JIT_DISABLED or dtype not in _BLOCKING or len(a_shape) < 2 or len(b_shape) < 2:
        return "blas"
    if 0 in a_shape or 0 in b_shape:
        return "blas"
    return POLICY[(dtype.name, shape_class(a_shape, b_shape, transpose_a, transpose_b))]


@register("matmul", NUMBA)
def matmul(a, b, transpose_a=False, transpose_b=False):
    """``op(a) @ op(b)`` by the Numba kernel or by BLAS, as ``POLICY`` says for this shape."""
    dtype = np.result_type(a.dtype, b.dtype)
    choice = matmul_choice(a.shape, b.shape, dtype, transpose_a, transpose_b)
    if choice == "numba":
        return numba_matmul(a, b, transpose_a, transpose_b)
    if choice == "blas-split":  # plain BLAS where the stack is too small to split
        a_op = np.swapaxes(a, -1, -2) if transpose_a else a
        b_op = np.swapaxes(b, -1, -2) if transpose_b else b
        return blas_threads.split_matmul(a_op, b_op)
    return reference.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
