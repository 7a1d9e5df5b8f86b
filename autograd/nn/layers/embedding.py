"""``Embedding``: a lookup table of learned vectors, one row per token id."""

from __future__ import annotations

import numpy as np

from autograd import random
from autograd.nn import init
from autograd.nn.functional import embedding
from autograd.nn.module import Module
from autograd.nn.parameter import Parameter


class Embedding(Module):
    """Row ``i`` of ``weight`` is the vector of id ``i``; initialized N(0, 1) as in PyTorch.

    Args:
        num_embeddings: how many ids (the vocabulary size V).
        embedding_dim: the vector size D.
        padding_idx: this row starts at zero and never gets a gradient, so padding tokens keep
            a zero vector; negative values count from the end, as in PyTorch.
        generator: the ``numpy.random.Generator`` for the initial table (None: the default).
        dtype: the table's dtype.

    Returns:
        ``forward(indices)``: the looked-up vectors.

    Shapes:
        indices (...) integers in [0, V) -> (..., D); weight (V, D).
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        *,
        generator: np.random.Generator | None = None,
        dtype=np.float32,
    ):
        super().__init__()
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(
                    f"padding_idx {padding_idx} is outside the table's {num_embeddings} rows"
                )
            padding_idx %= num_embeddings
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.weight = Parameter(np.empty((num_embeddings, embedding_dim), dtype=dtype))
        self.reset_parameters(generator)

    def reset_parameters(self, generator: np.random.Generator | None = None) -> None:
        init.normal_(self.weight, generator=random.resolve(generator))
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, indices):
        return embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        return text if self.padding_idx is None else f"{text}, padding_idx={self.padding_idx}"
