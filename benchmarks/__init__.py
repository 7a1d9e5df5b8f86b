"""Benchmarks: ``python -m benchmarks`` (or ``make bench``) times the kernels against references.

Layout: ``harness.py`` runs the sections, prints the table and saves the JSON; each section is a
module exposing ``run(ctx) -> list[dict]`` (``kernels.py``: the fused Numba kernels against
their NumPy reference twins and PyTorch; ``matmul.py``: matrix products). Results accumulate in
``benchmarks/results/`` so a later run can be compared with ``--compare FILE``.
"""

import os

# As ``autograd/_environment.py`` does, before any worker imports NumPy: OpenBLAS's idle threads
# sleep at once after a product instead of spinning for ~0.1 s (autograd/kernels/blas_threads.py).
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
