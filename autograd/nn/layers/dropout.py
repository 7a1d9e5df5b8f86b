"""``Dropout``: random zeroing during training, identity during evaluation."""

from __future__ import annotations

import numpy as np

from autograd import random
from autograd.nn.functional import dropout
from autograd.nn.module import Module


class Dropout(Module):
    """Zero each element with probability ``p`` in training and scale the rest by 1 / (1 - p).

    The scaling keeps every element's expected value, so ``eval()`` mode is the identity.

    Args:
        p: the drop probability, in [0, 1].
        generator: the ``numpy.random.Generator`` the masks come from. None follows the default
            generator *at each call*, so ``autograd.manual_seed`` run after building the model
            still governs the masks, as ``torch.manual_seed`` does. Assign
            ``layer.generator = np.random.default_rng(seed)`` to reseed one layer.

    Returns:
        ``forward(x)``: the tensor with dropout applied.

    Shapes:
        x (...) -> (...), the same shape.
    """

    def __init__(self, p: float = 0.5, *, generator: np.random.Generator | None = None):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.generator = generator

    @property
    def generator(self) -> np.random.Generator:
        """The generator the next mask is drawn from (``autograd.random.resolve`` of the one
        given, so never None)."""
        return random.resolve(self._generator)

    @generator.setter
    def generator(self, generator: np.random.Generator | None) -> None:
        if generator is not None:
            random.resolve(generator)  # type check now, not at the first forward
        self._generator = generator

    def forward(self, x):
        return dropout(x, self.p, self.generator, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
