"""SQuAD v1.1 exact match and F1, computed as the official ``evaluate-v1.1.py`` computes them.

An answer is compared with each gold answer after normalization (lowercase, drop punctuation,
drop the articles a/an/the, collapse whitespace); a question scores the best of its gold answers;
the dataset's figures are the mean over questions, in percent. F1 counts the tokens (after
normalization, split on whitespace) that the prediction and the gold answer share, as a bag:
"the 1894 1894" against "1894" shares one token.

These are v1.1's rules exactly: an empty prediction scores 0 against any gold answer (v2.0's
script, which has unanswerable questions, scores an empty prediction 1 against an empty gold).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lowercase, remove punctuation, articles and extra whitespace (the official order)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match_score(prediction: str, ground_truth: str) -> float:
    """1.0 when the two answers are equal after normalization, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(ground_truth))


def f1_score(prediction: str, ground_truth: str) -> float:
    """Token-overlap F1 of two answers after normalization (0.0 when they share no token)."""
    predicted = normalize_answer(prediction).split()
    gold = normalize_answer(ground_truth).split()
    shared = sum((Counter(predicted) & Counter(gold)).values())
    if shared == 0:
        return 0.0
    precision = shared / len(predicted)
    recall = shared / len(gold)
    return 2 * precision * recall / (precision + recall)


def metric_max_over_ground_truths(
    metric: Callable[[str, str], float], prediction: str, ground_truths: Sequence[str]
) -> float:
    """The best score of ``prediction`` against any of the gold answers."""
    if not ground_truths:
        raise ValueError("a question needs at least one gold answer to be scored")
    return max(metric(prediction, truth) for truth in ground_truths)


def squad_evaluate(
    predictions: Mapping[str, str], ground_truths: Mapping[str, Sequence[str]]
) -> dict[str, float]:
    """``{"exact_match", "f1"}`` in percent over the questions of ``ground_truths``.

    Args:
        predictions: question id -> predicted answer text. A question without a prediction
            scores 0, as in the official script.
        ground_truths: question id -> its gold answer texts.
    """
    if not ground_truths:
        raise ValueError("no questions to evaluate")
    exact = f1 = 0.0
    for question_id, truths in ground_truths.items():
        if question_id not in predictions:
            continue
        exact += metric_max_over_ground_truths(exact_match_score, predictions[question_id], truths)
        f1 += metric_max_over_ground_truths(f1_score, predictions[question_id], truths)
    return {
        "exact_match": 100.0 * exact / len(ground_truths),
        "f1": 100.0 * f1 / len(ground_truths),
    }
