"""Model outputs as NumPy scores: the host copy of an array, and probabilities in float64.

Pipelines and task predictions report scores to people and to JSON files, so they work on the
CPU in float64 whatever device and dtype the model ran in; this module is the one place that
turns logits into those numbers.
"""

from __future__ import annotations

import numpy as np


def to_host(array) -> np.ndarray:
    """A NumPy array of a NumPy or CuPy array (CuPy's ``.get()`` copies it to the CPU)."""
    return np.asarray(array.get() if hasattr(array, "get") else array)


def softmax(logits) -> np.ndarray:
    """Probabilities over the last axis, in float64; ``-inf`` logits get probability 0.

    Shapes:
        logits (..., L); returns (..., L).
    """
    logits = to_host(logits).astype(np.float64)
    exponentials = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exponentials / exponentials.sum(axis=-1, keepdims=True)
