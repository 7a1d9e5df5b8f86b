"""Process-wide settings that must be made before NumPy and Numba load their libraries.

``autograd/__init__.py`` imports this module before anything else, and importing it configures
(``configure()`` at the bottom). Each setting is a default: a value already in the environment
(the user's choice) wins, and a library that was loaded before autograd keeps what it had.

- ``OPENBLAS_THREAD_TIMEOUT=4``: after a product, OpenBLAS's idle threads spin for 2**28 cycles
  (~0.1 s) by default, holding a core that the next Numba kernel and the next stack of
  attention products need; 2**4 cycles lets them sleep at once. A GELU right after a matmul
  measured 8 ms instead of 3.9 ms, and attention's split stacks 65 instead of 139 GFLOP/s
  (``kernels/blas_threads.py``). OpenBLAS reads it when NumPy loads it.
- ``NUMBA_CPU_FEATURES``: the host's features plus ``-prefer-256-bit``, on CPUs with AVX-512.
  LLVM's tuning for Intel server cores keeps vector loops at 256 bits (on older parts the
  512-bit units lowered the clock); our elementwise kernels are arithmetic-bound and run
  faster at 512: float32 GELU forward 4.15 -> 3.14 ms, backward 6.88 -> 4.10 ms, softmax
  2.56 -> 2.11 ms on (4096, 1536) and (49152, 128), measured on our 2-core machine.
  ``MINIBERT_WIDE_VECTORS=0`` leaves Numba's default. Numba reads it when it is imported, and
  keys its on-disk cache by it.
"""

from __future__ import annotations

import os
import sys


def configure() -> None:
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    wide = os.environ.get("MINIBERT_WIDE_VECTORS", "1").strip() not in ("0", "false", "no")
    if wide and "numba" not in sys.modules and "NUMBA_CPU_FEATURES" not in os.environ:
        _prefer_512_bit_vectors()


def _prefer_512_bit_vectors() -> None:
    try:
        import llvmlite.binding as llvm  # Numba's own dependency; importing it loads no Numba
    except ImportError:
        return
    try:
        features = llvm.get_host_cpu_features().flatten()
    except RuntimeError:  # the host's features cannot be read: leave Numba's default
        return
    if "+avx512f" in features.split(","):
        os.environ["NUMBA_CPU_FEATURES"] = features + ",-prefer-256-bit"


configure()
