"""``minibert embed``, ``attention`` and ``saliency`` on small checkpoints written here.

The commands are registered on a parser built like ``minibert.cli.build_parser`` (the lead
registers ``add_commands`` there); errors are the library's ValueErrors, which ``cli.main``
turns into a one-line message and exit code 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

import numpy as np
import pytest

from minibert.cli_inspect import add_commands
from minibert.modeling import BertForMaskedLM, BertForSequenceClassification, BertModel
from minibert.pipelines import embed
from minibert.tokenization import WordPieceTokenizer
from tests.minibert.conftest import small_config

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "a",
         "dog", "ran", "in", "park", ".", "##s", "big", "red", "ball"]  # fmt: skip
TOKENIZER = WordPieceTokenizer(VOCAB)


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="minibert")
    add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args([str(a) for a in argv])
    return args.handler(args)


def encoder(directory) -> BertModel:
    """The checkpoint's encoder; a masked-LM checkpoint has no pooler, which embed never reads."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BertModel.from_pretrained(directory)


def save(tmp_path, cls, name, **overrides):
    config = small_config(vocab_size=len(VOCAB), max_position_embeddings=16, **overrides)
    model = cls(config, seed=2)
    model.save_pretrained(tmp_path / name, tokenizer=TOKENIZER)
    return tmp_path / name


@pytest.fixture
def masked_lm(tmp_path):
    return save(tmp_path, BertForMaskedLM, "mlm")


def test_embed_prints_similarities_and_writes_json(masked_lm, tmp_path, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("a dog ran in the park\n\nthe big red ball\n", encoding="utf-8")
    out = tmp_path / "embeddings.json"
    assert run("embed", "--model", masked_lm, "the cat sat", "--file", texts, "--out", out) == 0
    printed = capsys.readouterr().out
    assert "3 texts -> 8-dimensional embeddings (mean pooling, normalized)" in printed
    assert "cosine similarity:" in printed and "1.000" in printed
    record = json.loads(out.read_text(encoding="utf-8"))
    assert record["texts"] == ["the cat sat", "a dog ran in the park", "the big red ball"]
    model = encoder(masked_lm)
    np.testing.assert_allclose(
        record["embeddings"], embed(model, TOKENIZER, record["texts"]), atol=1e-7
    )


def test_embed_pooling_and_normalization_flags(masked_lm, tmp_path, capsys):
    out = tmp_path / "raw.json"
    run("embed", "--model", masked_lm, "a dog", "--pooling", "max", "--no-normalize", "--out", out)
    assert "(max pooling, not normalized)" in capsys.readouterr().out
    record = json.loads(out.read_text(encoding="utf-8"))
    expected = embed(encoder(masked_lm), TOKENIZER, ["a dog"], "max", False)
    np.testing.assert_allclose(record["embeddings"], expected, atol=1e-7)
    assert record["pooling"] == "max" and record["normalize"] is False


def test_embed_errors_name_the_file_and_line(masked_lm, tmp_path):
    with pytest.raises(ValueError, match="give texts as arguments or with --file"):
        run("embed", "--model", masked_lm)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"empty.txt: no texts"):
        run("embed", "--model", masked_lm, "--file", empty)
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"fine\ncaf\xe9\n")
    with pytest.raises(ValueError, match=r"latin.txt, line 2: not UTF-8"):
        run("embed", "--model", masked_lm, "--file", latin)


def test_attention_summary_one_layer_and_one_head(masked_lm, capsys):
    assert run("attention", "--model", masked_lm, "the cat sat", "--pair", "a dog") == 0
    printed = capsys.readouterr().out
    assert printed.startswith("8 tokens, 2 layers x 2 heads")  # [CLS] 3 [SEP] 2 [SEP]
    assert "layer head      cls" in printed and "mostly" in printed
    run("attention", "--model", masked_lm, "the cat sat", "--layer", "1")
    printed = capsys.readouterr().out
    assert "layer 1, head 0" in printed and "layer 1, head 1" in printed
    run("attention", "--model", masked_lm, "the cat", "--layer", "0", "--head", "1",
        "--style", "grid")  # fmt: skip
    printed = capsys.readouterr().out
    assert "layer 0, head 1 (percent" in printed and "layer 0, head 0" not in printed
    with pytest.raises(ValueError, match="--head needs --layer"):
        run("attention", "--model", masked_lm, "the cat", "--head", "0")
    with pytest.raises(ValueError, match="layer 2 does not exist"):
        run("attention", "--model", masked_lm, "the cat", "--layer", "2")


def test_attention_and_saliency_pictures(masked_lm, tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="the plot extra draws the pictures")
    picture = tmp_path / "maps.png"
    assert run("attention", "--model", masked_lm, "the cat", "--out", picture) == 0
    assert picture.read_bytes()[:4] == b"\x89PNG"
    bars = tmp_path / "bars.png"
    assert run("saliency", "--model", masked_lm, "the [MASK] sat", "--out", bars) == 0
    assert bars.read_bytes()[:4] == b"\x89PNG"
    assert f"wrote {bars}" in capsys.readouterr().out


def test_pictures_without_matplotlib_fail_with_advice(masked_lm, tmp_path, monkeypatch, capsys):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    assert run("attention", "--model", masked_lm, "the cat", "--out", tmp_path / "a.png") == 1
    assert "pip install 'minibert[plot]'" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.png"))


def test_saliency_of_a_masked_lm_checkpoint(masked_lm, capsys):
    assert run("saliency", "--model", masked_lm, "the [MASK] sat on the mat", "--target",
               "dog") == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "BertForMaskedLM: explaining 'dog'"
    assert lines[1].startswith("gradient x input for 'dog' at position 2")
    assert [line.split()[0] for line in lines[2:]] == [
        "0:[CLS]", "1:the", "2:[MASK]", "3:sat", "4:on", "5:the", "6:mat", "7:[SEP]",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="the text has no"):
        run("saliency", "--model", masked_lm, "the cat sat")


def test_saliency_of_a_classifier_by_label_name_or_index(tmp_path, capsys):
    directory = save(tmp_path, BertForSequenceClassification, "classifier", num_labels=3,
                     id2label={0: "negative", 1: "neutral", 2: "positive"})  # fmt: skip
    run("saliency", "--model", directory, "the big dog", "--target", "positive")
    by_name = capsys.readouterr().out
    assert by_name.startswith("BertForSequenceClassification: explaining 'positive'")
    run("saliency", "--model", directory, "the big dog", "--target", "2")
    assert capsys.readouterr().out == by_name
    with pytest.raises(ValueError, match="unknown label 'happy'"):
        run("saliency", "--model", directory, "the big dog", "--target", "happy")
