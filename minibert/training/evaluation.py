"""Held-out evaluation of a pretraining model, next to the baselines it must beat."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from autograd import no_grad
from minibert.data.pretraining import IGNORE_INDEX


def most_frequent_token(data, max_batches: int = 5000) -> int:
    """The token most often chosen as an MLM label in the training data: the constant guess."""
    counts: Counter = Counter()
    for index, batch in enumerate(data.epoch_batches(0)):
        labels = batch["labels"]
        counts.update(labels[labels != IGNORE_INDEX].tolist())
        if index + 1 >= max_batches:
            break
    return counts.most_common(1)[0][0]


@no_grad()
def evaluate(
    model, data, baseline_token: int | None = None, max_batches: int | None = None
) -> dict:
    """MLM loss, accuracy and perplexity, and NSP accuracy, on ``data``'s epoch 0 (fixed masks).

    Returns:
        A dict of floats. ``mlm_baseline_accuracy`` is the accuracy of always guessing
        ``baseline_token``; ``nsp_baseline_accuracy`` that of always guessing the commoner label.
    """
    was_training = model.training
    model.eval()
    nll = correct = count = 0.0
    nsp_correct = nsp_count = baseline_hits = 0
    nsp_labels: Counter = Counter()
    for index, batch in enumerate(data.epoch_batches(0)):
        if max_batches is not None and index >= max_batches:
            break
        out = model(**batch)
        targets = batch["labels"].reshape(-1)[out.masked_positions]
        logits = out.prediction_logits.data.astype(np.float64)
        log_norm = np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1)) + logits.max(1)
        nll += float((log_norm - logits[np.arange(len(targets)), targets]).sum())
        correct += float((logits.argmax(1) == targets).sum())
        count += len(targets)
        if baseline_token is not None:
            baseline_hits += int((targets == baseline_token).sum())
        nsp = batch.get("next_sentence_label")
        if nsp is not None:
            nsp_correct += int((out.seq_relationship_logits.data.argmax(1) == nsp).sum())
            nsp_count += len(nsp)
            nsp_labels.update(nsp.tolist())
    model.train(was_training)
    if count == 0:
        raise ValueError("the evaluation data produced no masked positions")
    metrics = {
        "mlm_loss": nll / count,
        "mlm_perplexity": math.exp(min(nll / count, 700.0)),
        "mlm_accuracy": correct / count,
        "mlm_predictions": int(count),
    }
    if baseline_token is not None:
        metrics["mlm_baseline_accuracy"] = baseline_hits / count
    if nsp_count:
        metrics["nsp_accuracy"] = nsp_correct / nsp_count
        metrics["nsp_baseline_accuracy"] = max(nsp_labels.values()) / nsp_count
    return metrics
