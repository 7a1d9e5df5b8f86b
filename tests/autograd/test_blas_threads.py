"""Batched products split across the cores (``autograd.kernels.blas_threads``) equal NumPy's."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import numpy as np
import pytest

from autograd.kernels import blas_threads, get_kernel
from autograd.kernels import numba_matmul as nm

needs_openblas = pytest.mark.skipif(
    not blas_threads.available(), reason="NumPy's BLAS here is not an OpenBLAS we can reach"
)


def stacks(rng, a_shape, b_shape, dtype=np.float32):
    return (
        rng.standard_normal(a_shape).astype(dtype),
        rng.standard_normal(b_shape).astype(dtype),
    )


@needs_openblas
@pytest.mark.parametrize(
    "a_shape, b_shape",
    [
        ((8, 3, 17, 5), (8, 3, 5, 9)),  # attention's (B, nh, T, hs) stacks
        ((7, 17, 5), (1, 5, 9)),  # b broadcast along the cut axis
        ((1, 17, 5), (6, 5, 9)),  # a broadcast along it
        ((5, 2, 17, 5), (2, 5, 9)),  # b with fewer batch axes
    ],
)
@pytest.mark.parametrize("threads", [2, 3])
def test_split_matmul_equals_numpy(a_shape, b_shape, threads):
    rng = np.random.default_rng(0)
    a, b = stacks(rng, a_shape, b_shape)
    out = blas_threads.split_matmul(a, b, threads)
    expected = np.matmul(a, b)
    assert out.shape == expected.shape and out.dtype == expected.dtype
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(out, blas_threads.split_matmul(a, b, threads))  # deterministic


@needs_openblas
def test_split_matmul_reads_transposed_views_and_float64():
    rng = np.random.default_rng(1)
    a, b = stacks(rng, (6, 4, 11, 8), (6, 4, 11, 8), np.float64)
    out = blas_threads.split_matmul(a, np.swapaxes(b, -1, -2), 2)  # Q @ K^T
    np.testing.assert_allclose(out, a @ np.swapaxes(b, -1, -2), rtol=1e-13, atol=1e-13)


@needs_openblas
def test_blas_thread_count_is_restored_even_when_a_share_fails(monkeypatch):
    before = blas_threads.blas_threads()
    rng = np.random.default_rng(2)
    a, b = stacks(rng, (4, 8, 8), (4, 8, 8))

    def broken_matmul(*args, **kwargs):
        raise MemoryError("simulated")

    monkeypatch.setattr(np, "matmul", broken_matmul)
    with pytest.raises(MemoryError, match="simulated"):
        blas_threads.split_matmul(a, b, 2)
    monkeypatch.undo()
    assert blas_threads.blas_threads() == before


def test_threads_for_never_splits_what_is_too_small_or_has_one_item():
    big = 1 << 30
    assert blas_threads.threads_for(1, big) == 1
    assert blas_threads.threads_for(64, blas_threads.MIN_WORK_PER_THREAD - 1) == 1
    assert 1 <= blas_threads.threads_for(64, big) <= max(1, blas_threads.blas_threads())
    assert blas_threads.threads_for(3, big) <= 3


@needs_openblas
def test_the_dispatcher_splits_attention_stacks_when_blas_has_threads(monkeypatch):
    if blas_threads.blas_threads() < 2:
        pytest.skip("OpenBLAS runs on one thread here: nothing to split")
    calls = []
    real = blas_threads.run_shares

    def spy(n_items, threads, share):
        calls.append(threads)
        return real(n_items, threads, share)

    monkeypatch.setattr(blas_threads, "run_shares", spy)
    rng = np.random.default_rng(3)
    q, k = stacks(rng, (4, 4, 128, 64), (4, 4, 128, 64))
    assert nm.matmul_choice(q.shape, k.shape, q.dtype, False, True) == "blas-split"
    scores = get_kernel("matmul", q, backend="numba")(q, k, transpose_b=True)
    assert calls and calls[0] >= 2
    np.testing.assert_allclose(scores, q @ np.swapaxes(k, -1, -2), rtol=1e-5, atol=1e-4)


@needs_openblas
def test_core_name_reports_the_kernels_openblas_was_told_to_run():
    # OPENBLAS_CORETYPE picks the kernels at load time; Haswell's need AVX2 and FMA, which every
    # x86 machine this project runs on has. The name must come back as OpenBLAS spells it.
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("the Haswell kernels exist only on x86-64")
    script = "import autograd.kernels.blas_threads as b; print(b.core_name())"
    env = {**os.environ, "OPENBLAS_CORETYPE": "Haswell"}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "Haswell"
    assert blas_threads.core_name()  # and this process's own choice is a name, not None
