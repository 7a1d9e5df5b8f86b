"""Small BERT configs and batches for the model tests."""

from __future__ import annotations

import numpy as np
import pytest

from minibert.config import BertConfig


def small_config(**overrides) -> BertConfig:
    settings = dict(
        vocab_size=23, hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=12, max_position_embeddings=12, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, layer_norm_eps=1e-12,
    )  # fmt: skip
    return BertConfig(**{**settings, **overrides})


def padded_batch(rng: np.random.Generator, B: int, T: int, vocab: int):
    """ids, attention_mask (every row keeps at least one token), token types.

    Ids are drawn from [0, vocab - 1): the last id never occurs, so a config whose
    ``pad_token_id`` is ``vocab - 1`` has no padding-row embedding in play (that row's gradient
    is zeroed by design, which a finite-difference check would rightly call wrong).
    """
    lengths = rng.integers(1, T + 1, B)
    mask = (np.arange(T)[None, :] < lengths[:, None]).astype(np.int64)
    ids = np.where(mask == 1, rng.integers(1, vocab - 1, (B, T)), 0)
    token_types = (np.arange(T)[None, :] >= (lengths[:, None] + 1) // 2).astype(np.int64) * mask
    return ids, mask, token_types


@pytest.fixture
def config() -> BertConfig:
    return small_config()
