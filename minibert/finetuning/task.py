"""What every fine-tuning task provides, and the encoded features the trainer batches.

A task (classification, regression, token classification, question answering) is the part of
fine-tuning that differs from one problem to the next: how its files are read, how an example
becomes model inputs, how model outputs become a prediction, and how predictions are scored. The
trainer (``minibert.finetuning.trainer``) is the same for all of them: it batches ``Features``,
runs the optimizer, evaluates with ``Task.predict`` and ``Task.evaluate``, and keeps the best
checkpoint.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from minibert.modeling.models import IGNORE_INDEX


class DatasetError(ValueError):
    """A data file (or one of its records) that cannot be used; names the file and the line."""

    def __init__(self, path: str | os.PathLike, line: int | None, problem: str):
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")
        self.path, self.line, self.problem = str(path), line, problem


# How each per-token column is padded: token ids with the tokenizer's [PAD], segment ids and the
# attention mask with 0, and token labels with the ignore index (padding carries no loss).
PAD_VALUES = {"token_type_ids": 0, "attention_mask": 0, "labels": IGNORE_INDEX}


@dataclass
class Features:
    """Model inputs for a list of examples: one row per sequence the model reads.

    Most tasks encode one example as one row; question answering splits a long context into
    several overlapping windows, so ``example_index`` maps every row back to its example.

    Args:
        tokens: per-token columns, unpadded: ``input_ids``, ``token_type_ids``,
            ``attention_mask`` and, for token classification, ``labels``; each a list of N rows.
        targets: per-row targets the model takes as keyword arguments: ``labels`` (N,) for
            sequence classification and regression, ``start_positions`` and ``end_positions``
            (N,) for question answering. Empty when the examples carry no labels.
        example_index: (N,) the example each row belongs to.
        extra: per-row data the model does not read but ``Task.predict`` needs (offsets,
            word ids, sequence ids), each a list of N items.
        pad_token_id: the tokenizer's [PAD] id.

    Shapes:
        each ``tokens`` row has its own length T_i; ``targets`` arrays are (N,).
    """

    tokens: dict[str, list[list[int]]]
    targets: dict[str, np.ndarray] = field(default_factory=dict)
    example_index: np.ndarray | None = None
    extra: dict[str, list] = field(default_factory=dict)
    pad_token_id: int = 0

    def __post_init__(self) -> None:
        n = len(self.tokens["input_ids"])
        if self.example_index is None:
            self.example_index = np.arange(n)
        for name, column in [*self.tokens.items(), *self.targets.items(), *self.extra.items()]:
            if len(column) != n:
                raise ValueError(f"feature column {name!r} has {len(column)} rows, expected {n}")

    def __len__(self) -> int:
        return len(self.tokens["input_ids"])

    def batch(self, rows: Sequence[int]) -> dict[str, np.ndarray]:
        """The model's keyword arguments for ``rows``, padded to the longest of them.

        Padding per batch rather than to a fixed length keeps short-text tasks cheap: attention
        costs T^2, and most fine-tuning texts are far shorter than ``max_seq_length``.

        Shapes:
            returns (B, T) int64 arrays for the token columns, (B,) for the targets.
        """
        rows = list(rows)
        length = max(len(self.tokens["input_ids"][r]) for r in rows)
        inputs = {}
        for name, column in self.tokens.items():
            fill = self.pad_token_id if name == "input_ids" else PAD_VALUES[name]
            padded = np.full((len(rows), length), fill, dtype=np.int64)  # (B, T)
            for i, r in enumerate(rows):
                padded[i, : len(column[r])] = column[r]
            inputs[name] = padded
        for name, values in self.targets.items():
            inputs[name] = values[rows]  # (B,)
        return inputs

    def batches(
        self, batch_size: int, generator: np.random.Generator | None = None
    ) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
        """Yield ``(rows, inputs)`` for one pass: shuffled by ``generator``, or in order."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        order = generator.permutation(len(self)) if generator is not None else np.arange(len(self))
        for start in range(0, len(self), batch_size):
            rows = order[start : start + batch_size]
            yield rows, self.batch(rows)


class Task(ABC):
    """One kind of fine-tuning problem; subclasses are registered in ``minibert.finetuning``.

    A subclass sets the class attributes and implements the abstract methods. Examples are the
    task's own dataclasses; each carries ``where`` (``"file:line"``) so that errors found after
    reading (an unknown label, an answer outside its context) can name their source.
    """

    name: ClassVar[str]  # the ``--task`` value: "classification", "token-classification", ...
    model_class: ClassVar[type]  # e.g. BertForSequenceClassification
    metric: ClassVar[str]  # the validation metric that picks the best checkpoint; higher is better
    baseline_name: ClassVar[str]  # what the trivial baseline is: "majority class", "all-O tags"

    @abstractmethod
    def read(self, path: str | os.PathLike) -> list:
        """Examples from a data file; raises ``DatasetError`` naming the file and line."""

    def label_names(self, examples: Sequence) -> list[str] | None:
        """The label set in a fixed order (the model's ``id2label``), or None (regression, QA)."""
        return None

    def num_labels(self, label_names: list[str] | None) -> int:
        """The model's ``num_labels`` for this label set."""
        return len(label_names) if label_names else 2

    @abstractmethod
    def encode(
        self,
        examples: Sequence,
        tokenizer,
        max_seq_length: int,
        label2id: dict[str, int] | None,
        with_targets: bool = True,
    ) -> Features:
        """Tokenize ``examples`` into features; with targets when ``with_targets`` (training)."""

    @abstractmethod
    def predict(self, model, features: Features, examples: Sequence, batch_size: int) -> list:
        """One prediction per example, in the task's JSON-ready form (model in eval mode)."""

    @abstractmethod
    def evaluate(self, predictions: list, examples: Sequence) -> dict[str, float]:
        """Scores of ``predictions`` against the examples' labels; includes ``self.metric``."""

    @abstractmethod
    def baseline(self, train_examples: Sequence, eval_examples: Sequence) -> dict[str, float]:
        """The scores of the trivial baseline (named ``baseline_name``) on ``eval_examples``."""

    def settings(self) -> dict[str, Any]:
        """Task options that must be saved with the checkpoint (e.g. QA's ``doc_stride``)."""
        return {}
