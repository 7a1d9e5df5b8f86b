"""Bench section "matmul": the Numba kernel, and the registered ``matmul`` that the ops call
(``dispatch``: the Numba kernel, BLAS, or a stack split across the cores, as its policy picks for
the shape), against NumPy's BLAS (and PyTorch's, where it imports).

Every shape runs every implementation in the same process: for each, warm-up calls (the first
compiles the kernel), then ``ctx.repeat`` timed calls in a row (fewer, but at least 3, once
``ctx.budget_s`` seconds are spent), reported by their median and minimum. The
implementations run one after the other, not interleaved, with a pause between them: each
library's threads spin-wait for a while after a call (OpenBLAS's for up to ~0.1 s, OpenMP's for
a few ms), and interleaved calls would charge that spinning to whichever library runs next.
Each row says which implementation the registered dispatcher picks for that shape; its own row
(``dispatch``) times that choice, so a stack of attention's small products shows the split
across the cores (``blas_threads``) that the ops get, not only NumPy's plain loop over the stack.

Run alone: ``python -c "from benchmarks.matmul import main; main()"``.
"""

from __future__ import annotations

import time

import numpy as np

from autograd.kernels import numba_matmul as nm
from autograd.kernels import reference

_PAUSE_S = 0.2

# name, a shape, b shape, transpose_a, transpose_b, dtype
SHAPES = [
    ("square 256", (256, 256), (256, 256), False, False, "float32"),
    ("square 512", (512, 512), (512, 512), False, False, "float32"),
    ("square 1024", (1024, 1024), (1024, 1024), False, False, "float32"),
    ("square 2048", (2048, 2048), (2048, 2048), False, False, "float32"),
    ("square 512 f64", (512, 512), (512, 512), False, False, "float64"),
    ("small 64x64 @ 64x64", (64, 64), (64, 64), False, False, "float32"),
    ("skinny 16x1024 @ 1024x1024", (16, 1024), (1024, 1024), False, False, "float32"),
    ("square 1024 f64", (1024, 1024), (1024, 1024), False, False, "float64"),
    # BERT's FFN input projection, B*T = 4096 tokens, hidden 128, FFN 512: x @ W ...
    ("ffn x@W 4096x128 @ 128x512", (4096, 128), (128, 512), False, False, "float32"),
    # ... its input gradient G @ W^T and its weight gradient x^T @ G, read through the strides
    ("ffn G@W^T 4096x512 @ (128x512)^T", (4096, 512), (128, 512), False, True, "float32"),
    ("ffn x^T@G (4096x128)^T @ 4096x512", (4096, 128), (4096, 512), True, False, "float32"),
    # MiniLM's shape (hidden 384, FFN 1536), 4096 tokens: the four dense products of a layer's
    # forward, 70% of the model's forward time, as Linear runs them (x @ W^T, W stored (out, in))
    ("minilm qkv 4096x384 @ (1152x384)^T", (4096, 384), (1152, 384), False, True, "float32"),
    ("minilm out 4096x384 @ (384x384)^T", (4096, 384), (384, 384), False, True, "float32"),
    ("minilm ffn1 4096x384 @ (1536x384)^T", (4096, 384), (1536, 384), False, True, "float32"),
    ("minilm ffn2 4096x1536 @ (384x1536)^T", (4096, 1536), (384, 1536), False, True, "float32"),
    # attention, B * nh = 64: scores Q K^T, as (128x64 @ 64x128) and as the model reads K
    ("attention 64 x 128x64 @ 64x128", (64, 128, 64), (64, 64, 128), False, False, "float32"),
    ("attention 64 x Q@K^T", (64, 128, 64), (64, 128, 64), False, True, "float32"),
    ("attention 64 x P@V", (64, 128, 128), (64, 128, 64), False, False, "float32"),
]


def _torch_matmul(ctx):
    """``torch.matmul`` on the same arrays (2 threads), or None when torch does not import."""
    torch = getattr(ctx, "torch", None)
    if torch is None:
        try:
            import torch
        except ImportError:
            return None
        torch.set_num_threads(2)  # this machine's cores, as the harness sets it

    def run(a, b, transpose_a, transpose_b):
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        return torch.matmul(ta.mT if transpose_a else ta, tb.mT if transpose_b else tb)

    return run


def _flops(a_shape, b_shape, transpose_a, transpose_b) -> float:
    m, k = (a_shape[-1], a_shape[-2]) if transpose_a else (a_shape[-2], a_shape[-1])
    n = b_shape[-2] if transpose_b else b_shape[-1]
    batch = int(np.prod(np.broadcast_shapes(a_shape[:-2], b_shape[:-2])))
    return 2.0 * batch * m * n * k


def _blas(a, b, transpose_a, transpose_b):
    return reference.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)


def run(ctx=None) -> list[dict]:
    """One row per (shape, implementation): median seconds, GFLOP/s, speed relative to BLAS."""
    repeat = int(getattr(ctx, "repeat", 10) or 10)
    warmup = max(1, int(getattr(ctx, "warmup", 1) or 1))
    budget_s = float(getattr(ctx, "budget_s", 0) or 0)  # 0: no limit; else at least 3 runs
    torch_run = _torch_matmul(ctx)
    impls = {"numba": nm.numba_matmul, "dispatch": nm.matmul, "blas": _blas}
    if torch_run is not None:
        impls["torch"] = torch_run
    rng = np.random.default_rng(0)
    rows = []
    for name, a_shape, b_shape, ta, tb, dtype in SHAPES:
        a = rng.standard_normal(a_shape).astype(dtype)
        b = rng.standard_normal(b_shape).astype(dtype)
        times = {}
        for impl, fn in impls.items():
            time.sleep(_PAUSE_S)  # let the previous library's threads stop spinning
            for _ in range(warmup):  # compiles the kernel, faults the pages in
                fn(a, b, ta, tb)
            times[impl] = []
            first = time.perf_counter()
            while len(times[impl]) < repeat:
                start = time.perf_counter()
                fn(a, b, ta, tb)
                times[impl].append(time.perf_counter() - start)
                if budget_s and len(times[impl]) >= 3 and start - first > budget_s:
                    break
        flops = _flops(a_shape, b_shape, ta, tb)
        choice = nm.matmul_choice(a_shape, b_shape, dtype, ta, tb)
        shape_class = nm.shape_class(a_shape, b_shape, ta, tb)
        blas_s = float(np.median(times["blas"]))
        for impl in impls:
            median_s = float(np.median(times[impl]))
            rows.append(
                {
                    "section": "matmul",
                    "name": name,
                    "impl": impl,
                    "median_s": median_s,
                    "min_s": float(np.min(times[impl])),
                    "runs": len(times[impl]),
                    "gflops": flops / median_s / 1e9,
                    "ratio_vs_blas": blas_s / median_s,
                    "ratio_vs_reference": blas_s / median_s,  # BLAS is the reference twin
                    "note": f"dispatcher picks {choice} ({dtype}, {shape_class})",
                }
            )
    return rows


def main() -> None:
    """Print the section as a table."""
    header = f"{'shape':36} {'impl':8} {'median ms':>10} {'min ms':>8} {'GFLOP/s':>8} {'x BLAS':>7}"
    print(header + "  note")
    for row in run():
        print(
            f"{row['name']:36} {row['impl']:8} {row['median_s'] * 1e3:10.3f} "
            f"{row['min_s'] * 1e3:8.3f} {row['gflops']:8.1f} {row['ratio_vs_blas']:7.2f}  "
            f"{row['note']}"
        )


if __name__ == "__main__":
    main()
