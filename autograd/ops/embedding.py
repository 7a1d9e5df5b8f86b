"""Embedding lookup: a gather forward, a scatter-add backward; and summed lookups with their
LayerNorm in one node (a transformer's input embeddings)."""

from __future__ import annotations

from collections.abc import Sequence

from autograd.backend import get_xp
from autograd.function import Function
from autograd.kernels import get_kernel
from autograd.ops.normalization import LayerNorm
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
    indices = _index_array(indices, weight, "embedding", "indices", "the table's")
    return Embedding.apply(weight, indices=indices, padding_idx=padding_idx)


def _index_array(indices, table: Tensor, op: str, what: str, whose: str):
    """``indices`` as an array of ``table``'s module, checked to be integers in [0, rows).

    ``op``, ``what`` and ``whose`` word the errors: "{op}: {what} must be integers" and
    "{op}: index 7 is outside {whose} 5 rows".
    """
    if isinstance(indices, Tensor):
        indices = indices.data
    else:
        indices = get_xp(table.data).asarray(indices)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"{op}: {what} must be integers, got {indices.dtype}")
    rows = table.shape[0]
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= rows):
        bad = int(indices.max()) if int(indices.max()) >= rows else int(indices.min())
        raise ValueError(f"{op}: index {bad} is outside {whose} {rows} rows")
    return indices


class EmbeddingLayerNorm(Function):
    """y = LayerNorm(tables[0][indices[0]] + tables[1][indices[1]] + ...): the input embeddings
    of a transformer (word + token type + position, then LayerNorm) as one node.

    Run as separate ops, each lookup writes a (..., D) array, each sum reads two and writes one,
    and the LayerNorm reads the last; the kernel gathers the rows and sums them in one pass,
    then normalizes the sum with the LayerNorm kernel. The sum s is kept (when a graph is
    recorded) for the backward, LayerNorm's: every table's gradient is dL/ds scattered back to
    the rows it looked up.
    """

    @staticmethod
    def forward(ctx, weight, bias, *tables, indices, padding_idx, eps):
        keep_sum = bool(ctx.inputs)  # a graph node is recorded: the backward will need s
        kernel = get_kernel("embedding_layer_norm_forward", tables[0])
        y, s, mean, rstd = kernel(tables, indices, weight, bias, eps, keep_sum)
        ctx.indices, ctx.padding_idx = indices, padding_idx
        ctx.table_rows = tuple(t.shape[0] for t in tables)
        return LayerNorm.keep(ctx, y, s, weight, bias, mean, rstd)

    @staticmethod
    def backward(ctx, grad_out):
        grad_s, grad_weight, grad_bias = LayerNorm.backward(ctx, grad_out)
        scatter = get_kernel("embedding_backward", grad_s)
        grad_tables = tuple(
            scatter(index, grad_s, rows, pad) if needed else None
            for index, rows, pad, needed in zip(
                ctx.indices, ctx.table_rows, ctx.padding_idx, ctx.needs_input_grad[2:], strict=True
            )
        )
        return (grad_weight, grad_bias, *grad_tables)


def embedding_layer_norm(
    indices: Sequence,
    tables: Sequence[Tensor],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
    padding_idx: Sequence[int | None] | None = None,
) -> Tensor:
    """``layer_norm(embedding(indices[0], tables[0]) + embedding(indices[1], tables[1]) + ...,
    weight, bias, eps)`` in one node, the sum taken left to right.

    Args:
        indices: one integer array (or Tensor) per table, all of one shape.
        tables: the embedding tables, all D wide.
        padding_idx: per table, a row that gets no gradient (or None); None: no such row.

    Shapes:
        indices (...) each; tables (V_k, D); weight and bias (D,); returns (..., D).
    """
    if not tables or len(indices) != len(tables):
        raise ValueError(
            f"embedding_layer_norm: {len(indices)} index arrays for {len(tables)} tables; "
            "give one index array per table (and at least one table)"
        )
    padding_idx = (None,) * len(tables) if padding_idx is None else tuple(padding_idx)
    if len(padding_idx) != len(tables):
        raise ValueError(
            f"embedding_layer_norm: {len(padding_idx)} padding_idx entries for {len(tables)} "
            "tables; give one per table (None where a table has none)"
        )
    dim = tables[0].shape[-1]
    arrays = []
    for k, (index, table) in enumerate(zip(indices, tables, strict=True)):
        if table.ndim != 2 or table.shape[1] != dim:
            raise ValueError(
                f"embedding_layer_norm: table {k} has shape {table.shape}, expected (rows, {dim})"
            )
        index = _index_array(index, table, "embedding_layer_norm", f"indices {k}", f"table {k}'s")
        if arrays and index.shape != arrays[0].shape:
            raise ValueError(
                f"embedding_layer_norm: indices {k} have shape {index.shape}, but indices 0 "
                f"have {arrays[0].shape}; broadcast them to one shape first"
            )
        arrays.append(index)
    for name, param in (("weight", weight), ("bias", bias)):
        if param is not None and param.shape != (dim,):
            raise ValueError(
                f"embedding_layer_norm: {name} has shape {param.shape}, expected ({dim},)"
            )
    return EmbeddingLayerNorm.apply(
        weight, bias, *tables, indices=tuple(arrays), padding_idx=padding_idx, eps=eps
    )
