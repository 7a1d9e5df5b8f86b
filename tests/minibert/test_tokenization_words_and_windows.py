"""Words in, word ids out, and overflowing windows: golden cases, properties, errors (no torch).

The expected values here are written by hand or follow from a property of the whole encoding;
``tests/reference/test_tokenizer_windows_vs_transformers.py`` holds them against
BertTokenizerFast.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minibert.tokenization import WordPieceTokenizer
from minibert.tokenization.windows import check_stride, pair_windows, windows

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["the", "cat", "sat", "on", "mat", "un", "##aff", "##able", "play", "##ing", "##s", "."]
WORDS += [",", "!", "'", "t", "don", "a", "##b", "ab", "##c", "##bc", "é", "中"]
# Words the vocabulary splits in different ways: whole, into pieces, around punctuation, [UNK].
TEXT_WORDS = ["the", "cat", "playing", "unaffable", "don't", "mat.", "abc", "zzz", "中"]


@pytest.fixture(scope="module")
def tok():
    return WordPieceTokenizer(SPECIALS + WORDS)


# --- the window rules ---------------------------------------------------------------------------


def test_windows_golden():
    assert windows(10, 4, 1) == [(0, 4), (3, 7), (6, 10)]
    assert windows(10, 4, 0) == [(0, 4), (4, 8), (8, 10)]
    assert windows(9, 4, 1) == [(0, 4), (3, 7), (6, 9)]  # the last window is shorter
    assert windows(7, 4, 1) == [(0, 4), (3, 7)]  # it ends exactly: no empty extra window
    assert windows(4, 4, 3) == [(0, 4)]  # fits: one window, whatever the stride
    assert windows(5, 0, 0) == [(0, 0), (0, 5)]  # no room: the tokenizers library's two rows
    assert windows(5, 4, 1, first_only=True) == [(0, 4)]


@given(
    n=st.integers(0, 200),
    max_len=st.integers(1, 60),
    stride=st.integers(0, 59),
)
def test_windows_cover_the_sequence_with_the_stride_as_overlap(n, max_len, stride):
    if max_len < n and stride >= max_len:
        with pytest.raises(ValueError, match="stride"):
            windows(n, max_len, stride)
        return
    spans = windows(n, max_len, stride)
    assert spans[0][0] == 0 and spans[-1][1] == n
    for (start, stop), (next_start, next_stop) in zip(spans, spans[1:], strict=False):
        assert stop - start == max_len  # every window but the last is full
        assert next_start == stop - stride  # consecutive windows share `stride` tokens
        assert next_stop > stop  # and each one gets further
    assert 0 < spans[-1][1] - spans[-1][0] <= max_len or n == 0
    assert windows(n, max_len, stride, first_only=True) == spans[:1]


def test_pair_windows_order_is_the_tokenizers_librarys():
    a = [(0, 2), (1, 3), (2, 4)]
    b = [(0, 5), (4, 9)]
    assert pair_windows(a, b) == [
        ((0, 2), (0, 5)),
        ((1, 3), (0, 5)),
        ((1, 3), (4, 9)),
        ((2, 4), (0, 5)),
        ((2, 4), (4, 9)),
        ((0, 2), (4, 9)),
    ]
    assert pair_windows(a, None) == [((0, 2), None), ((1, 3), None), ((2, 4), None)]


def test_check_stride():
    check_stride(8, 10)  # max_length - 2: allowed
    with pytest.raises(ValueError, match="stride=9 is larger than max_length=10 less the 2"):
        check_stride(9, 10)
    with pytest.raises(ValueError, match="stride=-1"):
        check_stride(-1, 10)


# --- is_split_into_words and word_ids -----------------------------------------------------------


def test_split_into_words_golden(tok):
    enc = tok(["The", "cat's", "", "mat."], is_split_into_words=True, return_offsets_mapping=True)
    assert enc.tokens() == ["[CLS]", "the", "cat", "'", "[UNK]", "mat", ".", "[SEP]"]
    assert enc.word_ids() == [None, 0, 1, 1, 1, 3, 3, None]  # "" (word 2) gives no token
    assert enc.sequence_ids() == [None, 0, 0, 0, 0, 0, 0, None]
    # Offsets count within each word.
    assert enc["offset_mapping"] == [(0, 0), (0, 3), (0, 3), (3, 4), (4, 5), (0, 3), (3, 4), (0, 0)]


def test_word_ids_of_plain_text_count_the_basic_tokenizers_words(tok):
    enc = tok("The cat's [MASK] unaffable!")
    assert enc.tokens() == [
        "[CLS]", "the", "cat", "'", "[UNK]", "[MASK]", "un", "##aff", "##able", "!", "[SEP]"
    ]  # fmt: skip
    assert enc.word_ids() == [None, 0, 1, 2, 3, 4, 5, 5, 5, 6, None]


def test_pairs_batches_padding_and_no_special_tokens(tok):
    enc = tok([["the", "cat"], ["sat"]], [["on"], ["the", "mat", "."]], is_split_into_words=True,
              padding=True)  # fmt: skip
    assert enc.word_ids(0) == [None, 0, 1, None, 0, None, None]
    assert enc.sequence_ids(0) == [None, 0, 0, None, 1, None, None]
    assert enc.word_ids(1) == [None, 0, None, 0, 1, 2, None]
    assert enc.sequence_ids(-1) == enc.sequence_ids(1)
    bare = tok("the cat", "sat", add_special_tokens=False)
    assert bare.word_ids() == [0, 1, 0] and bare.sequence_ids() == [0, 0, 1]
    arrays = tok(["the cat", "sat"], padding=True, return_tensors="np")
    assert arrays.word_ids(1) == [None, 0, None, None]


def test_a_batch_of_word_list_pairs_as_tuples(tok):
    as_tuples = tok([(["the"], ["cat", "sat"])], is_split_into_words=True)
    as_lists = tok([["the"]], [["cat", "sat"]], is_split_into_words=True)
    assert as_tuples["input_ids"] == as_lists["input_ids"] == [ids(tok, "the", "cat", "sat")]


def ids(tok, a, *b):
    return [2, tok.vocab[a], 3] + [tok.vocab[t] for t in b] + [3]


def test_an_empty_text_pair_of_one_example_is_no_pair_as_in_transformers(tok):
    assert tok("the", "")["input_ids"] == tok("the")["input_ids"]
    assert tok(["the"], [], is_split_into_words=True)["input_ids"] == tok("the")["input_ids"]
    # In a batch, an empty second text is still a pair: [CLS] the [SEP] [SEP].
    assert tok(["the"], [""])["input_ids"] == [[2, tok.vocab["the"], 3, 3]]


def test_word_ids_do_not_change_when_the_input_list_does(tok):
    words = ["the", "cat"]
    enc = tok(words, is_split_into_words=True)
    words[0] = "unaffable"  # word_ids tokenizes again, lazily: it must see the words of the call
    assert enc.word_ids() == [None, 0, 1, None]


@given(st.lists(st.sampled_from(TEXT_WORDS + ["", " ", "a b"]), max_size=12))
def test_split_words_give_the_tokens_of_each_word_in_turn(words):
    tok = WordPieceTokenizer(SPECIALS + WORDS)
    enc = tok(words, is_split_into_words=True)
    expected_ids, expected_words = [], []
    for index, word in enumerate(words):
        word_ids = tok(word, add_special_tokens=False)["input_ids"]
        expected_ids += word_ids
        expected_words += [index] * len(word_ids)
    assert enc["input_ids"] == [2, *expected_ids, 3]
    assert enc.word_ids() == [None, *expected_words, None]


def test_bad_word_inputs_are_clear_errors(tok):
    with pytest.raises(TypeError, match="must be a list of words"):
        tok("the cat", is_split_into_words=True)
    with pytest.raises(TypeError, match="every word must be a str"):
        tok(["the", 3], is_split_into_words=True)
    with pytest.raises(ValueError, match="as long as text"):
        tok([["the"], ["cat"]], [["sat"]], is_split_into_words=True)
    with pytest.raises(IndexError, match="batch_index=1, but this encoding holds 1 row"):
        tok("the cat").word_ids(1)
    from minibert.tokenization import BatchEncoding

    with pytest.raises(ValueError, match="not made by a tokenizer call"):
        BatchEncoding({"input_ids": [2, 3]}).word_ids()


# --- overflowing windows ------------------------------------------------------------------------


def test_question_and_context_windows_golden(tok):
    # The context "the cat sat on the mat ." has 7 tokens; max_length 9 leaves 9 - 3 - 1 = 5.
    enc = tok("cat", "the cat sat on the mat.", truncation="only_second", max_length=9, stride=2,
              return_overflowing_tokens=True, return_offsets_mapping=True)  # fmt: skip
    assert [enc.tokens(i) for i in range(2)] == [
        ["[CLS]", "cat", "[SEP]", "the", "cat", "sat", "on", "the", "[SEP]"],
        ["[CLS]", "cat", "[SEP]", "on", "the", "mat", ".", "[SEP]"],
    ]
    assert enc["overflow_to_sample_mapping"] == [0, 0]
    assert enc.word_ids(1) == [None, 0, None, 3, 4, 5, 6, None]
    assert enc.sequence_ids(1) == [None, 0, None, 1, 1, 1, 1, None]
    assert enc["offset_mapping"][1] == [(0, 0), (0, 3), (0, 0), (12, 14), (15, 18), (19, 22),
                                        (22, 23), (0, 0)]  # fmt: skip
    assert enc["token_type_ids"][1] == [0, 0, 0, 1, 1, 1, 1, 1]


@given(
    question=st.lists(st.sampled_from(TEXT_WORDS), min_size=1, max_size=4),
    context=st.lists(st.sampled_from(TEXT_WORDS), min_size=1, max_size=40),
    max_length=st.integers(12, 30),
    stride=st.integers(0, 6),
)
def test_windows_are_slices_of_the_whole_context(question, context, max_length, stride):
    tok = WordPieceTokenizer(SPECIALS + WORDS)
    question, context = " ".join(question), " ".join(context)
    whole = tok(question, context)
    n_q = whole["token_type_ids"].count(0) - 2  # [CLS] question [SEP]: type 0
    context_ids = whole["input_ids"][n_q + 2 : -1]
    context_words = whole.word_ids()[n_q + 2 : -1]
    room = max_length - 3 - n_q
    if room <= 0:  # the question alone fills max_length: no window can hold a context token
        with pytest.raises(ValueError, match="cannot fit the pair"):
            tok(question, context, truncation="only_second", max_length=max_length, stride=stride,
                return_overflowing_tokens=True)  # fmt: skip
        return
    if len(context_ids) > room and stride >= room:
        with pytest.raises(ValueError, match="stride"):
            tok(question, context, truncation="only_second", max_length=max_length, stride=stride,
                return_overflowing_tokens=True)  # fmt: skip
        return
    enc = tok(question, context, truncation="only_second", max_length=max_length, stride=stride,
              return_overflowing_tokens=True, padding="max_length")  # fmt: skip
    start = 0
    for i, row in enumerate(enc["input_ids"]):
        assert len(row) == max_length
        n = sum(enc["attention_mask"][i]) - n_q - 3  # this window's context tokens
        assert row[: n_q + 2] == whole["input_ids"][: n_q + 2]  # the question, in every row
        assert row[n_q + 2 : n_q + 2 + n] == context_ids[start : start + n]
        assert enc.word_ids(i)[n_q + 2 : n_q + 2 + n] == context_words[start : start + n]
        assert enc.sequence_ids(i).count(1) == n
        if i + 1 < len(enc["input_ids"]):
            assert n == room  # all windows but the last are full...
            start += room - stride  # ...and the next one starts `stride` tokens back
    assert start + n == len(context_ids)  # the last window ends with the context
    assert enc["overflow_to_sample_mapping"] == [0] * len(enc["input_ids"])


def test_batched_windows_map_rows_to_examples_and_pad_to_the_longest_row(tok):
    long, short = " ".join(["the cat sat"] * 5), "the"
    enc = tok([long, short, long], truncation=True, max_length=8, stride=1,
              return_overflowing_tokens=True, padding=True, return_tensors="np")  # fmt: skip
    # 15 tokens in windows of 6 stepping by 5: (0, 6), (5, 11), (10, 15) -> 3 rows each.
    np.testing.assert_array_equal(enc["overflow_to_sample_mapping"], [0, 0, 0, 1, 2, 2, 2])
    assert enc["input_ids"].shape == (7, 8)
    assert enc.word_ids(3) == [None, 0, None, None, None, None, None, None]


def test_one_example_with_overflowing_tokens_comes_back_as_a_batch(tok):
    enc = tok("the cat", return_overflowing_tokens=True)
    assert enc["input_ids"] == [[2, tok.vocab["the"], tok.vocab["cat"], 3]]
    assert enc["overflow_to_sample_mapping"] == [0]
    first_only = tok("the cat sat on the mat", truncation=True, max_length=4, stride=1)
    assert first_only["input_ids"] == [2, tok.vocab["the"], tok.vocab["cat"], 3]
    assert first_only.word_ids() == [None, 0, 1, None]


def test_window_errors_say_what_to_do(tok):
    with pytest.raises(ValueError, match="stride=4 leaves no progress.*windows of 4"):
        tok("the cat", "sat on the mat . the cat", truncation="only_second", max_length=9,
            stride=4, return_overflowing_tokens=True)  # fmt: skip
    with pytest.raises(ValueError, match="the second sequence has 1 tokens but 4 must go"):
        tok("the cat sat on the mat", "the", truncation="only_second", max_length=6)
    with pytest.raises(ValueError, match="stride=9 is larger than max_length=10"):
        tok("the", truncation=True, max_length=10, stride=9)
    # Without truncation, stride means nothing and is not checked (as in transformers).
    assert tok("the", stride=50)["input_ids"] == [2, tok.vocab["the"], 3]
