"""Kernels: the array-level computations behind the ops, each behind one registry.

Importing this package registers the plain reference twins (``reference.py``); faster
implementations register themselves under the same names from their own modules.
"""

from autograd.kernels import (  # noqa: F401  (importing a module registers its kernels)
    allocator,  # glibc keeps freed array memory for reuse (see allocator.py)
    numba_accumulate,
    numba_adamw,
    numba_attention,
    numba_cross_entropy,
    numba_dropout,
    numba_embedding,
    numba_gelu,
    numba_layernorm,
    numba_linear,
    numba_matmul,
    numba_softmax,
    reference,
)
from autograd.kernels.reference import dropout_seed
from autograd.kernels.registry import (
    BACKENDS,
    available,
    backend_for,
    get_kernel,
    jit_enabled,
    names,
    register,
)

__all__ = [
    "BACKENDS", "available", "backend_for", "dropout_seed", "get_kernel", "jit_enabled", "names",
    "register",
]  # fmt: skip
