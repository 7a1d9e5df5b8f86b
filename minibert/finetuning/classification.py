"""Sequence classification and regression on single texts or text pairs.

BERT reads ``[CLS] text [SEP]`` (or ``[CLS] text [SEP] text_pair [SEP]``, the pair's tokens with
token type 1), and ``BertForSequenceClassification`` puts one linear layer on the pooled
``[CLS]`` state: ``tanh(W_p h_[CLS] + b_p)``. With L labels the layer gives L logits and the
loss is cross-entropy; with ``num_labels == 1`` it gives one number and the loss is the mean
squared error (regression, e.g. a similarity score).

Data files hold one example per record, with columns ``text``, optional ``text_pair`` and
``label`` (a class name, or a number for regression), in one of three formats chosen by the
file's extension: ``.csv`` (Python's csv dialect: quotes around fields with commas), ``.tsv``
(tab-separated, a header line, no quoting) and ``.jsonl`` (one JSON object per line).
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autograd import no_grad
from minibert.finetuning import metrics_classification as metrics
from minibert.finetuning.task import DatasetError, Features, Task
from minibert.modeling import BertForSequenceClassification
from minibert.scoring import softmax, to_host

FORMATS = (".csv", ".tsv", ".jsonl")


@dataclass
class TextExample:
    """One text (or pair) and its label: a class name, a float (regression), or None."""

    text: str
    text_pair: str | None
    label: str | float | None
    where: str  # "file:line", for errors found after reading


def read_records(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """``(line, record)`` for every record of a CSV, TSV or JSONL file.

    The line is where the record starts (1-based, the header being line 1 of CSV and TSV).
    Raises ``DatasetError`` for an unknown extension, an empty file, a malformed JSON line, and
    a CSV/TSV row whose number of fields differs from the header's.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise DatasetError(
            path, None, f"unknown format {suffix or '(no extension)'!r}; use {', '.join(FORMATS)}"
        )
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    with open(path, encoding="utf-8", newline="") as handle:
        if suffix == ".jsonl":
            yield from _jsonl_records(path, handle)
        else:
            yield from _delimited_records(path, handle, suffix)


def _jsonl_records(path: Path, handle) -> Iterator[tuple[int, dict]]:
    for line_number, line in enumerate(handle, start=1):
        if not line.strip():
            continue  # blank lines (a trailing newline, say) carry no record
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DatasetError(path, line_number, f"malformed JSON: {error.msg}") from None
        if not isinstance(record, dict):
            raise DatasetError(
                path, line_number, f"expected a JSON object, got {type(record).__name__}"
            )
        yield line_number, record


def _delimited_records(path: Path, handle, suffix: str) -> Iterator[tuple[int, dict]]:
    if suffix == ".tsv":
        # Tab-separated with no quoting: a quote mark in a text is just a character.
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(handle)
    header = next(reader, None)
    if header is None:
        return
    header = [name.strip() for name in header]
    line_number = reader.line_num + 1
    for row in reader:
        start, line_number = line_number, reader.line_num + 1
        if not row:
            continue
        if len(row) != len(header):
            raise DatasetError(
                path,
                start,
                f"{len(row)} fields but the header has {len(header)} ({', '.join(header)}); "
                + ("check for a stray tab" if suffix == ".tsv" else "quote fields with commas"),
            )
        yield start, dict(zip(header, row, strict=True))


class ClassificationTask(Task):
    """Classify a text or a text pair into one of the labels seen in the training data.

    The validation metric is accuracy, the one GLUE reports for its sentiment task (SST-2): on
    balanced data such as the shipped sentiment set it reads directly as "how often is it
    right", and the majority baseline sits at the share of the largest class. Macro-F1 is
    reported beside it: read it instead when the classes are skewed, where the majority class
    alone already scores a high accuracy (but a macro-F1 near 1/L).
    """

    name = "classification"
    model_class = BertForSequenceClassification
    metric = "accuracy"
    baseline_name = "majority class"

    # ------------------------------------------------------------------------------ reading
    def read(self, path: str | os.PathLike) -> list[TextExample]:
        """Examples of a CSV/TSV/JSONL file; ``label`` may be absent (unlabelled texts)."""
        examples, has_label = [], None
        for line, record in read_records(path):
            if "text" not in record:
                raise DatasetError(
                    path, line, f"no 'text' column (found: {', '.join(record) or 'none'})"
                )
            where = f"{path}:{line}"
            if has_label is None:
                has_label = "label" in record
            elif has_label != ("label" in record):
                raise DatasetError(path, line, "some records have a 'label' and this one has not")
            examples.append(
                TextExample(
                    text=self._text(record["text"], "text", path, line),
                    text_pair=self._pair(record.get("text_pair"), path, line),
                    label=self.parse_label(record["label"], path, line) if has_label else None,
                    where=where,
                )
            )
        if not examples:
            raise DatasetError(path, None, "the file holds no examples (is it empty?)")
        return examples

    @staticmethod
    def _text(value, column: str, path, line: int) -> str:
        if not isinstance(value, str):
            raise DatasetError(path, line, f"'{column}' must be a string, got {value!r}")
        if not value.strip():
            raise DatasetError(path, line, f"empty '{column}'; remove the record or fill it in")
        return value

    def _pair(self, value, path, line: int) -> str | None:
        # An empty text_pair cell in a CSV/TSV with that column means "no pair" for that row.
        return None if value is None or value == "" else self._text(value, "text_pair", path, line)

    def parse_label(self, value, path, line: int) -> str:
        """A class name: any non-empty string (JSON numbers and booleans become strings)."""
        if isinstance(value, bool) or isinstance(value, (int, float)):
            value = json.dumps(value)
        if not isinstance(value, str) or not value.strip():
            raise DatasetError(path, line, f"empty or invalid label {value!r}")
        return value.strip()

    @staticmethod
    def is_labelled(examples: Sequence[TextExample]) -> bool:
        return all(e.label is not None for e in examples)

    def label_names(self, examples: Sequence[TextExample]) -> list[str]:
        """The labels found in ``examples``, sorted (the model's ``id2label`` order)."""
        names = sorted({e.label for e in examples if e.label is not None})
        if len(names) < 2:
            raise ValueError(
                f"classification needs at least two labels, the data has {names or 'none'}"
            )
        return names

    # ----------------------------------------------------------------------------- encoding
    def encode(
        self,
        examples: Sequence[TextExample],
        tokenizer,
        max_seq_length: int,
        label2id: dict[str, int] | None,
        with_targets: bool = True,
    ) -> Features:
        """``[CLS] text [SEP] (text_pair [SEP])`` per example, truncated longest-first."""
        inputs = [e.text if e.text_pair is None else (e.text, e.text_pair) for e in examples]
        encoded = tokenizer(inputs, truncation=True, max_length=max_seq_length)
        targets = {}
        if with_targets:
            targets["labels"] = self.targets(examples, label2id)
        return Features(
            tokens={
                key: list(encoded[key]) for key in ("input_ids", "token_type_ids", "attention_mask")
            },
            targets=targets,
            pad_token_id=tokenizer.pad_token_id,
        )

    def targets(self, examples: Sequence[TextExample], label2id: dict[str, int] | None):
        """The (N,) label ids; an unlabelled example or an unknown label names its line."""
        if not label2id:
            raise ValueError("classification needs the model's label2id to encode labels")
        ids = np.empty(len(examples), dtype=np.int64)
        for i, example in enumerate(examples):
            self._check_labelled(example)
            if example.label not in label2id:
                path, line = _split_where(example.where)
                raise DatasetError(
                    path,
                    line,
                    f"unknown label {example.label!r}; the model knows {', '.join(label2id)}",
                )
            ids[i] = label2id[example.label]
        return ids

    @staticmethod
    def _check_labelled(example: TextExample) -> None:
        if example.label is None:
            path, line = _split_where(example.where)
            raise DatasetError(path, line, "no label (the file has no 'label' column)")

    # -------------------------------------------------------------------------- predicting
    def predict(self, model, features: Features, examples, batch_size: int) -> list[dict]:
        """Per example ``{"label", "score"}``: the most probable class and its probability."""
        labels = _id2label(model)
        probabilities = softmax(predict_logits(model, features, batch_size))
        best = probabilities.argmax(axis=1)  # (N,)
        return [
            {"label": labels[k], "score": float(probabilities[i, k])} for i, k in enumerate(best)
        ]

    def evaluate(self, predictions: list[dict], examples) -> dict[str, float]:
        return metrics.classification_scores(
            [e.label for e in examples], [p["label"] for p in predictions]
        )

    def baseline(self, train_examples, eval_examples) -> dict[str, float]:
        """Always predict the most frequent training label (ties: the first in sorted order)."""
        counts = Counter(e.label for e in train_examples)
        majority = min(counts, key=lambda label: (-counts[label], label))
        return self.evaluate([{"label": majority}] * len(eval_examples), eval_examples)


class RegressionTask(ClassificationTask):
    """Predict a number for a text or a pair (a similarity score, say): one output, MSE loss.

    The validation metric is Spearman's rank correlation, as for STS-B in GLUE: it asks whether
    the model orders the pairs right, whatever the scale of its outputs. Pearson's correlation
    and the mean squared error are reported beside it.
    """

    name = "regression"
    metric = "spearman"
    baseline_name = "training mean"

    def parse_label(self, value, path, line: int) -> float:
        """A finite number (a JSON number or a numeric string)."""
        try:
            number = float(value) if not isinstance(value, bool) else math.nan
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number):
            raise DatasetError(path, line, f"the label {value!r} is not a finite number")
        return number

    def label_names(self, examples) -> None:
        return None

    def num_labels(self, label_names) -> int:
        return 1

    def targets(self, examples, label2id) -> np.ndarray:
        for example in examples:
            self._check_labelled(example)
        return np.array([e.label for e in examples], dtype=np.float32)  # (N,)

    def predict(self, model, features: Features, examples, batch_size: int) -> list[dict]:
        """Per example ``{"score": value}``, the model's one output."""
        values = predict_logits(model, features, batch_size)[:, 0]  # (N, 1) -> (N,)
        return [{"score": float(v)} for v in values]

    def evaluate(self, predictions: list[dict], examples) -> dict[str, float]:
        return metrics.regression_scores(
            [e.label for e in examples], [p["score"] for p in predictions]
        )

    def baseline(self, train_examples, eval_examples) -> dict[str, float]:
        """Always predict the training mean: no ordering (correlations 0), and its MSE."""
        mean = float(np.mean([e.label for e in train_examples]))
        return self.evaluate([{"score": mean}] * len(eval_examples), eval_examples)


# ------------------------------------------------------------------------------------ helpers
def _split_where(where: str) -> tuple[str, int | None]:
    path, _, line = where.rpartition(":")
    return (path, int(line)) if line.isdigit() else (where, None)


def _id2label(model) -> list[str]:
    """Label names in id order; transformers' ``LABEL_i`` when the config has none."""
    n, id2label = model.config.num_labels, model.config.id2label or {}
    return [id2label.get(i, f"LABEL_{i}") for i in range(n)]


@no_grad()
def predict_logits(model, features: Features, batch_size: int) -> np.ndarray:
    """The model's logits for every row of ``features``, in order, as a NumPy array.

    Shapes:
        returns (N, num_labels).
    """
    was_training = model.training
    model.eval()
    outputs = []
    for _, batch in features.batches(batch_size):
        batch = {k: v for k, v in batch.items() if k not in features.targets}
        logits = model(**batch).logits.data  # (B, num_labels)
        outputs.append(to_host(logits))
    model.train(was_training)
    return np.concatenate(outputs, axis=0)  # (N, num_labels)


def classify(model, tokenizer, texts, text_pairs=None, top_k: int = 1) -> list[list[dict]]:
    """transformers' text-classification pipeline: per text, the ``top_k`` labels and scores.

    Args:
        model: a ``BertForSequenceClassification`` (``num_labels == 1``: regression).
        tokenizer: its ``WordPieceTokenizer``; inputs are truncated to its ``model_max_length``
            (and to the model's ``max_position_embeddings``).
        texts: a str or a list of str; text_pairs: None, or one pair per text.
        top_k: how many labels to return per text, most probable first (None: all).

    Returns:
        One list per text of ``{"label", "score"}`` (score: the softmax probability), or of
        one ``{"score": value}`` for a regression model.
    """
    if isinstance(texts, str):
        texts = [texts]
    if isinstance(text_pairs, str):
        text_pairs = [text_pairs]
    if text_pairs is not None and len(text_pairs) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(text_pairs)} text_pairs")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be at least 1 (or None for all), got {top_k}")
    pairs = text_pairs if text_pairs is not None else [None] * len(texts)
    examples = [
        TextExample(t, p, None, f"<text {i}>")
        for i, (t, p) in enumerate(zip(texts, pairs, strict=True))
    ]
    if not examples:
        return []
    max_length = min(tokenizer.model_max_length, model.config.max_position_embeddings)
    features = ClassificationTask().encode(examples, tokenizer, max_length, None, False)
    logits = predict_logits(model, features, batch_size=64)  # (N, num_labels)
    if model.config.num_labels == 1:
        return [[{"score": float(value)}] for value in logits[:, 0]]
    labels, probabilities = _id2label(model), softmax(logits)
    results = []
    for row in probabilities:
        ranked = np.argsort(-row, kind="stable")[:top_k]
        results.append([{"label": labels[k], "score": float(row[k])} for k in ranked])
    return results
