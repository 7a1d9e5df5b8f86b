"""Small decoder-side models and batches shared by the decoder, generation and seq2seq tests."""

from __future__ import annotations

import numpy as np

from minibert.modeling.causal_lm import MiniGPT
from minibert.modeling.decoder_config import DecoderConfig, EncoderDecoderConfig
from minibert.modeling.encoder_decoder import BertEncoderDecoder
from tests.minibert.conftest import small_config

VOCAB = 23  # ids: 0 [PAD], 2 start ([CLS]), 3 end ([SEP]); 22 never drawn (see padded_batch)


def decoder_config(**overrides) -> DecoderConfig:
    settings = dict(
        vocab_size=VOCAB, hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=12, max_position_embeddings=16, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, pad_token_id=0, bos_token_id=2, eos_token_id=3,
    )  # fmt: skip
    return DecoderConfig(**{**settings, **overrides})


def minigpt(seed=0, dtype=np.float64, **overrides) -> MiniGPT:
    return MiniGPT(decoder_config(**overrides), seed=seed).astype(dtype).eval()


def encoder_decoder(seed=0, dtype=np.float64, encoder=None, **overrides) -> BertEncoderDecoder:
    config = EncoderDecoderConfig(
        encoder=small_config(num_hidden_layers=1, **(encoder or {})),
        decoder=decoder_config(add_cross_attention=True, **overrides),
    )
    return BertEncoderDecoder(config, seed=seed).astype(dtype).eval()


def random_ids(rng: np.random.Generator, B: int, T: int) -> np.ndarray:
    """Ids of ordinary tokens only (no [PAD], start or end token; never the last id)."""
    return rng.integers(4, VOCAB - 1, (B, T))
