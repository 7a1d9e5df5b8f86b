"""Parity with BertTokenizerFast for what fine-tuning needs: words in, word ids out, windows.

- ``is_split_into_words``: NER data comes as lists of words; each token must carry the index of
  its word (``word_ids``) to get the word's label;
- ``sequence_ids``: which text of the pair a token is from (QA finds the context with it);
- ``stride`` + ``return_overflowing_tokens``: SQuAD contexts longer than ``max_length`` become
  overlapping windows, each with the question, plus ``overflow_to_sample_mapping``.

The fast tokenizer and ours read the same vocab.txt and flags (the ``trio`` fixture of
``test_tokenizer_vs_transformers``). Every row is compared on every key, its word ids and its
sequence ids; where the fast tokenizer raises, we must raise a ValueError.
"""

# The fixtures imported from the first parity module are requested by name: not redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import functools
import os
from collections import Counter

import numpy as np
import pytest

from tests.reference.test_tokenizer_vs_transformers import (  # noqa: F401 (fixtures)
    PAIRS,
    TEXTS,
    corpus_file,
    quiet_transformers,
    synthetic_corpus,
    trio,
    vocab_dirs,
)

# The Rust library panics on a bad stride; the test expects that, without a screenful of trace.
os.environ["RUST_BACKTRACE"] = "0"
KEYS = ("input_ids", "token_type_ids", "attention_mask", "special_tokens_mask", "offset_mapping")
FULL = {"return_offsets_mapping": True, "return_special_tokens_mask": True}
# Words with the awkward cases: punctuation inside, empty, only spaces, special tokens inside.
ODD_WORDS = ["don't", "", "  ", "x[SEP]y", "[MASK]", "a b", "U.S.A.", "中文", "naïve", "e\u0301"]
COMPARED: Counter = Counter()


def rows_of(encoding) -> list[dict]:
    """Every row of an encoding (ours or transformers'), with its word and sequence ids."""
    ids = encoding["input_ids"]
    batched = (
        isinstance(ids, np.ndarray) and ids.ndim == 2 or bool(ids) and isinstance(ids[0], list)
    )
    n_rows = len(ids) if batched else 1
    rows = []
    for i in range(n_rows):
        row = {}
        for key in (*KEYS, "overflow_to_sample_mapping"):
            if key in encoding:
                value = encoding[key][i] if batched else encoding[key]
                value = np.asarray(value).tolist()
                row[key] = [tuple(v) for v in value] if key == "offset_mapping" else value
        row["word_ids"] = encoding.word_ids(i)
        row["sequence_ids"] = encoding.sequence_ids(i)
        rows.append(row)
    return rows


def assert_same(ours, fast, *args, **kwargs) -> int:
    """Both tokenizers on the same call: same rows, or both refuse (ours with a ValueError)."""
    try:
        theirs = fast(*args, **kwargs)
    except BaseException as error:  # the Rust library panics on a bad stride (not an Exception)
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            raise
        with pytest.raises(ValueError):
            ours(*args, **kwargs)
        COMPARED[f"both refuse: {str(error).split(':')[0][:40]}"] += 1
        return 0
    mine = rows_of(ours(*args, **kwargs))
    theirs = rows_of(theirs)
    assert len(mine) == len(theirs), (len(mine), len(theirs), args, kwargs)
    for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
        assert a == b, (i, args, kwargs)
    return len(mine)


def word_lists(texts: list[str]) -> list[list[str]]:
    return [text.split() for text in texts]


# --- is_split_into_words, word_ids, sequence_ids -----------------------------------------------


def test_word_ids_and_sequence_ids_of_plain_texts_and_pairs(trio):
    ours, fast, _, _ = trio
    for text in TEXTS:
        COMPARED["plain texts"] += assert_same(ours, fast, text, **FULL)
    for a, b in PAIRS:
        COMPARED["plain pairs"] += assert_same(ours, fast, a, b, **FULL)
        COMPARED["plain pairs"] += assert_same(ours, fast, a, b, add_special_tokens=False, **FULL)
    COMPARED["plain batch rows"] += assert_same(ours, fast, TEXTS, padding=True, **FULL)
    COMPARED["plain batch rows"] += assert_same(
        ours, fast, PAIRS, padding="max_length", truncation=True, max_length=40, **FULL
    )


def test_split_into_words_single_batch_and_pairs(trio):
    ours, fast, _, _ = trio
    words = [*word_lists(TEXTS), ODD_WORDS, []]
    for w in words:
        COMPARED["word lists"] += assert_same(ours, fast, w, is_split_into_words=True, **FULL)
    for a, b in zip(words[::2], words[1::2], strict=False):
        COMPARED["word-list pairs"] += assert_same(
            ours, fast, a, b, is_split_into_words=True, **FULL
        )
    COMPARED["word-list batch rows"] += assert_same(
        ours, fast, words, is_split_into_words=True, padding=True, **FULL
    )
    firsts, seconds = words[::2], words[1::2]
    n = min(len(firsts), len(seconds))
    COMPARED["word-list batch rows"] += assert_same(
        ours, fast, firsts[:n], seconds[:n], is_split_into_words=True, padding="longest",
        truncation="longest_first", max_length=32, return_tensors="np", **FULL,
    )  # fmt: skip
    tuples = list(zip(firsts[:n], seconds[:n], strict=True))
    COMPARED["word-list batch rows"] += assert_same(
        ours, fast, tuples, is_split_into_words=True, truncation="only_second", max_length=48,
        **FULL,
    )  # fmt: skip


# --- stride windows -----------------------------------------------------------------------------


@functools.cache
def corpus_words() -> list[str]:
    return synthetic_corpus(n_words=20_000, seed=1).split()


def random_texts(n: int, max_words: int, seed: int, min_words: int = 0) -> list[str]:
    """Texts of random lengths (``min_words`` to ``max_words``), cut from the synthetic corpus."""
    rng = np.random.default_rng(seed)
    words = corpus_words()
    starts = rng.integers(0, len(words) - max_words, n)
    lengths = rng.integers(min_words, max_words + 1, n)
    return [" ".join(words[s : s + k]) for s, k in zip(starts, lengths, strict=True)]


@pytest.mark.parametrize("truncation", ["only_second", True, "only_first"])
@pytest.mark.parametrize("max_length", [24, 64, 384])
def test_question_context_windows_match(trio, truncation, max_length):
    ours, fast, _, _ = trio
    # Questions mostly short enough to leave room; contexts up to a few windows long.
    questions = random_texts(10, max_length // 4, seed=max_length)
    contexts = random_texts(10, 5 * max_length // 3, seed=max_length + 1)
    if truncation == "only_first":  # the long text first
        questions, contexts = contexts, questions
    for stride, padding in [(0, False), (1, "max_length"), (max_length // 4, False),
                            (max_length // 3, "longest")]:  # fmt: skip
        kwargs = {"truncation": truncation, "max_length": max_length, "stride": stride,
                  "return_overflowing_tokens": True, "padding": padding, **FULL}  # fmt: skip
        # One call per example (the errors are per example), then the whole batch.
        for q, c in zip(questions, contexts, strict=True):
            COMPARED["window rows, one example a call"] += assert_same(ours, fast, q, c, **kwargs)
        COMPARED["window rows, batched"] += assert_same(ours, fast, questions, contexts, **kwargs)


def test_squad_recipe_matches(trio):
    # The exact call of transformers' run_qa.py (with stride as the documented 128 of 384).
    ours, fast, _, _ = trio
    questions = random_texts(20, 25, seed=7)
    contexts = random_texts(20, 900, seed=8)
    kwargs = {"truncation": "only_second", "max_length": 384, "stride": 128,
              "return_overflowing_tokens": True, "return_offsets_mapping": True,
              "padding": "max_length"}  # fmt: skip
    COMPARED["SQuAD recipe rows"] += assert_same(ours, fast, questions, contexts, **kwargs)
    mine = ours(questions, contexts, return_tensors="np", **kwargs)
    theirs = fast(questions, contexts, return_tensors="np", **kwargs)
    for key in ("input_ids", "offset_mapping", "overflow_to_sample_mapping"):
        assert mine[key].shape == theirs[key].shape
        np.testing.assert_array_equal(mine[key], theirs[key], err_msg=key)


def test_single_texts_and_word_lists_in_windows(trio):
    ours, fast, _, _ = trio
    texts = random_texts(10, 80, seed=3)
    for stride in (0, 2, 5):
        kwargs = {"truncation": True, "max_length": 16, "stride": stride,
                  "return_overflowing_tokens": True, **FULL}  # fmt: skip
        COMPARED["single-text window rows"] += assert_same(ours, fast, texts, **kwargs)
        COMPARED["word-list window rows"] += assert_same(
            ours, fast, word_lists(texts), is_split_into_words=True, padding=True, **kwargs
        )
        COMPARED["one text, window rows"] += assert_same(ours, fast, texts[0], **kwargs)


def test_without_return_overflowing_tokens_only_the_first_window_comes_back(trio):
    ours, fast, _, _ = trio
    q, c = "what is it?", random_texts(1, 60, seed=11, min_words=60)[0]
    kwargs = {"truncation": "only_second", "max_length": 20, "stride": 5, **FULL}
    assert assert_same(ours, fast, q, c, **kwargs) == 1
    assert assert_same(ours, fast, q, c, return_overflowing_tokens=True, **FULL) == 1


@pytest.mark.parametrize(
    "args, kwargs",
    [
        # the question and the specials leave no room for the context
        (("a question of many many many words here", "c d e"), {"max_length": 8}),
        # stride >= the room the context gets (max_length - question - 3)
        (("what is it", "one two three four five six seven"), {"max_length": 10, "stride": 4}),
        (("what is it", "one two three four five six seven"), {"max_length": 10, "stride": 7}),
        # stride > max_length - 2, checked even when nothing needs cutting
        (("what", "is"), {"max_length": 10, "stride": 9}),
        # only_second without a second text
        (("one two three four five six seven",), {"max_length": 5}),
    ],
)
def test_errors_are_the_fast_tokenizers(trio, args, kwargs):
    ours, fast, _, _ = trio
    kwargs = {"truncation": "only_second", "return_overflowing_tokens": True, **kwargs}
    with pytest.raises(BaseException):  # noqa: B017, PT011 (the Rust panic is a BaseException)
        fast(*args, **kwargs)
    with pytest.raises(ValueError):
        ours(*args, **kwargs)
    COMPARED["error cases, both refuse"] += 1


def test_no_room_for_either_text_matches_the_fast_tokenizers_rows(trio):
    # max_length == the special tokens: the tokenizers library keeps an empty window, then the
    # whole text, and crosses them over the pair; odd, but it is what fine-tuning code gets.
    ours, fast, _, _ = trio
    for truncation in (True, "only_first", "only_second"):
        kwargs = {"truncation": truncation, "return_overflowing_tokens": True, **FULL}
        assert assert_same(ours, fast, "what is it", "one two", max_length=3, **kwargs) == 4
    # One token of room: longest_first gives the first text none (an empty window, then all).
    kwargs = {"truncation": True, "return_overflowing_tokens": True, **FULL}
    assert assert_same(ours, fast, "what is it", "one two", max_length=4, **kwargs) > 4
    assert assert_same(ours, fast, "one two", max_length=2, truncation=True, **FULL) == 1


def test_documented_difference_max_length_below_the_special_tokens(trio):
    # The tokenizers library subtracts the special tokens from max_length in unsigned integers:
    # below them it wraps around to a huge limit and silently does not truncate. We refuse.
    ours, fast, _, _ = trio
    theirs = fast("what is it", "one two three", truncation=True, max_length=2)
    assert len(theirs["input_ids"]) > 2
    with pytest.raises(ValueError, match="no room for the 3 special tokens"):
        ours("what is it", "one two three", truncation=True, max_length=2)


def test_summary_of_rows_compared():
    for what, count in sorted(COMPARED.items()):
        print(f"{count:6d}  {what}")
    assert COMPARED["window rows, batched"] > 100
