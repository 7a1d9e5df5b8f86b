"""``minibert finetune`` and ``minibert predict``, run through ``minibert.cli.main``."""

from __future__ import annotations

import argparse
import json

import pytest

from minibert import cli
from minibert.cli_finetuning import add_commands, training_texts
from minibert.config import BertConfig
from minibert.finetuning import get_task
from minibert.finetuning.classification import TextExample
from minibert.modeling import BertForPreTraining
from minibert.tokenization import WordPieceTokenizer

REVIEWS = [
    ("the film was good", "pos"), ("the plot was bad", "neg"), ("really good acting", "pos"),
    ("a bad ending", "neg"), ("good music", "pos"), ("the cast was bad", "neg"),
]  # fmt: skip


@pytest.fixture
def main(monkeypatch):
    """``minibert.cli.main`` with the fine-tuning commands (added here until cli.py does)."""
    build_parser = cli.build_parser

    def with_finetuning():
        parser = build_parser()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction) and "finetune" not in action.choices:
                add_commands(action)
        return parser

    monkeypatch.setattr(cli, "build_parser", with_finetuning)
    return cli.main


def csv_file(path, rows, header="text,label"):
    path.write_text(header + "\n" + "".join(f"{t},{y}\n" for t, y in rows), encoding="utf-8")
    return path


QUICK = ["--config", "tiny", "--max-steps", "4", "--eval-every", "2", "--quiet", "--lr", "1e-3"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run directory from ``minibert finetune`` on a few reviews (shared by the tests)."""
    directory = tmp_path_factory.mktemp("run")
    train = csv_file(directory / "train.csv", REVIEWS * 5)
    validation = csv_file(directory / "validation.csv", REVIEWS)
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["finetune", "--task", "classification", "--train", str(train),
                              "--validation", str(validation), "--out", str(directory / "out"),
                              *QUICK])  # fmt: skip
    assert args.handler(args) == 0
    return directory


def test_finetune_writes_the_best_checkpoint_and_metrics(trained):
    out = trained / "out"
    info = json.loads((out / "best" / "finetune.json").read_text())
    assert info["task"] == "classification" and info["label_names"] == ["neg", "pos"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 4 and [r["step"] for r in metrics["history"]] == [2, 4]
    assert metrics["baseline"] == {"accuracy": 0.5, "macro_f1": 0.5 * (2 / 3)}
    assert (out / "best" / "vocab.txt").is_file()


def test_finetune_prints_the_model_and_the_baseline(main, tmp_path, capsys):
    train = csv_file(tmp_path / "train.csv", REVIEWS * 5)
    code = main(["finetune", "--task", "classification", "--train", str(train),
                 "--validation-fraction", "0.2", "--out", str(tmp_path / "o"), *QUICK])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "on 24 examples, validating on 6" in printed  # 30 rows, a fifth held out
    assert "baseline (majority class): accuracy" in printed
    assert "best at step" in printed


def test_predict_texts_prints_a_json_line_per_text(main, trained, capsys):
    code = main(["predict", "--model", str(trained / "out"), "--top-k", "2", "good", "bad film"])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["input"] for line in lines] == ["good", "bad film"]
    for line in lines:
        assert {p["label"] for p in line["prediction"]} == {"neg", "pos"}
        assert sum(p["score"] for p in line["prediction"]) == pytest.approx(1.0)


def test_predict_a_labelled_file_writes_predictions_and_scores_them(main, trained, capsys):
    out = trained / "predictions.jsonl"
    code = main(["predict", "--model", str(trained / "out" / "best"), "--task", "classification",
                 "--file", str(trained / "validation.csv"), "--out", str(out)])  # fmt: skip
    assert code == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["example"] for r in records] == [f"{trained / 'validation.csv'}:{n}" for n in
                                                range(2, 8)]  # fmt: skip
    assert all(r["prediction"]["label"] in ("neg", "pos") for r in records)
    printed = capsys.readouterr().out
    assert "validation.csv: accuracy" in printed and "macro_f1" in printed


def test_predict_an_unlabelled_file_is_not_scored(main, trained, tmp_path, capsys):
    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"text": "good"}\n{"text": "bad"}\n', encoding="utf-8")
    assert main(["predict", "--model", str(trained / "out"), "--file", str(texts)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 2 and "accuracy" not in "".join(printed)


def test_predict_a_label_the_model_does_not_know_names_file_and_line(main, trained, tmp_path,
                                                                      capsys):  # fmt: skip
    path = csv_file(tmp_path / "v.csv", [("good", "pos"), ("meh", "neutral")])
    out = tmp_path / "predictions.jsonl"
    code = main(["predict", "--model", str(trained / "out"), "--file", str(path),
                 "--out", str(out)])  # fmt: skip
    assert code == 1
    error = capsys.readouterr().err
    assert f"{path}:3" in error and "unknown label 'neutral'" in error
    assert not out.exists()  # nothing half-written


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["predict", "--model", "{run}", "--task", "regression", "good"], "not 'regression'"),
        (["predict", "--model", "{run}"], "give texts to predict"),
        (["predict", "--model", "{run}", "--pairs", "a", "b", "c"], "two by two"),
        (["finetune", "--task", "classification", "--train", "{empty}", "--config", "tiny",
          "--out", "{tmp}/o"], "{empty}: the file holds no examples"),
        (["finetune", "--task", "classification", "--train", "{train}", "--config", "tiny",
          "--out", "{tmp}/o", "--doc-stride", "32"], "--doc-stride only applies to --task qa"),
        (["finetune", "--task", "classification", "--train", "{train}", "--model", "{tmp}",
          "--out", "{tmp}/o"], "no vocab.txt"),
        (["finetune", "--task", "classification", "--train", "{train}", "--config", "tiny",
          "--out", "{tmp}/o", "--max-seq-length", "512"], "max_position_embeddings"),
    ],
)  # fmt: skip
def test_mistakes_give_one_line_and_exit_code_1(main, trained, tmp_path, capsys, argv, message):
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    names = {"run": trained / "out", "empty": empty, "tmp": tmp_path,
             "train": trained / "train.csv"}  # fmt: skip
    assert main([part.format(**names) for part in argv]) == 1
    error = capsys.readouterr().err
    assert message.format(**names) in error and "Traceback" not in error


def test_finetune_from_a_pretrained_checkpoint_and_regression_pairs(main, tmp_path, capsys):
    texts = [t for t, _ in REVIEWS]
    tokenizer = WordPieceTokenizer.train(iter(texts * 3), vocab_size=60, show_progress=False)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=32,
    )  # fmt: skip
    BertForPreTraining(config).save_pretrained(tmp_path / "pretrained", tokenizer)
    pairs = zip(texts, texts[1:] + texts[:1], strict=True)
    rows = "".join(f"{a}\t{b}\t{i % 5}\n" for i, (a, b) in enumerate(pairs))
    (tmp_path / "pairs.tsv").write_text("text\ttext_pair\tlabel\n" + rows * 4, encoding="utf-8")
    code = main(["finetune", "--task", "regression", "--train", str(tmp_path / "pairs.tsv"),
                 "--model", str(tmp_path / "pretrained"), "--out", str(tmp_path / "out"),
                 "--max-steps", "3", "--max-seq-length", "32", "--quiet"])  # fmt: skip
    assert code == 0
    assert "from " + str(tmp_path / "pretrained") in capsys.readouterr().out
    code = main(["predict", "--model", str(tmp_path / "out"), "--pairs",
                 "the film was good", "the plot was bad"])  # fmt: skip
    assert code == 0
    line = json.loads(capsys.readouterr().out)
    assert line["input"] == ["the film was good", "the plot was bad"]
    assert list(line["prediction"][0]) == ["score"]


def test_the_vocabulary_is_learned_from_text_fields_only():
    examples = [TextExample("good film", "a pair", "LABEL_WORD", "f:2")]
    assert training_texts(get_task("classification"), examples) == ["good film", "a pair"]
