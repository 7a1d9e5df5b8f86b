r"""``BertEncoderDecoder``: BERT reads the source, a decoder with cross-attention writes the target.

The arrangement of "Attention Is All You Need" with BERT as the encoder, as in transformers'
``EncoderDecoderModel`` (BERT2BERT): the encoder sees the whole source at once (bidirectional);
the decoder sees the target written so far (causal) and, in every layer, the encoder's states
through cross-attention. Training is *teacher forcing*: the decoder reads the true target
shifted right by one (``[CLS] y_1 .. y_{n-1}``) and is scored on ``y_1 .. y_n [SEP]`` at once.
The encoder can start from a pretrained minibert checkpoint (``from_encoder_pretrained``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from autograd import Tensor, get_xp, nn
from minibert.modeling.causal_lm import DecoderPreTrainedModel, MiniGPT, lm_loss
from minibert.modeling.decoder_config import DecoderConfig, EncoderDecoderConfig
from minibert.modeling.inputs import as_index_array
from minibert.modeling.models import IGNORE_INDEX, BertModel
from minibert.modeling.outputs import ModelOutput


@dataclass
class Seq2SeqLMOutput(ModelOutput):
    """transformers' names: ``logits`` (B, T, V); ``past_key_values`` (the decoder's cache);
    ``decoder_attentions`` and ``cross_attentions`` per decoder layer;
    ``encoder_last_hidden_state`` (B, S, H)."""

    loss: Tensor | None = None
    logits: Tensor | None = None
    past_key_values: tuple | None = None
    decoder_attentions: tuple[Tensor, ...] | None = None
    cross_attentions: tuple[Tensor, ...] | None = None
    encoder_last_hidden_state: Tensor | None = None
    encoder_attentions: tuple[Tensor, ...] | None = None


def shift_tokens_right(labels, pad_token_id: int, decoder_start_token_id: int):
    """Teacher forcing's decoder inputs: the start token, then the labels but the last, with the
    ignored label -100 read as padding.

    Shapes:
        labels (B, T); returns (B, T).
    """
    xp = get_xp(labels)
    shifted = xp.empty_like(labels)
    shifted[:, 0] = decoder_start_token_id
    shifted[:, 1:] = labels[:, :-1]
    return xp.where(shifted == IGNORE_INDEX, pad_token_id, shifted)


class BertEncoderDecoder(DecoderPreTrainedModel):
    """A ``BertModel`` encoder (no pooler) and a ``MiniGPT`` decoder with cross-attention.

    Args:
        config: an ``EncoderDecoderConfig``.
        seed: seeds initialization and the dropout masks of both halves (one dropout stream for
            the whole model, so a checkpoint restores it exactly).
        encoder: an existing ``BertModel`` to use (from ``from_encoder_pretrained``).

    ``forward(input_ids, attention_mask=None, decoder_input_ids=None,
    decoder_attention_mask=None, labels=None, encoder_outputs=None, past_key_values=None,
    use_cache=False, output_attentions=False, label_smoothing=0.0)``: give ``labels`` (the
    target ids ending in [SEP], -100 at padding) and the decoder inputs are built from them.

    Shapes:
        input_ids, attention_mask (B, S); decoder_input_ids, labels (B, T);
        returns logits (B, T, V).
    """

    config_class = EncoderDecoderConfig
    base_model_prefix = "model"  # no wrapper prefix: its keys start with encoder. and decoder.
    is_encoder_decoder = True

    def __init__(self, config: EncoderDecoderConfig, seed: int = 0, *, encoder=None):
        super().__init__(config, seed)
        if encoder is None:
            encoder = BertModel(config.encoder, add_pooling_layer=False, seed=seed)
        else:
            encoder.pooler = None  # the decoder reads token states; a pooler would go untrained
        self.encoder = encoder
        self.decoder = MiniGPT(config.decoder, seed=seed + 1)
        for module in self.modules():
            if isinstance(module, nn.Dropout):
                module.generator = self.dropout_generator

    @classmethod
    def from_encoder_pretrained(
        cls, directory: str | os.PathLike, decoder_config: DecoderConfig, seed: int = 0
    ) -> BertEncoderDecoder:
        """The encoder from a minibert (or transformers) BERT checkpoint, a fresh decoder.

        The pooler and any task heads of the checkpoint are left out (the decoder reads token
        states); the decoder must use the checkpoint's vocabulary and hidden size.
        """
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the pooler is discarded anyway
            encoder = BertModel.from_pretrained(directory, seed=seed)
        config = EncoderDecoderConfig(encoder=encoder.config, decoder=decoder_config)
        return cls(config, seed=seed, encoder=encoder)

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        decoder_input_ids=None,
        decoder_attention_mask=None,
        labels=None,
        encoder_outputs=None,
        past_key_values=None,
        use_cache: bool = False,
        output_attentions: bool = False,
        label_smoothing: float = 0.0,
    ) -> Seq2SeqLMOutput:
        if encoder_outputs is None:
            encoder_outputs = self.encoder(
                input_ids, attention_mask, output_attentions=output_attentions
            )
        xp = get_xp(encoder_outputs.last_hidden_state.data)
        labels = as_index_array(labels, "labels", xp)
        if decoder_input_ids is None:
            if labels is None:
                raise ValueError("give decoder_input_ids or labels (the target ids)")
            decoder_input_ids = shift_tokens_right(
                labels, self.config.decoder.pad_token_id, self.config.decoder_start_token_id
            )
        out = self.decoder(
            decoder_input_ids,
            attention_mask=decoder_attention_mask,
            past_key_values=past_key_values,
            use_cache=use_cache,
            output_attentions=output_attentions,
            encoder_hidden_states=encoder_outputs.last_hidden_state,
            encoder_attention_mask=attention_mask,
        )
        loss = lm_loss(out.logits, labels, label_smoothing) if labels is not None else None
        return Seq2SeqLMOutput(
            loss=loss,
            logits=out.logits,
            past_key_values=out.past_key_values,
            decoder_attentions=out.attentions,
            cross_attentions=out.cross_attentions,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_attentions=encoder_outputs.attentions,
        )
