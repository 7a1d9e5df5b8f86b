"""What a tokenizer call returns (``BatchEncoding``), and the rules for truncation and padding.

The rules are transformers' (more exactly, the Rust ``tokenizers`` library's, which
``BertTokenizerFast`` runs), so that the same text gives the same model inputs here and there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from minibert.tokenization.windows import Span

TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second")
PADDING_STRATEGIES = ("longest", "max_length")


# Where one row's tokens come from: (example, first, second). ``example`` is the index of the
# input example; ``first`` and ``second`` are [start, stop) spans of each text's tokens (special
# tokens not counted), ``second`` None for a single text. Plain tuples: one is made per row, on
# the hot path of every call.
RowLayout = tuple[int, Span, Span | None]


class BatchEncoding(dict):
    """A dict of model inputs (``input_ids``, ``token_type_ids``, ``attention_mask``, ...).

    As in transformers, the keys can also be read as attributes (``enc.input_ids``), and
    ``enc.tokens()``, ``enc.word_ids()`` and ``enc.sequence_ids()`` describe the tokens of the
    first (or the i-th) row.

    Args:
        data: the model inputs.
        tokenizer: what ``tokens`` converts ids with (and ``word_ids`` tokenizes with).
        is_batched: whether ``data`` holds rows (lists of lists) rather than one row.

    A tokenizer call also sets what ``word_ids`` and ``sequence_ids`` read, as attributes (so
    that a plain call, which never asks, pays as little as possible for them):

    - ``_inputs``: ``(firsts, seconds)``, the texts (or word lists) of each example,
      ``seconds[i]`` None for a single text; ``word_ids`` tokenizes them again, only when asked;
    - ``_layouts``: one ``RowLayout`` per row, for overflowing windows; otherwise None, and
      row i is example i, all of it or (``_truncation``: ``(strategy, max_length)``) its first
      ``truncated_lengths`` tokens;
    - ``_is_split_into_words``, ``_add_special_tokens``: the call's arguments.
    """

    _inputs: tuple[Sequence, Sequence] | None = None
    _layouts: list[RowLayout] | None = None
    _truncation: tuple[str, int] | None = None
    _is_split_into_words = False
    _add_special_tokens = True
    _words_cache: dict[tuple[int, int], list[int]] | None = None  # made on first use

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

    def sequence_ids(self, batch_index: int = 0) -> list[int | None]:
        """Which text each token of a row belongs to: 0 (the first), 1 (the second of a pair).

        None for the special tokens the tokenizer added and for padding. A special token written
        in the text itself (``"[SEP]"`` in a sentence) belongs to its text, as in transformers.
        """
        _, (start_a, stop_a), span_b = self._layout(batch_index)
        second = None if span_b is None else [1] * (span_b[1] - span_b[0])
        return self._assemble(batch_index, [0] * (stop_a - start_a), second)

    def word_ids(self, batch_index: int = 0) -> list[int | None]:
        """The index of the word each token of a row came from (None: special token, padding).

        With ``is_split_into_words=True`` the index is into the list of words given; for plain
        text it counts the words of the basic tokenizer (punctuation marks and CJK characters are
        words of their own, as in transformers). Each text of a pair counts from 0, and in an
        overflowing window the indices are still those of the whole text.
        """
        example, span_a, span_b = self._layout(batch_index)
        first = self._words(example, 0)[slice(*span_a)]
        second = None if span_b is None else self._words(example, 1)[slice(*span_b)]
        return self._assemble(batch_index, first, second)

    def _layout(self, batch_index: int) -> RowLayout:
        if self._inputs is None:
            raise ValueError(
                "this BatchEncoding was not made by a tokenizer call, so it does not know where "
                "its tokens came from; call the tokenizer to get word_ids/sequence_ids"
            )
        n_rows = len(self._inputs[0]) if self._layouts is None else len(self._layouts)
        if not -n_rows <= batch_index < n_rows:
            raise IndexError(f"batch_index={batch_index}, but this encoding holds {n_rows} row(s)")
        if self._layouts is not None:
            return self._layouts[batch_index]
        example = batch_index % n_rows  # row i is example i
        len_a, len_b = len(self._words(example, 0)), None
        if self._inputs[1][example] is not None:
            len_b = len(self._words(example, 1))
        if self._truncation is not None:  # the same rule as the call: its first tokens
            strategy, max_length = self._truncation
            n_special = (2 if len_b is None else 3) if self._add_special_tokens else 0
            len_a, len_b = truncated_lengths(len_a, len_b, max_length - n_special, strategy)
        return example, (0, len_a), None if len_b is None else (0, len_b)

    def _words(self, example: int, which: int) -> list[int]:
        """The word index of each token of text ``which`` (0 or 1) of an example (cached)."""
        if self._words_cache is None:
            self._words_cache = {}
        key = (example, which)
        if key not in self._words_cache:
            text = self._inputs[which][example]
            self._words_cache[key] = self._tokenizer._token_words(text, self._is_split_into_words)
        return self._words_cache[key]

    def _assemble(self, batch_index: int, first: list, second: list | None) -> list:
        """A row's per-token values, with None where the special tokens and the padding are."""
        if self._add_special_tokens:
            row = [None, *first, None] + ([] if second is None else [*second, None])
        else:
            row = first + ([] if second is None else second)
        ids = self["input_ids"]
        if isinstance(ids, np.ndarray):
            length = ids.shape[-1]
        else:
            length = len(ids[batch_index]) if self.is_batched else len(ids)
        return row + [None] * (length - len(row))  # padding is on the right


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

    - a budget of 0: keep nothing of either sequence, whatever the strategy;
    - one sequence: keep the first ``budget`` tokens;
    - ``only_first`` / ``only_second``: cut that sequence alone; if it would have to lose all its
      tokens, that is an error;
    - ``longest_first``: keep the shorter sequence whole and cut the longer, unless even then
      they do not fit, in which case each gets half the budget (the second one the odd token).
      This differs from the legacy Python tokenizer, which removes one token at a time from the
      longer sequence: for two 7-token sequences and a budget of 7, we keep (3, 4) where the
      legacy one keeps (4, 3).
    """
    if budget == 0:
        return 0, None if len_b is None else 0
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
    if key == "overflow_to_sample_mapping":
        return np.array(values, dtype=np.int64)  # (B,): one example index per row
    lengths = {len(v) for v in values}
    if len(lengths) > 1:
        raise ValueError(
            f"cannot make one array of {key} with lengths {sorted(lengths)}: pass padding=True "
            "(or padding='max_length') together with return_tensors='np'"
        )
    if key == "offset_mapping":
        return np.array(values, dtype=np.int64).reshape(len(values), -1, 2)  # (B, T, 2)
    return np.array(values, dtype=np.int64).reshape(len(values), -1)  # (B, T)
