"""Parity with Hugging Face: same vocab.txt and flags -> same model inputs; same trained vocabulary.

The references, all built locally (nothing is downloaded; HF_HUB_OFFLINE is set):

- ``BertTokenizerFast``: the Rust ``tokenizers`` library behind transformers. transformers 5
  names it plain ``BertTokenizer`` (``BertTokenizerFast`` is an alias of it).
- the legacy pure-Python tokenizer: in transformers 5 it moved to
  ``transformers.models.bert.tokenization_bert_legacy.BertTokenizerLegacy``.
- ``tokenizers.BertWordPieceTokenizer``: the Rust WordPiece trainer (really BPE by count).

Where the two transformers tokenizers agree, we agree with both; where they disagree we follow
the fast one, and every disagreement must be one of the documented kinds (``legacy_may_differ``
and ``legacy_truncation_may_differ``): a new kind fails the test.
"""

from __future__ import annotations

import os
import random
import re
import unicodedata
from collections import Counter

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach the hub, whatever happens
transformers = pytest.importorskip("transformers", reason="transformers (the ref extra) is needed")
tokenizers = pytest.importorskip("tokenizers", reason="tokenizers (the ref extra) is needed")
legacy_module = pytest.importorskip(
    "transformers.models.bert.tokenization_bert_legacy",
    reason="this transformers has no legacy BERT tokenizer module",
)

from minibert.tokenization import WordPieceTokenizer  # noqa: E402
from minibert.tokenization.sample_text import python_docs_text  # noqa: E402

BertTokenizerFast = transformers.BertTokenizerFast
BertTokenizerLegacy = legacy_module.BertTokenizerLegacy

# Real text in many scripts, with the awkward cases BERT's normalization exists for.
TEXTS = [
    "Hello, world! This is BERT's tokenizer: it splits punctuation (like this) and lowercases.",
    "The café's crème brûlée costs €4.50 — naïve coöperation, façade, jalapeño, Øresund, Łódź.",
    "Ich möchte ein Stück Käse. Straße, Größe, Übermaß; ÄÖÜ äöü ß ẞ.",
    "¿Dónde está la biblioteca? ¡Está allí! Mañana será otro día.",
    "Les élèves ont étudié à l'école « Jean-Jacques Rousseau » jusqu'à midi.",
    "Ελληνικά: Η γρήγορη καφέ αλεπού πηδάει ΟΔΟΣ ΣΟΦΟΣ.",
    "Русский текст: Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "中文：我爱自然语言处理。今天天气很好！",
    "日本語のテキスト：東京は日本の首都です。カタカナとひらがな。",
    "한국어 텍스트: 안녕하세요, 만나서 반갑습니다.",
    "العربية: مرحبا بالعالم! هذا نص تجريبي.",
    "עברית: שלום עולם, זהו טקסט לדוגמה.",
    "हिन्दी: नमस्ते दुनिया, यह एक परीक्षण है।",
    "ไทย: สวัสดีชาวโลก",
    "Emoji: I ❤️ NLP 😀👍🏽 👨‍👩‍👧 🇫🇷 🫠 — done.",
    "Quotes: “double” ‘single’ „low“ «guillemets» ‹single› 「括弧」 and dashes – — ‐ ‒.",
    "Zero\u200bwidth\u200cjoiner\u200dand\ufeffBOM, soft\u00adhyphen, tab\there, nbsp\u00a0here.",
    "Control\x00chars\x07are\x1b[0mdropped\ufffd and line\u2028separators\u2029too.",
    "Decomposed: e\u0301cole, n\u0303, A\u030a, and precomposed: école, ñ, Å.",
    "Math: x² + y² = z², ½ + ¼ = ¾, 10⁻³ m, ∑ ∫ ∞ ≤ ≥ ≠ ±.",
    "Numbers 1,234,567.89 and 3.14159 and phone +1-555-0100, dates 2024-01-31.",
    "URLs: https://example.com/path?query=1&x=y#frag and emails: someone@example.org.",
    "Code: def f(x): return x**2 + 1  # comment; a[i] = b{j} <tag> | pipe ~ tilde ` backtick ^ $",
    "Pneumonoultramicroscopicsilicovolcanoconiosis; " + "a" * 100 + " and " + "b" * 101 + ".",
    "Turkish: İstanbul, ISPARTA, ılık, Iğdır; Lithuanian: Į̃; Dutch: IJsselmeer.",
    "Fullwidth: ＡＢＣ１２３！？ and halfwidth ｶﾀｶﾅ; ligatures: ﬁ ﬂ ﬀ; roman: Ⅻ ⅻ.",
    "Special tokens inside text: [CLS] hello [SEP] world [MASK] foo[MASK]bar [PAD] [UNK] [mask].",
    "   leading and trailing spaces   ",
    "",
    "Vietnamese: Tiếng Việt có dấu: ả, ẫ, ặ, ợ, ữ.",
    "Compatibility ideographs: \uf900\uf901 and CJK extension B: 𠀀𠀁, and kana ｱ.",
    "Greek final sigma: ΛΟΓΟΣ ΚΑΙ ΑΡΙΘΜΟΣ; lower: λόγος.",
]
PAIRS = list(zip(TEXTS[::2], TEXTS[1::2], strict=False))
# (name, vocabulary cased?, tokenizer flags)
CONFIGS = [
    ("uncased", False, {"do_lower_case": True}),
    ("cased", True, {"do_lower_case": False}),
    ("lowercase-keep-accents", False, {"do_lower_case": True, "strip_accents": False}),
    ("cased-strip-no-cjk", True, {"do_lower_case": False, "strip_accents": True,
                                  "tokenize_chinese_chars": False}),
]  # fmt: skip
KEYS = ("input_ids", "token_type_ids", "attention_mask", "special_tokens_mask", "offset_mapping")
# How many encodings were compared, and why the legacy tokenizer differed where it did.
COMPARED: Counter = Counter()


@pytest.fixture(scope="module", autouse=True)
def quiet_transformers():
    """transformers warns on every truncated pair; the warnings say nothing about parity."""
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    yield
    transformers.logging.set_verbosity(verbosity)


def synthetic_corpus(n_words: int = 60_000, seed: int = 0) -> str:
    """Zipf-distributed made-up words (syllables, some accented) in sentences: deterministic."""
    rng = random.Random(seed)
    syllables = "ka to ri men sa lo ne ver tion ing pre un de con ly ed er st qu ph th ch a e i o u"
    syllables = syllables.split() + ["ß", "é", "ñ", "ø"]
    lexicon = sorted({"".join(rng.choices(syllables, k=rng.randint(1, 4))) for _ in range(4000)})
    rng.shuffle(lexicon)
    weights = [1 / (rank + 1) ** 1.1 for rank in range(len(lexicon))]
    lines, line = [], []
    for word in rng.choices(lexicon, weights, k=n_words):
        line.append(word.capitalize() if rng.random() < 0.08 else word)
        if rng.random() < 0.07:
            lines.append(" ".join(line) + rng.choice(".!?,;"))
            line = []
    # The multilingual texts, each repeated a different number of times.
    lines += [text for i, text in enumerate(TEXTS) for _ in range(i % 7 + 1)]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text(synthetic_corpus(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def vocab_dirs(corpus_file, tmp_path_factory):
    """An uncased and a cased vocabulary, trained by us on the corpus, saved as vocab.txt."""
    dirs = {}
    for cased in (False, True):
        tok = WordPieceTokenizer.train(
            [corpus_file], vocab_size=3000, min_frequency=1, lowercase=not cased,
            show_progress=False,
        )  # fmt: skip
        dirs[cased] = tmp_path_factory.mktemp("cased" if cased else "uncased")
        tok.save_pretrained(dirs[cased])
    return dirs


@pytest.fixture(scope="module", params=CONFIGS, ids=[c[0] for c in CONFIGS])
def trio(request, vocab_dirs, tmp_path_factory):
    """(ours, fast, legacy, flags): the same vocab.txt and flags in all three."""
    name, cased, flags = request.param
    ours = WordPieceTokenizer.from_pretrained(vocab_dirs[cased], **flags)
    directory = tmp_path_factory.mktemp(name)
    ours.save_pretrained(directory)  # fast reads the flags from our tokenizer_config.json
    fast = BertTokenizerFast.from_pretrained(directory)
    legacy = BertTokenizerLegacy(vocab_file=str(directory / "vocab.txt"), **flags)
    return ours, fast, legacy, flags


def as_lists(encoding) -> dict:
    return {k: [tuple(x) if isinstance(x, (list, tuple)) else x for x in encoding[k]]
            for k in KEYS if k in encoding}  # fmt: skip


def legacy_may_differ(text: str, ours: WordPieceTokenizer) -> str | None:
    """Why the legacy Python tokenizer may disagree with the fast one on ``text``, if it may."""
    if ours.do_lower_case and re.search(r"Σ(?!\w)", text):
        return "final sigma: the legacy tokenizer lowercases whole words (ς), the fast one σ"
    if not ours.basic.strips_accents and unicodedata.normalize("NFC", text) != text:
        return "NFC: transformers 5's legacy tokenizer composes the text first"
    if any(unicodedata.category(c) == "Cn" for c in text):
        return "unassigned code points: the legacy tokenizer deletes them"
    return None


def test_each_text_matches_fast_and_legacy(trio):
    ours, fast, legacy, _ = trio
    for text in TEXTS:
        mine = ours(text, return_offsets_mapping=True, return_special_tokens_mask=True)
        theirs = fast(text, return_offsets_mapping=True, return_special_tokens_mask=True)
        assert as_lists(mine) == as_lists(theirs), text
        COMPARED["texts, same as fast"] += 1
        old = legacy(text)["input_ids"]
        if old != mine["input_ids"]:
            reason = legacy_may_differ(text, ours)
            assert reason, f"undocumented legacy difference on {text!r}"
            COMPARED[f"texts, legacy differs: {reason.split(':')[0]}"] += 1
        else:
            COMPARED["texts, same as legacy"] += 1
        assert ours.tokenize(text) == fast.tokenize(text)


@pytest.mark.parametrize("truncation", [False, True, "only_first", "only_second"])
@pytest.mark.parametrize("max_length", [8, 17, 40])
def test_pairs_and_truncation_match(trio, truncation, max_length):
    ours, fast, legacy, _ = trio
    kwargs = {"truncation": truncation, "max_length": max_length, "return_offsets_mapping": True,
              "return_special_tokens_mask": True}  # fmt: skip
    for a, b in PAIRS:
        try:
            theirs = fast(a, b, **kwargs)
        except Exception:  # the tokenizers library cannot fit it (only_first / only_second)
            with pytest.raises(ValueError, match="truncation="):
                ours(a, b, **kwargs)
            COMPARED["pairs, both refuse (the truncated side cannot fit)"] += 1
            continue
        mine = ours(a, b, **kwargs)
        assert as_lists(mine) == as_lists(theirs), (a, b, truncation, max_length)
        COMPARED["pairs, same as fast"] += 1
        old = legacy(a, b, truncation=truncation, max_length=max_length)["input_ids"]
        if old == mine["input_ids"]:
            COMPARED["pairs, same as legacy"] += 1
            continue
        # Besides the text-level differences, the legacy longest_first removes one token at a
        # time from the longer side; the Rust rule (ours) halves the budget when both are long.
        reason = legacy_may_differ(a + b, ours)
        if (
            not reason
            and truncation is True
            and legacy(a, b)["input_ids"] == ours(a, b)["input_ids"]
        ):
            reason = "longest_first: the legacy tokenizer trims one token at a time"
        assert reason, f"undocumented legacy difference on {(a, b)}"
        COMPARED[f"pairs, legacy differs: {reason.split(':')[0]}"] += 1


def test_batches_with_padding_match_fast(trio):
    ours, fast, _, _ = trio
    for padding, truncation, max_length in [
        (True, False, None),
        ("max_length", True, 24),
        ("longest", True, 24),
    ]:
        kwargs = {"padding": padding, "truncation": truncation, "max_length": max_length,
                  "return_tensors": "np"}  # fmt: skip
        mine, theirs = ours(TEXTS, **kwargs), fast(TEXTS, **kwargs)
        for key in ("input_ids", "token_type_ids", "attention_mask"):
            np.testing.assert_array_equal(mine[key], theirs[key], err_msg=key)
        mine, theirs = ours(PAIRS, **kwargs), fast(PAIRS, **kwargs)
        np.testing.assert_array_equal(mine["token_type_ids"], theirs["token_type_ids"])
        np.testing.assert_array_equal(mine["input_ids"], theirs["input_ids"])
        COMPARED["batched rows, same as fast"] += len(TEXTS) + len(PAIRS)


def test_decode_matches(trio):
    ours, fast, legacy, _ = trio
    for text in TEXTS:
        ids = fast(text)["input_ids"]
        COMPARED["decoded, same as fast and legacy"] += 4
        for skip in (False, True):
            assert ours.decode(ids, skip_special_tokens=skip) == fast.decode(
                ids, skip_special_tokens=skip, clean_up_tokenization_spaces=True
            )
            assert ours.decode(
                ids, skip_special_tokens=skip, clean_up_tokenization_spaces=False
            ) == legacy.decode(ids, skip_special_tokens=skip, clean_up_tokenization_spaces=False)


def test_directories_saved_by_transformers_load_here(vocab_dirs, tmp_path):
    fast = BertTokenizerFast.from_pretrained(vocab_dirs[True], do_lower_case=False)
    fast.save_pretrained(tmp_path / "fast")  # transformers 5 writes tokenizer.json, no vocab.txt
    legacy = BertTokenizerLegacy(
        vocab_file=str(vocab_dirs[True] / "vocab.txt"), do_lower_case=False, strip_accents=True
    )
    legacy.save_pretrained(tmp_path / "legacy")
    from_fast = WordPieceTokenizer.from_pretrained(tmp_path / "fast")
    from_legacy = WordPieceTokenizer.from_pretrained(tmp_path / "legacy")
    assert not from_fast.do_lower_case and from_fast.strip_accents is None
    assert not from_legacy.do_lower_case and from_legacy.strip_accents is True
    for text in TEXTS:
        assert from_fast(text)["input_ids"] == fast(text)["input_ids"]
    assert from_legacy.vocab == from_fast.vocab


# --- the trainer ------------------------------------------------------------------------------


def rust_vocab(path, vocab_size, lowercase, limit_alphabet=1000) -> set[str]:
    trainer = tokenizers.BertWordPieceTokenizer(lowercase=lowercase)
    trainer.train(
        [str(path)], vocab_size=vocab_size, min_frequency=2, limit_alphabet=limit_alphabet,
        show_progress=False,
    )  # fmt: skip
    return set(trainer.get_vocab())


@pytest.mark.parametrize(
    "vocab_size, lowercase, limit_alphabet",
    [(600, True, 1000), (1000, True, 1000), (800, False, 1000), (1200, False, 1000),
     (600, True, 31), (600, False, 31)],
)  # fmt: skip
def test_count_trainer_gives_the_vocabulary_set_of_the_rust_trainer(
    corpus_file, vocab_size, lowercase, limit_alphabet
):
    # Settings where the Rust trainer gives the same set on every run (checked over 6 runs):
    # no tie between pairs decides which tokens make it.
    ours = WordPieceTokenizer.train(
        [corpus_file], vocab_size=vocab_size, lowercase=lowercase, limit_alphabet=limit_alphabet,
        show_progress=False,
    )  # fmt: skip
    theirs = rust_vocab(corpus_file, vocab_size, lowercase, limit_alphabet)
    assert len(ours.vocab) == len(theirs) == vocab_size
    assert set(ours.vocab) == theirs, (
        f"only ours: {sorted(set(ours.vocab) - theirs)[:20]}, "
        f"only theirs: {sorted(theirs - set(ours.vocab))[:20]}"
    )
    assert ours.convert_ids_to_tokens(list(range(5))) == [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
    ]


def test_count_trainer_on_real_text_agrees_up_to_ties(tmp_path):
    # 300 kB of the standard library's docstrings, 3000 tokens: here many pairs tie near the
    # end, and the Rust trainer breaks ties by hash-map order, so two of its runs differ by a
    # few dozen tokens. Ours must be as close to it as it is to itself.
    path = tmp_path / "docs.txt"
    path.write_text(python_docs_text(300_000, include_tests=False), encoding="utf-8")
    ours = set(WordPieceTokenizer.train([path], vocab_size=3000, show_progress=False).vocab)
    first, second = rust_vocab(path, 3000, True), rust_vocab(path, 3000, True)
    assert len(ours ^ first) <= max(0.03 * 3000, 2 * len(first ^ second))


def test_summary_of_strings_compared():
    # Runs last in this module: the counts show in pytest's -rP output and in the report.
    for what, count in sorted(COMPARED.items()):
        print(f"{count:6d}  {what}")
    assert COMPARED["texts, same as fast"] > 0
