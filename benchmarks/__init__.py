"""Benchmarks: ``python -m benchmarks`` (or ``make bench``) times the kernels against references.

Layout: ``harness.py`` runs the sections, prints the table and saves the JSON; each section is a
module exposing ``run(ctx) -> list[dict]`` (``kernels.py``: the fused Numba kernels against
their NumPy reference twins and PyTorch; ``matmul.py``: matrix products). Results accumulate in
``benchmarks/results/`` so a later run can be compared with ``--compare FILE``.
"""
