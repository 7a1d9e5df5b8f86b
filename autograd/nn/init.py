"""In-place parameter initializers, as ``torch.nn.init``.

Each writes into ``tensor.data`` (so the array object, its dtype and its device stay the same and
every reference to the parameter sees the new values) and returns the tensor. Random ones draw
from an explicit ``numpy.random.Generator``; None means the seeded default generator
(``autograd.random``), so initialization is reproducible either way.
"""

from __future__ import annotations

import numpy as np

from autograd import random
from autograd.backend import get_xp
from autograd.tensor import Tensor


def _fill(tensor: Tensor, values) -> Tensor:
    # The numbers are drawn on the host (NumPy generators), so a seed gives the same weights on
    # CPU and GPU; moving them to a GPU array is explicit here.
    data = tensor.data
    if not isinstance(data, np.ndarray):
        values = get_xp(data).asarray(values)
    data[...] = values
    return tensor


def normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    generator: np.random.Generator | None = None,
) -> Tensor:
    """Fill with draws from N(mean, std^2)."""
    rng = random.resolve(generator)
    return _fill(tensor, rng.normal(mean, std, size=tensor.shape).astype(tensor.dtype))


def uniform_(
    tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: np.random.Generator | None = None
) -> Tensor:
    """Fill with draws from U(a, b)."""
    rng = random.resolve(generator)
    return _fill(tensor, rng.uniform(a, b, size=tensor.shape).astype(tensor.dtype))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    tensor.data[...] = val
    return tensor


def zeros_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1.0)
