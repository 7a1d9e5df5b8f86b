"""The pretraining loop: AdamW, warmup then linear decay, clipping, accumulation, evaluation,
metrics, and checkpoints that resume bit for bit."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from autograd import optim
from minibert.io import append_jsonl
from minibert.training import state as checkpoints
from minibert.training.evaluation import evaluate, most_frequent_token


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is left as it was."""


@dataclass
class TrainingArguments:
    """Hyperparameters of a pretraining run (BERT's, scaled to a laptop).

    Args:
        max_steps: optimizer steps in total.
        learning_rate: the peak, reached after ``warmup_steps`` and decayed linearly to 0.
        weight_decay: AdamW's decoupled decay; biases and LayerNorm weights are exempt.
        adam_epsilon: BERT uses 1e-6.
        max_grad_norm: gradients are clipped to this global L2 norm.
        gradient_accumulation_steps: batches whose gradients add up before one step.
        eval_every, save_every, log_every: in optimizer steps (0 disables).
        eval_batches: held-out batches per evaluation (None: all).
        keep_checkpoints: how many recent checkpoints to keep.
        seed: seeds the data (pairs and masks) and, through the model, dropout.
    """

    max_steps: int = 1000
    learning_rate: float = 1e-3
    warmup_steps: int = 100
    weight_decay: float = 0.01
    adam_epsilon: float = 1e-6
    max_grad_norm: float = 1.0
    gradient_accumulation_steps: int = 1
    eval_every: int = 200
    save_every: int = 200
    log_every: int = 10
    eval_batches: int | None = None
    keep_checkpoints: int = 2
    seed: int = 0

    def validate(self) -> None:
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be positive, got {self.max_steps}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.gradient_accumulation_steps < 1:
            raise ValueError("gradient_accumulation_steps must be at least 1")
        if not 0 <= self.warmup_steps <= self.max_steps:
            raise ValueError(f"warmup_steps must be in [0, max_steps], got {self.warmup_steps}")


def build_optimizer(model, args: TrainingArguments):
    groups = optim.weight_decay_groups(model.named_parameters(), args.weight_decay)
    optimizer = optim.AdamW(
        groups, lr=args.learning_rate, eps=args.adam_epsilon, weight_decay=args.weight_decay
    )
    scheduler = optim.get_linear_schedule_with_warmup(optimizer, args.warmup_steps, args.max_steps)
    return optimizer, scheduler


def pretrain(
    model,
    tokenizer,
    train_data,
    args: TrainingArguments,
    output_dir,
    eval_data=None,
    resume: bool = False,
    progress: bool = True,
    data_parallel=None,
    description: str = "pretraining",
) -> dict:
    """Pretrain ``model`` on ``train_data`` batches; write logs and checkpoints to ``output_dir``.

    With ``resume``, continue from ``output_dir``'s latest checkpoint: model, optimizer,
    scheduler, dropout generator and data position are restored, so the run ends with the same
    weights, bit for bit, as one that was never interrupted.

    With ``data_parallel`` (a ``minibert.training.distributed.DataParallel``), this process is
    one rank of a data-parallel run: ``train_data`` yields the global batches (every rank reads
    the same ones), each rank computes the gradient of its rows, the ranks sum them, and every
    rank takes the same step; rank 0 alone writes files and shows progress.

    ``description`` names the run on the progress bar and the loss curve (the seq2seq and causal
    LM trainers reuse this loop).

    Returns:
        A summary: steps, seconds, tokens per second, the last training loss and, when
        ``eval_data`` is given, the final held-out metrics.
    """
    args.validate()
    output_dir = Path(output_dir)
    writer = data_parallel is None or data_parallel.is_writer
    if writer:
        output_dir.mkdir(parents=True, exist_ok=True)
    optimizer, scheduler = build_optimizer(model, args)
    step, epoch, batch_index = 0, 0, 0
    if resume:
        latest = checkpoints.latest_checkpoint(output_dir)
        if latest is None:
            raise ValueError(f"--resume: {output_dir} has no checkpoint to resume from")
        saved = checkpoints.load_checkpoint(latest, model, optimizer, scheduler)
        if saved["arguments"] != dataclasses.asdict(args):
            raise ValueError(
                f"--resume: {latest} was trained with other arguments; resume with the same ones "
                f"(differences: {_differences(saved['arguments'], dataclasses.asdict(args))})"
            )
        step, (epoch, batch_index) = saved["step"], saved["data_position"]
        if data_parallel is not None:
            data_parallel.check_resume(saved, train_data)
    log_path = output_dir / "metrics.jsonl"
    if writer and not resume:
        log_path.unlink(missing_ok=True)
    elif writer:
        _truncate_log(log_path, step)  # drop what the interrupted run logged after its checkpoint
    if data_parallel is not None:
        data_parallel.prepare(model, args, train_data)
    baseline = most_frequent_token(train_data) if eval_data is not None else None

    batches = train_data.batches(epoch, batch_index)
    bar = tqdm(
        total=args.max_steps,
        initial=step,
        disable=not (progress and writer),
        desc=description,
        unit="step",
    )
    started, tokens_seen, last = time.perf_counter(), 0, {}
    model.train()
    while step < args.max_steps:
        optimizer.zero_grad()
        losses = []
        for _ in range(args.gradient_accumulation_steps):
            epoch, batch_index, batch = next(batches)
            if data_parallel is None:
                out = model(**batch)
                loss = out.loss
            else:  # this rank's rows, and their share of the global batch's loss
                out, loss = data_parallel.forward(model, batch)
            loss = (
                loss / args.gradient_accumulation_steps
                if args.gradient_accumulation_steps > 1
                else loss
            )
            value = float(out.loss.item())
            if data_parallel is None and not math.isfinite(value):
                _stop_diverged(bar, value, step, output_dir)
            loss.backward()
            losses.append((value, out))
            tokens_seen += int(batch["attention_mask"].sum())  # the global batch's, on every rank
        if data_parallel is not None:
            # Sum the gradients over the ranks; the global losses replace the local ones, and
            # every rank sees the same ones, so a divergence stops every rank together.
            losses = data_parallel.allreduce(model.parameters())
            for value, _ in losses:
                if not math.isfinite(value):
                    _stop_diverged(bar, value, step, output_dir)
        grad_norm = optim.clip_grad_norm_(model.parameters(), args.max_grad_norm)
        optimizer.step()
        scheduler.step()
        step += 1
        position = (epoch, batch_index + 1)
        elapsed = time.perf_counter() - started
        last = {
            "step": step,
            "loss": float(np.mean([v for v, _ in losses])),
            "mlm_loss": _mean_of(losses, "mlm_loss"),
            "nsp_loss": _mean_of(losses, "nsp_loss"),
            "learning_rate": scheduler.get_last_lr()[0],
            "grad_norm": float(grad_norm),
            "tokens_per_second": tokens_seen / elapsed,
            "epoch": epoch,
        }
        bar.update(1)
        bar.set_postfix(
            loss=f"{last['loss']:.3f}",
            lr=f"{last['learning_rate']:.2e}",
            tok_s=f"{last['tokens_per_second']:.0f}",
        )
        record = dict(last) if args.log_every and step % args.log_every == 0 else None
        if eval_data is not None and (
            step == args.max_steps or (args.eval_every and step % args.eval_every == 0)
        ):
            metrics = evaluate(model, eval_data, baseline, args.eval_batches)
            record = {**(record or last), **{f"eval_{k}": v for k, v in metrics.items()}}
            last.update(record)
            if writer:
                bar.write(_format_eval(step, metrics))
        if record is not None and writer:
            append_jsonl(log_path, record)
        if writer and (step == args.max_steps or (args.save_every and step % args.save_every == 0)):
            trainer_state = {"data_position": list(position), "arguments": dataclasses.asdict(args)}
            if data_parallel is not None:
                trainer_state.update(data_parallel.trainer_state(train_data))
            checkpoints.save_checkpoint(
                output_dir,
                step,
                model,
                tokenizer,
                optimizer,
                scheduler,
                trainer_state,
                args.keep_checkpoints,
            )
    bar.close()
    if writer:
        model.save_pretrained(output_dir / "model", tokenizer=tokenizer)
        plot_loss_curve(log_path, output_dir / "loss_curve.png", title=description)
    return {**last, "seconds": time.perf_counter() - started}


def _stop_diverged(bar, value: float, step: int, output_dir: Path) -> None:
    bar.close()
    good = checkpoints.latest_checkpoint(output_dir)
    raise TrainingDiverged(
        f"the loss became {value} at step {step + 1}; the last good checkpoint is "
        f"{good if good else 'none (no checkpoint was saved yet)'}. Lower the learning "
        "rate or raise warmup_steps, then resume"
    )


def _mean_of(losses, name: str) -> float | None:
    values = [getattr(out, name, None) for _, out in losses]
    values = [float(v.item()) for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _truncate_log(path: Path, last_step: int) -> None:
    """Keep only the records up to ``last_step`` (the resumed run logs the rest again)."""
    if not path.is_file():
        return
    kept = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and json.loads(line)["step"] <= last_step
    ]
    from minibert.io import atomic_write_text

    atomic_write_text(path, "".join(line + "\n" for line in kept))


def _format_eval(step: int, m: dict) -> str:
    text = (
        f"step {step}: held-out MLM accuracy {m['mlm_accuracy']:.3f} "
        f"(baseline {m.get('mlm_baseline_accuracy', float('nan')):.3f}), "
        f"perplexity {m['mlm_perplexity']:.1f}"
    )
    if "nsp_accuracy" in m:
        text += (
            f", NSP accuracy {m['nsp_accuracy']:.3f} (baseline {m['nsp_baseline_accuracy']:.3f})"
        )
    return text


def _differences(saved: dict, now: dict) -> str:
    return ", ".join(
        f"{k}: {saved.get(k)} -> {now.get(k)}"
        for k in sorted(set(saved) | set(now))
        if saved.get(k) != now.get(k)
    )


def plot_loss_curve(log_path: Path, png_path: Path, title: str = "pretraining") -> Path | None:
    """Training and held-out MLM loss against steps, as a PNG (skipped without matplotlib)."""
    try:
        # A bare Figure with the Agg canvas: no pyplot, so the caller's backend (a notebook's
        # inline one, say) is left as it was.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    if not log_path.is_file():
        return None
    records = [
        json.loads(line)
        for line in log_path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    if not records:
        return None
    figure = Figure(figsize=(7, 4))
    FigureCanvasAgg(figure)
    axis = figure.add_subplot()
    has_mlm = any(r.get("mlm_loss") is not None for r in records)
    train = [(r["step"], r["mlm_loss"] if has_mlm else r["loss"]) for r in records]
    axis.plot(*zip(*train, strict=True), label=f"training {'MLM ' if has_mlm else ''}loss", lw=1)
    held_out = [(r["step"], r["eval_mlm_loss"]) for r in records if "eval_mlm_loss" in r]
    if held_out:
        axis.plot(*zip(*held_out, strict=True), "o-", label="held-out MLM loss")
    axis.set_xlabel("step")
    axis.set_ylabel("cross-entropy (nats)")
    axis.set_title(f"minibert {title}")
    axis.legend()
    figure.tight_layout()
    from minibert.io import atomic_write

    atomic_write(png_path, lambda path: figure.savefig(path, format="png", dpi=110))
    return png_path
