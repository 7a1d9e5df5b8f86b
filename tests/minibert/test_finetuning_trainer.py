"""The fine-tuning trainer: early stopping, the best checkpoint, determinism, files written."""

from __future__ import annotations

import json

import numpy as np
import pytest

from minibert import checkpoint
from minibert.config import BertConfig
from minibert.finetuning import get_task
from minibert.finetuning.classification import ClassificationTask, TextExample
from minibert.finetuning.trainer import (
    FINETUNE_NAME,
    FinetuningArguments,
    build_model,
    finetune,
    load_finetuned,
    save_best,
    split_examples,
)
from minibert.modeling import BertForPreTraining
from minibert.tokenization import WordPieceTokenizer

WORDS = ["the", "film", "plot", "was", "really", "quite", "acting", "music"]


def toy_examples(n: int, seed: int) -> list[TextExample]:
    """Texts with one cue word: "good" (label pos) or "bad" (neg), among filler words."""
    rng = np.random.default_rng(seed)
    examples = []
    for i in range(n):
        words = list(rng.choice(WORDS, 4))
        positive = bool(rng.integers(2))
        words.insert(int(rng.integers(5)), "good" if positive else "bad")
        examples.append(TextExample(" ".join(words), None, "pos" if positive else "neg", f"t:{i}"))
    return examples


@pytest.fixture(scope="module")
def data():
    train, validation = toy_examples(64, seed=1), toy_examples(24, seed=2)
    tokenizer = WordPieceTokenizer.train(
        iter([e.text for e in train]), vocab_size=60, show_progress=False
    )
    return train, validation, tokenizer


def tiny_config(tokenizer) -> BertConfig:
    return BertConfig(
        vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=16,
    )  # fmt: skip


def quick_args(**overrides) -> FinetuningArguments:
    settings = dict(epochs=2, learning_rate=1e-3, batch_size=16, max_seq_length=16, patience=0)
    return FinetuningArguments(**{**settings, **overrides})


class ScriptedAccuracy(ClassificationTask):
    """Classification whose evaluations score the scripted accuracies in turn, and which keeps
    a copy of the weights at each evaluation, so a test knows what the best one held."""

    def __init__(self, scores):
        self.scores, self.snapshots = list(scores), []

    def predict(self, model, features, examples, batch_size):
        self.snapshots.append({k: np.array(v) for k, v in model.state_dict().items()})
        return super().predict(model, features, examples, batch_size)

    def evaluate(self, predictions, examples):
        score = self.scores[len(self.snapshots) - 1]
        return {"accuracy": score, "macro_f1": score}


def test_patience_stops_the_run_and_the_best_checkpoint_is_the_best_evaluation(data, tmp_path):
    train, validation, tokenizer = data
    task = ScriptedAccuracy([0.5, 0.8, 0.6, 0.7, 0.9, 0.95])  # best at the 2nd; two worse
    model = build_model(task, tiny_config(tokenizer), task.label_names(train))
    args = quick_args(epochs=10, eval_every=2, patience=2)
    summary = finetune(task, model, tokenizer, train, validation, args, tmp_path, progress=False)

    # 0.6 and 0.7 do not beat 0.8: the second of them stops the run at the 4th evaluation.
    assert summary["stopped_early"] is True
    assert summary["steps"] == 8 and len(summary["history"]) == 4
    assert summary["best_step"] == 4
    assert summary["best_metrics"] == {"accuracy": 0.8, "macro_f1": 0.8}
    saved = checkpoint.normalize_keys(checkpoint.load_weights(tmp_path / "best"))
    best, last = task.snapshots[1], task.snapshots[3]
    name = "bert.encoder.layer.0.attention.self.query.weight"
    assert not np.array_equal(best[name], last[name]), "the run must have moved on after best"
    for key, value in best.items():
        np.testing.assert_array_equal(saved[key], value, err_msg=key)
        # the model in memory is restored to the best weights too
        np.testing.assert_array_equal(model.state_dict()[key], value, err_msg=key)


def test_patience_zero_never_stops_early(data, tmp_path):
    train, validation, tokenizer = data
    task = ScriptedAccuracy([0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    model = build_model(task, tiny_config(tokenizer), task.label_names(train))
    summary = finetune(
        task,
        model,
        tokenizer,
        train,
        validation,
        quick_args(max_steps=12, eval_every=2),
        tmp_path,
        progress=False,
    )
    assert summary["steps"] == 12 and not summary["stopped_early"]
    assert summary["best_step"] == 2 and len(summary["history"]) == 6


def test_evaluates_once_per_epoch_by_default_and_at_the_end(data, tmp_path):
    train, validation, tokenizer = data  # 64 rows / 16 = 4 steps an epoch
    task = get_task("classification")
    model = build_model(task, tiny_config(tokenizer), task.label_names(train))
    summary = finetune(
        task, model, tokenizer, train, validation, quick_args(epochs=2.5), tmp_path, progress=False
    )
    assert summary["total_steps"] == 10
    assert [r["step"] for r in summary["history"]] == [4, 8, 10]


def test_same_seed_same_run_bit_for_bit(data, tmp_path):
    train, validation, tokenizer = data
    task = get_task("classification")

    def run(seed, directory):
        model = build_model(task, tiny_config(tokenizer), task.label_names(train), seed=seed)
        summary = finetune(
            task,
            model,
            tokenizer,
            train,
            validation,
            quick_args(seed=seed, eval_every=3),
            directory,
            progress=False,
        )
        return summary, model.state_dict()

    first, weights_1 = run(0, tmp_path / "a")
    second, weights_2 = run(0, tmp_path / "b")
    other, _ = run(1, tmp_path / "c")
    assert first["history"] == second["history"]  # losses and metrics, exactly
    for key in weights_1:
        np.testing.assert_array_equal(weights_1[key], weights_2[key], err_msg=key)
    assert [r["loss"] for r in other["history"]] != [r["loss"] for r in first["history"]]


def test_writes_metrics_log_and_a_loadable_best_checkpoint(data, tmp_path):
    train, validation, tokenizer = data
    task = get_task("classification")
    model = build_model(task, tiny_config(tokenizer), task.label_names(train))
    summary = finetune(
        task, model, tokenizer, train, validation, quick_args(), tmp_path, progress=False
    )

    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written == json.loads(json.dumps(summary))
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert log == written["history"]
    best_record = next(r for r in log if r["step"] == summary["best_step"])
    assert best_record["accuracy"] == summary["best_metrics"]["accuracy"]
    assert summary["baseline"] == task.baseline(train, validation)
    info = json.loads((tmp_path / "best" / FINETUNE_NAME).read_text())
    assert info == {"task": "classification", "settings": {}, "max_seq_length": 16,
                    "label_names": ["neg", "pos"]}  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best", "log.jsonl", "metrics.json"]

    loaded, loaded_tokenizer, loaded_task = load_finetuned(tmp_path / "best")
    assert loaded_task.name == "classification" and not loaded.training
    assert loaded.config.id2label == {0: "neg", 1: "pos"}
    assert loaded_tokenizer.model_max_length == 16
    features = task.encode(validation, tokenizer, 16, None, with_targets=False)
    expected = task.predict(model, features, validation, 8)
    assert loaded_task.predict(loaded, features, validation, 8) == expected


def test_load_finetuned_explains_a_directory_without_finetune_json(data, tmp_path):
    _, _, tokenizer = data
    BertForPreTraining(tiny_config(tokenizer)).save_pretrained(tmp_path / "best", tokenizer)
    with pytest.raises(FileNotFoundError, match="finetune.json"):
        load_finetuned(tmp_path / "best")
    with pytest.raises(FileNotFoundError, match="best"):
        load_finetuned(tmp_path)  # the run's directory, not its best checkpoint


def test_save_best_replaces_the_previous_best_and_a_crash_leaves_it_intact(data, tmp_path):
    _, _, tokenizer = data
    task = get_task("classification")
    first = build_model(task, tiny_config(tokenizer), ["neg", "pos"], seed=1)
    second = build_model(task, tiny_config(tokenizer), ["neg", "pos"], seed=2)
    save_best(tmp_path, first, tokenizer, {"task": "classification"})
    save_best(tmp_path, second, tokenizer, {"task": "classification"})
    assert [p.name for p in tmp_path.iterdir()] == ["best"]  # no staging or retired directory
    key = "classifier.weight"
    saved = checkpoint.load_weights(tmp_path / "best")
    np.testing.assert_array_equal(saved[key], second.state_dict()[key])

    class Crash(RuntimeError):
        pass

    def crash_midway(directory, tokenizer=None):
        (directory / "config.json").parent.mkdir(parents=True, exist_ok=True)
        (directory / "model.safetensors").write_bytes(b"half")
        raise Crash

    first.save_pretrained = crash_midway
    with pytest.raises(Crash):
        save_best(tmp_path, first, tokenizer, {"task": "classification"})
    saved = checkpoint.load_weights(tmp_path / "best")
    np.testing.assert_array_equal(saved[key], second.state_dict()[key])


def test_build_model_from_a_pretraining_checkpoint_keeps_the_encoder(data, tmp_path):
    _, _, tokenizer = data
    pretrained = BertForPreTraining(tiny_config(tokenizer), seed=3)
    pretrained.save_pretrained(tmp_path, tokenizer)
    task = get_task("classification")
    model = build_model(task, tmp_path, ["a", "b", "c"], seed=0)
    assert model.config.num_labels == 3 and model.config.id2label == {0: "a", 1: "b", 2: "c"}
    assert model.classifier.weight.shape == (3, 16)
    for key, value in pretrained.state_dict().items():
        if key.startswith("bert.encoder"):
            np.testing.assert_array_equal(model.state_dict()[key], value, err_msg=key)
    regression = build_model(get_task("regression"), tmp_path, None)
    assert regression.config.num_labels == 1 and regression.config.id2label is None
    with pytest.raises(FileNotFoundError, match="no config.json"):
        build_model(task, tmp_path / "missing", ["a", "b"])


def test_an_empty_training_or_validation_set_is_a_clear_error(data, tmp_path):
    train, validation, tokenizer = data
    task = get_task("classification")
    model = build_model(task, tiny_config(tokenizer), ["neg", "pos"])
    with pytest.raises(ValueError, match="training set is empty"):
        finetune(task, model, tokenizer, [], validation, quick_args(), tmp_path, progress=False)
    with pytest.raises(ValueError, match="validation set is empty"):
        finetune(task, model, tokenizer, train, [], quick_args(), tmp_path, progress=False)
    with pytest.raises(ValueError, match="max_position_embeddings"):
        finetune(
            task,
            model,
            tokenizer,
            train,
            validation,
            quick_args(max_seq_length=64),
            tmp_path,
            progress=False,
        )


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"epochs": 0}, "epochs"),
        ({"max_steps": 0}, "max_steps"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"batch_size": 0}, "batch_size"),
        ({"warmup_ratio": 1.0}, "warmup_ratio"),
        ({"patience": -1}, "patience"),
        ({"eval_every": 0}, "eval_every"),
    ],
)
def test_arguments_out_of_range_are_named(overrides, problem):
    with pytest.raises(ValueError, match=problem):
        FinetuningArguments(**overrides).validate()


def test_total_steps_counts_partial_batches_and_fractional_epochs():
    assert FinetuningArguments(epochs=3, batch_size=32).total_steps(100) == 12  # 4 a pass
    assert FinetuningArguments(epochs=0.5, batch_size=32).total_steps(100) == 2
    assert FinetuningArguments(max_steps=7).total_steps(100) == 7


def test_split_examples_is_a_seeded_partition_in_original_order():
    examples = list(range(50))
    train, validation = split_examples(examples, 0.2, seed=0)
    assert len(validation) == 10 and len(train) == 40
    assert sorted(train + validation) == examples
    assert train == sorted(train) and validation == sorted(validation)
    assert split_examples(examples, 0.2, seed=0) == (train, validation)
    assert split_examples(examples, 0.2, seed=1)[1] != validation
    assert len(split_examples([1, 2], 0.01, seed=0)[1]) == 1  # at least one held out
    with pytest.raises(ValueError, match="validation_fraction"):
        split_examples(examples, 1.0, seed=0)
    with pytest.raises(ValueError, match="cannot split 1"):
        split_examples([1], 0.5, seed=0)
