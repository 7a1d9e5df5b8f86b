"""Scaled dot-product attention as one op, through the ``attention_*`` kernels of the registry."""

from __future__ import annotations

import math

import numpy as np

from autograd.backend import get_xp
from autograd.engine import is_grad_enabled
from autograd.function import Function
from autograd.kernels import get_kernel
from autograd.ops.dropout import Dropout, fused_dropout_seed
from autograd.ops.linalg import matmul
from autograd.ops.shape import swapaxes
from autograd.ops.softmax import softmax
from autograd.tensor import Tensor


def _attend(ctx, q, k, v, mask, scale, p, seed, need_weights):
    """The forward of both attention Functions: the ``attention_forward`` kernel, and what the
    backward reads saved when a graph is recorded (then the probabilities are kept even if not
    asked for). Returns (context (B, nh, Tq, hs), probabilities or None)."""
    records = bool(ctx.inputs)  # a graph node is recorded: the backward will run
    forward = get_kernel("attention_forward", q)
    context, probs = forward(q, k, v, mask, scale, p, seed, need_weights or records)
    if records:
        ctx.save_for_backward(q, k, v, probs)
        ctx.scale, ctx.p, ctx.seed = scale, p, seed
    return context, (probs if need_weights else None)


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
        return _attend(ctx, q, k, v, mask, scale, p, seed, need_weights)

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, probs = ctx.saved_arrays
        backward = get_kernel("attention_backward", grad_out)
        return backward(q, k, v, probs, grad_out, ctx.scale, ctx.p, ctx.seed)


class PackedSelfAttention(Function):
    r"""Self-attention on packed projections: ``qkv`` (B, T, 3H) holds Q, K and V side by side
    (the output of one linear layer with the three weight matrices stacked), and the context
    comes out with its heads merged, (B, T, H).

    Against three projections and ``ScaledDotProductAttention``: one product instead of three
    in each direction, one gradient for the input instead of three to add up, and no copies
    to split or merge the heads (the kernels read Q, K, V as strided views of ``qkv`` and write
    the context and the gradients in the merged layout).
    """

    extra_outputs = 1

    @staticmethod
    def forward(ctx, qkv, num_heads, mask, scale, p, seed, need_weights):
        B, T, three_h = qkv.shape
        hs = three_h // (3 * num_heads)
        heads = qkv.reshape(B, T, 3, num_heads, hs)  # (B, T, 3H) -> (B, T, 3, nh, hs)
        q, k, v = (heads[:, :, i].transpose(0, 2, 1, 3) for i in range(3))  # (B, nh, T, hs)
        context, probs = _attend(ctx, q, k, v, mask, scale, p, seed, need_weights)
        # (B, nh, T, hs) -> (B, T, nh, hs) -> (B, T, H): free when the kernel wrote (B, T, nh, hs)
        return context.transpose(0, 2, 1, 3).reshape(B, T, three_h // 3), probs

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, probs = ctx.saved_arrays
        B, nh, T, hs = q.shape
        xp = get_xp(grad_out)
        grad = grad_out.reshape(B, T, nh, hs).transpose(0, 2, 1, 3)  # (B, T, H) -> (B, nh, T, hs)
        grad_qkv = xp.empty((B, T, 3, nh, hs), dtype=grad_out.dtype)
        parts = tuple(grad_qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))  # (B, nh, T, hs)
        backward = get_kernel("attention_backward", grad_out)
        backward(q, k, v, probs, grad, ctx.scale, ctx.p, ctx.seed, out=parts)
        return grad_qkv.reshape(B, T, 3 * nh * hs)  # (B, T, 3, nh, hs) -> (B, T, 3H)


def _additive_mask(attn_mask, dtype):
    mask = attn_mask.data if isinstance(attn_mask, Tensor) else attn_mask
    return mask.astype(dtype) if mask is not None and mask.dtype != dtype else mask


def packed_self_attention(
    qkv: Tensor,
    num_heads: int,
    attn_mask=None,
    dropout_p: float = 0.0,
    scale: float | None = None,
    *,
    generator: np.random.Generator | None = None,
    need_weights: bool = False,
):
    r"""Multi-head self-attention from packed projections: ``scaled_dot_product_attention`` on
    the heads of Q, K and V, with the heads merged back.

    Args:
        qkv: (B, T, 3H), the concatenation [Q | K | V] along the features (one ``linear`` with
            the three weights stacked along their output axis).
        num_heads: nh; each head has hs = H / nh features.
        attn_mask, dropout_p, scale, generator, need_weights: as in
            ``scaled_dot_product_attention``.

    Returns:
        The context (B, T, H), or (context, probabilities (B, nh, T, T)) with ``need_weights``.
    """
    if qkv.ndim != 3 or qkv.shape[-1] % (3 * num_heads):
        raise ValueError(
            f"packed_self_attention: qkv must be (B, T, 3H) with H divisible by num_heads="
            f"{num_heads}; got {qkv.shape}"
        )
    B, T, three_h = qkv.shape
    H = three_h // 3
    hs = H // num_heads
    scale = 1.0 / math.sqrt(hs) if scale is None else float(scale)
    if need_weights and is_grad_enabled() and qkv.requires_grad:
        # differentiable weights: through the heads as separate views and the separate ops
        heads = qkv.reshape(B, T, 3, num_heads, hs).permute(2, 0, 3, 1, 4)  # (3, B, nh, T, hs)
        context, weights = scaled_dot_product_attention(
            heads[0], heads[1], heads[2], attn_mask, dropout_p, scale,
            generator=generator, need_weights=True,
        )  # fmt: skip
        return context.permute(0, 2, 1, 3).reshape(B, T, H), weights  # (B, nh, T, hs) -> (B, T, H)
    seed = fused_dropout_seed(dropout_p, generator, "packed_self_attention")
    context, weights = PackedSelfAttention.apply(
        qkv, num_heads=num_heads, mask=_additive_mask(attn_mask, qkv.dtype), scale=scale,
        p=float(dropout_p), seed=seed, need_weights=need_weights,
    )  # fmt: skip
    return (context, weights) if need_weights else context


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
    seed = fused_dropout_seed(dropout_p, generator, "scaled_dot_product_attention")
    mask = _additive_mask(attn_mask, query.dtype)
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
