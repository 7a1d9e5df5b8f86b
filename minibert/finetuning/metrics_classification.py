"""Scores for sequence classification (accuracy, macro-F1, the confusion matrix) and regression
(Pearson, Spearman, mean squared error), in plain NumPy.

They compute what scikit-learn's ``accuracy_score``, ``f1_score(average="macro")`` and
``confusion_matrix`` and SciPy's ``pearsonr`` and ``spearmanr`` compute, with one documented
difference: a correlation that is undefined (one of the two series is constant) is reported as
0.0 rather than NaN, since "predicts no ordering at all" is what it means for a baseline.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _check_lengths(y_true: Sequence, y_pred: Sequence) -> None:
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true values but {len(y_pred)} predictions")
    if len(y_true) == 0:
        raise ValueError("cannot score an empty set of predictions")


def accuracy(y_true: Sequence, y_pred: Sequence) -> float:
    """The fraction of predictions equal to the truth.

    Shapes:
        y_true, y_pred (N,) of labels (any hashable values); returns a float.
    """
    _check_lengths(y_true, y_pred)
    return sum(t == p for t, p in zip(y_true, y_pred, strict=True)) / len(y_true)


def confusion_matrix(
    y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None
) -> np.ndarray:
    """Counts ``C[i, j]`` of examples whose truth is ``labels[i]`` and prediction ``labels[j]``.

    Args:
        labels: the row/column order (default: the sorted union of both sequences).

    Shapes:
        y_true, y_pred (N,); returns (L, L) int64, rows = truth, columns = prediction.
    """
    _check_lengths(y_true, y_pred)
    labels = list(labels) if labels is not None else sorted(set(y_true) | set(y_pred))
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)  # (L, L)
    for t, p in zip(y_true, y_pred, strict=True):
        if t not in index or p not in index:
            raise ValueError(f"label {t if t not in index else p!r} is not one of {labels}")
        matrix[index[t], index[p]] += 1
    return matrix


def per_class_f1(matrix: np.ndarray) -> np.ndarray:
    r"""F1 of every class from a confusion matrix: :math:`F_1 = 2TP / (2TP + FP + FN)`.

    A class with no true and no predicted examples (2TP + FP + FN = 0) scores 0, as
    scikit-learn does (with a warning there).

    Shapes:
        matrix (L, L); returns (L,).
    """
    tp = np.diag(matrix).astype(np.float64)  # (L,)
    fp = matrix.sum(axis=0) - tp  # predicted as the class, truly another
    fn = matrix.sum(axis=1) - tp  # truly the class, predicted as another
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)


def macro_f1(y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None) -> float:
    """The unweighted mean of the per-class F1 over ``labels`` (default: every label seen).

    Unlike accuracy, a rare class counts as much as a frequent one, so always predicting the
    majority class scores poorly even on skewed data.
    """
    return float(per_class_f1(confusion_matrix(y_true, y_pred, labels)).mean())


def rank_average(values: Sequence[float]) -> np.ndarray:
    """1-based ranks with ties given the mean of the ranks they span (SciPy's ``rankdata``).

    Shapes:
        values (N,); returns (N,) float64.
    """
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    # Each run of equal values [start, end) shares the rank (start + 1 + end) / 2.
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values), dtype=np.float64)
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + 1 + end) / 2
    return ranks


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    r"""Pearson's correlation :math:`\sum (x-\bar x)(y-\bar y) / \sqrt{\sum (x-\bar x)^2
    \sum (y-\bar y)^2}`; 0.0 when either series is constant (undefined there).

    Shapes:
        x, y (N,); returns a float in [-1, 1].
    """
    _check_lengths(x, y)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if np.all(x == x[0]) or np.all(y == y[0]):
        return 0.0  # tested on the values: x - mean(x) of a constant can round to 1e-17
    x, y = x - x.mean(), y - y.mean()
    # Correlation ignores scale: dividing by the largest deviation first keeps the squares away
    # from underflow (values near 1e-150) and overflow (near 1e+200).
    x, y = x / np.abs(x).max(), y / np.abs(y).max()
    denominator = np.sqrt(np.dot(x, x)) * np.sqrt(np.dot(y, y))
    return float(np.clip(np.dot(x, y) / denominator, -1.0, 1.0))


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation: Pearson's on the average ranks (ties handled as SciPy)."""
    _check_lengths(x, y)
    return pearson(rank_average(x), rank_average(y))


def mean_squared_error(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    _check_lengths(y_true, y_pred)
    difference = np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)
    return float(np.mean(difference * difference))


def classification_scores(y_true: Sequence, y_pred: Sequence) -> dict[str, float]:
    """``{"accuracy", "macro_f1"}``, what the classification task reports."""
    return {"accuracy": accuracy(y_true, y_pred), "macro_f1": macro_f1(y_true, y_pred)}


def regression_scores(y_true: Sequence[float], y_pred: Sequence[float]) -> dict[str, float]:
    """``{"spearman", "pearson", "mse"}``, what the regression task reports."""
    return {
        "spearman": spearman(y_true, y_pred),
        "pearson": pearson(y_true, y_pred),
        "mse": mean_squared_error(y_true, y_pred),
    }
