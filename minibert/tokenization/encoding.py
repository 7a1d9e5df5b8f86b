"""What a tokenizer call returns (``BatchEncoding``), and the rules for truncation and padding.

The rules are transformers' (more exactly, the Rust ``tokenizers`` library's, which
``BertTokenizerFast`` runs), so that the same text gives the same model inputs here and there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second")
PADDING_STRATEGIES = ("longest", "max_length")


class BatchEncoding(dict):
    """A dict of model inputs (``input_ids``, ``token_type_ids``, ``attention_mask``, ...).

    As in transformers, the keys can also be read as attributes (``enc.input_ids``), and
    ``enc.tokens()`` gives the token strings of the first (or the i-th) sequence.
    """

    def __init__(self, data: dict[str, Any], tokenizer=None, is_batched: bool = False):
        super().__init__(data)
        self._tokenizer = tokenizer
        self.is_batched = is_batched

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"BatchEncoding has no {name!r}; keys: {list(self)}") from None

    def tokens(self, batch_index: int = 0) -> list[str]:
        """The token strings of one sequence (special and padding tokens included)."""
        ids = self["input_ids"]
        if isinstance(ids, np.ndarray):
            ids = ids[batch_index] if ids.ndim == 2 else ids
        elif self.is_batched:
            ids = ids[batch_index]
        return self._tokenizer.convert_ids_to_tokens([int(i) for i in ids])


def truncation_strategy(truncation) -> str | None:
    """``truncation`` as transformers accepts it -> a strategy name, or None for no truncation."""
    if truncation is True:
        return "longest_first"
    if truncation is False or truncation is None or truncation == "do_not_truncate":
        return None
    if truncation in TRUNCATION_STRATEGIES:
        return truncation
    raise ValueError(
        f"truncation={truncation!r}: use True, False, or one of {', '.join(TRUNCATION_STRATEGIES)}"
    )


def padding_strategy(padding) -> str | None:
    """``padding`` as transformers accepts it -> "longest", "max_length", or None."""
    if padding is True:
        return "longest"
    if padding is False or padding is None or padding == "do_not_pad":
        return None
    if padding in PADDING_STRATEGIES:
        return padding
    raise ValueError(f"padding={padding!r}: use True, False, 'longest' or 'max_length'")


def truncated_lengths(
    len_a: int, len_b: int | None, budget: int, strategy: str
) -> tuple[int, int | None]:
    """How many tokens of each sequence to keep so that together they fit in ``budget``.

    ``budget`` is ``max_length`` minus the special tokens. The tokenizers library's rules:

    - one sequence: keep the first ``budget`` tokens;
    - ``only_first`` / ``only_second``: cut that sequence alone; if it would have to lose all its
      tokens, that is an error;
    - ``longest_first``: keep the shorter sequence whole and cut the longer, unless even then
      they do not fit, in which case each gets half the budget (the second one the odd token).
      This differs from the legacy Python tokenizer, which removes one token at a time from the
      longer sequence: for two 7-token sequences and a budget of 7, we keep (3, 4) where the
      legacy one keeps (4, 3).
    """
    if len_b is None:
        if len_a > budget and strategy == "only_second":
            raise ValueError("truncation='only_second' needs a text pair to truncate")
        return min(len_a, budget), None
    if len_a + len_b <= budget:
        return len_a, len_b
    if strategy == "longest_first":
        n1, n2 = len_a, len_b
        swap = n1 > n2
        if swap:
            n1, n2 = n2, n1  # n1: the shorter sequence, n2: the longer
        n2 = n1 if n1 > budget else max(n1, budget - n1)
        if n1 + n2 > budget:
            n1 = budget // 2
            n2 = n1 + budget % 2
        if swap:
            n1, n2 = n2, n1
        return min(len_a, n1), min(len_b, n2)
    to_remove = len_a + len_b - budget
    target = len_a if strategy == "only_first" else len_b
    if target <= to_remove:
        which = "first" if strategy == "only_first" else "second"
        raise ValueError(
            f"truncation={strategy!r} cannot fit the pair in the budget: the {which} sequence has "
            f"{target} tokens but {to_remove} must go; use truncation='longest_first' or a "
            "larger max_length"
        )
    if strategy == "only_first":
        return len_a - to_remove, len_b
    return len_a, len_b - to_remove


def pad_rows(
    rows: list[dict[str, list]], length: int, pad_token_id: int, keys: tuple[str, ...]
) -> None:
    """Pad every row (in place, on the right) to ``length`` tokens.

    Padding gets ``pad_token_id``, token type 0, attention 0, special-token mask 1 and offsets
    (0, 0), as in transformers.
    """
    fill = {
        "input_ids": pad_token_id,
        "token_type_ids": 0,
        "attention_mask": 0,
        "special_tokens_mask": 1,
        "offset_mapping": (0, 0),
    }
    for row in rows:
        missing = length - len(row["input_ids"])
        if missing > 0:
            for key in keys:
                row[key] += [fill[key]] * missing


def to_numpy(values: list, key: str) -> np.ndarray:
    """A batch of equal-length rows as an int64 array; a clear error when lengths differ."""
    lengths = {len(v) for v in values}
    if len(lengths) > 1:
        raise ValueError(
            f"cannot make one array of {key} with lengths {sorted(lengths)}: pass padding=True "
            "(or padding='max_length') together with return_tensors='np'"
        )
    if key == "offset_mapping":
        return np.array(values, dtype=np.int64).reshape(len(values), -1, 2)  # (B, T, 2)
    return np.array(values, dtype=np.int64).reshape(len(values), -1)  # (B, T)
