"""Scaled dot-product attention as one op, through the ``attention_*`` kernels of the registry."""

from __future__ import annotations

import math

import numpy as np

from autograd.engine import is_grad_enabled
from autograd.function import Function
from autograd.kernels import dropout_seed, get_kernel
from autograd.ops.dropout import Dropout
from autograd.ops.linalg import matmul
from autograd.ops.shape import swapaxes
from autograd.ops.softmax import softmax
from autograd.tensor import Tensor


class ScaledDotProductAttention(Function):
    r"""C = dropout(softmax(Q K^T * scale + M)) V, with P = softmax(...) as an extra output
    (a constant: no gradient flows back through P).

    One node instead of five (two products, softmax, dropout, and the engine's bookkeeping of
    each): the backward needs only Q, K, V, P and the dropout seed, and P is the one (Tq, Tk)
    array kept per head (the separate ops also keep the dropped copy of P for the product).
    The gradients are those of ``reference.attention_backward``.
    """

    extra_outputs = 1

    @staticmethod
    def forward(ctx, q, k, v, mask, scale, p, seed, need_weights):
        records = is_grad_enabled() and any(ctx.needs_input_grad)
        forward = get_kernel("attention_forward", q)
        context, probs = forward(q, k, v, mask, scale, p, seed, need_weights or records)
        if records:
            ctx.save_for_backward(q, k, v, probs)
            ctx.scale, ctx.p, ctx.seed = scale, p, seed
        return context, (probs if need_weights else None)

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, probs = ctx.saved_arrays
        backward = get_kernel("attention_backward", grad_out)
        return backward(q, k, v, probs, grad_out, ctx.scale, ctx.p, ctx.seed)


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask=None,
    dropout_p: float = 0.0,
    scale: float | None = None,
    *,
    generator: np.random.Generator | None = None,
    need_weights: bool = False,
):
    r"""softmax(Q K^T * scale + mask) V, as ``torch.nn.functional.scaled_dot_product_attention``.

    Args:
        query, key, value: (..., Tq, hs), (..., Tk, hs) and (..., Tk, hs), the same leading axes.
        attn_mask: an additive array or tensor broadcasting to (..., Tq, Tk): 0 to attend, a
            large negative number or -inf not to. Not differentiated.
        dropout_p: dropout on the probabilities, in [0, 1); pass 0 in evaluation.
        scale: multiplies the scores; None is 1 / sqrt(hs).
        generator: the ``numpy.random.Generator`` the dropout mask is drawn from (one draw per
            call), needed when ``dropout_p > 0``.
        need_weights: also return the probabilities (before dropout). Under grad mode with
            inputs that require grad they are differentiable, computed by separate ops (a loss
            may use them); otherwise the fused op returns them as a constant tensor.

    Returns:
        The context (..., Tq, hs), or (context, probabilities (..., Tq, Tk)) with
        ``need_weights``.
    """
    if query.ndim < 2 or key.shape != value.shape or query.shape[:-2] != key.shape[:-2]:
        raise ValueError(
            "scaled_dot_product_attention: query (..., Tq, hs), key and value (..., Tk, hs) with "
            f"the same leading axes; got {query.shape}, {key.shape}, {value.shape}"
        )
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(
            f"scaled_dot_product_attention: query has {query.shape[-1]} features per head but "
            f"key has {key.shape[-1]}"
        )
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(
            f"scaled_dot_product_attention: dropout_p must be in [0, 1), got {dropout_p}"
        )
    seed = 0
    if dropout_p > 0.0:
        if not isinstance(generator, np.random.Generator):
            raise TypeError(
                "scaled_dot_product_attention: dropout needs a numpy.random.Generator "
                "(generator=np.random.default_rng(seed))"
            )
        seed = dropout_seed(generator)
    mask = attn_mask.data if isinstance(attn_mask, Tensor) else attn_mask
    if mask is not None and mask.dtype != query.dtype:
        mask = mask.astype(query.dtype)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    if need_weights and is_grad_enabled() and any(t.requires_grad for t in (query, key, value)):
        # Weights that a loss may use need their own gradient: the same computation as separate
        # ops (the same numbers, the same dropout mask from the same one draw), differentiable
        # through both outputs.
        weights = softmax(matmul(query, swapaxes(key, -1, -2)), scale=scale, mask=mask)
        dropped = weights
        if dropout_p > 0.0:
            dropped = Dropout.apply(weights, p=float(dropout_p), seed=seed)
        return matmul(dropped, value), weights  # (..., Tq, Tk) @ (..., Tk, hs)
    context, weights = ScaledDotProductAttention.apply(
        query, key, value, mask=mask, scale=scale, p=float(dropout_p), seed=seed,
        need_weights=need_weights,
    )  # fmt: skip
    return (context, weights) if need_weights else context
