"""``BertPreTrainedModel``: initialization, and saving/loading checkpoint directories."""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path

import numpy as np

from autograd import nn
from minibert import checkpoint
from minibert.config import BertConfig

# Parameters a checkpoint may lack or carry without harm: task heads and the pooler. A model
# loading a checkpoint made for another task initializes its own heads afresh (and says so),
# exactly as transformers does; everything else must match, name for name and shape for shape.
OPTIONAL_PREFIXES = ("cls.", "classifier.", "qa_outputs.", "pooler.", "bert.pooler.")


class BertPreTrainedModel(nn.Module):
    """Base of every minibert BERT model.

    Args:
        config: the model's ``BertConfig``.
        seed: seeds the weight initialization and, through a second independent stream, the
            dropout masks (``self.dropout_generator``), so one integer reproduces a run.
    """

    base_model_prefix = "bert"
    config_class: type = BertConfig  # what ``__init__`` accepts and ``from_pretrained`` reads

    def __init__(self, config: BertConfig, seed: int = 0):
        super().__init__()
        if not isinstance(config, self.config_class):
            raise TypeError(
                f"{type(self).__name__} takes a {self.config_class.__name__}, "
                f"got {type(config).__name__}"
            )
        init_seed, dropout_seed = np.random.SeedSequence(seed).spawn(2)
        self.config = config
        self.init_generator = np.random.default_rng(init_seed)
        self.dropout_generator = np.random.default_rng(dropout_seed)

    def init_weights(self) -> None:
        """BERT's initialization: weights ~ N(0, initializer_range), biases 0, LayerNorm 1 and 0,
        and the padding token's embedding row 0."""
        std = self.config.initializer_range
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, std, generator=self.init_generator)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, 0.0, std, generator=self.init_generator)
                if module.padding_idx is not None:
                    module.weight.data[module.padding_idx] = 0
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    # ------------------------------------------------------------------------- checkpoints
    def save_pretrained(self, directory: str | os.PathLike, tokenizer=None) -> None:
        """Write ``config.json`` and ``model.safetensors`` (and the tokenizer's files, if given).

        transformers loads the directory with ``BertForPreTraining.from_pretrained(directory)``
        (or the class matching this one).
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = dataclasses.replace(self.config, extra={**self.config.extra})
        config.extra["architectures"] = [type(self).__name__]
        checkpoint.save_weights(self.state_dict(), directory)
        config.save(directory / "config.json")  # last: a directory with a config is complete
        if tokenizer is not None:
            tokenizer.save_pretrained(directory)

    @classmethod
    def from_pretrained(
        cls,
        directory: str | os.PathLike,
        *,
        strict: bool = True,
        seed: int = 0,
        dtype=None,
        **config_overrides,
    ):
        """Build the model from a checkpoint directory written by minibert or transformers.

        Args:
            strict: every encoder and embedding tensor must be present, known and of the right
                shape (mis-shaped tensors are always an error). Task heads and the pooler may
                be missing (they are initialized from ``seed``) or extra (they are ignored);
                ``model.loading_info`` lists both.
            dtype: the parameters' dtype (default float32); set it here rather than converting
                after loading, so float64 weights keep their precision.
            config_overrides: config fields to change, e.g. ``num_labels=3``.
        """
        config = cls.config_class.load(directory)
        if config_overrides:
            config = dataclasses.replace(config, **config_overrides)
        model = cls(config, seed=seed)
        if dtype is not None:
            model.astype(dtype)
        state = checkpoint.normalize_keys(checkpoint.load_weights(directory))
        model.load_checkpoint_state(state, strict=strict, source=str(directory))
        return model

    def load_checkpoint_state(self, state: dict, strict: bool = True, source: str = "") -> None:
        """Load checkpoint tensors, fixing the ``bert.`` prefix between base and task models."""
        own = self.state_dict()
        state = self._align_prefix(state, own)
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        mis_shaped = [
            f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
            for k in own
            if k in state and tuple(state[k].shape) != tuple(own[k].shape)
        ]
        required_missing = [k for k in missing if not k.startswith(OPTIONAL_PREFIXES)]
        required_unexpected = [k for k in unexpected if not k.startswith(OPTIONAL_PREFIXES)]
        problems = []
        if mis_shaped:
            problems.append("mis-shaped: " + "; ".join(mis_shaped))
        if strict and required_missing:
            problems.append("missing: " + ", ".join(required_missing))
        if strict and required_unexpected:
            problems.append("unexpected: " + ", ".join(required_unexpected))
        if problems:
            where = f" from {source}" if source else ""
            raise ValueError(
                f"cannot load {type(self).__name__}{where}: "
                + " | ".join(problems)
                + " (is the checkpoint's config the same architecture?)"
            )
        self.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
        self.loading_info = {"newly_initialized": missing, "unused": unexpected}
        if missing:
            warnings.warn(
                f"{type(self).__name__}: initialized from seed, not the checkpoint: "
                f"{', '.join(missing)} (train them before use)",
                stacklevel=3,
            )

    def _align_prefix(self, state: dict, own: dict) -> dict:
        """Add or strip the ``bert.`` prefix so a base checkpoint fits a task model and back."""
        prefix = self.base_model_prefix + "."
        model_has_prefix = any(k.startswith(prefix) for k in own)
        state_has_prefix = any(k.startswith(prefix) for k in state)
        if model_has_prefix and not state_has_prefix:
            return {(prefix + k if prefix + k in own else k): v for k, v in state.items()}
        if state_has_prefix and not model_has_prefix:
            # A task checkpoint loading into the base model: keep the body, drop the heads.
            return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        return state
