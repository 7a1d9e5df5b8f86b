"""Checking model inputs and building attention masks.

Every error names the offending value and the limit, and says what to do, because an index error
deep inside an embedding lookup tells a learner nothing.
"""

from __future__ import annotations

from autograd import Tensor, get_xp
from minibert.config import BertConfig


def as_index_array(values, name: str, xp):
    """``values`` (list, array or integer Tensor) as an integer array of module ``xp``."""
    if values is None:
        return None
    if isinstance(values, Tensor):
        values = values.data
    if isinstance(values, (list, tuple)):
        values = xp.asarray(values)
    elif get_xp(values).__name__ != xp.__name__:
        raise TypeError(
            f"{name} is a {get_xp(values).__name__} array but the model's weights live in "
            f"{xp.__name__}; create the inputs on the model's device"
        )
    if values.dtype.kind not in "iub":
        raise TypeError(f"{name} must hold integers, got dtype {values.dtype}")
    return values.astype(xp.int64, copy=False)


def check_inputs(config: BertConfig, input_ids, attention_mask, token_type_ids) -> None:
    """Raise ValueError for shapes or ids the model cannot take."""
    if input_ids.ndim != 2:
        raise ValueError(
            f"input_ids must be (batch, sequence), got shape {tuple(input_ids.shape)}; "
            "wrap a single sequence in a list: [ids]"
        )
    batch, length = input_ids.shape
    if length > config.max_position_embeddings:
        raise ValueError(
            f"input_ids has {length} tokens but max_position_embeddings is "
            f"{config.max_position_embeddings}; pass truncation=True to the tokenizer or use a "
            "model with more positions"
        )
    if input_ids.size:
        low, high = int(input_ids.min()), int(input_ids.max())
        if low < 0 or high >= config.vocab_size:
            bad = high if high >= config.vocab_size else low
            raise ValueError(
                f"input_ids holds {bad} but vocab_size is {config.vocab_size}; ids must be in "
                f"[0, {config.vocab_size}) (is the tokenizer's vocabulary the model's?)"
            )
    for name, array in (("attention_mask", attention_mask), ("token_type_ids", token_type_ids)):
        if array is not None and tuple(array.shape) != (batch, length):
            raise ValueError(
                f"{name} has shape {tuple(array.shape)} but input_ids has {(batch, length)}"
            )
    if attention_mask is not None and attention_mask.size:
        if int(attention_mask.min()) < 0 or int(attention_mask.max()) > 1:
            raise ValueError("attention_mask must hold 1 (attend) and 0 (padding) only")
    if token_type_ids is not None and token_type_ids.size:
        high = int(token_type_ids.max())
        if int(token_type_ids.min()) < 0 or high >= config.type_vocab_size:
            raise ValueError(
                f"token_type_ids holds {high} but type_vocab_size is {config.type_vocab_size}; "
                f"ids must be in [0, {config.type_vocab_size})"
            )


def additive_attention_mask(attention_mask, length: int, causal: bool, dtype, xp):
    """The mask added to attention scores: 0 where a query may look, the dtype's minimum where not.

    Using the dtype's minimum (as transformers does) rather than -inf keeps a fully padded row
    finite: its softmax is uniform garbage instead of NaN, and padded rows are ignored anyway.

    Shapes:
        attention_mask (B, T) of 1/0 or None; returns (B, 1, 1, T), (B, 1, T, T) with ``causal``,
        (1, 1, T, T) causal without a padding mask, or None when nothing is masked.
    """
    keep = None
    if attention_mask is not None:
        keep = attention_mask.astype(bool)[:, None, None, :]  # (B, T) -> (B, 1, 1, T)
    if causal:
        lower = xp.tril(xp.ones((length, length), dtype=bool))[None, None]  # (1, 1, T, T)
        keep = lower if keep is None else keep & lower
    if keep is None:
        return None
    return xp.where(keep, 0.0, xp.finfo(dtype).min).astype(dtype)
