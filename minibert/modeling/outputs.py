"""What the models return: dataclasses with transformers' field names.

As in transformers, an output can be read by attribute (``out.logits``), by key
(``out["logits"]``) or by position over the fields that are set (``out[0]``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from autograd import Tensor


class ModelOutput:
    def _present(self) -> list[tuple[str, object]]:
        return [
            (f.name, getattr(self, f.name))
            for f in fields(self)
            if getattr(self, f.name) is not None
        ]

    def keys(self) -> list[str]:
        return [name for name, _ in self._present()]

    def to_tuple(self) -> tuple:
        return tuple(value for _, value in self._present())

    def __getitem__(self, key):
        if isinstance(key, str):
            return dict(self._present())[key]
        return self.to_tuple()[key]


@dataclass
class BaseModelOutputWithPooling(ModelOutput):
    """``last_hidden_state`` (B, T, H); ``pooler_output`` (B, H); ``hidden_states``: the embedding
    output and every layer's output; ``attentions``: every layer's (B, nh, T, T) probabilities."""

    last_hidden_state: Tensor | None = None
    pooler_output: Tensor | None = None
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None


@dataclass
class BertForPreTrainingOutput(ModelOutput):
    """``prediction_logits``: (B, T, V), or (M, V) at the M labelled positions (see
    ``masked_positions``) when the head ran on those only; ``seq_relationship_logits`` (B, 2)."""

    loss: Tensor | None = None
    prediction_logits: Tensor | None = None
    seq_relationship_logits: Tensor | None = None
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None
    mlm_loss: Tensor | None = None
    nsp_loss: Tensor | None = None
    masked_positions: object | None = None  # (M,) flat indices into B * T, or None


@dataclass
class MaskedLMOutput(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None
    masked_positions: object | None = None


@dataclass
class NextSentencePredictorOutput(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None


@dataclass
class SequenceClassifierOutput(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None


@dataclass
class TokenClassifierOutput(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None


@dataclass
class QuestionAnsweringModelOutput(ModelOutput):
    loss: Tensor | None = None
    start_logits: Tensor | None = None
    end_logits: Tensor | None = None
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None
