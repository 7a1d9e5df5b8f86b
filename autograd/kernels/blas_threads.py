"""Batched products across the cores, one single-threaded BLAS call per matrix.

Attention multiplies B * nh small matrices at once ((128 x 64) @ (64 x 128) per head), and
``numpy.matmul`` runs a stack as a loop of BLAS calls, one after the other. Each call is too small
for OpenBLAS to split well between its threads: on our 2-core machine a stack of 384
(128 x 32) @ (32 x 128) products ran at 55 GFLOP/s, with OpenBLAS on one thread or on two, while
the dense layers reach 300. Splitting the *stack* instead, each core taking half of the matrices
with OpenBLAS on one thread, measured 139 GFLOP/s on that stack and 213 on attention's P @ V
(from 84): every product still runs whole on one thread, so the bits do not depend on which
thread ran it.

``split_matmul`` does that with a small pool of Python threads (NumPy releases the GIL inside
``matmul``): it sets OpenBLAS to one thread, runs the shares, and sets the thread count back, so
the dense products keep every core. (OpenBLAS's thread count is process-wide in its pthreads
build, NumPy's; ``openblas_set_num_threads_local`` changes it for every thread there too.) Where
OpenBLAS cannot be found through ctypes (another BLAS), ``available()`` is False and batched
products stay plain ``numpy.matmul``. Because the setting is process-wide, a product that another
Python thread of the program runs meanwhile runs single-threaded too: slower, never wrong.

The shares need every core: ``autograd/_environment.py`` sets ``OPENBLAS_THREAD_TIMEOUT`` so that
OpenBLAS's own idle workers sleep right after a product instead of spinning for ~0.1 s beside
them (the stack above ran at 65 GFLOP/s with them spinning, 139 without).
"""

from __future__ import annotations

import ctypes
import glob
import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# Below this many multiply-adds per share, handing work to another thread costs more than it
# saves (a pool round trip is 20-50 us; a (128 x 64) @ (64 x 128) product takes ~10 us).
MIN_WORK_PER_THREAD = 1 << 22

_state: dict = {"lib": None, "core": None, "searched": False, "pool": None, "pool_size": 0}


def _openblas():
    """(set_num_threads, get_num_threads) of NumPy's OpenBLAS, through ctypes, or None."""
    if _state["searched"]:
        return _state["lib"]
    _state["searched"] = True
    libs_dir = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    for path in sorted(glob.glob(os.path.join(libs_dir, "*openblas*"))):
        try:
            lib = ctypes.CDLL(path)  # already loaded by NumPy: this only looks it up
        except OSError:
            continue
        # NumPy's wheels rename the symbols (scipy_openblas..., 64-bit integers); a plain build
        # keeps openblas_...
        for prefix, suffix in (("scipy_openblas", "64_"), ("openblas", "")):
            setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
            getter = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            if setter is not None and getter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int
                _state["lib"] = (setter, getter)
                core = getattr(lib, f"{prefix}_get_corename{suffix}", None)
                if core is not None:
                    core.argtypes, core.restype = [], ctypes.c_char_p
                    _state["core"] = core
                return _state["lib"]
    return None


def available() -> bool:
    """Whether this process's BLAS is an OpenBLAS whose thread count we can set."""
    return _openblas() is not None


def core_name() -> str | None:
    """The CPU kernels OpenBLAS picked for this machine ("SkylakeX", "Haswell", ...), or None.

    A build for many CPUs picks them at load time from the CPU's model number and features; a
    virtual machine that hides the model gets the newest family its features allow.
    """
    _openblas()
    core = _state["core"]
    return core().decode() if core is not None else None


def blas_threads() -> int:
    """How many threads OpenBLAS uses for one product (1 if unknown)."""
    lib = _openblas()
    return max(1, lib[1]()) if lib is not None else 1


def _pool(workers: int) -> ThreadPoolExecutor:
    if _state["pool"] is None or _state["pool_size"] != workers:
        if _state["pool"] is not None:
            _state["pool"].shutdown(wait=True)
        _state["pool"] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="blas-split")
        _state["pool_size"] = workers
    return _state["pool"]


def _forget_pool_in_child() -> None:  # a forked child has the pool object but not its threads
    _state["pool"], _state["pool_size"] = None, 0


os.register_at_fork(after_in_child=_forget_pool_in_child)


def threads_for(leading: int, work: int) -> int:
    """How many threads ``split_matmul`` would use on a stack whose first batch axis has
    ``leading`` entries and ``work`` multiply-adds in all: 1 means not worth it (or not possible).
    """
    if leading < 2 or not available():
        return 1
    return max(1, min(blas_threads(), leading, work // MIN_WORK_PER_THREAD))


def run_shares(n_items: int, threads: int, share) -> None:
    """``share(lo, hi)`` on ``threads`` contiguous ranges of ``range(n_items)`` at once, with
    OpenBLAS on one thread meanwhile; the calling thread takes the first range.

    OpenBLAS's thread count is set back afterwards, even when a share raises (its exception is
    re-raised here). Shares must write disjoint outputs.
    """
    bounds = np.linspace(0, n_items, threads + 1).astype(int)
    lib = _openblas()
    previous = lib[1]() if lib is not None else 1
    if lib is not None:
        lib[0](1)  # process-wide in OpenBLAS's pthreads build: every share runs on one thread
    try:
        futures = [
            _pool(threads - 1).submit(share, bounds[i], bounds[i + 1]) for i in range(1, threads)
        ]
        share(bounds[0], bounds[1])
        for future in futures:
            future.result()
    finally:
        if lib is not None:
            lib[0](previous)


def split_matmul(a: np.ndarray, b: np.ndarray, threads: int | None = None) -> np.ndarray:
    """``numpy.matmul(a, b)`` for stacks (..., M, K) @ (..., K, N), the leading batch axis cut
    into ``threads`` shares that run at once, each with single-threaded BLAS.

    Batch axes broadcast as in ``numpy.matmul``; the cut is along the first axis of the
    broadcast batch shape (an operand of size 1 there is shared by every share). ``threads``
    None asks ``threads_for``; with one thread this is ``numpy.matmul`` itself.
    """
    ndim = max(a.ndim, b.ndim)
    a = a.reshape((1,) * (ndim - a.ndim) + a.shape)  # left-pad the batch axes: a view
    b = b.reshape((1,) * (ndim - b.ndim) + b.shape)
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    if threads is None:
        work = math.prod(batch) * a.shape[-2] * a.shape[-1] * b.shape[-1]
        threads = threads_for(batch[0], work)
    if threads < 2:
        return np.matmul(a, b)
    out = np.empty(batch + (a.shape[-2], b.shape[-1]), dtype=np.result_type(a, b))

    def share(lo: int, hi: int) -> None:
        a_rows = a[lo:hi] if a.shape[0] > 1 else a
        np.matmul(a_rows, b[lo:hi] if b.shape[0] > 1 else b, out=out[lo:hi])

    run_shares(batch[0], threads, share)
    return out
