"""WordPiece encoding and the transformers-style API: golden cases, truncation, padding, files."""

import json
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minibert.tokenization import WordPieceTokenizer, wordpiece
from minibert.tokenization.encoding import truncated_lengths

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["the", "cat", "sat", "on", "mat", "un", "##aff", "##able", "play", "##ing", "##s", "."]
WORDS += [",", "!", "'", "t", "don", "a", "##b", "ab", "##c", "##bc", "é", "中"]


@pytest.fixture(scope="module")
def tok():
    return WordPieceTokenizer(SPECIALS + WORDS)


def ids_of(tok, *tokens):
    return [tok.vocab[t] for t in tokens]


# --- the greedy algorithm ---------------------------------------------------------------------


def test_the_docstring_example_of_google_bert():
    assert wordpiece("unaffable", {"un", "##aff", "##able"}) == ["un", "##aff", "##able"]


def test_a_word_with_no_full_match_becomes_one_unk_not_a_partial_split():
    vocab = {"un", "##aff", "##able"}
    assert wordpiece("unaffablex", vocab) == ["[UNK]"]
    assert wordpiece("x", vocab) == ["[UNK]"]


def test_greedy_takes_the_longest_prefix_even_when_that_is_not_optimal():
    # "ab" + "##c" is found first; "a" + "##bc" would also work.
    assert wordpiece("abc", {"a", "ab", "##c", "##bc"}) == ["ab", "##c"]
    # Longest-first can paint itself into a corner: "ab" leaves "##d", which is missing.
    assert wordpiece("abd", {"ab", "a", "##bd"}) == ["[UNK]"]


def test_words_longer_than_100_characters_are_unk():
    vocab = {"a", "##a"}
    assert wordpiece("a" * 100, vocab) == ["a"] + ["##a"] * 99
    assert wordpiece("a" * 101, vocab) == ["[UNK]"]


@given(
    st.lists(st.text(alphabet="abc", min_size=1, max_size=4), min_size=1, max_size=12),
    st.lists(st.text(alphabet="abcd", min_size=1, max_size=12), min_size=1, max_size=8),
)
def test_the_fast_encoder_equals_the_textbook_one(pieces, words):
    vocab = SPECIALS + sorted(
        {p if i % 2 else "##" + p for i, p in enumerate(pieces)} | set(pieces)
    )
    tok = WordPieceTokenizer(vocab)
    for word in words:
        assert tok.tokenize(word) == wordpiece(word, tok.vocab)


# --- encoding ---------------------------------------------------------------------------------


def test_one_text(tok):
    enc = tok("The cat sat.")
    assert enc["input_ids"] == ids_of(tok, "[CLS]", "the", "cat", "sat", ".", "[SEP]")
    assert enc.token_type_ids == [0] * 6 and enc.attention_mask == [1] * 6
    assert list(enc) == ["input_ids", "token_type_ids", "attention_mask"]
    assert enc.tokens() == ["[CLS]", "the", "cat", "sat", ".", "[SEP]"]


def test_a_pair_gets_segment_ids_and_a_second_sep(tok):
    enc = tok("the cat", "sat on the mat", return_special_tokens_mask=True)
    assert enc.tokens() == ["[CLS]", "the", "cat", "[SEP]", "sat", "on", "the", "mat", "[SEP]"]
    assert enc.token_type_ids == [0, 0, 0, 0, 1, 1, 1, 1, 1]
    assert enc.special_tokens_mask == [1, 0, 0, 1, 0, 0, 0, 0, 1]


def test_special_tokens_in_the_text_are_kept_whole(tok):
    # "[mask]" is not a special token (they are case-sensitive): it splits, and "[", "mask"
    # and "]" are not in this vocabulary.
    tokens = tok.tokenize("the [MASK] sat[SEP]on [mask]")
    assert tokens == ["the", "[MASK]", "sat", "[SEP]", "on", "[UNK]", "[UNK]", "[UNK]"]


def test_offsets_map_pieces_back_to_the_raw_text(tok):
    text = "Unaffable, PLAYING!"
    enc = tok(text, return_offsets_mapping=True)
    spans = [text[s:e] for s, e in enc.offset_mapping]
    assert enc.tokens() == ["[CLS]", "un", "##aff", "##able", ",", "play", "##ing", "!", "[SEP]"]
    assert spans == ["", "Un", "aff", "able", ",", "PLAY", "ING", "!", ""]
    # An unknown word is one [UNK] spanning the whole word ("é" strips to "e", not in the vocab).
    enc = tok("xyz é", return_offsets_mapping=True)
    assert enc.tokens() == ["[CLS]", "[UNK]", "[UNK]", "[SEP]"]
    assert enc.offset_mapping == [(0, 0), (0, 3), (4, 5), (0, 0)]


def test_a_batch_with_padding_and_arrays(tok):
    enc = tok(["the cat", "the cat sat on the mat"], padding=True, return_tensors="np")
    assert enc.input_ids.shape == enc.attention_mask.shape == (2, 8)  # (B, T)
    assert enc.input_ids.dtype == np.int64
    assert enc.attention_mask[0].tolist() == [1, 1, 1, 1, 0, 0, 0, 0]
    assert enc.input_ids[0, 4:].tolist() == [tok.pad_token_id] * 4
    enc = tok(["the cat", "sat"], padding="max_length", max_length=6, pad_to_multiple_of=4)
    assert [len(ids) for ids in enc.input_ids] == [8, 8]
    one = tok("the cat", return_tensors="np", return_offsets_mapping=True)
    assert one.input_ids.shape == (1, 4) and one.offset_mapping.shape == (1, 4, 2)


def test_a_batch_of_pairs_either_way(tok):
    a = tok([("the cat", "sat"), ("on", "the mat")])
    b = tok(["the cat", "on"], ["sat", "the mat"])
    assert a == b and a.token_type_ids[1] == [0, 0, 0, 1, 1, 1]


def test_arrays_need_padding_when_lengths_differ(tok):
    with pytest.raises(ValueError, match="padding=True"):
        tok(["the", "the cat"], return_tensors="np")


@pytest.mark.parametrize(
    "len_a, len_b, budget, strategy, expected",
    [
        (10, None, 4, "longest_first", (4, None)),
        (3, 9, 8, "longest_first", (3, 5)),  # the shorter stays whole
        (9, 3, 8, "longest_first", (5, 3)),
        (7, 7, 7, "longest_first", (3, 4)),  # both cut: halves, the odd token to the second
        (6, 9, 4, "longest_first", (2, 2)),
        (5, 9, 10, "only_first", (1, 9)),
        (5, 9, 10, "only_second", (5, 5)),
        (0, 0, 0, "longest_first", (0, 0)),
    ],
)
def test_truncation_rules_of_the_tokenizers_library(len_a, len_b, budget, strategy, expected):
    assert truncated_lengths(len_a, len_b, budget, strategy) == expected


def test_truncation_that_cannot_fit_is_an_error(tok):
    with pytest.raises(ValueError, match="only_first"):
        tok("the cat", "sat on the mat the cat", truncation="only_first", max_length=6)
    with pytest.raises(ValueError, match="no room"):
        tok("the cat", "sat", truncation=True, max_length=2)
    with pytest.raises(ValueError, match="truncation="):
        tok("the cat", truncation="sideways")


def test_truncation_respects_max_length_and_model_max_length(tok):
    text, pair = "the cat sat on the mat " * 3, "on the mat"
    for strategy in (True, "longest_first", "only_first"):
        assert len(tok(text, pair, truncation=strategy, max_length=9).input_ids) == 9
    short = WordPieceTokenizer(SPECIALS + WORDS, model_max_length=5)
    assert len(short(text, truncation=True).input_ids) == 5
    assert short(text, truncation=True).tokens() == ["[CLS]", "the", "cat", "sat", "[SEP]"]


def test_encode_and_no_special_tokens(tok):
    assert tok.encode("the cat") == ids_of(tok, "[CLS]", "the", "cat", "[SEP]")
    assert tok.encode("the cat", add_special_tokens=False) == ids_of(tok, "the", "cat")
    assert tok("the", "cat", add_special_tokens=False).token_type_ids == [0, 1]


# --- decoding ---------------------------------------------------------------------------------


def test_decode_glues_pieces_and_cleans_spaces_like_transformers(tok):
    ids = tok.encode("Unaffable cats , don ' t play !")
    assert tok.decode(ids) == "[CLS] unaffable cats, don't play! [SEP]"
    assert tok.decode(ids, skip_special_tokens=True) == "unaffable cats, don't play!"
    plain = tok.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    assert plain == "unaffable cats , don ' t play !"
    assert tok.decode(np.array(ids)) == tok.decode(ids) and tok.decode(ids[1]) == "un"
    assert tok.batch_decode([ids, ids[:2]], skip_special_tokens=True)[1] == "un"


def test_decode_rejects_ids_outside_the_vocabulary(tok):
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.decode([1, 10_000])
    with pytest.raises(TypeError):
        tok.decode("the cat")


def test_vocabulary_accessors(tok):
    assert tok.vocab_size == len(tok) == len(SPECIALS + WORDS)
    assert [tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.sep_token_id] == [0, 1, 2, 3]
    assert tok.mask_token_id == 4 and tok.all_special_ids == [0, 1, 2, 3, 4]
    assert tok.convert_tokens_to_ids(["cat", "dog"]) == [tok.vocab["cat"], tok.unk_token_id]
    assert tok.convert_ids_to_tokens(tok.vocab["cat"]) == "cat"
    assert tok.convert_tokens_to_string(["un", "##aff", "##able", "cat"]) == "unaffable cat"
    assert tok.get_special_tokens_mask([7, 8], [9]) == [1, 0, 0, 1, 0, 1]


# --- inputs that are not text -----------------------------------------------------------------


@pytest.mark.parametrize("bad", [123, None, b"bytes", [1, 2], [("a", "b", "c")], {"a": 1}])
def test_non_text_is_a_type_error(tok, bad):
    with pytest.raises(TypeError):
        tok(bad)


def test_mismatched_pairs_and_bad_options_are_value_errors(tok):
    with pytest.raises(ValueError, match="as long as"):
        tok(["a", "b"], ["c"])
    with pytest.raises(ValueError, match="NumPy"):
        tok("a", return_tensors="pt")
    with pytest.raises(ValueError, match="padding="):
        tok("a", padding="sideways")


def test_vocabularies_must_have_the_unknown_token_and_unique_ids():
    with pytest.raises(ValueError, match="unknown token"):
        WordPieceTokenizer(["a", "b"])
    with pytest.raises(ValueError, match="share an id"):
        WordPieceTokenizer({"[UNK]": 0, "a": 0})


# --- files ------------------------------------------------------------------------------------


def test_save_and_load_round_trip(tmp_path):
    tok = WordPieceTokenizer(
        SPECIALS + WORDS, do_lower_case=False, strip_accents=True, model_max_length=128
    )
    config_path, vocab_path = tok.save_pretrained(tmp_path / "tok")
    assert open(vocab_path, encoding="utf-8").read().splitlines() == SPECIALS + WORDS
    config = json.loads(open(config_path, encoding="utf-8").read())
    assert config["do_lower_case"] is False and config["strip_accents"] is True
    again = WordPieceTokenizer.from_pretrained(tmp_path / "tok")
    assert again.vocab == tok.vocab and again.config() == tok.config()
    assert again("Café é", "x")["input_ids"] == tok("Café é", "x")["input_ids"]
    assert WordPieceTokenizer.from_pretrained(vocab_path).do_lower_case is False
    assert sorted(os.listdir(tmp_path / "tok")) == ["tokenizer_config.json", "vocab.txt"]


def test_a_vocab_txt_alone_is_enough(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(SPECIALS + WORDS) + "\n", encoding="utf-8")
    tok = WordPieceTokenizer.from_pretrained(tmp_path)
    assert tok.do_lower_case and tok.vocab_size == len(SPECIALS + WORDS)
    assert WordPieceTokenizer(tmp_path / "vocab.txt").vocab == tok.vocab


def test_an_interrupted_save_keeps_the_old_files(tmp_path, monkeypatch):
    tok = WordPieceTokenizer(SPECIALS + WORDS)
    tok.save_pretrained(tmp_path)
    before = (tmp_path / "vocab.txt").read_bytes()

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        WordPieceTokenizer(SPECIALS + ["other"]).save_pretrained(tmp_path)
    assert (tmp_path / "vocab.txt").read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["tokenizer_config.json", "vocab.txt"]  # no temp files


def test_from_pretrained_never_downloads(tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloads"):
        WordPieceTokenizer.from_pretrained("bert-base-uncased")
    (tmp_path / "vocab.txt").write_bytes(b"[UNK]\n\xff\n")
    with pytest.raises(ValueError, match="UTF-8"):
        WordPieceTokenizer.from_pretrained(tmp_path)
