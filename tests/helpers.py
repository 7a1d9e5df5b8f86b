"""One helper per kind of check, so tests read as statements of fact."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

import autograd as ag


def assert_close(actual, expected, rtol: float = 1e-7, atol: float = 0.0, what: str = "") -> None:
    """Arrays (or tensors) equal within tolerance, with a message naming the worst element."""
    actual = actual.data if isinstance(actual, ag.Tensor) else np.asarray(actual)
    expected = expected.data if isinstance(expected, ag.Tensor) else np.asarray(expected)
    assert actual.shape == expected.shape, f"{what} shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def check_grad(fn, *arrays, atol: float = 1e-5, rtol: float = 1e-3, **kwargs) -> None:
    """Gradient-check ``fn`` in float64 at ``arrays`` (each becomes a tensor requiring grad)."""
    tensors = [ag.Tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in arrays]
    assert ag.gradcheck(fn, *tensors, atol=atol, rtol=rtol, **kwargs)


def grads_of(fn, *arrays, cotangent=None, seed: int = 0):
    """Analytic gradients of sum(fn(*arrays) * R) for each input, R random unless given."""
    tensors = [ag.Tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in arrays]
    out = fn(*tensors)
    if cotangent is None:
        cotangent = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(cotangent)
    return out, [t.grad for t in tensors]


# A tiny model trains faster on one BLAS/Numba thread than on two busy cores (see Makefile).
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}


def run_python_on_one_thread(code: str, *args: str, timeout: float = 300) -> None:
    """Run ``python -c code args`` in a fresh process pinned to one thread; fail if it fails."""
    subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**os.environ, **ONE_THREAD},
        check=True,
        timeout=timeout,
    )
