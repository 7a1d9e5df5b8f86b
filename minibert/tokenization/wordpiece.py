"""WordPiece: cut each word into the longest pieces the vocabulary knows; BERT's tokenizer API.

The algorithm (Schuster & Nakajima 2012; google-research/bert's ``WordpieceTokenizer``): from
the start of the word, take the longest prefix that is in the vocabulary, then continue from
where it ended, looking up continuations with a ``##`` in front. ``"unaffable"`` with a vocabulary
holding ``un``, ``##aff`` and ``##able`` becomes ``["un", "##aff", "##able"]``. If at some point no
piece matches, the *whole word* becomes ``[UNK]`` (not just the part that failed), and so does a
word longer than ``max_input_chars_per_word`` characters: 100 in transformers and in the tokenizers
library, 200 in google-research/bert. We use 100, to match transformers.

``WordPieceTokenizer`` puts the basic tokenizer (``basic.py``) and this algorithm behind the API of
transformers' ``BertTokenizer``: same arguments, same outputs, same files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from minibert.io import atomic_write_text
from minibert.tokenization.basic import BasicTokenizer
from minibert.tokenization.encoding import (
    BatchEncoding,
    RowLayout,
    pad_rows,
    padding_strategy,
    to_numpy,
    truncated_lengths,
    truncation_strategy,
)
from minibert.tokenization.inputs import Words, as_batch, as_word_batch
from minibert.tokenization.vocab import load_vocab, save_vocab
from minibert.tokenization.windows import check_stride, pair_windows, windows

CONTINUATION = "##"
SPECIAL_TOKEN_NAMES = ("pad_token", "unk_token", "cls_token", "sep_token", "mask_token")
DEFAULT_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
VOCAB_FILE = "vocab.txt"
CONFIG_FILE = "tokenizer_config.json"
TOKENIZER_JSON = "tokenizer.json"
CONFIG_KEYS = (
    "do_lower_case",
    "strip_accents",
    "tokenize_chinese_chars",
    "never_split",
    "max_input_chars_per_word",
    "model_max_length",
    "clean_up_tokenization_spaces",
    *SPECIAL_TOKEN_NAMES,
)
# Replacements applied to a decoded string by transformers' clean_up_tokenization (in order).
CLEAN_UP = (
    (" .", "."),
    (" ?", "?"),
    (" !", "!"),
    (" ,", ","),
    (" ' ", "'"),
    (" n't", "n't"),
    (" 'm", "'m"),
    (" 's", "'s"),
    (" 've", "'ve"),
    (" 're", "'re"),
)
# Tokens that the tokenizers library's WordPiece decoder glues to the previous word.
GLUED_PREFIXES = (".", "?", "!", ",", "n't", "'m", "'s", "'ve", "'re")


def wordpiece(
    word: str,
    vocab: Mapping[str, Any],
    unk_token: str = "[UNK]",
    max_input_chars_per_word: int = 100,
) -> list[str]:
    """Greedy longest-match-first WordPiece on one word: the textbook version.

    Args:
        word: one word from the basic tokenizer (no spaces).
        vocab: anything that answers ``piece in vocab``.

    Returns:
        The pieces, continuations prefixed with ``##``; or ``[unk_token]``.

    Example:
        >>> wordpiece("unaffable", {"un", "##aff", "##able"})
        ['un', '##aff', '##able']
    """
    if len(word) > max_input_chars_per_word:
        return [unk_token]
    pieces = []
    start = 0
    while start < len(word):
        end = len(word)
        while end > start:  # the longest piece first
            piece = word[start:end] if start == 0 else CONTINUATION + word[start:end]
            if piece in vocab:
                break
            end -= 1
        else:  # nothing matched at `start`: the whole word is unknown
            return [unk_token]
        pieces.append(piece)
        start = end
    return pieces


def _as_id_list(token_ids) -> list[int]:
    """ids from an int, a list/tuple, or a 1-D NumPy array (a clear error for anything else)."""
    if isinstance(token_ids, (int, np.integer)) and not isinstance(token_ids, bool):
        return [int(token_ids)]
    if isinstance(token_ids, np.ndarray):
        if token_ids.ndim != 1:
            raise ValueError(
                f"decode takes one sequence of ids, got an array of shape {token_ids.shape}"
            )
        return [int(i) for i in token_ids]
    if isinstance(token_ids, (list, tuple)):
        if not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in token_ids):
            raise TypeError("token ids must be integers")
        return [int(i) for i in token_ids]
    raise TypeError(
        f"token ids must be an int or a sequence of ints, got {type(token_ids).__name__}"
    )


class WordPieceTokenizer:
    """BERT's tokenizer, with transformers' ``BertTokenizer`` API.

    Args:
        vocab: a ``{token: id}`` dict, a list of tokens (the id is the position), or the path of a
            ``vocab.txt`` (one token per line; the id is the line number).
        do_lower_case: lowercase the text (the "uncased" models).
        strip_accents: strip accents; ``None`` follows ``do_lower_case``.
        tokenize_chinese_chars: make each CJK ideograph a word of its own.
        never_split: more strings to keep whole, besides the special tokens. Like the special
            tokens, they are found anywhere in the raw text (as transformers 5 treats added
            tokens); the legacy tokenizer honoured ``never_split`` only for whole words.
        unk_token, sep_token, pad_token, cls_token, mask_token: the special tokens.
        max_input_chars_per_word: longer words become ``[UNK]`` (100, as in transformers).
        model_max_length: what ``truncation=True`` and ``padding="max_length"`` use when no
            ``max_length`` is given (BERT has 512 positions).
        clean_up_tokenization_spaces: ``decode``'s default for the same argument.

    Example:
        >>> tok = WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un",
        ...                           "##aff", "##able", "!"])
        >>> tok.tokenize("Unaffable!")
        ['un', '##aff', '##able', '!']
        >>> tok("Unaffable!")["input_ids"]
        [2, 5, 6, 7, 8, 3]
    """

    vocab_files_names = {"vocab_file": VOCAB_FILE}
    model_input_names = ["input_ids", "token_type_ids", "attention_mask"]
    padding_side = "right"
    truncation_side = "right"
    # Words seen recently and their pieces; cleared when it grows past this many words.
    cache_capacity = 1 << 17
    # What the trainer returned, for a tokenizer made by ``train`` (merges and their scores).
    training = None

    def __init__(
        self,
        vocab: Mapping[str, int] | Sequence[str] | str | os.PathLike,
        do_lower_case: bool = True,
        strip_accents: bool | None = None,
        tokenize_chinese_chars: bool = True,
        never_split: Iterable[str] | None = None,
        unk_token: str = "[UNK]",
        sep_token: str = "[SEP]",
        pad_token: str = "[PAD]",
        cls_token: str = "[CLS]",
        mask_token: str = "[MASK]",
        max_input_chars_per_word: int = 100,
        model_max_length: int = 512,
        clean_up_tokenization_spaces: bool = True,
    ):
        if isinstance(vocab, (str, os.PathLike)):
            vocab = load_vocab(vocab)
        elif isinstance(vocab, Mapping):
            vocab = {str(token): int(i) for token, i in vocab.items()}
        elif isinstance(vocab, Sequence):
            vocab = {str(token): i for i, token in enumerate(vocab)}
        else:
            raise TypeError(
                f"vocab must be a dict, a list of tokens or a path, not {type(vocab).__name__}"
            )
        if len(set(vocab.values())) != len(vocab):
            raise ValueError("two tokens of the vocabulary share an id")
        if unk_token not in vocab:
            raise ValueError(f"the unknown token {unk_token!r} is not in the vocabulary")
        self.vocab: dict[str, int] = vocab
        self.ids_to_tokens: dict[int, str] = {i: t for t, i in vocab.items()}
        self.unk_token, self.sep_token, self.pad_token = unk_token, sep_token, pad_token
        self.cls_token, self.mask_token = cls_token, mask_token
        self.do_lower_case = bool(do_lower_case)
        self.strip_accents = strip_accents
        self.tokenize_chinese_chars = bool(tokenize_chinese_chars)
        self.never_split = tuple(never_split or ())
        self.max_input_chars_per_word = int(max_input_chars_per_word)
        self.model_max_length = int(model_max_length)
        self.clean_up_tokenization_spaces = bool(clean_up_tokenization_spaces)
        # Special tokens are found in the raw text before any cleaning, as transformers does.
        self.basic = BasicTokenizer(
            do_lower_case=do_lower_case,
            strip_accents=strip_accents,
            tokenize_chinese_chars=tokenize_chinese_chars,
            never_split=[*self.all_special_tokens, *self.never_split],
        )
        self.unk_token_id: int = vocab[unk_token]
        # No vocabulary entry is longer than these, so the greedy search starts there.
        self._longest_start = max((len(t) for t in vocab if not t.startswith("##")), default=0)
        self._longest_continuation = max(
            (len(t) - 2 for t in vocab if t.startswith("##")), default=0
        )
        self._cache: dict[str, tuple[int, ...]] = {}

    # --- special tokens and the vocabulary ---------------------------------------------------

    @property
    def all_special_tokens(self) -> list[str]:
        """The five special tokens (``[PAD] [UNK] [CLS] [SEP] [MASK]`` by default)."""
        return [getattr(self, name) for name in SPECIAL_TOKEN_NAMES]

    @property
    def all_special_ids(self) -> list[int]:
        return [self.vocab[t] for t in self.all_special_tokens if t in self.vocab]

    def _special_id(self, name: str) -> int | None:
        return self.vocab.get(getattr(self, name))

    pad_token_id = property(lambda self: self._special_id("pad_token"))
    cls_token_id = property(lambda self: self._special_id("cls_token"))
    sep_token_id = property(lambda self: self._special_id("sep_token"))
    mask_token_id = property(lambda self: self._special_id("mask_token"))

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def __len__(self) -> int:
        return len(self.vocab)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    def __repr__(self) -> str:
        return (
            f"WordPieceTokenizer(vocab_size={self.vocab_size}, do_lower_case={self.do_lower_case}, "
            f"strip_accents={self.strip_accents}, model_max_length={self.model_max_length})"
        )

    def convert_tokens_to_ids(self, tokens: str | Iterable[str]) -> int | list[int]:
        """Token(s) -> id(s); a token not in the vocabulary gets the ``[UNK]`` id."""
        if isinstance(tokens, str):
            return self.vocab.get(tokens, self.unk_token_id)
        return [self.vocab.get(t, self.unk_token_id) for t in tokens]

    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False) -> str | list[str]:
        """Id(s) -> token(s). An id outside the vocabulary is a ``ValueError``."""
        single = isinstance(ids, (int, np.integer))
        tokens = []
        special = set(self.all_special_tokens) if skip_special_tokens else ()
        for i in _as_id_list(ids):
            token = self.ids_to_tokens.get(i)
            if token is None:
                raise ValueError(f"token id {i} is not in the vocabulary (size {self.vocab_size})")
            if token not in special:
                tokens.append(token)
        return tokens[0] if single and tokens else tokens

    def convert_tokens_to_string(self, tokens: Iterable[str]) -> str:
        """Join tokens with spaces, gluing each ``##`` continuation to the piece before it."""
        return " ".join(tokens).replace(" ##", "").strip()

    # --- encoding ----------------------------------------------------------------------------

    def _word_ids(self, word: str) -> tuple[int, ...]:
        """``wordpiece`` on one word, as ids, with a cache: most words of a text repeat."""
        ids = self._cache.get(word)
        if ids is not None:
            return ids
        vocab, unk = self.vocab, (self.unk_token_id,)
        if len(word) > self.max_input_chars_per_word:
            ids = unk
        else:
            found = []
            start, n = 0, len(word)
            while start < n:
                # No entry is longer than the longest one: start the search there.
                longest = self._longest_start if start == 0 else self._longest_continuation
                end = min(n, start + longest)
                while end > start:
                    piece = word[start:end] if start == 0 else CONTINUATION + word[start:end]
                    token_id = vocab.get(piece)
                    if token_id is not None:
                        break
                    end -= 1
                else:
                    found = None
                    break
                found.append(token_id)
                start = end
            ids = unk if found is None else tuple(found)
        if len(self._cache) >= self.cache_capacity:
            self._cache.clear()
        self._cache[word] = ids
        return ids

    def _piece_lengths(self, word: str, ids: tuple[int, ...]) -> list[int]:
        """How many characters of ``word`` each piece covers (``[UNK]`` covers the whole word)."""
        if len(ids) == 1:
            return [len(word)]
        lengths = [len(self.ids_to_tokens[i]) - 2 for i in ids]
        lengths[0] += 2  # the first piece has no "##"
        return lengths

    def _encode_text(self, text: str, with_offsets: bool) -> tuple[list[int], list | None]:
        """One text -> its ids (no special tokens added), and each id's (start, end) if asked."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        basic, vocab, unk = self.basic, self.vocab, self.unk_token_id
        ids: list[int] = []
        if not with_offsets:
            if basic._protected is None or basic._protected.search(text) is None:
                for word in text.translate(basic.table).split():  # the basic tokenizer
                    ids += self._word_ids(word)
                return ids, None
            for start, end, protected in basic.split_protected(text):
                if protected:  # a special token in the text: its own id, never split
                    ids.append(vocab.get(text[start:end], unk))
                    continue
                for word in text[start:end].translate(basic.table).split():
                    ids += self._word_ids(word)
            return ids, None
        offsets: list[tuple[int, int]] = []
        for word, origins, protected in basic.words_with_origins(text):
            if protected:
                ids.append(vocab.get(word, unk))
                offsets.append((origins[0], origins[-1] + 1))
                continue
            word_ids = self._word_ids(word)
            ids += word_ids
            start = 0
            for length in self._piece_lengths(word, word_ids):
                offsets.append((origins[start], origins[start + length - 1] + 1))
                start += length
        return ids, offsets

    def _encode_words(self, words: Words, with_offsets: bool) -> tuple[list[int], list | None]:
        """Pre-split words -> ids, as ``_encode_text`` would give for each word on its own.

        Offsets are within each word (transformers' convention with ``is_split_into_words``).
        """
        ids: list[int] = []
        offsets: list[tuple[int, int]] | None = [] if with_offsets else None
        for word in words:
            word_ids, word_offsets = self._encode_text(word, with_offsets)
            ids += word_ids
            if with_offsets:
                offsets += word_offsets
        return ids, offsets

    def _token_words(self, text: str | Words, is_split_into_words: bool) -> list[int]:
        """The index of the word each token of ``text`` came from (what ``word_ids`` reports)."""
        words: list[int] = []
        if is_split_into_words:
            for index, word in enumerate(text):
                words += [index] * len(self._encode_text(word, with_offsets=False)[0])
            return words
        # The basic tokenizer's words (a special token in the text is one word), as the
        # tokenizers library's pre-tokenizer numbers them.
        for index, (word, _, protected) in enumerate(self.basic.words_with_origins(text)):
            words += [index] * (1 if protected else len(self._word_ids(word)))
        return words

    def tokenize(self, text: str) -> list[str]:
        """The WordPiece tokens of ``text``, without special tokens."""
        ids, _ = self._encode_text(text, with_offsets=False)
        return [self.ids_to_tokens[i] for i in ids]

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return 3 if pair else 2

    def build_inputs_with_special_tokens(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        """``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]``."""
        cls, sep = self._required_id("cls_token"), self._required_id("sep_token")
        if token_ids_1 is None:
            return [cls, *token_ids_0, sep]
        return [cls, *token_ids_0, sep, *token_ids_1, sep]

    def create_token_type_ids_from_sequences(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        """0 for ``[CLS] A [SEP]``, 1 for ``B [SEP]``."""
        first = [0] * (len(token_ids_0) + 2)
        return first if token_ids_1 is None else first + [1] * (len(token_ids_1) + 1)

    def get_special_tokens_mask(
        self,
        token_ids_0: list[int],
        token_ids_1: list[int] | None = None,
        already_has_special_tokens: bool = False,
    ) -> list[int]:
        """1 where a special token is (or will be, once added), 0 elsewhere."""
        if already_has_special_tokens:
            special = set(self.all_special_ids)
            return [int(i in special) for i in token_ids_0]
        mask = [1] + [0] * len(token_ids_0) + [1]
        return mask if token_ids_1 is None else mask + [0] * len(token_ids_1) + [1]

    def _required_id(self, name: str) -> int:
        token_id = self._special_id(name)
        if token_id is None:
            raise ValueError(f"the {name} {getattr(self, name)!r} is not in the vocabulary")
        return token_id

    def _encode_example(
        self,
        index: int,
        text: str | Words,
        text_pair: str | Words | None,
        settings: dict[str, Any],
        rows: list[dict[str, list]],
        layouts: list[RowLayout],
    ) -> None:
        """One example (a text or a pair) -> its rows of model inputs, appended to ``rows``.

        One row, truncated if asked; or with ``return_overflowing_tokens`` one row per window
        (``windows.py``). ``layouts`` gets where each row's tokens came from.
        """
        with_offsets = settings["with_offsets"]
        encode = self._encode_words if settings["is_split_into_words"] else self._encode_text
        ids_a, offsets_a = encode(text, with_offsets)
        ids_b, offsets_b = (None, None)
        if text_pair is not None:
            ids_b, offsets_b = encode(text_pair, with_offsets)
        pair = ids_b is not None
        strategy, max_length = settings["strategy"], settings["max_length"]
        if strategy is None or max_length is None:  # the common case, kept quick: all of it
            # (no layout either: BatchEncoding knows that row i is then all of example i)
            rows.append(self._build_row(ids_a, offsets_a, ids_b, offsets_b, settings))
            return
        n_special = self.num_special_tokens_to_add(pair) if settings["add_special_tokens"] else 0
        budget = max_length - n_special
        if budget < 0:
            raise ValueError(
                f"max_length={max_length} leaves no room for the {n_special} special tokens"
            )
        len_a, len_b = truncated_lengths(len(ids_a), len(ids_b) if pair else None, budget, strategy)
        stride, first_only = settings["stride"], not settings["return_overflowing_tokens"]
        spans_a = windows(len(ids_a), len_a, stride, first_only)
        spans_b = windows(len(ids_b), len_b, stride, first_only) if pair else None
        for span_a, span_b in pair_windows(spans_a, spans_b):
            kept_a, kept_offsets_a = ids_a[slice(*span_a)], None
            kept_b, kept_offsets_b = None, None
            if with_offsets:
                kept_offsets_a = offsets_a[slice(*span_a)]
            if pair:
                kept_b = ids_b[slice(*span_b)]
                kept_offsets_b = offsets_b[slice(*span_b)] if with_offsets else None
            rows.append(self._build_row(kept_a, kept_offsets_a, kept_b, kept_offsets_b, settings))
            if not first_only:  # (one row per example: BatchEncoding works its layout out)
                layouts.append((index, span_a, span_b))

    def _build_row(
        self,
        ids_a: list[int],
        offsets_a: list | None,
        ids_b: list[int] | None,
        offsets_b: list | None,
        settings: dict[str, Any],
    ) -> dict[str, list]:
        """The model inputs of one row: the kept tokens of each text, with the special tokens."""
        with_offsets, pair = settings["with_offsets"], ids_b is not None
        n_a, n_b = len(ids_a), len(ids_b) if pair else 0
        if settings["add_special_tokens"]:
            input_ids = self.build_inputs_with_special_tokens(ids_a, ids_b)
            token_type_ids = [0] * (n_a + 2) + [1] * (n_b + 1 if pair else 0)
            special = [1] + [0] * n_a + [1] + ([0] * n_b + [1] if pair else [])
            if with_offsets:
                offsets = [(0, 0), *offsets_a, (0, 0)] + ([*offsets_b, (0, 0)] if pair else [])
        else:
            input_ids = ids_a + (ids_b if pair else [])
            token_type_ids = [0] * n_a + [1] * n_b
            special = [0] * (n_a + n_b)
            if with_offsets:
                offsets = offsets_a + (offsets_b if pair else [])
        row = {
            "input_ids": input_ids,
            "token_type_ids": token_type_ids,
            "attention_mask": [1] * len(input_ids),
            "special_tokens_mask": special,
        }
        if with_offsets:
            row["offset_mapping"] = offsets
        return row

    def __call__(
        self,
        text: str | Sequence[str] | Sequence[tuple[str, str]] | Sequence[Sequence[str]],
        text_pair: str | Sequence[str] | Sequence[Sequence[str]] | None = None,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str = False,
        max_length: int | None = None,
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: int | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool = True,
        return_attention_mask: bool = True,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
    ) -> BatchEncoding:
        """Tokenize a text, a pair, or a batch of either, into model inputs.

        Args:
            text: a str, a list of str, or a list of ``(text, text_pair)`` tuples; with
                ``is_split_into_words``, a list of words, or a batch of such lists (or pairs).
            text_pair: the second text (a str, or a list as long as ``text``).
            add_special_tokens: add ``[CLS]`` and ``[SEP]``.
            padding: ``True``/``"longest"`` (to the longest in the batch), ``"max_length"``,
                or ``False``. Padding goes on the right.
            truncation: ``True``/``"longest_first"``, ``"only_first"``, ``"only_second"``, or
                ``False``; rules in ``encoding.truncated_lengths``.
            max_length: the length to truncate or pad to (special tokens included); when
                needed and not given, ``model_max_length``.
            stride: with truncation, how many tokens consecutive overflowing windows share (the
                windows themselves come only with ``return_overflowing_tokens``).
            is_split_into_words: ``text`` (and ``text_pair``) are lists of words, e.g. the
                words of a NER data set. Each word is tokenized on its own (its punctuation is
                still split off), offsets count within each word, and ``word_ids`` gives each
                token's index in the list.
            pad_to_multiple_of: round the padded length up to a multiple of this.
            return_tensors: ``None`` (lists) or ``"np"`` (int64 arrays with a batch axis, also
                for a single text, as in transformers).
            return_overflowing_tokens: with truncation, return every window of a text too
                long for ``max_length`` as a row of its own (``windows.py``), and
                ``overflow_to_sample_mapping``: the example each row came from. The output is
                then a batch even for one example, as in transformers.
            return_offsets_mapping: add ``offset_mapping``: each token's ``(start, end)``
                characters in its text; ``(0, 0)`` for special tokens and padding.
            return_special_tokens_mask: add ``special_tokens_mask``: 1 for special tokens.

        Returns:
            A ``BatchEncoding`` with ``input_ids``, ``token_type_ids`` and ``attention_mask``
            (plus the optional keys): lists for one example, lists of lists for a batch. Its
            ``word_ids(i)`` and ``sequence_ids(i)`` say which word and which text of the pair
            each token of row ``i`` came from.

        Shapes:
            With ``return_tensors="np"``: ``(B, T)`` for each key, ``(B, T, 2)`` for the offsets,
            ``(B,)`` for ``overflow_to_sample_mapping``; ``B`` counts rows (windows).
        """
        if is_split_into_words:
            is_batched, texts, pairs = as_word_batch(text, text_pair)
        else:
            is_batched, texts, pairs = as_batch(text, text_pair)
        strategy = truncation_strategy(truncation)
        pad = padding_strategy(padding)
        if return_tensors not in (None, "np"):
            raise ValueError(
                f"return_tensors={return_tensors!r}: minibert works with NumPy, use 'np' or None"
            )
        if max_length is None and (strategy is not None or pad == "max_length"):
            max_length = self.model_max_length
        if strategy is not None:
            check_stride(stride, max_length)
        settings = {
            "add_special_tokens": add_special_tokens,
            "strategy": strategy,
            "max_length": max_length,
            "stride": stride,
            "with_offsets": return_offsets_mapping,
            "is_split_into_words": is_split_into_words,
            "return_overflowing_tokens": return_overflowing_tokens,
        }
        rows: list[dict[str, list]] = []
        layouts: list[RowLayout] = []
        for index, (a, b) in enumerate(zip(texts, pairs, strict=True)):
            self._encode_example(index, a, b, settings, rows, layouts)
        keys = ["input_ids"]
        if return_token_type_ids:
            keys.append("token_type_ids")
        if return_attention_mask:
            keys.append("attention_mask")
        if return_special_tokens_mask:
            keys.append("special_tokens_mask")
        if return_offsets_mapping:
            keys.append("offset_mapping")
        if pad is not None and rows:
            length = max_length if pad == "max_length" else max(len(r["input_ids"]) for r in rows)
            if pad_to_multiple_of:
                length = -(-length // pad_to_multiple_of) * pad_to_multiple_of
            pad_rows(rows, length, self._required_id("pad_token"), tuple(keys))
        windowed = strategy is not None and return_overflowing_tokens  # rows have layouts
        if return_overflowing_tokens:
            is_batched = True  # rows are windows: a batch even for one example
        if not is_batched and return_tensors is None:  # one row: no lists of rows to build
            data: dict[str, Any] = {key: rows[0][key] for key in keys}
        else:
            data = {key: [row[key] for row in rows] for key in keys}
        if return_overflowing_tokens:
            examples = [layout[0] for layout in layouts] if windowed else range(len(rows))
            data["overflow_to_sample_mapping"] = list(examples)
        if return_tensors == "np":
            data = {key: to_numpy(values, key) for key, values in data.items()}
        encoding = BatchEncoding(data, tokenizer=self, is_batched=is_batched)
        # What word_ids/sequence_ids need, read only if they are called: nothing per row but
        # for windows. (Tuples of str, for one example: the garbage collector stops tracking
        # them, and a plain call that keeps its result costs it no more than before.)
        encoding._inputs = (texts, pairs) if is_batched else ((texts[0],), (pairs[0],))
        if windowed:
            encoding._layouts = layouts
        elif strategy is not None:
            encoding._truncation = (strategy, max_length)
        if is_split_into_words:
            encoding._is_split_into_words = True
        if not add_special_tokens:
            encoding._add_special_tokens = False
        return encoding

    def encode(
        self,
        text: str,
        text_pair: str | None = None,
        add_special_tokens: bool = True,
        truncation: bool | str = False,
        max_length: int | None = None,
        padding: bool | str = False,
    ) -> list[int]:
        """The ``input_ids`` of one text or pair, as a list."""
        if not isinstance(text, str):
            raise TypeError(
                f"encode takes one str, got {type(text).__name__}; use __call__ for batches"
            )
        return self(
            text,
            text_pair,
            add_special_tokens=add_special_tokens,
            truncation=truncation,
            max_length=max_length,
            padding=padding,
            return_token_type_ids=False,
            return_attention_mask=False,
        )["input_ids"]

    # --- decoding ----------------------------------------------------------------------------

    def decode(
        self,
        token_ids,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
    ) -> str:
        """Ids -> text: pieces joined (``##`` glued to the piece before), words spaced.

        With ``clean_up_tokenization_spaces`` (default: the tokenizer's setting, True) the
        spaces before ``. ? ! ,`` and English contractions go (``"do n't"`` -> ``"don't"``),
        exactly as ``BertTokenizerFast.decode(..., clean_up_tokenization_spaces=True)``. With
        False the tokens are only joined, like the legacy Python tokenizer (the fast one still
        glues ``. , ? !`` then, in its decoder).

        Lowercasing, stripped accents and spaces around punctuation are not undone: decoding
        gives the *normalized* text back.
        """
        tokens = self.convert_ids_to_tokens(_as_id_list(token_ids), skip_special_tokens)
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        if not clean_up_tokenization_spaces:
            return self.convert_tokens_to_string(tokens)
        parts = []
        for i, token in enumerate(tokens):
            if i > 0 and token.startswith(CONTINUATION):
                parts.append(token[2:])
            elif i > 0 and not token.startswith(GLUED_PREFIXES):
                parts.append(" " + token)
            else:
                parts.append(token)
        text = "".join(parts)
        for old, new in CLEAN_UP:
            text = text.replace(old, new)
        return text

    def batch_decode(self, sequences, **kwargs) -> list[str]:
        """``decode`` for each sequence of a batch (a list of lists, or a 2-D array)."""
        return [self.decode(ids, **kwargs) for ids in sequences]

    # --- files -------------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """The settings saved in ``tokenizer_config.json`` (transformers' keys)."""
        config = {
            "tokenizer_class": "BertTokenizer",
            "do_lower_case": self.do_lower_case,
            "strip_accents": self.strip_accents,
            "tokenize_chinese_chars": self.tokenize_chinese_chars,
            "unk_token": self.unk_token,
            "sep_token": self.sep_token,
            "pad_token": self.pad_token,
            "cls_token": self.cls_token,
            "mask_token": self.mask_token,
            "model_max_length": self.model_max_length,
            "clean_up_tokenization_spaces": self.clean_up_tokenization_spaces,
        }
        if self.never_split:
            config["never_split"] = list(self.never_split)
        if self.max_input_chars_per_word != 100:
            config["max_input_chars_per_word"] = self.max_input_chars_per_word
        return config

    def save_pretrained(self, save_directory: str | os.PathLike) -> tuple[str, str]:
        """Write ``vocab.txt`` and ``tokenizer_config.json`` into ``save_directory``.

        Each file is written to a temporary file first and then moved into place, so an
        interrupted save never leaves a half-written vocabulary. transformers'
        ``BertTokenizer.from_pretrained`` reads the result.

        Returns:
            The paths of the two files.
        """
        directory = Path(save_directory)
        if directory.exists() and not directory.is_dir():
            raise ValueError(f"{directory} is a file; save_pretrained needs a directory")
        directory.mkdir(parents=True, exist_ok=True)
        vocab_path = save_vocab(self.vocab, directory / VOCAB_FILE)
        config_path = directory / CONFIG_FILE
        atomic_write_text(
            config_path, json.dumps(self.config(), indent=2, ensure_ascii=False) + "\n"
        )
        return str(config_path), str(vocab_path)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **kwargs) -> WordPieceTokenizer:
        """Load a tokenizer directory: ``vocab.txt`` (and ``tokenizer_config.json`` if present).

        Any BERT checkpoint's tokenizer directory works: the flags (lowercasing, accents, special
        tokens, ``model_max_length``) come from its ``tokenizer_config.json``. A directory that
        transformers 5 saved holds ``tokenizer.json`` instead of ``vocab.txt``; its WordPiece
        vocabulary and normalizer flags are read from there. ``kwargs`` override everything.
        Nothing is ever downloaded: ``path`` must exist on disk.
        """
        path = Path(path)
        directory = path.parent if path.is_file() else path
        settings: dict[str, Any] = {}
        config_path = directory / CONFIG_FILE
        if config_path.is_file():
            settings = _settings_from_config(json.loads(config_path.read_text(encoding="utf-8")))
        if path.is_file():
            vocab: Any = path
        elif (path / VOCAB_FILE).is_file():
            vocab = path / VOCAB_FILE
        elif (path / TOKENIZER_JSON).is_file():
            vocab, flags = _read_tokenizer_json(path / TOKENIZER_JSON)
            settings = {**flags, **settings}
        else:
            raise FileNotFoundError(
                f"no {VOCAB_FILE} in {str(path)!r}; minibert never downloads: give the path of a "
                "saved tokenizer directory (save_pretrained) or of a vocab.txt"
            )
        settings.update(kwargs)
        return cls(vocab, **settings)

    @classmethod
    def train(
        cls,
        files_or_iterator,
        vocab_size: int = 30000,
        min_frequency: int = 2,
        limit_alphabet: int | None = 1000,
        special_tokens: Sequence[str] = DEFAULT_SPECIAL_TOKENS,
        lowercase: bool = True,
        strip_accents: bool | None = None,
        tokenize_chinese_chars: bool = True,
        score: str = "count",
        show_progress: bool = True,
        **kwargs,
    ) -> WordPieceTokenizer:
        """Learn a vocabulary from text and return a tokenizer that uses it.

        Args:
            files_or_iterator: a path, a list of paths (UTF-8 text files), or an iterator of
                strings (to train on strings in memory, pass ``iter(texts)``).
            vocab_size, min_frequency, limit_alphabet, special_tokens, score: see
                ``minibert.tokenization.trainer.train_wordpiece``, which documents the two
                scores (``"count"``: what the tokenizers library runs; ``"likelihood"``: the
                WordPiece papers' criterion).
            lowercase, strip_accents, tokenize_chinese_chars: the normalization, used both to
                count the words and by the returned tokenizer.
            kwargs: more ``WordPieceTokenizer`` arguments (special token names,
                ``model_max_length``...).
        """
        from minibert.tokenization.trainer import corpus_texts, train_wordpiece

        basic = BasicTokenizer(lowercase, strip_accents, tokenize_chinese_chars)
        result = train_wordpiece(
            corpus_texts(files_or_iterator),
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            limit_alphabet=limit_alphabet,
            special_tokens=special_tokens,
            basic=basic,
            score=score,
            show_progress=show_progress,
        )
        tokenizer = cls(
            result.vocab,
            do_lower_case=lowercase,
            strip_accents=strip_accents,
            tokenize_chinese_chars=tokenize_chinese_chars,
            **kwargs,
        )
        tokenizer.training = result
        return tokenizer


def _settings_from_config(config: dict[str, Any]) -> dict[str, Any]:
    """The ``WordPieceTokenizer`` arguments found in a ``tokenizer_config.json``."""
    settings: dict[str, Any] = {}
    for key in CONFIG_KEYS:
        value = config.get(key)
        if isinstance(value, dict) and "content" in value:  # a serialized AddedToken
            value = value["content"]
        if value is not None or (key == "strip_accents" and key in config):
            settings[key] = value
    # transformers writes a huge number for "no limit"; keep BERT's 512 instead.
    if settings.get("model_max_length", 0) > 1e12:
        settings.pop("model_max_length")
    return settings


def _read_tokenizer_json(path: Path) -> tuple[dict[str, int], dict[str, Any]]:
    """The vocabulary and normalizer flags of a tokenizers-library ``tokenizer.json``."""
    data = json.loads(path.read_text(encoding="utf-8"))
    model = data.get("model") or {}
    if model.get("type") != "WordPiece":
        raise ValueError(f"{path} holds a {model.get('type')} model, not WordPiece")
    flags: dict[str, Any] = {"max_input_chars_per_word": model.get("max_input_chars_per_word", 100)}
    normalizer = data.get("normalizer") or {}
    if normalizer.get("type") == "BertNormalizer":
        flags["do_lower_case"] = normalizer.get("lowercase", True)
        flags["strip_accents"] = normalizer.get("strip_accents")
        flags["tokenize_chinese_chars"] = normalizer.get("handle_chinese_chars", True)
    return dict(model["vocab"]), flags


__all__ = ["WordPieceTokenizer", "wordpiece"]
