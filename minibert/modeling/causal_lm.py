r"""``MiniGPT``: a left-to-right (causal) language model on BERT's layers.

Token and position embeddings, ``num_hidden_layers`` ``DecoderLayer``s and a vocabulary
projection *tied* to the token embeddings (logits = h E^T, as GPT-2): the model reads tokens
0..t and predicts token t+1. Where BERT's masked LM sees the whole sentence around a [MASK],
this model sees only what came before, which is what lets it write text one token at a time
(``minibert.generation``).

With ``add_cross_attention`` the same model is the decoder half of ``BertEncoderDecoder``, as
transformers' ``BertLMHeadModel`` is the decoder of its BERT2BERT ``EncoderDecoderModel``.
"""

from __future__ import annotations

from dataclasses import dataclass

import autograd as ag
from autograd import Tensor, get_xp, nn
from minibert.modeling.decoder import DecoderEmbeddings, DecoderLayer, causal_attention_mask
from minibert.modeling.decoder_config import DecoderConfig
from minibert.modeling.inputs import additive_attention_mask, as_index_array
from minibert.modeling.models import IGNORE_INDEX
from minibert.modeling.outputs import ModelOutput
from minibert.modeling.pretrained import BertPreTrainedModel


@dataclass
class CausalLMOutputWithCrossAttentions(ModelOutput):
    """``logits`` (B, T, V); ``past_key_values``: per layer, the cached keys and values (two
    (B, nh, T_total, hs) tensors, two more with cross-attention); ``attentions``: every layer's
    (B, nh, T, T_total) self-attention; ``cross_attentions``: every layer's (B, nh, T, S)."""

    loss: Tensor | None = None
    logits: Tensor | None = None
    past_key_values: tuple | None = None
    attentions: tuple[Tensor, ...] | None = None
    cross_attentions: tuple[Tensor, ...] | None = None


def lm_loss(logits: Tensor, labels, label_smoothing: float = 0.0) -> Tensor:
    r"""Mean token cross-entropy over the labels that are not -100, optionally label-smoothed.

    With smoothing \epsilon the target is (1 - \epsilon) one_hot(y) + \epsilon / V: the model is
    asked for a little probability on every token, which keeps it from growing ever more
    confident on the training pairs (Szegedy et al. 2016; 0.1 in "Attention Is All You Need").

    Shapes:
        logits (B, T, V); labels (B, T) integers or -100; returns ().
    """
    return ag.cross_entropy(
        logits, labels, ignore_index=IGNORE_INDEX, label_smoothing=label_smoothing
    )


class DecoderPreTrainedModel(BertPreTrainedModel):
    """Base of the decoder-side models: BERT's initialization and checkpoint directories
    (``save_pretrained``, ``from_pretrained``, ``load_checkpoint_state``) with their own config.

    Args:
        config: an instance of the class's ``config_class``.
        seed: seeds initialization and, through a second stream, dropout.
    """

    config_class: type = DecoderConfig


class MiniGPT(DecoderPreTrainedModel):
    """A causal language model: embeddings, decoder layers, tied output projection.

    ``forward(input_ids, attention_mask=None, labels=None, past_key_values=None,
    use_cache=False, output_attentions=False, encoder_hidden_states=None,
    encoder_attention_mask=None, label_smoothing=0.0)``. ``labels`` are the input ids
    themselves (-100 where no loss counts): the model shifts them, so position t is scored on
    token t+1, as transformers' causal LMs do. With ``past_key_values`` (from an earlier call
    with ``use_cache=True``) ``input_ids`` holds only the new tokens; positions continue after
    the cached ones.

    Shapes:
        input_ids (B, T); attention_mask (B, T_past + T); encoder_hidden_states (B, S, He);
        encoder_attention_mask (B, S); returns logits (B, T, V).
    """

    base_model_prefix = "decoder"  # a BertEncoderDecoder's decoder half loads into MiniGPT

    def __init__(self, config: DecoderConfig, seed: int = 0):
        super().__init__(config, seed)
        generator, dropout = self.init_generator, self.dropout_generator
        self.embeddings = DecoderEmbeddings(config, generator, dropout)
        self.layer = nn.ModuleList(
            DecoderLayer(config, generator, dropout) for _ in range(config.num_hidden_layers)
        )
        self.init_weights()

    def forward(
        self,
        input_ids,
        attention_mask=None,
        labels=None,
        past_key_values=None,
        use_cache: bool = False,
        output_attentions: bool = False,
        encoder_hidden_states=None,
        encoder_attention_mask=None,
        label_smoothing: float = 0.0,
    ) -> CausalLMOutputWithCrossAttentions:
        config, weight = self.config, self.embeddings.word_embeddings.weight
        xp = get_xp(weight.data)
        input_ids = self._check_ids(as_index_array(input_ids, "input_ids", xp), past_key_values)
        attention_mask = as_index_array(attention_mask, "attention_mask", xp)
        B, T = input_ids.shape
        past_length = past_key_values[0][0].shape[2] if past_key_values else 0
        position_ids = (past_length + xp.arange(T))[None, :]  # (1, T)
        self_mask = causal_attention_mask(attention_mask, T, past_length, weight.dtype, xp)
        cross_mask = None
        if config.add_cross_attention:
            if encoder_hidden_states is None:
                raise ValueError(
                    "this decoder has cross-attention: pass encoder_hidden_states (B, S, H), the "
                    "encoder's last_hidden_state"
                )
            S = encoder_hidden_states.shape[1]
            encoder_attention_mask = as_index_array(encoder_attention_mask, "encoder mask", xp)
            cross_mask = additive_attention_mask(
                encoder_attention_mask, S, False, weight.dtype, xp
            )  # (B, 1, 1, S) or None

        hidden = self.embeddings(input_ids, position_ids)  # (B, T) -> (B, T, H)
        presents, attentions, cross_attentions = [], [], []
        for index, layer in enumerate(self.layer):
            hidden, probs, cross_probs, present = layer(
                hidden,
                self_mask,
                encoder_hidden_states,
                cross_mask,
                past_key_values[index] if past_key_values else None,
                use_cache,
                output_attentions,
            )
            presents.append(present)
            attentions.append(probs)
            cross_attentions.append(cross_probs)
        logits = hidden @ weight.T  # tied: (B, T, H) @ (H, V) -> (B, T, V)
        loss = None
        if labels is not None:
            labels = as_index_array(labels, "labels", xp)
            if tuple(labels.shape) != (B, T):
                raise ValueError(f"labels has shape {tuple(labels.shape)} but input_ids {(B, T)}")
            # Position t predicts token t + 1: drop the last logits and the first labels.
            loss = lm_loss(logits[:, :-1], labels[:, 1:], label_smoothing)
        return CausalLMOutputWithCrossAttentions(
            loss=loss,
            logits=logits,
            past_key_values=tuple(presents) if use_cache else None,
            attentions=tuple(attentions) if output_attentions else None,
            cross_attentions=(
                tuple(cross_attentions)
                if output_attentions and config.add_cross_attention
                else None
            ),
        )

    def _check_ids(self, input_ids, past_key_values):
        """Raise ValueError for ids the model cannot take, naming the limit."""
        if input_ids is None or input_ids.ndim != 2:
            raise ValueError("input_ids must be (batch, sequence); wrap one sequence in a list")
        past_length = past_key_values[0][0].shape[2] if past_key_values else 0
        total = past_length + input_ids.shape[1]
        if total > self.config.max_position_embeddings:
            raise ValueError(
                f"the sequence would reach {total} tokens but max_position_embeddings is "
                f"{self.config.max_position_embeddings}; generate fewer tokens or use a model "
                "with more positions"
            )
        if input_ids.size and (input_ids.min() < 0 or input_ids.max() >= self.config.vocab_size):
            raise ValueError(
                f"input_ids must be in [0, {self.config.vocab_size}), got values from "
                f"{int(input_ids.min())} to {int(input_ids.max())} (is the tokenizer the model's?)"
            )
        return input_ids
