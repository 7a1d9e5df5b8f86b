"""Which array module (NumPy or CuPy) an array belongs to.

The rule of the whole engine: the array module is taken from the array. Code that creates a new
array asks ``get_xp(existing_array)`` for the module and never calls ``numpy`` directly, so the
same op runs on CPU (NumPy) or GPU (CuPy) arrays, and nothing silently converts between them.
"""

from __future__ import annotations

import numpy as np


def get_xp(x):
    """Return the array module (``numpy`` or ``cupy``) that owns array ``x``.

    Arrays that are neither NumPy nor CuPy but implement the array API standard
    (``__array_namespace__``) get their own namespace, which lets the tests run every op on a
    strict stand-in for a device array.
    """
    if isinstance(x, (np.ndarray, np.generic)):
        return np
    if type(x).__module__.partition(".")[0] == "cupy":
        import cupy  # only reached when the caller already holds a CuPy array

        return cupy
    namespace = getattr(x, "__array_namespace__", None)
    if namespace is not None:
        return namespace()
    raise TypeError(f"expected a NumPy or CuPy array, got {type(x).__name__}")


def is_floating(dtype) -> bool:
    """True for float16/32/64 (the only dtypes that may carry gradients)."""
    return np.dtype(dtype).kind == "f"
