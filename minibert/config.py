"""``BertConfig``: every hyperparameter of a BERT model, with transformers' names and meanings.

A config is plain data. It round-trips through ``config.json`` exactly as transformers writes it,
so a checkpoint directory is readable by both libraries; fields that transformers writes and
minibert does not use are kept in ``extra`` and written back unchanged.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

HIDDEN_ACTIVATIONS = {
    "gelu": "exact erf GELU (transformers' 'gelu', BERT's paper)",
    "gelu_new": "tanh-approximated GELU (the original TensorFlow BERT code)",
    "gelu_pytorch_tanh": "tanh-approximated GELU (same function as gelu_new)",
    "relu": "ReLU",
}
POSITION_EMBEDDING_TYPES = ("absolute", "sinusoidal")


def check_transformer_sizes(config, positive: tuple[str, ...], dropouts: tuple[str, ...]) -> None:
    """The checks every transformer config shares (BERT's, the decoder's): positive integer
    sizes, heads that divide the width, a known activation, dropout probabilities in [0, 1).

    Raises ValueError naming the field (as ``ClassName.field``) and what would fix it.
    """
    kind = type(config).__name__
    for name in positive:
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{kind}.{name} must be a positive integer, got {value!r}")
    if config.hidden_size % config.num_attention_heads:
        raise ValueError(
            f"hidden_size {config.hidden_size} is not divisible by num_attention_heads "
            f"{config.num_attention_heads}; choose sizes so that each head gets an equal share"
        )
    if config.hidden_act not in HIDDEN_ACTIVATIONS:
        raise ValueError(
            f"hidden_act {config.hidden_act!r} is not supported; use one of "
            f"{sorted(HIDDEN_ACTIVATIONS)}"
        )
    for name in dropouts:
        value = getattr(config, name)
        if value is not None and not 0.0 <= value < 1.0:
            raise ValueError(f"{kind}.{name} must be in [0, 1), got {value}")


@dataclass
class BertConfig:
    """The shape and training-time behaviour of a BERT model.

    Args:
        vocab_size: number of WordPiece tokens (rows of the word embedding).
        hidden_size: H, the width of every hidden state.
        num_hidden_layers: encoder layers.
        num_attention_heads: nh; H must be divisible by it (head size hs = H / nh).
        intermediate_size: width of the feed-forward layer (4 H in BERT).
        hidden_act: the feed-forward activation, one of ``HIDDEN_ACTIVATIONS``.
        hidden_dropout_prob: dropout on embeddings and on every residual branch.
        attention_probs_dropout_prob: dropout on the attention probabilities.
        max_position_embeddings: the longest sequence the model accepts.
        type_vocab_size: number of segment (token type) ids: 2 for sentence pairs.
        initializer_range: std of the normal initializer.
        layer_norm_eps: epsilon inside every LayerNorm.
        pad_token_id: the [PAD] id; its word-embedding row gets no gradient.
        position_embedding_type: ``"absolute"`` (learned, as real BERT) or ``"sinusoidal"`` (the
            fixed sin/cos table of "Attention Is All You Need"; not loadable by transformers).
        is_decoder: use a causal (left-to-right) self-attention mask.
        num_labels: outputs of the sequence/token classification heads (1 means regression).
        classifier_dropout: dropout before classification heads (None: hidden_dropout_prob).
        id2label: optional names of the labels.
    """

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    position_embedding_type: str = "absolute"
    is_decoder: bool = False
    num_labels: int = 2
    classifier_dropout: float | None = None
    id2label: dict[int, str] | None = None
    extra: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.validate()

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def validate(self) -> None:
        """Raise ValueError naming the first inconsistent value and what would fix it."""
        positive = (
            "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
            "intermediate_size", "max_position_embeddings", "type_vocab_size", "num_labels",
        )  # fmt: skip
        dropouts = ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout")
        check_transformer_sizes(self, positive, dropouts)
        if self.position_embedding_type not in POSITION_EMBEDDING_TYPES:
            raise ValueError(
                f"position_embedding_type {self.position_embedding_type!r} is not supported; "
                f"use one of {POSITION_EMBEDDING_TYPES}"
            )
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(f"pad_token_id {self.pad_token_id} is outside the vocabulary")
        if self.layer_norm_eps <= 0 or self.initializer_range <= 0:
            raise ValueError("layer_norm_eps and initializer_range must be positive")

    # ------------------------------------------------------------------------- presets
    @classmethod
    def preset(cls, name: str, **overrides) -> BertConfig:
        """A named size: ``tiny``, ``mini``, ``small`` or ``base`` (see ``PRESETS``)."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    def with_overrides(self, overrides: str) -> BertConfig:
        """A copy with fields changed by a string such as ``"hidden_size=64,num_hidden_layers=2"``.

        transformers' example scripts take the same ``--config_overrides`` string. Each value is
        converted to the field's current type (int, float, bool, str); a field that is None
        (``classifier_dropout``) takes a float.
        """
        changes = {}
        known = {f.name for f in dataclasses.fields(self)} - {"extra", "id2label"}
        for item in filter(None, (part.strip() for part in overrides.split(","))):
            name, equals, text = item.partition("=")
            name, text = name.strip(), text.strip()
            if not equals or name not in known:
                raise ValueError(
                    f"config override {item!r}: expected name=value with a BertConfig field "
                    f"({', '.join(sorted(known))})"
                )
            current = getattr(self, name)
            try:
                if isinstance(current, bool):
                    if text.lower() not in ("true", "false"):
                        raise ValueError(text)
                    value = text.lower() == "true"
                elif isinstance(current, (int, float)) or current is None:
                    kind = type(current) if current is not None else float
                    value = kind(text)
                else:
                    value = text
            except ValueError:
                raise ValueError(
                    f"config override {item!r}: {text!r} is not a valid "
                    f"{type(current).__name__ if current is not None else 'float'}"
                ) from None
            changes[name] = value
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        """The transformers-style dictionary (``model_type`` "bert", unknown fields kept)."""
        data = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"
        }
        if data["id2label"] is None:
            del data["id2label"]
        else:
            data["id2label"] = {str(k): v for k, v in data["id2label"].items()}
            data["label2id"] = {v: int(k) for k, v in data["id2label"].items()}
        return {**self.extra, **data, "model_type": "bert"}

    @classmethod
    def from_dict(cls, data: dict) -> BertConfig:
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        data = dict(data)
        model_type = data.get("model_type", "bert")
        if model_type != "bert":
            raise ValueError(
                f"config has model_type {model_type!r}; minibert loads BERT-architecture models"
            )
        id2label = data.get("id2label")
        if id2label is not None:
            data["id2label"] = {int(k): v for k, v in id2label.items()}
            data.setdefault("num_labels", len(id2label))
        data.pop("label2id", None)
        kwargs = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known and k != "model_type"}
        return cls(**kwargs, extra=extra)

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def save(self, path: str | os.PathLike) -> None:
        """Write ``config.json`` atomically (a crash leaves the old file or none, never half)."""
        from minibert.io import atomic_write_text

        atomic_write_text(Path(path), self.to_json_string())

    @classmethod
    def load(cls, path: str | os.PathLike) -> BertConfig:
        path = Path(path)
        if path.is_dir():
            path = path / "config.json"
        if not path.is_file():
            raise FileNotFoundError(f"no config file at {path}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{path} is not valid JSON: {error}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a JSON object")
        return cls.from_dict(data)


# Sizes: tiny trains in minutes on a laptop CPU; base is BERT-base.
PRESETS: dict[str, dict] = {
    "tiny": dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=512, max_position_embeddings=128, vocab_size=8192),
    "mini": dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                 intermediate_size=1024, max_position_embeddings=256, vocab_size=8192),
    "small": dict(hidden_size=512, num_hidden_layers=4, num_attention_heads=8,
                  intermediate_size=2048, max_position_embeddings=512, vocab_size=30522),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, max_position_embeddings=512, vocab_size=30522),
}  # fmt: skip
