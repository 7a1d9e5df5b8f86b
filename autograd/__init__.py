"""autograd: a small reverse-mode automatic differentiation engine on n-d arrays.

    import autograd as ag
    x = ag.tensor([[1.0, 2.0]], requires_grad=True)
    loss = (x @ x.T).sum()
    loss.backward()          # x.grad == 2 * x

Modules: ``tensor`` (Tensor), ``function`` (Function, Context), ``engine`` (backward, no_grad),
``ops`` (the differentiable operations), ``kernels`` (array kernels behind one registry),
``gradcheck``, ``testing`` (hypothesis strategies), ``nn``, ``optim``.
"""

# First: settings that must be made before NumPy and Numba load their libraries.
from autograd import _environment  # noqa: F401, I001  (configures on import)
from autograd import kernels  # noqa: F401  (registers the kernels before any op runs)
from autograd.backend import get_xp
from autograd.engine import enable_grad, is_grad_enabled, no_grad, will_record
from autograd.function import Context, Function
from autograd.gradcheck import GradcheckError, gradcheck
from autograd.ops import (
    broadcast_to,
    concatenate,
    cross_entropy,
    dropout,
    embedding,
    exp,
    gelu,
    layer_norm,
    log,
    log_softmax,
    masked_fill,
    matmul,
    max,
    mean,
    permute,
    relu,
    reshape,
    sigmoid,
    softmax,
    sqrt,
    stack,
    sum,
    swapaxes,
    tanh,
    var,
    where,
)
from autograd.random import manual_seed
from autograd.tensor import Tensor


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """Make a tensor (as ``torch.tensor``); see ``Tensor`` for how ``data`` is converted."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def zeros(*shape, dtype="float32", requires_grad: bool = False) -> Tensor:
    import numpy as np

    shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Tensor(np.zeros(shape, dtype=dtype), requires_grad=requires_grad)


def ones(*shape, dtype="float32", requires_grad: bool = False) -> Tensor:
    import numpy as np

    shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Tensor(np.ones(shape, dtype=dtype), requires_grad=requires_grad)


__all__ = [
    "Context", "Function", "GradcheckError", "Tensor", "broadcast_to", "concatenate",
    "cross_entropy", "dropout", "embedding", "enable_grad", "exp", "gelu", "get_xp", "gradcheck",
    "is_grad_enabled", "layer_norm", "log", "log_softmax", "manual_seed", "masked_fill", "matmul",
    "max", "mean", "no_grad", "ones", "permute", "relu", "reshape", "sigmoid", "softmax", "sqrt",
    "stack", "sum", "swapaxes", "tanh", "tensor", "var", "where", "will_record", "zeros",
]  # fmt: skip

# The building blocks come last: they are built on everything above.
from autograd import nn, optim  # noqa: E402,F401
