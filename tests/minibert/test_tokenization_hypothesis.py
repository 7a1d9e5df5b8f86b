"""Bad input, generated: arbitrary Unicode never breaks the tokenizer or the trainer.

Control and zero-width characters, combining marks, emoji with modifiers and joiners, right-to-left
text, lone surrogates, words longer than 100 characters, special tokens inside the text, empty
strings: the only exceptions allowed are clear TypeErrors for input that is not text, and
ValueErrors for truncation that cannot be satisfied.
"""

import string

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from minibert.tokenization import WordPieceTokenizer, train_wordpiece

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
LETTERS = string.ascii_lowercase + string.digits + "éσ中😀"
PUNCTUATION = list(string.punctuation) + ["«", "»", "—", "…", "¿"]
WORDS = ["the", "cat", "sat", "un", "##aff", "##able", "play", "##ing", "##s", "σοφ", "##ος"]
VOCAB = SPECIALS + list(LETTERS) + ["##" + c for c in LETTERS] + PUNCTUATION + WORDS
TOK = WordPieceTokenizer(VOCAB)

AWKWARD = st.sampled_from(
    [
        "\x00", "\x07", "\x1b", "\x85", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\ufffd",
        "\u0301", "\u0308", "\u0345", "\u20dd", "\u202e", "\u202d", "\u05d0\u05d1", "\u0627\u0644",
        "😀", "👍🏽", "👨\u200d👩\u200d👧", "🇫🇷", "\ud800", "\udfff", "\ue000", "\u0378", "中文",
        "ΣΟΦΟΣ", "İ", "ß", "ﬁ", "\uf900", "\u1fef", "\u2028", "\u3000", "\t", "\n", " ", "[MASK]",
        "[SEP]", "[mask]", "##", "a" * 101, "ab" * 60,
    ]
)  # fmt: skip
TEXT = st.lists(st.one_of(st.text(max_size=12), AWKWARD), max_size=8).map("".join)


def check_row(ids, types, mask, special, offsets, text, pair):
    n = len(ids)
    assert len(types) == len(mask) == len(special) == len(offsets) == n
    assert all(0 <= i < TOK.vocab_size for i in ids)
    for (start, end), is_special, token_type in zip(offsets, special, types, strict=True):
        source = pair if token_type == 1 and pair is not None else text
        assert 0 <= start <= end <= len(source)
        if is_special:
            assert (start, end) == (0, 0)


@given(TEXT, st.none() | TEXT)
def test_any_text_or_pair_encodes(text, pair):
    enc = TOK(text, pair, return_offsets_mapping=True, return_special_tokens_mask=True)
    check_row(
        enc.input_ids,
        enc.token_type_ids,
        enc.attention_mask,
        enc.special_tokens_mask,
        enc.offset_mapping,
        text,
        pair,
    )
    # The fast path (no offsets) and the offsets path give the same tokens.
    assert TOK(text, pair).input_ids == enc.input_ids


@given(
    TEXT,
    st.none() | TEXT,
    st.integers(min_value=3, max_value=24),
    st.sampled_from([True, "longest_first", "only_first", "only_second"]),
)
def test_truncation_never_exceeds_max_length(text, pair, max_length, truncation):
    try:
        enc = TOK(
            [text], None if pair is None else [pair], truncation=truncation, max_length=max_length
        )
    except ValueError as error:  # only_first / only_second cannot always fit
        assert truncation in ("only_first", "only_second")
        assert "truncation=" in str(error) or "text pair" in str(error)
        return
    assert len(enc.input_ids[0]) <= max_length


@given(TEXT)
def test_decode_gives_back_the_normalized_words(text):
    # Every word that encodes without [UNK] comes back exactly as the basic tokenizer made it.
    expected = []
    for word in TOK.basic.tokenize(text):
        pieces = TOK.tokenize(word) if word not in SPECIALS else [word]
        expected.append("[UNK]" if pieces == ["[UNK]"] else word)
    ids = TOK.encode(text, add_special_tokens=False)
    assert TOK.decode(ids, clean_up_tokenization_spaces=False) == " ".join(expected)
    TOK.decode(ids)  # with the clean-up too, never an error


IN_VOCAB = st.lists(
    st.sampled_from(["the", "cat", "Unaffable", "PLAYING", "plays", "σοφος", "中", "!", "—", "1"]),
    max_size=10,
)


@given(IN_VOCAB, st.sampled_from([" ", "  ", "\t", "\u3000", "\u200b "]))
def test_in_vocabulary_text_round_trips_to_its_normalized_form(words, separator):
    text = separator.join(words)
    ids = TOK.encode(text)
    assert TOK.unk_token_id not in ids
    decoded = TOK.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    assert decoded == " ".join(TOK.basic.tokenize(text))


@given(
    st.one_of(
        st.integers(), st.floats(), st.binary(), st.none(), st.lists(st.integers(), min_size=1)
    )
)
def test_input_that_is_not_text_is_a_type_error(value):
    with pytest.raises(TypeError):
        TOK(value)
    with pytest.raises(TypeError):
        TOK.encode(value)


@given(st.lists(TEXT, min_size=1, max_size=4), st.sampled_from(["count", "likelihood"]))
def test_training_on_any_text_covers_every_training_word(texts, score):
    words = [w for text in texts for w in TOK.basic.tokenize(text)]
    if not words:
        with pytest.raises(ValueError, match="empty"):
            train_wordpiece(iter(texts), vocab_size=200, show_progress=False)
        return
    result = train_wordpiece(
        iter(texts), vocab_size=200, min_frequency=1, limit_alphabet=None, score=score,
        show_progress=False,
    )  # fmt: skip
    tok = WordPieceTokenizer(result.vocab)
    assume(len(result.vocab) == len(set(result.vocab)))
    for word in words:
        if len(word) <= 100 and word not in SPECIALS:
            assert "[UNK]" not in tok.tokenize(word), word
