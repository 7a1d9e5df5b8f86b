"""Pretraining parity: minibert and transformers train the same tiny BERT on the same batches.

``python -m benchmarks.pretraining_parity [--steps 300] [--seeds 4] [--sensitivity]`` (needs the
ref extra; ``--hidden-size``, ``--learning-rate`` and ``--data-seed`` vary the setting).

Both libraries start from the same float32 checkpoint (minibert writes it, transformers loads
it), see the same batches in the same order (drawn once from one ``PretrainingData`` and kept
as NumPy arrays) and follow the same recipe: AdamW with BERT's two parameter groups, linear
warmup and decay, gradient clipping at 1.0. minibert trains through its own ``pretrain`` loop;
transformers through the plain PyTorch loop every transformers example uses. Every
``eval_every`` steps both are scored the same way on held-out documents: the mean negative
log-likelihood of the masked tokens.

Two experiments:

- ``dropout 0``: the runs are deterministic, so the two loss curves must agree to float32
  round-off (``tests/reference/test_pretraining_vs_transformers.py`` asserts it). The same
  runs in float64, and each library's float32 run against its own float64 run, show how much
  of the gap float32 accounts for.
- ``dropout 0.1``: the two libraries draw their dropout masks from different generators, so
  only the statistics can agree: the final held-out loss of minibert, over a few dropout seeds,
  against transformers' over as many seeds, next to the seed-to-seed spread.

``--sensitivity`` adds how far small recipe mistakes (warmup off by one, eps 1e-8, no clipping,
decayed LayerNorm weights...) move transformers' own run: what a tolerance must stay under.

Prints both curves; writes ``results/pretraining_parity.png`` when matplotlib is installed.
Measured on a shared 2-core machine, 300 steps: 5-20 s per minibert run, 3-8 s per transformers
run, a few minutes for everything, with ``OPENBLAS_NUM_THREADS=1``. Without it, NumPy's BLAS
threads and Numba's OpenMP threads compete for the two cores and minibert's runs take several
times longer.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import itertools
import json
import math
import statistics
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import transformers

from autograd.optim.param_groups import NO_DECAY
from minibert.config import BertConfig
from minibert.data.dataset import DataConfig, PretrainingData
from minibert.data.pretraining import IGNORE_INDEX
from minibert.modeling import BertForPreTraining
from minibert.tokenization import WordPieceTokenizer
from minibert.training import TrainingArguments, pretrain
from minibert.training.evaluation import evaluate

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny_corpus.txt"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}
HELD_OUT_EVERY = 8  # every 8th document of the corpus is held out (15 of its 120)


def recipe(
    steps: int = 300, eval_every: int = 50, learning_rate: float = 3e-3
) -> TrainingArguments:
    """The hyperparameters both libraries train with (BERT's, scaled to a 2-core laptop)."""
    return TrainingArguments(
        max_steps=steps, learning_rate=learning_rate, warmup_steps=steps // 10, weight_decay=0.01,
        adam_epsilon=1e-6, max_grad_norm=1.0, eval_every=eval_every, save_every=0, log_every=1,
    )  # fmt: skip


def tiny_config(vocab_size: int, hidden_size: int = 32, dropout: float = 0.0) -> BertConfig:
    """One layer, 2 heads: small enough for CI, big enough to learn past chance."""
    return BertConfig(
        vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=2 * hidden_size, max_position_embeddings=48,
        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
    )  # fmt: skip


# ------------------------------------------------------------------------------------ data
class ReplayedBatches:
    """A fixed list of batches behind ``PretrainingData``'s interface, for ``pretrain``.

    Every epoch replays the same list, so both libraries see exactly these arrays.
    """

    def __init__(self, batches: list[dict[str, np.ndarray]]):
        self.batch_list = batches

    def epoch_batches(self, epoch: int):
        yield from self.batch_list

    def batches(self, start_epoch: int = 0, start_batch: int = 0):
        epoch, skip = start_epoch, start_batch
        while True:
            for index in range(skip, len(self.batch_list)):
                yield epoch, index, self.batch_list[index]
            epoch, skip = epoch + 1, 0


@dataclass
class Experiment:
    """Everything the two runs share: tokenizer, batches, checkpoint, recipe."""

    tokenizer: WordPieceTokenizer
    train_batches: list[dict[str, np.ndarray]]  # one per step
    held_out: list[dict[str, np.ndarray]]
    checkpoint: Path  # minibert's BertForPreTraining(config, seed=0), in float32
    args: TrainingArguments
    workdir: Path


def split_corpus(corpus: Path, directory: Path) -> tuple[Path, Path]:
    """Write the corpus's documents to a training file and (every 8th) a held-out file."""
    documents = corpus.read_text(encoding="utf-8").split("\n\n")
    documents = [d.strip("\n") for d in documents if d.strip()]
    train = [d for i, d in enumerate(documents) if i % HELD_OUT_EVERY != HELD_OUT_EVERY - 1]
    held_out = [d for i, d in enumerate(documents) if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1]
    paths = directory / "train.txt", directory / "held_out.txt"
    for path, part in zip(paths, (train, held_out), strict=True):
        path.write_text("\n\n".join(part) + "\n", encoding="utf-8")
    return paths


def prepare(
    directory: Path, args: TrainingArguments, data_seed: int = 0, hidden_size: int = 32
) -> Experiment:
    """Tokenizer, batches and the starting checkpoint (dropout 0), in ``directory``.

    ``data_seed`` picks the NSP pairs and masks of the training and held-out batches.

    The held-out set is 15 documents the training batches never contain: 5 batches, 453 masked
    tokens. (The tokenizer is trained on the whole corpus: a vocabulary, the same for both.)
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = WordPieceTokenizer.train([TINY], vocab_size=600, show_progress=False)
    train_file, held_out_file = split_corpus(TINY, directory)
    data_config = DataConfig(max_seq_length=48, batch_size=16)
    stream = PretrainingData([train_file], tokenizer, data_config, seed=data_seed).batches()
    train_batches = [batch for _, _, batch in itertools.islice(stream, args.max_steps)]
    held_out_data = PretrainingData([held_out_file], tokenizer, data_config, seed=data_seed + 1)
    held_out = list(held_out_data.epoch_batches(0))
    model = BertForPreTraining(tiny_config(len(tokenizer), hidden_size), seed=0)
    model.save_pretrained(directory / "start")
    return Experiment(tokenizer, train_batches, held_out, directory / "start", args, directory)


# ---------------------------------------------------------------------------------- curves
@dataclass
class Curves:
    """One run: the training loss at every step and the held-out MLM loss at eval steps."""

    train_loss: list[float] = field(default_factory=list)  # MLM + NSP, before step i's update
    train_mlm_loss: list[float] = field(default_factory=list)
    held_out: dict[int, float] = field(default_factory=dict)  # step -> mean masked-token NLL
    final_weights: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    process_seconds: float = 0.0


def train_minibert(
    experiment: Experiment, dtype=np.float32, seed: int = 0, **config_overrides
) -> Curves:
    """minibert through its own ``pretrain`` loop; ``seed`` only picks the dropout masks."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BertForPreTraining.from_pretrained(
            experiment.checkpoint, seed=seed, dtype=dtype, **config_overrides
        )
    output = Path(tempfile.mkdtemp(dir=experiment.workdir, prefix="minibert-"))
    held_out = ReplayedBatches(experiment.held_out)
    started = time.process_time()
    curves = Curves(held_out={0: evaluate(model, held_out)["mlm_loss"]})
    with contextlib.redirect_stdout(io.StringIO()):  # pretrain prints its evaluations
        pretrain(
            model, experiment.tokenizer, ReplayedBatches(experiment.train_batches),
            experiment.args, output, eval_data=held_out, progress=False,
        )  # fmt: skip
    curves.process_seconds = time.process_time() - started
    for line in (output / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        curves.train_loss.append(record["loss"])
        curves.train_mlm_loss.append(record["mlm_loss"])
        if "eval_mlm_loss" in record:
            curves.held_out[record["step"]] = record["eval_mlm_loss"]
    curves.final_weights = {name: p.data.copy() for name, p in model.named_parameters()}
    return curves


def torch_weight_decay_groups(model, weight_decay: float, no_decay=NO_DECAY) -> list[dict]:
    """``autograd.optim.weight_decay_groups``'s rule, on torch's ``named_parameters``."""
    decayed, exempt = [], []
    for name, param in model.named_parameters():
        (exempt if any(pattern in name for pattern in no_decay) else decayed).append(param)
    return [
        {"params": decayed, "weight_decay": weight_decay},
        {"params": exempt, "weight_decay": 0.0},
    ]


def masked_nll(logits: torch.Tensor, labels: np.ndarray) -> tuple[float, int]:
    """Summed NLL of the labelled positions, in float64, and their count (as ``evaluate``)."""
    labels = torch.from_numpy(labels)
    chosen = labels != IGNORE_INDEX  # (B, T)
    logits = logits[chosen].double()  # (B, T, V) -> (M, V)
    nll = torch.nn.functional.cross_entropy(logits, labels[chosen], reduction="sum")
    return float(nll), int(chosen.sum())


@torch.no_grad()
def held_out_mlm_loss(model, batches: list[dict[str, np.ndarray]]) -> float:
    """Mean NLL over every masked position of ``batches`` (what ``evaluate`` calls mlm_loss)."""
    model.eval()
    total, count = 0.0, 0
    for batch in batches:
        out = model(**{k: torch.from_numpy(batch[k]) for k in INPUTS})
        nll, n = masked_nll(out.prediction_logits, batch["labels"])
        total, count = total + nll, count + n
    model.train()
    return total / count


INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def train_transformers(
    experiment: Experiment, dtype=np.float32, seed: int = 0, no_decay=NO_DECAY, **config_overrides
) -> Curves:
    """transformers' BertForPreTraining through the standard PyTorch loop, same recipe.

    ``seed`` only picks the dropout masks; ``no_decay`` is for ``recipe_sensitivity``.
    """
    args = experiment.args
    torch.manual_seed(seed)  # the dropout masks; the weights come from the checkpoint
    model = transformers.BertForPreTraining.from_pretrained(
        experiment.checkpoint, attn_implementation="eager", dtype=TORCH_DTYPE[dtype],
        **config_overrides,
    )  # fmt: skip
    optimizer = torch.optim.AdamW(
        torch_weight_decay_groups(model, args.weight_decay, no_decay),
        lr=args.learning_rate, eps=args.adam_epsilon, weight_decay=args.weight_decay,
    )  # fmt: skip
    scheduler = transformers.get_linear_schedule_with_warmup(
        optimizer, args.warmup_steps, args.max_steps
    )
    started = time.process_time()
    curves = Curves(held_out={0: held_out_mlm_loss(model, experiment.held_out)})
    model.train()
    for step, batch in enumerate(experiment.train_batches, start=1):
        out = model(**{k: torch.from_numpy(v) for k, v in batch.items()})
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        curves.train_loss.append(out.loss.item())
        nll, count = masked_nll(out.prediction_logits.detach(), batch["labels"])
        curves.train_mlm_loss.append(nll / count)
        if step == args.max_steps or step % args.eval_every == 0:
            curves.held_out[step] = held_out_mlm_loss(model, experiment.held_out)
    curves.process_seconds = time.process_time() - started
    curves.final_weights = {n: p.detach().numpy().copy() for n, p in model.named_parameters()}
    return curves


# ----------------------------------------------------------------------------------- report
def curve_table(ours: Curves, reference: Curves) -> list[str]:
    """step | held-out MLM loss of minibert and of transformers | relative difference."""
    lines = [f"{'step':>5} {'minibert':>10} {'transformers':>13} {'rel. diff':>10}"]
    for step, theirs in reference.held_out.items():
        mine = ours.held_out[step]
        lines.append(f"{step:>5} {mine:>10.5f} {theirs:>13.5f} {(mine - theirs) / theirs:>10.2e}")
    return lines


def gaps(ours: Curves, reference: Curves) -> dict[str, float]:
    """The largest differences between two runs, by what is compared."""
    weights = reference.final_weights
    return {
        "held-out loss (relative)": max(
            abs(ours.held_out[step] - loss) / loss for step, loss in reference.held_out.items()
        ),
        "training loss (nats)": max(
            abs(a - b) for a, b in zip(ours.train_loss, reference.train_loss, strict=True)
        ),
        # Absolute: some parameters stay ~0 (the key bias, whose gradient is 0 in exact
        # arithmetic: softmax ignores a shift shared by a row), and relative to ~0 is all noise.
        "final weights (largest element)": max(
            float(np.abs(ours.final_weights[name] - w).max()) for name, w in weights.items()
        ),
    }


def format_gaps(measured: dict[str, float]) -> str:
    return ", ".join(f"{what} {value:.2e}" for what, value in measured.items())


# Mistakes a port of the recipe could make, each small enough to look like a working run.
RECIPE_MISTAKES = {
    "warmup one step longer": lambda a: dict(warmup_steps=a.warmup_steps + 1),
    "learning rate 1% higher": lambda a: dict(learning_rate=a.learning_rate * 1.01),
    "Adam eps 1e-8 (torch's default)": lambda a: dict(adam_epsilon=1e-8),
    "no gradient clipping": lambda a: dict(max_grad_norm=1e9),
    "no weight decay": lambda a: dict(weight_decay=0.0),
    "biases and LayerNorm decay too": lambda a: dict(no_decay=()),
}


def recipe_sensitivity(experiment: Experiment, reference: Curves) -> dict[str, dict]:
    """How far each of ``RECIPE_MISTAKES`` moves transformers' run from ``reference`` (``gaps``).

    A parity tolerance must sit well below these, or a curve that "tracks within noise" would
    hide a wrong recipe.
    """
    moved = {}
    for mistake, change in RECIPE_MISTAKES.items():
        changes = change(experiment.args)
        no_decay = changes.pop("no_decay", NO_DECAY)
        altered = dataclasses.replace(
            experiment, args=dataclasses.replace(experiment.args, **changes)
        )
        moved[mistake] = gaps(train_transformers(altered, no_decay=no_decay), reference)
    return moved


def plot(runs: dict[str, Curves], path: Path) -> Path | None:
    """Left: the held-out curves; right: how far apart the libraries are, in each precision.

    Returns None (and draws nothing) without matplotlib.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    figure = Figure(figsize=(11, 4))
    FigureCanvasAgg(figure)
    curves_axis, gap_axis = figure.subplots(1, 2)
    for label, curves in runs.items():
        if "float64" in label:
            continue
        minibert = label.startswith("minibert")
        style = dict(marker="o" if minibert else "s", linestyle="-" if minibert else "--")
        style["color"] = "tab:blue" if minibert else "tab:orange"
        if "dropout" in label:  # one legend entry per library
            style.update(alpha=0.4, color="tab:green" if minibert else "tab:red")
            label = None if not label.endswith("seed 0") else label.removesuffix(" seed 0")
        steps, losses = list(curves.held_out), list(curves.held_out.values())
        curves_axis.plot(steps, losses, label=label, markerfacecolor="none", **style)
    curves_axis.set(xlabel="step", ylabel="held-out MLM loss (nats)", title="held-out MLM loss")
    curves_axis.legend(fontsize=8)
    for name in ("float32", "float64"):
        ours, theirs = runs.get(f"minibert {name}"), runs.get(f"transformers {name}")
        if ours is None or theirs is None:
            continue
        steps = [s for s in theirs.held_out if s > 0]
        gaps = [abs(ours.held_out[s] - theirs.held_out[s]) / theirs.held_out[s] for s in steps]
        gap_axis.plot(
            steps, np.maximum(gaps, 1e-17), "o-", label=f"minibert vs transformers, {name}"
        )
    gap_axis.set(
        xlabel="step", ylabel="|minibert - transformers| / transformers", yscale="log",
        title="relative gap, dropout 0",
    )  # fmt: skip
    gap_axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


def _deterministic(experiment: Experiment, runs: dict[str, Curves]) -> None:
    for dtype in (np.float32, np.float64):
        name = np.dtype(dtype).name
        ours, theirs = train_minibert(experiment, dtype), train_transformers(experiment, dtype)
        runs[f"minibert {name}"], runs[f"transformers {name}"] = ours, theirs
        print(f"\ndropout 0, {name}: held-out MLM loss")
        print("\n".join(curve_table(ours, theirs)))
        print(f"largest differences: {format_gaps(gaps(ours, theirs))}")
        print(
            f"step-1 loss {ours.train_loss[0]:.8f} vs {theirs.train_loss[0]:.8f}; process time "
            f"{ours.process_seconds:.1f} s vs {theirs.process_seconds:.1f} s"
        )
    # The scale of float32 round-off after 300 steps: each library against its own float64 run.
    for library in ("minibert", "transformers"):
        own = gaps(runs[f"{library} float32"], runs[f"{library} float64"])
        print(f"{library} float32 against its float64 run: {format_gaps(own)}")


def _with_dropout(experiment: Experiment, runs: dict[str, Curves], seeds: int) -> None:
    dropout = dict(hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    final: dict[str, list[float]] = {"minibert": [], "transformers": []}
    for seed in range(seeds):
        for library, train in (("minibert", train_minibert), ("transformers", train_transformers)):
            curves = train(experiment, np.float32, seed, **dropout)
            runs[f"{library} dropout 0.1 seed {seed}"] = curves
            final[library].append(curves.held_out[experiment.args.max_steps])
    print(f"\ndropout 0.1: held-out MLM loss at the end, over {seeds} dropout seeds")
    for library, values in final.items():
        spread = statistics.stdev(values) if len(values) > 1 else math.nan
        runs_text = ", ".join(f"{v:.5f}" for v in values)
        print(f"{library:>13}: mean {statistics.fmean(values):.5f}, std {spread:.5f} ({runs_text})")
    if seeds > 1:
        # Two samples of `seeds` runs: the difference of the means against its standard error,
        # from the seed-to-seed variance pooled over both libraries (a t statistic).
        pooled = math.sqrt(sum(statistics.variance(v) for v in final.values()) / 2)
        difference = statistics.fmean(final["minibert"]) - statistics.fmean(final["transformers"])
        standard_error = pooled * math.sqrt(2 / seeds)
        print(
            f"difference of the means {difference:+.5f} nats = {difference / standard_error:+.2f} "
            f"standard errors (t with {2 * seeds - 2} degrees of freedom)"
        )
    no_dropout = runs.get("transformers float32")
    if no_dropout is not None:
        end = no_dropout.held_out[experiment.args.max_steps]
        print(f"(without dropout, transformers ends at {end:.5f})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--hidden-size", type=int, default=32)
    parser.add_argument("--data-seed", type=int, default=0, help="picks the pairs and masks")
    parser.add_argument("--seeds", type=int, default=4, help="dropout seeds per library")
    parser.add_argument("--skip-dropout", action="store_true")
    parser.add_argument(
        "--sensitivity", action="store_true", help="also show how far recipe mistakes move it"
    )
    options = parser.parse_args(argv)
    torch.set_num_threads(1)
    runs: dict[str, Curves] = {}
    with tempfile.TemporaryDirectory() as directory:
        args = recipe(options.steps, options.eval_every, options.learning_rate)
        experiment = prepare(Path(directory), args, options.data_seed, options.hidden_size)
        _deterministic(experiment, runs)
        if options.sensitivity:
            print("\nhow far a recipe mistake moves transformers' float32 run:")
            moved = recipe_sensitivity(experiment, runs["transformers float32"])
            for mistake, measured in moved.items():
                print(f"  {mistake:<32} {format_gaps(measured)}")
        if not options.skip_dropout:
            _with_dropout(experiment, runs, options.seeds)
    RESULTS_DIR.mkdir(exist_ok=True)
    written = plot(runs, RESULTS_DIR / "pretraining_parity.png")
    print(f"\nplot: {written}" if written else "\n(no plot: matplotlib is not installed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
