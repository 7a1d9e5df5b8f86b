"""Multi-head self-attention, and the residual block around it."""

from __future__ import annotations

import math

import autograd as ag
from autograd import nn
from autograd.nn import functional as F
from minibert.config import BertConfig


def draws_own_masks(dropout: nn.Dropout) -> bool:
    """Whether ``dropout`` will drop with masks it draws its own way (a subclass, such as data
    parallelism's ``RowShardedDropout``): then it must run as a layer between separate ops,
    since the fused ops hash the stock dropout's masks themselves."""
    return type(dropout) is not nn.Dropout and dropout.training and dropout.p > 0


def attend(q, k, v, mask, dropout: nn.Dropout, output_attentions: bool):
    r"""softmax(Q K^T / \sqrt{hs} + M), ``dropout``, then @ V: the core of every attention layer.

    One fused op (``autograd.nn.functional.scaled_dot_product_attention``) with the dropout
    layer's probability and generator; it returns differentiable probabilities when they are
    wanted in grad mode. A dropout layer that draws its masks its own way (data parallelism's
    ``RowShardedDropout``) is applied as a layer between separate ops instead.

    Shapes:
        q (B, nh, Tq, hs), k and v (B, nh, Tk, hs), mask broadcasting to (B, nh, Tq, Tk);
        returns the context (B, nh, Tq, hs) and the probabilities (B, nh, Tq, Tk) or None.
    """
    scale = 1.0 / math.sqrt(q.shape[-1])
    dropout_p = dropout.p if dropout.training else 0.0
    if draws_own_masks(dropout):
        probs = F.softmax(q @ k.swapaxes(-1, -2), scale=scale, mask=mask)  # (B, nh, Tq, Tk)
        return dropout(probs) @ v, (probs if output_attentions else None)
    generator = dropout.generator if dropout_p > 0 else None
    attended = F.scaled_dot_product_attention(
        q, k, v, mask, dropout_p, scale, generator=generator, need_weights=output_attentions
    )
    return attended if output_attentions else (attended, None)


class BertSelfAttention(nn.Module):
    r"""Scaled dot-product attention in ``nh`` heads.

    Each head projects the hidden states to queries, keys and values of size hs = H / nh and
    computes softmax(Q K^T / \sqrt{hs} + M) V, with M the additive mask (0 to attend, a very
    negative number for padding or future positions). The heads' outputs are concatenated.

    Args:
        config: the model's ``BertConfig``; generator, dropout_generator as in ``BertEmbeddings``.

    Shapes:
        hidden_states (B, T, H); mask broadcasting to (B, nh, T, T);
        returns the context (B, T, H) and the attention probabilities (B, nh, T, T), or None
        when ``output_attentions`` is False. Q, K and V come from one product and attention is
        one op (``autograd.nn.functional.packed_self_attention``); the probabilities are
        differentiable when they are asked for in grad mode.
    """

    def __init__(self, config: BertConfig, generator, dropout_generator):
        super().__init__()
        H = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_size = config.head_size
        self.query = nn.Linear(H, H, generator=generator)
        self.key = nn.Linear(H, H, generator=generator)
        self.value = nn.Linear(H, H, generator=generator)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob, generator=dropout_generator)

    def packed_projection(self, hidden_states):
        """Q, K and V in one product, the three weight matrices stacked: (B, T, H) -> (B, T, 3H).

        ``query``, ``key`` and ``value`` stay separate layers (their names are the checkpoint's);
        stacking their weights costs a (3H, H) copy, and saves two products in each direction.
        """
        weight = ag.concatenate([self.query.weight, self.key.weight, self.value.weight])  # (3H, H)
        bias = ag.concatenate([self.query.bias, self.key.bias, self.value.bias])  # (3H,)
        return F.linear(hidden_states, weight, bias)

    def forward(self, hidden_states, mask=None, output_attentions=True):
        B, T, H = hidden_states.shape
        qkv = self.packed_projection(hidden_states)  # (B, T, 3H)
        dropout_p = self.dropout.p if self.training else 0.0
        if draws_own_masks(self.dropout):  # applied between separate ops: see ``attend``
            heads = qkv.reshape(B, T, 3, self.num_heads, self.head_size)  # (B, T, 3, nh, hs)
            heads = heads.permute(2, 0, 3, 1, 4)  # (B, T, 3, nh, hs) -> (3, B, nh, T, hs)
            context, probs = attend(
                heads[0], heads[1], heads[2], mask, self.dropout, output_attentions
            )
            return context.permute(0, 2, 1, 3).reshape(B, T, H), probs  # -> (B, T, nh, hs)
        attended = F.packed_self_attention(
            qkv, self.num_heads, mask, dropout_p, 1.0 / math.sqrt(self.head_size),
            generator=self.dropout.generator if dropout_p > 0 else None,
            need_weights=output_attentions,
        )  # (B, T, H), and the probabilities (B, nh, T, T) when asked  # fmt: skip
        return attended if output_attentions else (attended, None)


def residual_block(
    dense: nn.Linear, dropout: nn.Dropout, norm: nn.LayerNorm, x, residual, rows=None
):
    """LayerNorm(residual + dropout(dense(x))): the post-LN residual block of BERT's layers.

    One op (``autograd.nn.functional.add_layer_norm``) adds the dense layer's bias, drops out,
    adds the residual and normalizes in one pass over the rows; the product runs without its
    bias. A dropout layer that draws its masks its own way (data parallelism's
    ``RowShardedDropout``) is applied as a layer instead.

    ``rows``: x and residual are these rows (flat indices b * T + t) of the (B, T, ...) tensors
    alone; each drops what it would in the whole batch (``add_layer_norm``'s dropout_rows).

    Shapes:
        x (B, T, in), residual (B, T, H); returns (B, T, H). With rows (R,): x (R, in),
        residual (R, H); returns (R, H).
    """
    if draws_own_masks(dropout):
        if rows is not None:
            raise ValueError(
                f"{type(dropout).__name__} draws one mask for the whole batch, so it cannot "
                "drop some rows alone: run this layer on every position (rows=None)"
            )
        projected = dropout(dense(x))  # (B, T, in) -> (B, T, H)
        return F.add_layer_norm(projected, residual, norm.weight, norm.bias, eps=norm.eps)
    p = dropout.p if dropout.training else 0.0
    projected = F.linear(x, dense.weight)  # (B, T, in) -> (B, T, H)
    # projected is a fresh array that only this block holds: in inference the normalized rows
    # go back over it (see add_layer_norm's inplace) instead of into a new array.
    inplace = not ag.will_record(projected, residual, norm.weight, norm.bias, dense.bias)
    return F.add_layer_norm(
        projected, residual, norm.weight, norm.bias, eps=norm.eps, x_bias=dense.bias,
        dropout_p=p, generator=dropout.generator if p > 0 else None, dropout_rows=rows,
        inplace=inplace,
    )  # fmt: skip


class BertSelfOutput(nn.Module):
    """Project the attention context, then the post-LN residual: LayerNorm(x + dropout(W c + b)).

    Shapes:
        hidden_states (B, T, H), input_tensor (B, T, H); returns (B, T, H). With ``rows`` (R,)
        (see ``residual_block``): (R, H) each.
    """

    def __init__(self, config: BertConfig, generator, dropout_generator):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size, generator=generator)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob, generator=dropout_generator)

    def forward(self, hidden_states, input_tensor, rows=None):
        dense, dropout, norm = self.dense, self.dropout, self.LayerNorm
        return residual_block(dense, dropout, norm, hidden_states, input_tensor, rows)


class BertAttention(nn.Module):
    """Self-attention plus its output block (``attention.self`` and ``attention.output``).

    ``rows`` (flat indices into the B * T positions) keeps only those positions after the
    self-attention, which still reads every position as keys and values: the output block then
    runs on R rows instead of B * T (see ``BertModel``'s ``output_positions``).

    Shapes:
        hidden_states (B, T, H), rows (R,) or None; returns (B, T, H), or (R, H) with rows, and
        probabilities (B, nh, T, T) or None.
    """

    def __init__(self, config: BertConfig, generator, dropout_generator):
        super().__init__()
        self.self = BertSelfAttention(config, generator, dropout_generator)
        self.output = BertSelfOutput(config, generator, dropout_generator)

    def forward(self, hidden_states, mask=None, output_attentions=True, rows=None):
        context, probs = self.self(hidden_states, mask, output_attentions)
        if rows is not None:
            H = hidden_states.shape[-1]
            context = context.reshape(-1, H)[rows]  # (B, T, H) -> (B*T, H) -> (R, H)
            hidden_states = hidden_states.reshape(-1, H)[rows]  # the residual's same rows
        return self.output(context, hidden_states, rows), probs
