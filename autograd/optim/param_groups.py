"""``weight_decay_groups``: BERT's split of parameters into decayed and not decayed."""

from __future__ import annotations

from collections.abc import Iterable

from autograd.tensor import Tensor

NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight")


def weight_decay_groups(
    named_parameters: Iterable[tuple[str, Tensor]],
    weight_decay: float,
    no_decay: Iterable[str] = NO_DECAY,
) -> list[dict]:
    """Two parameter groups: weights that decay, and biases and LayerNorm weights that don't.

    The recipe of Google's BERT and of transformers' examples: decay pulls weights towards 0,
    which regularizes matrices but would only fight a bias's offset or LayerNorm's gain of 1.
    The choice is made *by name only*: a parameter is exempt when any ``no_decay`` pattern
    occurs in its name as a substring (so ``"bias"`` also catches ``LayerNorm.bias``). Shapes
    are not consulted, so a 1-D parameter with another name (an embedding of width 1, a scale)
    does decay; add its name to ``no_decay`` to exempt it.

    Args:
        named_parameters: ``(name, parameter)`` pairs, e.g. ``model.named_parameters()``.
        weight_decay: the decay of the first group.
        no_decay: name substrings that put a parameter in the second group.

    Returns:
        ``[{"params": decayed, "weight_decay": weight_decay}, {"params": exempt,
        "weight_decay": 0.0}]``, ready for ``AdamW(groups, lr=...)``. Either list may be empty.
    """
    no_decay = tuple(no_decay)
    decayed, exempt = [], []
    for name, param in named_parameters:
        (exempt if any(pattern in name for pattern in no_decay) else decayed).append(param)
    return [
        {"params": decayed, "weight_decay": weight_decay},
        {"params": exempt, "weight_decay": 0.0},
    ]
