"""The pretraining loop: it learns, it resumes bit for bit after kill -9, it stops on NaN."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from minibert.config import BertConfig
from minibert.data.dataset import DataConfig, PretrainingData
from minibert.modeling import BertForPreTraining
from minibert.tokenization import WordPieceTokenizer
from minibert.training import TrainingArguments, TrainingDiverged, pretrain
from minibert.training.state import latest_checkpoint

TINY = Path(__file__).resolve().parents[1] / "data" / "tiny_corpus.txt"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    tok = WordPieceTokenizer.train([TINY], vocab_size=600, show_progress=False)
    tok.save_pretrained(tmp_path_factory.mktemp("tok"))
    return tok


def small_config(vocab_size: int, **fields) -> BertConfig:
    return BertConfig(
        vocab_size=vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=48, **fields,
    )  # fmt: skip


def test_mlm_loss_drops_well_below_its_start_within_100_steps(tmp_path, tokenizer):
    data = PretrainingData([TINY], tokenizer, DataConfig(max_seq_length=48, batch_size=16), seed=0)
    model = BertForPreTraining(small_config(len(tokenizer)), seed=0)
    args = TrainingArguments(max_steps=100, learning_rate=3e-3, warmup_steps=10, eval_every=0,
                             save_every=0, log_every=1)  # fmt: skip
    pretrain(model, tokenizer, data, args, tmp_path, progress=False)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    start = np.mean([r["mlm_loss"] for r in records[:5]])
    end = np.mean([r["mlm_loss"] for r in records[-10:]])
    assert start > 0.95 * np.log(len(tokenizer))  # it starts at chance: log(V) nats
    # In 100 steps a tiny BERT learns the token frequencies (the first plateau of MLM training,
    # ~0.7 nats below chance on this corpus); a wrong gradient or a broken loop cannot.
    assert end < start - 0.5, f"MLM loss went from {start:.2f} to only {end:.2f}"


def cli_pretrain(out: Path, tokenizer_dir: Path, config_path: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "minibert.cli", "pretrain", "--corpus", str(TINY),
        "--eval-corpus", str(TINY), "--eval-batches", "2", "--eval-every", "10",
        "--tokenizer", str(tokenizer_dir), "--config", str(config_path), "--steps", "60",
        "--batch-size", "8", "--max-seq-length", "48", "--warmup-steps", "5", "--lr", "2e-3",
        "--save-every", "10", "--seed", "3", "--quiet", "--out", str(out), *extra,
    ]  # fmt: skip


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_weights_bit_for_bit(tmp_path, tokenizer):
    tokenizer_dir = tmp_path / "tokenizer"
    tokenizer.save_pretrained(tokenizer_dir)
    config_path = tmp_path / "config.json"
    small_config(len(tokenizer), hidden_dropout_prob=0.1).save(
        config_path
    )  # dropout on: RNG matters
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    straight = tmp_path / "straight"
    subprocess.run(cli_pretrain(straight, tokenizer_dir, config_path), check=True, env=env,
                   capture_output=True, timeout=600)  # fmt: skip

    killed = tmp_path / "killed"
    process = subprocess.Popen(cli_pretrain(killed, tokenizer_dir, config_path), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 300
    while (
        latest_checkpoint(killed) is None and process.poll() is None and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    stopped_at = json.loads((latest_checkpoint(killed) / "trainer_state.json").read_text())["step"]
    assert stopped_at < 60
    subprocess.run(cli_pretrain(killed, tokenizer_dir, config_path, "--resume"), check=True,
                   env=env, capture_output=True, timeout=600)  # fmt: skip

    steps = [
        json.loads(line)["step"] for line in (killed / "metrics.jsonl").read_text().splitlines()
    ]
    assert steps == sorted(set(steps)), "a resumed run must not log a step twice"

    final_straight = load_file(str(straight / "model" / "model.safetensors"))
    final_resumed = load_file(str(killed / "model" / "model.safetensors"))
    assert final_straight.keys() == final_resumed.keys()
    for name in final_straight:
        np.testing.assert_array_equal(final_resumed[name], final_straight[name], err_msg=name)
    optimizer_straight = load_file(str(latest_checkpoint(straight) / "optimizer.safetensors"))
    optimizer_resumed = load_file(str(latest_checkpoint(killed) / "optimizer.safetensors"))
    for name in optimizer_straight:
        np.testing.assert_array_equal(
            optimizer_resumed[name], optimizer_straight[name], err_msg=name
        )


def test_mlm_only_training_runs_and_the_plot_leaves_the_backend_alone(tmp_path, tokenizer):
    matplotlib = pytest.importorskip("matplotlib")
    backend = matplotlib.get_backend()
    config = DataConfig(max_seq_length=32, batch_size=4, nsp=False)
    data = PretrainingData([TINY], tokenizer, config, seed=0)
    args = TrainingArguments(max_steps=3, warmup_steps=1, save_every=0, eval_every=0, log_every=1)
    summary = pretrain(BertForPreTraining(small_config(len(tokenizer))), tokenizer, data, args,
                       tmp_path, eval_data=data, progress=False)  # fmt: skip
    assert np.isfinite(summary["loss"]) and summary["nsp_loss"] is None
    assert "eval_nsp_accuracy" not in summary
    assert (tmp_path / "loss_curve.png").stat().st_size > 1000
    assert matplotlib.get_backend() == backend


def test_a_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, tokenizer):
    data = PretrainingData([TINY], tokenizer, DataConfig(max_seq_length=32, batch_size=4), seed=0)
    model = BertForPreTraining(small_config(len(tokenizer)), seed=0)
    forward, calls = model.forward, []

    def poisoned(*args, **kwargs):
        out = forward(*args, **kwargs)
        calls.append(1)
        if len(calls) == 5:
            out.loss = out.loss * float("nan")
        return out

    model.forward = poisoned
    args = TrainingArguments(max_steps=10, warmup_steps=1, save_every=2, eval_every=0)
    with pytest.raises(
        TrainingDiverged,
        match=r"loss became nan at step 5; the last good checkpoint is .*step-0000004",
    ):
        pretrain(model, tokenizer, data, args, tmp_path, progress=False)
    good = latest_checkpoint(tmp_path)
    assert good.name == "step-0000004"
    BertForPreTraining.from_pretrained(good)  # intact and loadable


def test_resume_refuses_changed_arguments_and_a_missing_checkpoint(tmp_path, tokenizer):
    data = PretrainingData([TINY], tokenizer, DataConfig(max_seq_length=32, batch_size=4), seed=0)
    args = TrainingArguments(max_steps=2, warmup_steps=1, save_every=1, eval_every=0)
    with pytest.raises(ValueError, match="no checkpoint to resume from"):
        pretrain(BertForPreTraining(small_config(len(tokenizer))), tokenizer, data, args, tmp_path,
                 resume=True, progress=False)  # fmt: skip
    pretrain(
        BertForPreTraining(small_config(len(tokenizer))),
        tokenizer,
        data,
        args,
        tmp_path,
        progress=False,
    )
    changed = TrainingArguments(max_steps=4, warmup_steps=1, save_every=1, eval_every=0)
    model = BertForPreTraining(small_config(len(tokenizer)))
    with pytest.raises(ValueError, match=r"other arguments.*max_steps: 2 -> 4"):
        pretrain(model, tokenizer, data, changed, tmp_path, resume=True, progress=False)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--config", "huge"], "unknown config 'huge'"),
        (["--corpus", "/nonexistent/corpus.txt"], "does not exist"),
        (["--max-seq-length", "4096"], "exceeds the config's max_position_embeddings"),
    ],
)
def test_cli_errors_are_one_line_and_exit_nonzero(tmp_path, tokenizer, arguments, message):
    tokenizer_dir = tmp_path / "tok"
    tokenizer.save_pretrained(tokenizer_dir)
    result = subprocess.run(
        [sys.executable, "-m", "minibert.cli", "pretrain", "--tokenizer", str(tokenizer_dir),
         "--out", str(tmp_path / "out"), "--quiet", *arguments],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
