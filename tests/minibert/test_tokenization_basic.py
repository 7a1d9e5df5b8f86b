"""BERT's basic tokenizer: golden cases (accents, CJK, punctuation, control characters, offsets)."""

import pytest

from minibert.tokenization import BasicTokenizer
from minibert.tokenization.basic import is_chinese_char, is_control, is_punctuation, is_whitespace

uncased = BasicTokenizer()
cased = BasicTokenizer(do_lower_case=False)


@pytest.mark.parametrize(
    "tokenizer, expected",
    [
        (BasicTokenizer(), ["creme", "brulee", "a", "l", "'", "orange"]),
        (BasicTokenizer(do_lower_case=False), ["Crème", "Brûlée", "à", "l", "'", "Orange"]),
        (
            BasicTokenizer(do_lower_case=False, strip_accents=True),
            ["Creme", "Brulee", "a", "l", "'", "Orange"],
        ),
        (BasicTokenizer(strip_accents=False), ["crème", "brûlée", "à", "l", "'", "orange"]),
    ],
    ids=["uncased", "cased", "cased-stripped", "lowercase-only"],
)
def test_accents_follow_lowercasing_unless_told(tokenizer, expected):
    assert tokenizer.tokenize("Crème Brûlée à l'Orange") == expected


def test_cjk_ideographs_are_words_but_hangul_and_kana_are_not():
    assert uncased.tokenize("我爱NLP，很好") == ["我", "爱", "nlp", "，", "很", "好"]
    assert cased.tokenize("안녕하세요 カタカナ ひらがな") == ["안녕하세요", "カタカナ", "ひらがな"]
    assert BasicTokenizer(tokenize_chinese_chars=False).tokenize("我爱NLP") == ["我爱nlp"]


def test_accent_stripping_also_decomposes_hangul_and_drops_kana_voicing_marks():
    # NFD splits a Hangul syllable into its jamo, and が into か + a combining mark (Mn), which
    # is then dropped: a known weakness of uncased BERT for Korean and Japanese.
    [hangul, kana] = uncased.tokenize("한 が")
    assert hangul == "\u1112\u1161\u11ab" and kana == "か"


def test_compatibility_ideographs_count_as_cjk_and_strip_to_their_unified_twin():
    # U+F900 decomposes (NFD) to U+8C48; with accent stripping BERT sees the unified ideograph.
    assert uncased.tokenize("a\uf900b") == ["a", "\u8c48", "b"]
    assert cased.tokenize("a\uf900b") == ["a", "\uf900", "b"]


def test_every_punctuation_character_is_its_own_word():
    assert uncased.tokenize("a.b,c!d?") == ["a", ".", "b", ",", "c", "!", "d", "?"]
    # ASCII symbols count as punctuation for BERT, though Unicode calls them symbols (S*).
    assert uncased.tokenize("$5+3=8^2|~`") == list("$5+3=8^2|~`")
    assert uncased.tokenize("«hi»—there…") == ["«", "hi", "»", "—", "there", "…"]
    # Non-ASCII symbols are not punctuation: € and emoji stay attached.
    assert uncased.tokenize("4€ ok😀") == ["4€", "ok😀"]


def test_control_and_zero_width_characters_vanish_whitespace_splits():
    assert uncased.tokenize("\x00a\u200bb\ufeffc\ufffd\x07") == ["abc"]
    assert uncased.tokenize("a\u00a0b\u3000c\u2028d\te\r\nf") == list("abcdef")
    assert uncased.tokenize("   \t\n ") == []
    assert uncased.tokenize("") == []


def test_unassigned_code_points_are_kept_as_the_rust_tokenizer_does():
    assert uncased.tokenize("x\u0378y") == ["x\u0378y"]


def test_lowercasing_is_per_character_so_final_sigma_stays_sigma():
    assert uncased.tokenize("ΟΔΟΣ") == ["οδοσ"]
    assert cased.tokenize("ΟΔΟΣ") == ["ΟΔΟΣ"]


def test_lowercased_dotted_capital_i_keeps_its_dot_only_without_stripping():
    assert uncased.tokenize("İstanbul") == ["istanbul"]
    assert BasicTokenizer(strip_accents=False).tokenize("İ") == ["i\u0307"]


def test_punctuation_is_judged_after_accent_stripping():
    # U+1FEF GREEK VARIA (a symbol) decomposes to the backtick, which is punctuation.
    assert uncased.tokenize("a\u1fefb") == ["a", "`", "b"]


def test_never_split_strings_are_found_in_the_raw_text():
    basic = BasicTokenizer(never_split=["[MASK]", "[SEP]"])
    assert basic.tokenize("a[MASK]b [mask] [SEP]") == [
        "a",
        "[MASK]",
        "b",
        "[",
        "mask",
        "]",
        "[SEP]",
    ]
    assert basic.tokenize("[MASK]") == ["[MASK]"]


def test_offsets_point_back_into_the_raw_text():
    text = "Héllo,  wörld!\u200bİx"
    words = uncased.tokenize_with_offsets(text)
    assert [w for w, _, _ in words] == ["hello", ",", "world", "!", "ix"]
    assert [text[s:e] for _, s, e in words] == ["Héllo", ",", "wörld", "!", "\u200bİx"[1:]]
    # A deleted character inside a word is inside its span.
    assert uncased.tokenize_with_offsets("a\u200bb") == [("ab", 0, 3)]
    # One character can become two; both point at it.
    [(word, origins, _)] = BasicTokenizer(strip_accents=False).words_with_origins("İ")
    assert word == "i\u0307" and origins == [0, 0]


def test_tokenize_agrees_with_the_offsets_path():
    text = "Ünïcödé, 中文 text\u00a0with [MASK] and\u200bzero-width… ΣΟΦΟΣ"
    basic = BasicTokenizer(never_split=["[MASK]"])
    assert basic.tokenize(text) == [w for w, _, _ in basic.tokenize_with_offsets(text)]


def test_character_classes():
    assert is_control("\u200b") and is_control("\x07") and is_control("\ue000")
    assert not is_control("\t") and not is_control("a") and not is_control("\u0378")
    assert is_whitespace("\u3000") and is_whitespace("\u2029") and not is_whitespace("\x0b")
    assert is_punctuation("~") and is_punctuation("、") and not is_punctuation("€")
    assert is_chinese_char("中") and not is_chinese_char("한") and not is_chinese_char("カ")


def test_the_table_fills_itself_once_per_character():
    basic = BasicTokenizer()
    assert basic.normalize("É!") == "e ! "
    assert set(basic.table) == {ord("É"), ord("!")}
