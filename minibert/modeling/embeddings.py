"""BERT's input embeddings: word + position + token type, then LayerNorm and dropout."""

from __future__ import annotations

import math

import numpy as np

from autograd import Tensor, get_xp, nn
from autograd.nn import functional as F
from minibert.config import BertConfig


def sinusoidal_table(num_positions: int, dim: int, dtype=np.float32) -> np.ndarray:
    r"""The fixed position table of "Attention Is All You Need".

    PE[p, 2i] = \sin(p / 10000^{2i/d}), PE[p, 2i+1] = \cos(p / 10000^{2i/d}): every dimension
    pair is a sinusoid of its own wavelength, so a relative offset is a linear map of the table.

    Shapes:
        returns (num_positions, dim).
    """
    positions = np.arange(num_positions, dtype=np.float64)[:, None]  # (P, 1)
    frequencies = np.exp(-math.log(10000.0) * np.arange(0, dim, 2) / dim)  # (ceil(d/2),)
    table = np.zeros((num_positions, dim))
    table[:, 0::2] = np.sin(positions * frequencies)
    table[:, 1::2] = np.cos(positions * frequencies[: dim // 2])
    return table.astype(dtype)


class BertEmbeddings(nn.Module):
    """Sum of three embeddings, normalized.

    Args:
        config: the model's ``BertConfig``.
        generator: draws the initial weights; dropout_generator: draws dropout masks.

    ``inputs_embeds``, when given, stands in for ``word_embeddings(input_ids)`` (see
    ``BertModel``).

    Shapes:
        input_ids, token_type_ids, position_ids (B, T) integers; inputs_embeds (B, T, H);
        returns (B, T, H).
    """

    def __init__(self, config: BertConfig, generator, dropout_generator):
        super().__init__()
        H = config.hidden_size
        self.word_embeddings = nn.Embedding(
            config.vocab_size, H, padding_idx=config.pad_token_id, generator=generator
        )
        self.position_embedding_type = config.position_embedding_type
        if config.position_embedding_type == "absolute":
            self.position_embeddings = nn.Embedding(
                config.max_position_embeddings, H, generator=generator
            )
        else:
            # Fixed, not learned: a buffer, and not saved (it is a function of the config).
            table = sinusoidal_table(config.max_position_embeddings, H)
            self.register_buffer("position_table", table, persistent=False)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, H, generator=generator)
        # "LayerNorm" (capitalized) is the parameter name transformers' checkpoints use.
        self.LayerNorm = nn.LayerNorm(H, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob, generator=dropout_generator)

    def forward(self, input_ids, token_type_ids, position_ids, inputs_embeds=None):
        ln = self.LayerNorm
        if inputs_embeds is None and self.position_embedding_type == "absolute":
            # The three lookups, their sum and the LayerNorm as one node: the rows gathered and
            # summed in one pass, then normalized; the same sum, word + type + position.
            ids, types, positions = (
                i.data if isinstance(i, Tensor) else i
                for i in (input_ids, token_type_ids, position_ids)
            )
            positions = get_xp(ids).broadcast_to(positions, ids.shape)  # (1 or B, T) -> (B, T)
            tables = (self.word_embeddings, self.token_type_embeddings, self.position_embeddings)
            normed = F.embedding_layer_norm(
                (ids, types, positions),
                tuple(table.weight for table in tables),
                ln.weight,
                ln.bias,
                eps=ln.eps,
                padding_idx=tuple(table.padding_idx for table in tables),
            )
            return self.dropout(normed)
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)  # (B, T) -> (B, T, H)
        embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids)
        if self.position_embedding_type == "absolute":
            positions = self.position_embeddings(position_ids)  # (B, T) -> (B, T, H)
        else:
            positions = Tensor(self.position_table[position_ids])  # (B, T, H)
        if positions.shape == embeddings.shape:  # the last sum and LayerNorm in one pass
            normed = F.add_layer_norm(embeddings, positions, ln.weight, ln.bias, eps=ln.eps)
        else:  # position_ids that broadcast against the batch
            normed = ln(embeddings + positions)
        return self.dropout(normed)
