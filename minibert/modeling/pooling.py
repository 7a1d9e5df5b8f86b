"""From token states to one vector per sequence: BERT's pooler and sentence-embedding pooling."""

from __future__ import annotations

import autograd as ag
from autograd import nn
from minibert.config import BertConfig

POOLING_STRATEGIES = ("cls", "mean", "max")


class BertPooler(nn.Module):
    """tanh(W h_[CLS] + b): the representation the NSP and sequence-classification heads read.

    Shapes:
        hidden_states (B, T, H); returns (B, H).
    """

    def __init__(self, config: BertConfig, generator):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size, generator=generator)
        self.activation = nn.Tanh()

    def forward(self, hidden_states):
        return self.activation(self.dense(hidden_states[:, 0]))  # (B, T, H) -> (B, H)


def pool(hidden_states, attention_mask=None, strategy: str = "mean"):
    """One vector per sequence from its token states, ignoring padding.

    Args:
        strategy: ``"cls"`` (the [CLS] state), ``"mean"`` (average of the real tokens, as
            sentence-transformers computes it) or ``"max"`` (elementwise maximum over real tokens).

    Shapes:
        hidden_states (B, T, H), attention_mask (B, T) of 1/0; returns (B, H).
    """
    if strategy not in POOLING_STRATEGIES:
        raise ValueError(f"unknown pooling {strategy!r}; choose one of {POOLING_STRATEGIES}")
    if strategy == "cls":
        return hidden_states[:, 0]  # (B, T, H) -> (B, H)
    xp = ag.get_xp(hidden_states.data)
    if attention_mask is None:
        attention_mask = xp.ones(hidden_states.shape[:2], dtype=xp.int64)
    keep = attention_mask.astype(bool)[:, :, None]  # (B, T) -> (B, T, 1)
    if strategy == "mean":
        weights = keep.astype(hidden_states.dtype)
        counts = xp.maximum(weights.sum(axis=1), 1e-9)  # (B, 1): never divide by zero
        return (hidden_states * weights).sum(axis=1) / ag.Tensor(counts)
    filled = hidden_states.masked_fill(~keep, float(xp.finfo(hidden_states.dtype).min))
    return filled.max(axis=1)  # (B, T, H) -> (B, H)
