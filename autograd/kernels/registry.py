"""The one place ops get their kernels from.

An op asks ``get_kernel("softmax_forward", x)`` for the array it holds. The registry answers with

- the Numba kernel when ``x`` is a NumPy array, one is registered, and JIT is not disabled;
- the CuPy implementation when ``x`` is a CuPy array and one is registered;
- otherwise the plain array reference twin, which works on any array module.

``MINIBERT_DISABLE_JIT=1`` (or Numba's own ``NUMBA_DISABLE_JIT=1``) forces the reference twins
everywhere, which is how the tests prove that both paths compute the same thing.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from autograd.backend import get_xp

REFERENCE = "reference"
NUMBA = "numba"
CUPY = "cupy"
BACKENDS = (REFERENCE, NUMBA, CUPY)

_kernels: dict[str, dict[str, Callable]] = {}


def register(name: str, backend: str = REFERENCE):
    """Decorator: register ``fn`` as the ``backend`` implementation of kernel ``name``."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown kernel backend {backend!r}; expected one of {BACKENDS}")

    def decorator(fn: Callable) -> Callable:
        _kernels.setdefault(name, {})[backend] = fn
        return fn

    return decorator


def jit_enabled() -> bool:
    """False when either MINIBERT_DISABLE_JIT or NUMBA_DISABLE_JIT is set to a true value."""
    for var in ("MINIBERT_DISABLE_JIT", "NUMBA_DISABLE_JIT"):
        if os.environ.get(var, "0").strip().lower() not in ("", "0", "false", "no"):
            return False
    return True


def backend_for(array) -> str:
    """The backend whose kernels suit ``array``: NUMBA, CUPY or REFERENCE."""
    xp = get_xp(array)
    if xp.__name__ == "numpy":
        return NUMBA if jit_enabled() else REFERENCE
    if xp.__name__ == "cupy":
        return CUPY
    return REFERENCE


def get_kernel(name: str, array, backend: str | None = None) -> Callable:
    """The implementation of kernel ``name`` for ``array`` (or for an explicit ``backend``)."""
    try:
        implementations = _kernels[name]
    except KeyError:
        raise KeyError(f"no kernel named {name!r}; registered: {sorted(_kernels)}") from None
    wanted = backend if backend is not None else backend_for(array)
    if wanted in implementations:
        return implementations[wanted]
    if backend is not None:
        raise KeyError(f"kernel {name!r} has no {backend!r} implementation")
    return implementations[REFERENCE]


def available(name: str) -> tuple[str, ...]:
    """The backends that implement kernel ``name``."""
    return tuple(_kernels.get(name, {}))


def names() -> list[str]:
    """Every registered kernel name."""
    return sorted(_kernels)
