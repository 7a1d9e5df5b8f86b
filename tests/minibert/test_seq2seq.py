"""Sequence to sequence: BLEU and exact match on hand-worked cases, the translation files and
their batches, training (it learns, it resumes bit for bit) and the command line."""

from __future__ import annotations

import argparse
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from minibert.cli_seq2seq import add_commands
from minibert.finetuning.task import DatasetError
from minibert.modeling.causal_lm import MiniGPT
from minibert.modeling.decoder_config import DecoderConfig, EncoderDecoderConfig
from minibert.modeling.encoder_decoder import BertEncoderDecoder
from minibert.seq2seq import (
    Seq2SeqData,
    TranslationPair,
    build_tokenizer,
    corpus_bleu,
    evaluate_translation,
    exact_match,
    read_pairs,
    train_seq2seq,
)
from minibert.seq2seq.data import embedded_task
from minibert.seq2seq.lm_data import LanguageModelingData
from minibert.training import TrainingArguments
from tests.minibert.conftest import small_config

REPO = Path(__file__).resolve().parents[2]

# ------------------------------------------------------------------------------ BLEU


def test_bleu_of_a_perfect_corpus_is_100():
    assert corpus_bleu(["a b c d e"], ["a b c d e"])["bleu"] == pytest.approx(100.0)


def test_bleu_clips_repeated_words_at_the_reference_count():
    # Papineni et al.'s example: 7 x "the" against a reference with two "the"s.
    result = corpus_bleu(["the the the the the the the"], ["the cat is on the mat"])
    assert result["precisions"][0] == pytest.approx(100 * 2 / 7)
    assert result["bleu"] == 0.0  # no bigram matches, and BLEU without smoothing is then 0


def test_bleu_brevity_penalty():
    # c = 4, r = 6; every n-gram of the hypothesis matches: BLEU = BP = exp(1 - 6/4).
    result = corpus_bleu(["a b c d"], ["a b c d e f"])
    assert result["precisions"] == pytest.approx([100.0] * 4)
    assert result["brevity_penalty"] == pytest.approx(math.exp(-0.5))
    assert result["bleu"] == pytest.approx(100 * math.exp(-0.5))


def test_bleu_pools_counts_over_the_corpus_before_the_geometric_mean():
    # Sentence 1 matches everything; sentence 2 ("a b c e" for "a b c d") matches 3/4 unigrams,
    # 2/3 bigrams, 1/2 trigrams and 0/1 4-grams. Pooled: 7/8, 5/6, 3/4, 1/2, and c = r = 8.
    result = corpus_bleu(["a b c d", "a b c e"], ["a b c d", "a b c d"])
    assert result["precisions"] == pytest.approx([100 * 7 / 8, 100 * 5 / 6, 75.0, 50.0])
    assert result["bleu"] == pytest.approx(100 * (7 / 8 * 5 / 6 * 3 / 4 * 1 / 2) ** 0.25)
    # ... which is not the mean of the sentence scores (100 and 0).
    assert result["bleu"] != pytest.approx(50.0)


def test_bleu_and_exact_match_take_token_lists_and_refuse_unequal_lengths():
    assert corpus_bleu([["x", "y"]], [["x", "y", "z"]])["hypothesis_length"] == 2
    assert exact_match(["1 2", "3"], ["1 2", "3 0"]) == 0.5
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        corpus_bleu(["a", "b"], ["a"])


# ------------------------------------------------------------------- the task's files


def load_script():
    path = REPO / "scripts" / "build_translation_dataset.py"
    spec = importlib.util.spec_from_file_location("build_translation_dataset", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_number_words_follow_british_english():
    words = load_script().number_to_words
    assert words(0) == "zero"
    assert words(42) == "forty-two"
    assert words(2006) == "two thousand and six"
    assert words(2506) == "two thousand five hundred and six"
    assert words(120000) == "one hundred and twenty thousand"
    assert words(100001) == "one hundred thousand and one"
    assert words(342506) == "three hundred and forty-two thousand five hundred and six"


def test_the_shipped_task_is_consistent_and_split_by_number():
    train, validation = read_pairs(embedded_task("train")), read_pairs(embedded_task("validation"))
    assert (len(train), len(validation)) == (8000, 1000)
    words = load_script().number_to_words
    for pair in train + validation:  # every target is the digits of its source's number
        assert words(int(pair.target.replace(" ", ""))) == pair.source
    assert not {p.source for p in validation} & {p.source for p in train}


def test_a_malformed_file_is_named_with_its_line(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("source\ttarget\none\t1\ntwo 2\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=rf"{path}:3: expected 'source<TAB>target'"):
        read_pairs(path)
    path.write_text("one\t1\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=":1: the first line must be the header"):
        read_pairs(path)


PAIRS = [
    TranslationPair("one hundred and one", "1 0 1"),
    TranslationPair("seven", "7"),
    TranslationPair("twenty-two", "2 2"),
    TranslationPair("five thousand", "5 0 0 0"),
]


def test_batches_are_teacher_forcing_inputs_and_padded_labels():
    tokenizer = build_tokenizer(PAIRS)
    assert tokenizer.tokenize("twenty-two") == ["twenty", "-", "two"]
    data = Seq2SeqData(PAIRS, tokenizer, batch_size=4, seed=0, label_smoothing=0.1)
    batch = next(data.epoch_batches(0))
    assert batch["label_smoothing"] == 0.1
    rows = zip(batch["input_ids"], batch["attention_mask"], batch["labels"], strict=True)
    for ids, mask, labels in rows:
        n = int(mask.sum())
        assert ids[0] == tokenizer.cls_token_id and ids[n - 1] == tokenizer.sep_token_id
        assert (ids[n:] == tokenizer.pad_token_id).all()
        kept = labels[labels != -100]
        assert kept[-1] == tokenizer.sep_token_id and (labels[len(kept) :] == -100).all()


def test_batches_resume_at_a_saved_position():
    data = Seq2SeqData(PAIRS * 3, build_tokenizer(PAIRS), batch_size=5, seed=3)
    resumed = data.batches(1, 2)
    epoch, index, batch = next(resumed)
    expected = list(data.epoch_batches(1))[2]
    assert (epoch, index) == (1, 2)
    np.testing.assert_array_equal(batch["labels"], expected["labels"])
    assert next(resumed)[:2] == (2, 0)  # then on into the next epoch


def test_language_modeling_blocks_cut_the_document_stream(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("one two .\nthree\n\nfour five\n", encoding="utf-8")
    tokenizer = build_tokenizer([TranslationPair("one two . three", "four five")])
    data = LanguageModelingData([corpus], tokenizer, block_size=3, batch_size=2, seed=0)
    tokens = tokenizer.convert_ids_to_tokens(data.blocks.reshape(-1).tolist())
    assert tokens == ["[CLS]", "one", "two", ".", "three", "[SEP]", "[CLS]", "four", "five"]
    batch = next(data.epoch_batches(0))
    np.testing.assert_array_equal(batch["labels"], batch["input_ids"])


# ------------------------------------------------------------------------- training


def tiny_model(tokenizer, seed=0, dropout=0.0, hidden=16):
    sizes = dict(hidden_size=hidden, num_hidden_layers=1, num_attention_heads=2,
                 intermediate_size=2 * hidden, max_position_embeddings=16,
                 hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)  # fmt: skip
    config = EncoderDecoderConfig(
        encoder=small_config(vocab_size=len(tokenizer), **sizes),
        decoder=DecoderConfig.for_tokenizer(tokenizer, add_cross_attention=True, **sizes),
    )
    return BertEncoderDecoder(config, seed=seed)


def arguments(steps, **overrides):
    settings = dict(max_steps=steps, learning_rate=1e-2, warmup_steps=0, eval_every=0,
                    save_every=0, log_every=0)  # fmt: skip
    return TrainingArguments(**{**settings, **overrides})


@pytest.mark.slow
def test_a_tiny_model_learns_a_few_pairs_and_the_copy_baseline_does_not(tmp_path):
    tokenizer = build_tokenizer(PAIRS)
    model = tiny_model(tokenizer)
    data = Seq2SeqData(PAIRS, tokenizer, batch_size=4, seed=0)
    before = evaluate_translation(model, tokenizer, PAIRS)
    summary = train_seq2seq(model, tokenizer, data, arguments(150), tmp_path, PAIRS,
                            progress=False)  # fmt: skip
    assert before["exact_match"] == 0.0
    assert summary["eval_exact_match"] == 1.0 and summary["eval_bleu"] == pytest.approx(100.0)
    assert summary["eval_copy_exact_match"] == 0.0
    # The saved model translates the same after loading.
    loaded = BertEncoderDecoder.from_pretrained(tmp_path / "model")
    assert evaluate_translation(loaded, tokenizer, PAIRS)["exact_match"] == 1.0


def test_training_resumes_to_the_same_weights_bit_for_bit(tmp_path):
    tokenizer = build_tokenizer(PAIRS)
    data = Seq2SeqData(PAIRS * 2, tokenizer, batch_size=3, seed=1, label_smoothing=0.1)
    straight = tiny_model(tokenizer, dropout=0.2)  # dropout: its generator must resume too
    train_seq2seq(straight, tokenizer, data, arguments(6, save_every=3), tmp_path, progress=False)
    # Pretend the run died after step 3: point "latest" back at that checkpoint and resume.
    (tmp_path / "checkpoints" / "latest").write_text("step-0000003\n", encoding="utf-8")
    resumed = tiny_model(tokenizer, dropout=0.2, seed=7)  # every weight must come from disk
    train_seq2seq(resumed, tokenizer, data, arguments(6, save_every=3), tmp_path, resume=True,
                  progress=False)  # fmt: skip
    ours, theirs = straight.state_dict(), resumed.state_dict()
    assert ours.keys() == theirs.keys()
    for name in ours:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)


# ------------------------------------------------------------------------- the CLI


def run(*argv):
    """Parse like ``minibert``'s own parser (cli.build_parser registers add_commands)."""
    parser = argparse.ArgumentParser(prog="minibert")
    add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_train_translate_and_generate_commands(tmp_path, capsys):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("source\ttarget\n" + "".join(f"{p.source}\t{p.target}\n" for p in PAIRS))
    out = tmp_path / "run"
    assert run("train-seq2seq", "--train", str(pairs), "--validation", str(pairs), "--steps", "3",
               "--hidden-size", "8", "--heads", "2", "--out", str(out), "--quiet") == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "held-out exact match" in printed and "copy baseline 0.000" in printed
    assert (out / "summary.json").is_file() and (out / "model" / "vocab.txt").is_file()
    assert run("translate", "--model", str(out / "model"), "seven", "twenty-two") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["seven", "twenty-two"]

    tokenizer = build_tokenizer(PAIRS)
    lm = MiniGPT(DecoderConfig.for_tokenizer(tokenizer, hidden_size=8, num_attention_heads=2,
                                             max_position_embeddings=8))  # fmt: skip
    lm.save_pretrained(tmp_path / "lm", tokenizer=tokenizer)
    assert run("generate", "--model", str(tmp_path / "lm"), "one hundred", "--do-sample") == 0
    assert capsys.readouterr().out.startswith("one hundred")
    with pytest.raises(ValueError, match="'minibert-decoder' model, not 'minibert-encoder"):
        run("translate", "--model", str(tmp_path / "lm"), "seven")
