r"""The decoder block: causal self-attention with a key/value cache, cross-attention over encoder
states, and BERT's feed-forward block, each in a post-LN residual as in the encoder.

A decoder predicts token t+1 from tokens 0..t, so position t must not see later positions: the
causal mask. Generating n tokens one at a time would then recompute the keys and values of the
whole prefix at every step (n full passes, O(n^2) work per layer); the **key/value cache** keeps
each layer's keys and values of the positions already seen, so a step runs the new token only
and attends to the cached keys: one incremental step per token.

Parameter names are transformers' for a BERT layer with ``add_cross_attention``
(``attention.self.query``, ``crossattention.output.LayerNorm``, ``intermediate.dense``, ...).
"""

from __future__ import annotations

import autograd as ag
from autograd import Tensor, nn
from minibert.modeling.attention import BertSelfOutput, attend
from minibert.modeling.decoder_config import DecoderConfig
from minibert.modeling.layer import BertIntermediate, BertOutput


def causal_attention_mask(attention_mask, query_length: int, past_length: int, dtype, xp):
    r"""The additive mask of decoder self-attention: query i (at position past_length + i) may
    see key j when j <= past_length + i and key j is not padding.

    Its value is 0 where a query may look and the dtype's minimum where not (finite, as in
    ``additive_attention_mask``, so a row with nothing to see stays NaN-free).

    Args:
        attention_mask: (B, past_length + query_length) of 1 (token) and 0 (padding), or None.

    Shapes:
        returns (1, 1, Tq, Tk) without a padding mask, (B, 1, Tq, Tk) with one, where
        Tq = query_length and Tk = past_length + query_length.
    """
    key_length = past_length + query_length
    query_positions = past_length + xp.arange(query_length)[:, None]  # (Tq, 1)
    keep = (xp.arange(key_length)[None, :] <= query_positions)[None, None]  # (1, 1, Tq, Tk)
    if attention_mask is not None:
        if tuple(attention_mask.shape[1:]) != (key_length,):
            raise ValueError(
                f"attention_mask covers {attention_mask.shape[1]} positions but the cache holds "
                f"{past_length} and the input {query_length}; pass the mask of the whole sequence"
            )
        keep = keep & attention_mask.astype(bool)[:, None, None, :]  # (B, 1, Tq, Tk)
    return xp.where(keep, 0.0, xp.finfo(dtype).min).astype(dtype)


class DecoderSelfAttention(nn.Module):
    r"""Multi-head attention whose keys and values come from the input itself (causal
    self-attention) or from encoder states (cross-attention), with an optional cache.

    softmax(Q K^T / \sqrt{hs} + M) V per head, as ``BertSelfAttention``. For self-attention the
    cache holds the keys and values of earlier positions and the new ones are appended; for
    cross-attention the keys and values depend on the encoder states only, so they are computed
    at the first step and reused unchanged.

    Args:
        config: a ``DecoderConfig``; generator, dropout_generator as in ``BertEmbeddings``.
        is_cross_attention: read keys and values from ``key_value_states``.

    Shapes:
        hidden_states (B, Tq, H); key_value_states (B, S, He) for cross-attention; mask
        broadcasting to (B, nh, Tq, Tk); past_key_value two (B, nh, Tp, hs) tensors;
        returns the context (B, Tq, H), the probabilities (B, nh, Tq, Tk) (None when
        ``output_attentions`` is False) and, with
        ``use_cache``, the keys and values to cache (two (B, nh, Tk, hs) tensors), where
        Tk = Tp + Tq for self-attention and S for cross-attention.
    """

    def __init__(
        self, config: DecoderConfig, generator, dropout_generator, is_cross_attention=False
    ):
        super().__init__()
        H = config.hidden_size
        source = (config.encoder_hidden_size or H) if is_cross_attention else H
        self.is_cross_attention = is_cross_attention
        self.num_heads, self.head_size = config.num_attention_heads, config.head_size
        self.query = nn.Linear(H, H, generator=generator)
        self.key = nn.Linear(source, H, generator=generator)
        self.value = nn.Linear(source, H, generator=generator)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob, generator=dropout_generator)

    def split_heads(self, x: Tensor) -> Tensor:
        B, T, _ = x.shape
        x = x.reshape(B, T, self.num_heads, self.head_size)  # (B, T, H) -> (B, T, nh, hs)
        return x.permute(0, 2, 1, 3)  # (B, T, nh, hs) -> (B, nh, T, hs)

    def forward(
        self,
        hidden_states,
        mask=None,
        key_value_states=None,
        past_key_value=None,
        use_cache=False,
        output_attentions=True,
    ):
        B, T, H = hidden_states.shape
        q = self.split_heads(self.query(hidden_states))  # (B, nh, Tq, hs)
        if self.is_cross_attention and past_key_value is not None:
            k, v = past_key_value  # the encoder states do not change between steps
        else:
            source = key_value_states if self.is_cross_attention else hidden_states
            if source is None:
                raise ValueError("cross-attention needs encoder_hidden_states (B, S, H)")
            k = self.split_heads(self.key(source))  # (B, nh, Tk, hs)
            v = self.split_heads(self.value(source))  # (B, nh, Tk, hs)
            if past_key_value is not None:
                k = ag.concatenate([past_key_value[0], k], axis=2)  # (B, nh, Tp + Tq, hs)
                v = ag.concatenate([past_key_value[1], v], axis=2)  # (B, nh, Tp + Tq, hs)
        context, probs = attend(q, k, v, mask, self.dropout, output_attentions)
        context = context.permute(0, 2, 1, 3)  # (B, nh, Tq, hs) -> (B, Tq, nh, hs)
        context = context.reshape(B, T, H)  # (B, Tq, nh, hs) -> (B, Tq, H)
        return context, probs, ((k, v) if use_cache else None)


class DecoderAttention(nn.Module):
    """Attention plus BERT's output block: LayerNorm(x + dropout(W context + b)).

    Shapes:
        hidden_states (B, Tq, H); returns (B, Tq, H), the probabilities (B, nh, Tq, Tk) and the
        cache entry (see ``DecoderSelfAttention``).
    """

    def __init__(self, config, generator, dropout_generator, is_cross_attention=False):
        super().__init__()
        self.self = DecoderSelfAttention(config, generator, dropout_generator, is_cross_attention)
        self.output = BertSelfOutput(config, generator, dropout_generator)

    def forward(
        self,
        hidden_states,
        mask=None,
        key_value_states=None,
        past_key_value=None,
        use_cache=False,
        output_attentions=True,
    ):
        context, probs, present = self.self(
            hidden_states, mask, key_value_states, past_key_value, use_cache, output_attentions
        )
        return self.output(context, hidden_states), probs, present


class DecoderLayer(nn.Module):
    """Causal self-attention, then (with ``add_cross_attention``) cross-attention over the
    encoder states, then the feed-forward block; each is a post-LN residual.

    Args:
        config: a ``DecoderConfig``; generator, dropout_generator as in ``BertEmbeddings``.

    Shapes:
        hidden_states (B, Tq, H); self_mask broadcasting to (B, nh, Tq, Tp + Tq);
        encoder_hidden_states (B, S, He); cross_mask broadcasting to (B, nh, Tq, S);
        past_key_value: this layer's cache, 2 tensors (B, nh, Tp, hs) (self-attention) and, with
        cross-attention, 2 more (B, nh, S, hs);
        returns (B, Tq, H), the self-attention probabilities (B, nh, Tq, Tp + Tq), the
        cross-attention probabilities (B, nh, Tq, S) or None, and the new cache or None.
    """

    def __init__(self, config: DecoderConfig, generator, dropout_generator):
        super().__init__()
        self.attention = DecoderAttention(config, generator, dropout_generator)
        if config.add_cross_attention:
            self.crossattention = DecoderAttention(
                config, generator, dropout_generator, is_cross_attention=True
            )
        else:
            self.crossattention = None
        self.intermediate = BertIntermediate(config, generator)
        self.output = BertOutput(config, generator, dropout_generator)

    def forward(
        self,
        hidden_states,
        self_mask=None,
        encoder_hidden_states=None,
        cross_mask=None,
        past_key_value=None,
        use_cache=False,
        output_attentions=True,
    ):
        past = past_key_value or (None, None, None, None)
        self_past = (past[0], past[1]) if past[0] is not None else None
        hidden, self_probs, present = self.attention(
            hidden_states,
            self_mask,
            past_key_value=self_past,
            use_cache=use_cache,
            output_attentions=output_attentions,
        )
        cross_probs = None
        if self.crossattention is not None:
            cross_past = (past[2], past[3]) if past[2] is not None else None
            hidden, cross_probs, cross_present = self.crossattention(
                hidden, cross_mask, encoder_hidden_states, cross_past, use_cache, output_attentions
            )
            if use_cache:
                present = present + cross_present
        hidden = self.output(self.intermediate(hidden), hidden)
        return hidden, self_probs, cross_probs, present


class DecoderEmbeddings(nn.Module):
    """Token plus learned position embeddings, then LayerNorm and dropout (BERT's embeddings
    without token types).

    Shapes:
        input_ids (B, T) integers; position_ids (B, T) or (1, T); returns (B, T, H).
    """

    def __init__(self, config: DecoderConfig, generator, dropout_generator):
        super().__init__()
        H = config.hidden_size
        self.word_embeddings = nn.Embedding(
            config.vocab_size, H, padding_idx=config.pad_token_id, generator=generator
        )
        self.position_embeddings = nn.Embedding(
            config.max_position_embeddings, H, generator=generator
        )
        self.LayerNorm = nn.LayerNorm(H, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob, generator=dropout_generator)

    def forward(self, input_ids, position_ids):
        embeddings = self.word_embeddings(input_ids) + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))  # (B, T, H)
