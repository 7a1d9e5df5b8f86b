"""The fine-tuning loop that every task shares: batches, AdamW, evaluation, early stopping, and
the best checkpoint.

What differs between tasks (reading files, encoding, predicting, scoring) lives in the ``Task``;
this module only runs the recipe of the BERT paper's fine-tuning section: a few epochs of AdamW
at a small learning rate with linear warmup and decay, gradient clipping, and the checkpoint that
scored best on the validation set.

    task = get_task("classification")
    train, validation = task.read("train.csv"), task.read("validation.csv")
    model = build_model(task, "runs/tiny/model", task.label_names(train))
    summary = finetune(task, model, tokenizer, train, validation, FinetuningArguments(), "out")
    model, tokenizer, task = load_finetuned("out/best")
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from autograd import no_grad, optim
from minibert.config import BertConfig
from minibert.io import append_jsonl, atomic_write_text, publish_directory
from minibert.training.pretrain import TrainingDiverged

FINETUNE_NAME = "finetune.json"  # in the best checkpoint: which task, its settings, the labels
BEST = "best"


@dataclass
class FinetuningArguments:
    """Hyperparameters of a fine-tuning run (the BERT paper's recipe by default).

    Args:
        epochs: passes over the training set (fractions allowed); ignored with ``max_steps``.
        max_steps: optimizer steps in total, overriding ``epochs``.
        learning_rate: the peak, reached after the warmup and decayed linearly to 0. 5e-5 suits
            a pretrained model; a model trained from scratch needs about 1e-3.
        batch_size, eval_batch_size: examples (rows) per training and evaluation batch.
        warmup_ratio: the fraction of the steps spent warming up.
        weight_decay: AdamW's decoupled decay; biases and LayerNorm weights are exempt.
        max_grad_norm: gradients are clipped to this global L2 norm.
        eval_every: evaluate every this many steps (None: once per epoch), and at the end.
        patience: evaluations without improvement before stopping (0: never stop early).
        max_seq_length: longer inputs are truncated (or split into windows, by the task).
        seed: seeds the order of the batches (the model's own seed seeds dropout).
    """

    epochs: float = 3.0
    max_steps: int | None = None
    learning_rate: float = 5e-5
    batch_size: int = 32
    eval_batch_size: int = 64
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    eval_every: int | None = None
    patience: int = 3
    max_seq_length: int = 128
    seed: int = 0

    def validate(self) -> None:
        """Raise ValueError naming the first argument out of range."""
        if self.max_steps is None and not self.epochs > 0:
            raise ValueError(f"epochs must be positive, got {self.epochs}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {self.max_steps}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        for name in ("batch_size", "eval_batch_size", "max_seq_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.eval_every is not None and self.eval_every < 1:
            raise ValueError(f"eval_every must be at least 1 (or None), got {self.eval_every}")
        if self.patience < 0:
            raise ValueError(f"patience must be 0 (off) or more, got {self.patience}")

    def total_steps(self, num_rows: int) -> int:
        """Optimizer steps of the run for ``num_rows`` training rows."""
        if self.max_steps is not None:
            return self.max_steps
        return max(1, math.ceil(self.epochs * math.ceil(num_rows / self.batch_size)))


def build_model(task, base, label_names: list[str] | None, seed: int = 0):
    """The task's model, from a checkpoint directory (``base``) or a ``BertConfig`` (from scratch).

    A checkpoint's task heads (MLM, NSP, another task's classifier) are dropped and the new head
    is initialized from ``seed``, as transformers does; that is the point of fine-tuning, so the
    warning ``from_pretrained`` gives about it is silenced here (``model.loading_info`` keeps it).
    """
    num_labels = task.num_labels(label_names)
    id2label = dict(enumerate(label_names)) if label_names else None
    if isinstance(base, BertConfig):
        config = dataclasses.replace(base, num_labels=num_labels, id2label=id2label)
        return task.model_class(config, seed=seed)
    if not (Path(base) / "config.json").is_file():
        raise FileNotFoundError(
            f"{base} is not a model directory (no config.json); give a checkpoint directory "
            "such as runs/tiny/model, or a BertConfig to start from scratch"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return task.model_class.from_pretrained(
            base, seed=seed, num_labels=num_labels, id2label=id2label
        )


def split_examples(examples: Sequence, validation_fraction: float, seed: int) -> tuple[list, list]:
    """A random ``(train, validation)`` split; each part keeps the examples' original order."""
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    if len(examples) < 2:
        raise ValueError(
            f"cannot split {len(examples)} example(s) into training and validation sets; "
            "give more data or a separate validation file"
        )
    n_validation = min(len(examples) - 1, max(1, round(validation_fraction * len(examples))))
    chosen = np.zeros(len(examples), dtype=bool)
    chosen[np.random.default_rng(seed).permutation(len(examples))[:n_validation]] = True
    train = [e for e, held in zip(examples, chosen, strict=True) if not held]
    validation = [e for e, held in zip(examples, chosen, strict=True) if held]
    return train, validation


def label_names_of(model) -> list[str] | None:
    """The model's labels in id order (``config.id2label``), or None (regression, QA)."""
    id2label = model.config.id2label
    return [id2label[i] for i in range(len(id2label))] if id2label else None


def evaluate_model(task, model, features, examples, batch_size: int) -> dict[str, float]:
    """The task's metrics for ``model`` on encoded ``examples`` (eval mode, no graph kept)."""
    was_training = model.training
    model.eval()
    with no_grad():
        predictions = task.predict(model, features, examples, batch_size)
    model.train(was_training)
    return task.evaluate(predictions, examples)


def finetune(
    task,
    model,
    tokenizer,
    train_examples: Sequence,
    eval_examples: Sequence,
    args: FinetuningArguments,
    output_dir,
    progress: bool = True,
) -> dict:
    """Fine-tune ``model`` on ``train_examples``; keep the checkpoint that scores best on
    ``eval_examples`` (by ``task.metric``) in ``output_dir/best``.

    The run evaluates every ``args.eval_every`` steps (default: once per epoch) and at the end,
    and stops early after ``args.patience`` evaluations without improvement. At the end the
    model holds the best checkpoint's weights (not the last ones).

    Writes ``output_dir/best/`` (model, tokenizer, ``finetune.json``) atomically at every
    improvement, ``output_dir/log.jsonl`` (a record per evaluation) and ``output_dir/
    metrics.json`` (the summary returned).

    Returns:
        ``{"task", "metric", "best_metrics", "baseline", "baseline_name", "best_step",
        "steps", "total_steps", "stopped_early", "seconds", "history"}``.
    """
    args.validate()
    if len(train_examples) == 0:
        raise ValueError("the training set is empty: there is nothing to fine-tune on")
    if len(eval_examples) == 0:
        raise ValueError(
            "the validation set is empty: give a validation file or a validation fraction, since "
            "early stopping and the best checkpoint are chosen on it"
        )
    if args.max_seq_length > model.config.max_position_embeddings:
        raise ValueError(
            f"max_seq_length {args.max_seq_length} exceeds the model's max_position_embeddings "
            f"{model.config.max_position_embeddings}; lower it"
        )
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    label_names = label_names_of(model)
    label2id = {name: i for i, name in enumerate(label_names)} if label_names else None
    train = task.encode(train_examples, tokenizer, args.max_seq_length, label2id)
    evaluation = task.encode(
        eval_examples, tokenizer, args.max_seq_length, label2id, with_targets=False
    )
    total = args.total_steps(len(train))
    eval_every = args.eval_every or math.ceil(len(train) / args.batch_size)

    groups = optim.weight_decay_groups(model.named_parameters(), args.weight_decay)
    optimizer = optim.AdamW(groups, lr=args.learning_rate, weight_decay=args.weight_decay)
    scheduler = optim.get_linear_schedule_with_warmup(
        optimizer, math.ceil(args.warmup_ratio * total), total
    )
    generator = np.random.default_rng(args.seed)  # the batch order; dropout is the model's
    baseline = task.baseline(train_examples, eval_examples)
    checkpoint_info = {
        "task": task.name,
        "settings": task.settings(),
        "max_seq_length": args.max_seq_length,
        "label_names": label_names,
    }
    log_path = output_dir / "log.jsonl"
    log_path.unlink(missing_ok=True)  # a new run into an old directory starts a new log

    bar = tqdm(total=total, disable=not progress, desc=f"fine-tuning ({task.name})", unit="step")
    if progress:
        bar.write(f"baseline ({task.baseline_name}): {format_metrics(baseline)}")
    started = time.perf_counter()
    step, best_value, best_step, best_metrics, waited = 0, -math.inf, 0, None, 0
    history, losses, stopped_early = [], [], False
    model.train()
    while step < total and not stopped_early:
        for _, batch in train.batches(args.batch_size, generator):
            out = model(**batch)
            value = float(out.loss.item())
            if not math.isfinite(value):
                bar.close()
                raise TrainingDiverged(
                    f"the loss became {value} at step {step + 1}; lower the learning rate "
                    f"(now {args.learning_rate}) or raise the warmup"
                )
            optimizer.zero_grad()
            out.loss.backward()
            optim.clip_grad_norm_(model.parameters(), args.max_grad_norm)
            optimizer.step()
            scheduler.step()
            step += 1
            losses.append(value)
            bar.update(1)
            bar.set_postfix(loss=f"{value:.3f}")
            if step % eval_every and step != total:
                continue
            metrics = evaluate_model(task, model, evaluation, eval_examples, args.eval_batch_size)
            record = {"step": step, "loss": float(np.mean(losses)), **metrics}
            record["learning_rate"] = scheduler.get_last_lr()[0]
            losses = []
            history.append(record)
            append_jsonl(log_path, record)
            score = metrics[task.metric]
            improved = score > best_value  # NaN never improves
            if improved:
                best_value, best_step, best_metrics, waited = score, step, metrics, 0
                save_best(output_dir, model, tokenizer, checkpoint_info)
            else:
                waited += 1
            if progress:
                bar.write(
                    f"step {step}: {format_metrics(metrics)}"
                    f"{' (best)' if improved else ''}  |  baseline {task.metric} "
                    f"{baseline[task.metric]:.4f}"
                )
            if args.patience and waited >= args.patience and step < total:
                stopped_early = True
            if step >= total or stopped_early:
                break
    bar.close()
    if best_metrics is None:
        raise ValueError(
            f"no evaluation improved on {task.metric} = -inf (every score was NaN); "
            "check the validation data"
        )
    _load_best(model, output_dir / BEST)
    summary = {
        "task": task.name,
        "metric": task.metric,
        "best_metrics": best_metrics,
        "baseline": baseline,
        "baseline_name": task.baseline_name,
        "best_step": best_step,
        "steps": step,
        "total_steps": total,
        "stopped_early": stopped_early,
        "seconds": time.perf_counter() - started,
        "history": history,
    }
    atomic_write_text(output_dir / "metrics.json", json.dumps(summary, indent=2) + "\n")
    return summary


def format_metrics(metrics: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.4f}" for name, value in metrics.items())


def save_best(output_dir: Path, model, tokenizer, checkpoint_info: dict) -> Path:
    """Write the model, tokenizer and ``finetune.json`` to ``output_dir/best`` atomically.

    The checkpoint is written into a staging directory beside it, as ``minibert.training.state``
    writes its checkpoints, then published by renames: the previous best is moved aside, the new
    one takes its name, the old one is deleted. A reader (or a crash) sees a complete checkpoint,
    never a half-written one.
    """
    final = Path(output_dir) / BEST
    staging = Path(output_dir) / f".{BEST}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging, tokenizer=tokenizer)
    atomic_write_text(staging / FINETUNE_NAME, json.dumps(checkpoint_info, indent=2) + "\n")
    return publish_directory(staging, final)


def _load_best(model, directory: Path) -> None:
    from minibert import checkpoint

    state = checkpoint.normalize_keys(checkpoint.load_weights(directory))
    model.load_checkpoint_state(state, strict=True, source=str(directory))


def load_finetuned(directory):
    """``(model, tokenizer, task)`` from a fine-tuned checkpoint (``output_dir/best``).

    The model is in eval mode, and the tokenizer truncates at the run's ``max_seq_length``.
    """
    from minibert.finetuning import get_task
    from minibert.tokenization import WordPieceTokenizer

    directory = Path(directory)
    info_path = directory / FINETUNE_NAME
    if not info_path.is_file():
        hint = (
            f"; the best checkpoint of a run is {directory / BEST}"
            if (directory / BEST).is_dir()
            else " (was it written by minibert finetune?)"
        )
        raise FileNotFoundError(f"{directory} has no {FINETUNE_NAME}{hint}")
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{info_path} is not valid JSON: {error}") from None
    task = get_task(info["task"], **info.get("settings", {}))
    model = task.model_class.from_pretrained(directory)
    tokenizer = WordPieceTokenizer.from_pretrained(directory)
    tokenizer.model_max_length = int(info["max_seq_length"])
    if model.config.vocab_size != len(tokenizer):
        raise ValueError(
            f"{directory}: the model has {model.config.vocab_size} tokens but its tokenizer "
            f"{len(tokenizer)}; the directory mixes two runs"
        )
    return model.eval(), tokenizer, task
