"""Embedding lookup: a gather forward, a scatter-add backward."""

from __future__ import annotations

from autograd.backend import get_xp
from autograd.function import Function
from autograd.kernels import get_kernel
from autograd.tensor import Tensor


class Embedding(Function):
    """out[..., :] = weight[indices[...], :]; each row's gradient is the sum over its uses."""

    @staticmethod
    def forward(ctx, weight, indices, padding_idx):
        ctx.indices, ctx.num_embeddings, ctx.padding_idx = indices, weight.shape[0], padding_idx
        return get_xp(weight).take(weight, indices, axis=0)

    @staticmethod
    def backward(ctx, grad_out):
        kernel = get_kernel("embedding_backward", grad_out)
        return kernel(ctx.indices, grad_out, ctx.num_embeddings, ctx.padding_idx)


def embedding(indices, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` picked by integer ``indices`` (PyTorch's argument order).

    Args:
        padding_idx: this row gets no gradient (it stays what it was initialized to).

    Shapes:
        indices (...) integers in [0, V); weight (V, D); returns (..., D).
    """
    indices = indices.data if isinstance(indices, Tensor) else get_xp(weight.data).asarray(indices)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got {indices.dtype}")
    num_embeddings = weight.shape[0]
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= num_embeddings):
        bad = int(indices.max()) if int(indices.max()) >= num_embeddings else int(indices.min())
        raise ValueError(f"embedding: index {bad} is outside the table's {num_embeddings} rows")
    return Embedding.apply(weight, indices=indices, padding_idx=padding_idx)
