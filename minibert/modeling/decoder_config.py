"""Configs of the decoder-side models: ``DecoderConfig`` (MiniGPT, and the decoder half of an
encoder-decoder) and ``EncoderDecoderConfig`` (a BERT encoder plus such a decoder).

Field names follow ``BertConfig`` wherever the meaning is the same, so the layers BERT and the
decoder share (``BertSelfOutput``, ``BertIntermediate``, ``BertOutput``) read either config. Both
round-trip through ``config.json``; ``model_type`` tells them apart from a BERT checkpoint.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from minibert.config import BertConfig, check_transformer_sizes


class _JsonConfig:
    """``to_dict``/``from_dict`` for a dataclass config with a ``model_type``; the JSON file
    methods are ``BertConfig``'s own (they only call ``to_dict`` and ``from_dict``)."""

    model_type = ""

    def to_dict(self) -> dict:
        data = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"
        }
        return {**self.extra, **data, "model_type": self.model_type}

    @classmethod
    def from_dict(cls, data: dict):
        if data.get("model_type") != cls.model_type:
            raise ValueError(
                f"the config describes a {data.get('model_type')!r} model, not "
                f"{cls.model_type!r}; load it with the matching class (BertModel for 'bert', "
                "MiniGPT for 'minibert-decoder', BertEncoderDecoder for "
                "'minibert-encoder-decoder')"
            )
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        kwargs = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known and k != "model_type"}
        return cls(**kwargs, extra=extra)

    to_json_string = BertConfig.to_json_string
    save = BertConfig.save  # atomic: a crash leaves the old file or none, never half of one
    load = classmethod(BertConfig.load.__func__)  # reads the file, then cls.from_dict


@dataclass
class DecoderConfig(_JsonConfig):
    """The shape of a post-LN Transformer decoder, BERT's layers with a causal mask.

    Args:
        vocab_size, hidden_size, num_hidden_layers, num_attention_heads, intermediate_size,
        hidden_act, hidden_dropout_prob, attention_probs_dropout_prob, max_position_embeddings,
        initializer_range, layer_norm_eps, pad_token_id: as in ``BertConfig``.
        bos_token_id: the token a generation starts from ([CLS] in a BERT vocabulary).
        eos_token_id: the token that ends a sequence ([SEP]); generation stops there.
        add_cross_attention: give every layer a cross-attention block over encoder states (the
            decoder of an encoder-decoder); False for a decoder-only language model (MiniGPT).
        encoder_hidden_size: width of the encoder states cross-attention reads (None: the same
            as ``hidden_size``).
    """

    model_type = "minibert-decoder"

    vocab_size: int = 8192
    hidden_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    intermediate_size: int = 512
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 128
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    bos_token_id: int = 2
    eos_token_id: int = 3
    add_cross_attention: bool = False
    encoder_hidden_size: int | None = None
    extra: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.validate()

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def validate(self) -> None:
        """Raise ValueError naming the first inconsistent value and what would fix it."""
        positive = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                    "intermediate_size", "max_position_embeddings")  # fmt: skip
        check_transformer_sizes(
            self, positive, ("hidden_dropout_prob", "attention_probs_dropout_prob")
        )
        for name in ("pad_token_id", "bos_token_id", "eos_token_id"):
            if not 0 <= getattr(self, name) < self.vocab_size:
                raise ValueError(
                    f"DecoderConfig.{name} {getattr(self, name)} is outside the vocabulary of "
                    f"{self.vocab_size} tokens"
                )

    @classmethod
    def for_tokenizer(cls, tokenizer, **fields) -> DecoderConfig:
        """A config whose vocabulary and special ids are ``tokenizer``'s ([CLS] starts, [SEP]
        ends, [PAD] pads), as transformers' BERT2BERT models use them."""
        return cls(
            vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id, **fields,
        )  # fmt: skip


@dataclass
class EncoderDecoderConfig(_JsonConfig):
    """A BERT encoder and a decoder with cross-attention, sharing one vocabulary.

    Args:
        encoder: the encoder's ``BertConfig``.
        decoder: the decoder's ``DecoderConfig`` (``add_cross_attention`` must be True).
        decoder_start_token_id: the first decoder input (default: the decoder's ``bos_token_id``).
    """

    model_type = "minibert-encoder-decoder"

    encoder: BertConfig = field(default_factory=BertConfig)
    decoder: DecoderConfig = field(default_factory=lambda: DecoderConfig(add_cross_attention=True))
    decoder_start_token_id: int | None = None
    extra: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.encoder, dict):
            self.encoder = BertConfig.from_dict(self.encoder)
        if isinstance(self.decoder, dict):
            self.decoder = DecoderConfig.from_dict(self.decoder)
        if self.decoder_start_token_id is None:
            self.decoder_start_token_id = self.decoder.bos_token_id
        self.validate()

    def validate(self) -> None:
        encoder, decoder = self.encoder, self.decoder
        if not decoder.add_cross_attention:
            raise ValueError(
                "the decoder of an encoder-decoder needs add_cross_attention=True (without it "
                "the decoder never reads the source)"
            )
        if encoder.vocab_size != decoder.vocab_size:
            raise ValueError(
                f"the encoder has {encoder.vocab_size} tokens and the decoder "
                f"{decoder.vocab_size}; both sides share one tokenizer, so give them the same"
            )
        if (decoder.encoder_hidden_size or decoder.hidden_size) != encoder.hidden_size:
            raise ValueError(
                f"the decoder's cross-attention reads states of width "
                f"{decoder.encoder_hidden_size or decoder.hidden_size} but the encoder's are "
                f"{encoder.hidden_size}; set decoder encoder_hidden_size={encoder.hidden_size}"
            )

    def to_dict(self) -> dict:
        data = super().to_dict()
        data["encoder"], data["decoder"] = self.encoder.to_dict(), self.decoder.to_dict()
        return data
