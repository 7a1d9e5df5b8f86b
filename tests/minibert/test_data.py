"""Pretraining data: corpus reading, NSP pairs, MLM masking and batching."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from minibert.data.corpus import read_documents, split_sentences
from minibert.data.dataset import DataConfig, PretrainingData
from minibert.data.pretraining import (
    IGNORE_INDEX,
    IS_NEXT,
    NOT_NEXT,
    Instance,
    mask_tokens,
    nsp_instances,
    truncate_pair,
)
from minibert.tokenization import WordPieceTokenizer

TINY = Path(__file__).resolve().parents[1] / "data" / "tiny_corpus.txt"
SPECIAL = {"cls": 2, "sep": 3}


@pytest.fixture(scope="module")
def tokenizer():
    return WordPieceTokenizer.train([TINY], vocab_size=700, show_progress=False)


def within_binomial_bounds(hits: int, trials: int, p: float, sigmas: float = 5.0) -> bool:
    """|hits - n p| within ``sigmas`` standard deviations: fails by chance < 1e-6 of the time."""
    return abs(hits - trials * p) <= sigmas * math.sqrt(trials * p * (1 - p))


# ------------------------------------------------------------------------------- corpus


def test_sentence_splitting_keeps_abbreviations_and_initials():
    text = "It was used esp. in the U.S. by J. Random Hacker. It is common! “Why?” he asked. OK."
    assert split_sentences(text) == [
        "It was used esp. in the U.S. by J. Random Hacker.",
        "It is common!",
        "“Why?” he asked.",
        "OK.",
    ]


def test_google_and_plain_formats(tmp_path):
    google = tmp_path / "g.txt"
    google.write_text("First sentence.\nSecond one.\n\n\nOther document.\n", encoding="utf-8")
    assert list(read_documents(google)) == [["First sentence.", "Second one."], ["Other document."]]
    plain = tmp_path / "p.txt"
    plain.write_text(
        "A paragraph with two\nsentences. Here is the second.\n\nAnother one.", encoding="utf-8"
    )
    assert list(read_documents(plain, "plain")) == [
        ["A paragraph with two sentences.", "Here is the second."],
        ["Another one."],
    ]


def test_non_utf8_names_the_file_and_byte_offset(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine line\nbroken \xff byte\n")
    with pytest.raises(
        ValueError, match=r"bad\.txt is not UTF-8: invalid byte 0xff at byte offset 17"
    ):
        list(read_documents(bad))


def test_missing_and_empty_corpora_are_clear_errors(tmp_path, tokenizer):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list(read_documents(tmp_path / "nope.txt"))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n  \n", encoding="utf-8")
    with pytest.raises(ValueError, match="has no documents"):
        PretrainingData([empty], tokenizer)


# ---------------------------------------------------------------------------- NSP pairs


def toy_documents(n_docs=6, sentences=5, seed=0):
    """Documents whose sentences are ranges of distinct ids: each token tells where it is from."""
    rng = np.random.default_rng(seed)
    docs, next_id = [], 10
    for _ in range(n_docs):
        doc = []
        for _ in range(sentences):
            length = int(rng.integers(3, 9))
            doc.append(list(range(next_id, next_id + length)))
            next_id += length
        docs.append(doc)
    return docs


def test_pairs_have_bert_layout_and_true_labels():
    docs = toy_documents()
    origin = {t: d for d, doc in enumerate(docs) for sentence in doc for t in sentence}
    rng = np.random.default_rng(1)
    labels = []
    for _ in range(30):
        for d in range(len(docs)):
            for inst in nsp_instances(docs[d], d, docs, SPECIAL, 24, 0.1, rng):
                tokens, types = inst.tokens, inst.token_type_ids
                assert len(tokens) <= 24 and tokens[0] == 2 and tokens[-1] == 3
                first_sep = tokens.index(3)
                a, b = tokens[1:first_sep], tokens[first_sep + 1 : -1]
                assert a and b
                assert types == [0] * (len(a) + 2) + [1] * (len(b) + 1)
                assert all(origin[t] == d for t in a)
                if inst.next_sentence_label == IS_NEXT:
                    assert all(origin[t] == d for t in b)
                    assert min(b) > max(a)  # B comes after A in the document
                else:
                    assert all(origin[t] != d for t in b)  # a truly random next
                labels.append(inst.next_sentence_label)
    assert IS_NEXT in labels and NOT_NEXT in labels


def test_a_single_document_never_yields_a_mislabelled_pair():
    docs = toy_documents(n_docs=1, sentences=12)
    rng = np.random.default_rng(2)
    for _ in range(50):
        for inst in nsp_instances(docs[0], 0, docs, SPECIAL, 20, 0.1, rng):
            assert inst.next_sentence_label == IS_NEXT


def test_a_lone_unpairable_chunk_does_not_stop_the_rest_of_the_document():
    long_first = [list(range(100, 140))] + [list(range(10 + 3 * k, 13 + 3 * k)) for k in range(8)]
    rng = np.random.default_rng(6)
    instances = nsp_instances(long_first, 0, [long_first], SPECIAL, 32, 0.0, rng)
    assert instances, "the short sentences after the long one still make pairs"
    assert all(i.next_sentence_label == IS_NEXT for i in instances)


def test_truncation_removes_from_the_longer_side_at_random_ends():
    rng = np.random.default_rng(3)
    fronts = backs = 0
    for _ in range(200):
        a, b = list(range(10)), list(range(100, 104))
        truncate_pair(a, b, 10, rng)
        assert len(a) + len(b) == 10 and b == list(range(100, 104))
        fronts += a[0] != 0
        backs += a[-1] != 9
    assert fronts > 50 and backs > 50


# -------------------------------------------------------------------------------- masking


def test_80_10_10_within_binomial_bounds():
    rng = np.random.default_rng(4)
    vocab = np.arange(5, 1000)
    tokens = [2, *range(10, 110), 3]
    instance = Instance(tokens, [0] * len(tokens), IS_NEXT, [True] * len(tokens))
    masked = random = kept = chosen = 0
    for _ in range(2000):
        ids, labels = mask_tokens(instance, rng, mask_id=4, special_ids={0, 1, 2, 3, 4},
                                  replacement_ids=vocab, max_predictions_per_seq=20)  # fmt: skip
        picked = [i for i, label in enumerate(labels) if label != IGNORE_INDEX]
        assert len(picked) == min(20, round(len(tokens) * 0.15))
        assert labels[0] == labels[-1] == IGNORE_INDEX  # [CLS] and [SEP] are never predicted
        for i in picked:
            chosen += 1
            if ids[i] == 4:
                masked += 1
            elif ids[i] == tokens[i]:
                kept += 1
            else:
                random += 1
                assert ids[i] in set(vocab.tolist())
    # A random replacement equals the original token 1 time in len(vocab): it then counts as kept.
    assert within_binomial_bounds(masked, chosen, 0.8)
    assert within_binomial_bounds(random, chosen, 0.1 * (1 - 1 / len(vocab)))
    assert within_binomial_bounds(kept, chosen, 0.1 + 0.1 / len(vocab))


def test_whole_word_masking_masks_every_piece_of_a_word_alike():
    rng = np.random.default_rng(5)
    tokens = [2, 10, 11, 12, 20, 30, 31, 3]  # words: [10 ##11 ##12] [20] [30 ##31]
    starts = [True, True, False, False, True, True, False, True]
    instance = Instance(tokens, [0] * 8, IS_NEXT, starts)
    for _ in range(300):
        ids, labels = mask_tokens(instance, rng, mask_id=4, special_ids={2, 3, 4},
                                  replacement_ids=np.arange(50, 60), masked_lm_prob=0.5,
                                  whole_word=True)  # fmt: skip
        for word in ([1, 2, 3], [4], [5, 6]):
            predicted = [labels[i] != IGNORE_INDEX for i in word]
            assert all(predicted) or not any(predicted)
            if all(predicted):
                kinds = {
                    "mask" if ids[i] == 4 else "kept" if ids[i] == tokens[i] else "random"
                    for i in word
                }
                assert len(kinds) == 1  # one 80/10/10 decision for the whole word


# ------------------------------------------------------------------------------- batches


def test_batches_are_reproducible_and_masks_change_each_epoch(tokenizer):
    config = DataConfig(max_seq_length=48, batch_size=8)
    first = list(PretrainingData([TINY], tokenizer, config, seed=0).epoch_batches(0))
    again = list(PretrainingData([TINY], tokenizer, config, seed=0).epoch_batches(0))
    for x, y in zip(first, again, strict=True):
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
    data = PretrainingData([TINY], tokenizer, config, seed=0)
    assert not np.array_equal(next(data.epoch_batches(1))["input_ids"], first[0]["input_ids"])
    # Resuming at (epoch, index) gives exactly the batch an uninterrupted pass gives.
    epoch, index, batch = next(data.batches(0, 3))
    assert (epoch, index) == (0, 3)
    np.testing.assert_array_equal(batch["labels"], first[3]["labels"])


def test_batch_layout(tokenizer):
    batch = next(
        PretrainingData(
            [TINY], tokenizer, DataConfig(max_seq_length=40, batch_size=6)
        ).epoch_batches(0)
    )
    B, T = batch["input_ids"].shape
    assert B == 6 and T <= 40
    lengths = batch["attention_mask"].sum(1)
    assert lengths.max() == T  # padded to the longest row
    for row in range(B):
        n = lengths[row]
        assert np.all(batch["input_ids"][row, n:] == tokenizer.pad_token_id)
        assert np.all(batch["labels"][row, n:] == IGNORE_INDEX)
        assert batch["input_ids"][row, 0] == tokenizer.cls_token_id
    assert set(batch["next_sentence_label"].tolist()) <= {IS_NEXT, NOT_NEXT}


def test_mlm_only_uses_single_full_segments(tokenizer):
    config = DataConfig(max_seq_length=48, batch_size=8, nsp=False)
    batch = next(PretrainingData([TINY], tokenizer, config).epoch_batches(0))
    assert np.all(batch["token_type_ids"] == 0)
    assert "next_sentence_label" not in batch  # so the model computes no NSP loss
    sep = tokenizer.sep_token_id
    assert all((row == sep).sum() == 1 for row in batch["input_ids"])
