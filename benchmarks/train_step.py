r"""The ``train-step`` section: one pretraining step of minibert against transformers' BERT.

For each config (the issue's tiny one, V 8192 H 128 L 2 nh 2 F 512, and the larger one, H 256
L 4 nh 4 F 1024) at batch 32 x 128 with ~15% MLM labels and NSP labels, AdamW, the same thread
count for all (``--threads``, default 2), five models run in their own worker processes
(``model_workers``), measured in turns so machine load hits them alike:

- ``minibert``: ``BertForPreTraining`` with ``masked_only=True`` (MLM logits at labelled positions,
  and its last layer past self-attention at the labelled and [CLS] rows only);
- ``minibert-blas1``: the same with NumPy's OpenBLAS on one thread and Numba's kernels on all
  (the threading policy that holds up when other processes share the cores);
- ``torch-all``: transformers' ``BertForPreTraining`` as shipped (MLM logits at every position);
- ``torch-masked``: the same model with logits only at the labelled rows (``model.bert``, gather
  the masked rows, ``model.cls.predictions`` on them, the NSP head; the same loss);
- ``torch-pruned``: the same again, with its last layer's output block and feed-forward network
  at the labelled and [CLS] rows only, after a self-attention over every position, as
  minibert's ``BertForPreTraining`` computes it (``masked_only``); transformers' own modules,
  called in order. The issue's two variants are ``torch-all`` and ``torch-masked``; this one
  shows the ratio like for like.

Printed per model: the median step split into forward (loss included) / backward / optimizer
(step and zero_grad), tokens/s, achieved GFLOP/s against the BLAS ceiling measured in the same
run (``np.matmul`` on float32 1024 x 1024, best of 7), peak memory (the peak resident set of
the worker process, and its growth over the libraries' own footprint after import), the
ratio to the faster of the issue's torch variants and the ratio to ``torch-pruned``'s time.
Then the first-use figures: seconds from a fresh interpreter to the end of
the first training step with an empty Numba cache (everything compiles) and with that cache
filled (everything loads).

FLOPs counted (the matmuls each model runs, forward + backward = 3 x forward, 2 FLOPs per
multiply-add):

.. math::
    F = 6 \big[ (L - 1) (4H^2 + 2HF) \cdot BT + 3H^2 \cdot BT + (H^2 + 2HF) \cdot N_{last}
        + (H^2 + VH) \cdot N_{mlm} + (H^2 + 2H) \cdot B \big]
        + L \cdot 2 \cdot 2 \cdot B \cdot nh \cdot T^2 \cdot hs \cdot 3

with the encoder's Q, K, V, output and two FFN matrices applied to all B T tokens, except the
last layer's output and FFN matrices, applied to N_last rows (B T, or the M labelled and B [CLS]
rows when pruned); the MLM transform and vocabulary projection to N_mlm rows (the M labelled
positions, or all B T for ``torch-all``), the pooler and NSP head to the B [CLS] rows, and
attention's two batched products (Q K^T and P V) per layer.
"""

from __future__ import annotations

import statistics
import tempfile

from benchmarks import model_workers as mw

CONFIG_NAMES = ("tiny", "small")
LIKE_FOR_LIKE = "torch-pruned"  # not one of the issue's variants: its own ratio column


def step_flops(config_name: str, mlm_rows: int, last_rows: int) -> float:
    """Matmul FLOPs of one forward + backward (the formula in the module docstring)."""
    c = mw.CONFIGS[config_name]
    H, F, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    L, nh = c["num_hidden_layers"], c["num_attention_heads"]
    B, T, hs = mw.BATCH, mw.SEQ_LEN, H // nh
    matmul_params = (L - 1) * (4 * H * H + 2 * H * F) * B * T + 3 * H * H * B * T
    matmul_params += (H * H + 2 * H * F) * last_rows + (H * H + V * H) * mlm_rows
    matmul_params += (H * H + 2 * H) * B
    return 6.0 * matmul_params + L * 2 * 2 * B * nh * T * T * hs * 3


def masked_rows(config_name: str) -> int:
    labels = mw.make_batch(mw.CONFIGS[config_name]["vocab_size"])["labels"]
    return int((labels != -100).sum())


def summarize(times: list[list[float]], flops: float, ceiling: float) -> dict:
    """Medians of each phase and of the whole step, tokens/s and GFLOP/s of the median step."""
    totals = [sum(t) for t in times]
    median = statistics.median(totals)
    return {
        "median_s": median,
        "min_s": min(totals),
        "runs": len(totals),
        "forward_s": statistics.median(t[0] for t in times),
        "backward_s": statistics.median(t[1] for t in times),
        "optimizer_s": statistics.median(t[2] for t in times),
        "tokens_per_s": mw.BATCH * mw.SEQ_LEN / median,
        "gflops": flops / median / 1e9,
        "fraction_of_blas": flops / median / 1e9 / ceiling,
    }


def format_rows(title: str, rows: list[dict], phases: bool = True) -> str:
    header = f"{'impl':<13} {'step':>9}"
    if phases:
        header += f" {'forward':>9} {'backward':>9} {'optim':>8}"
    header += f" {'tok/s':>8} {'GFLOP/s':>8} {'xBLAS':>6} {'peak MB':>8} {'(+model)':>9}"
    header += f" {'ratio':>6}"
    like_for_like = any(r.get("ratio_vs_torch_pruned") for r in rows)
    if like_for_like:
        header += f" {'vs pruned':>9}"
    lines = [title, header, "-" * len(header)]
    for r in rows:
        line = f"{r['impl']:<13} {r['median_s'] * 1e3:7.1f}ms"
        if phases:
            line += f" {r['forward_s'] * 1e3:7.1f}ms {r['backward_s'] * 1e3:7.1f}ms"
            line += f" {r['optimizer_s'] * 1e3:6.1f}ms"
        ratio = r.get("ratio_vs_faster_torch")
        line += (
            f" {r['tokens_per_s']:8.0f} {r['gflops']:8.1f} {r['fraction_of_blas']:6.2f}"
            f" {r['maxrss_mb']:8.0f} {r['maxrss_mb'] - r['baseline_mb']:+9.0f}"
            f" {f'{ratio:.2f}x' if ratio else '-':>6}"
        )
        if like_for_like:
            line += f" {r['ratio_vs_torch_pruned']:8.2f}x"
        lines.append(line)
    return "\n".join(lines)


def measure(mode: str, config_names, impls, ctx, flops_of) -> list[dict]:
    """Interleaved measurements of ``impls`` on each config; one row per (config, impl)."""
    threads = getattr(ctx, "threads", 2)
    ceiling = mw.blas_ceiling()
    rows = []
    for config_name in config_names:
        workers: dict[str, mw.Worker] = {}
        try:
            for impl in impls:
                workers[impl] = mw.Worker(impl, mode, config_name, threads)
            times = mw.measure_interleaved(
                workers,
                steps=ctx.repeat,
                warmup=max(ctx.warmup, 1),
                pause_s=ctx.pause_s,
                rewarm=getattr(ctx, "rewarm", 1),
            )
            memory = {impl: worker.stop() for impl, worker in workers.items()}
        finally:
            for worker in workers.values():
                worker.kill()
        config_rows = []
        for impl in impls:
            row = {"name": f"{mode} {config_name}", "impl": impl, "config": config_name}
            row.update(summarize(times[impl], flops_of(config_name, impl), ceiling))
            row.update(memory[impl], threads=threads, blas_ceiling_gflops=ceiling)
            config_rows.append(row)
        # The issue's bar is the faster of its torch variants; torch-pruned is the like-for-like
        # comparison, shown in a column of its own.
        torch_rows = [r for r in config_rows if r["impl"].startswith("torch")]
        issue_rows = [r for r in torch_rows if r["impl"] != LIKE_FOR_LIKE]
        like = next((r for r in torch_rows if r["impl"] == LIKE_FOR_LIKE), None)
        for r in config_rows:
            if issue_rows:
                r["ratio_vs_faster_torch"] = r["median_s"] / min(t["median_s"] for t in issue_rows)
            if like is not None:
                r["ratio_vs_torch_pruned"] = r["median_s"] / like["median_s"]
        for r in config_rows:
            r["note"] = (
                f"{r['gflops']:.0f} GFLOP/s ({r['fraction_of_blas']:.2f} of BLAS), "
                f"peak {r['maxrss_mb']:.0f} MB"
            )
            if r.get("ratio_vs_faster_torch"):
                r["note"] += f", {r['ratio_vs_faster_torch']:.2f}x the faster torch time"
            if r.get("ratio_vs_torch_pruned"):
                r["note"] += f", {r['ratio_vs_torch_pruned']:.2f}x torch-pruned's"
        rows.extend(config_rows)
        title = (
            f"{mode} {mw.describe(config_name)}, batch {mw.BATCH}x{mw.SEQ_LEN}, {threads} "
            f"threads, BLAS ceiling {ceiling:.0f} GFLOP/s; peak = peak resident set of each "
            "model's process, (+model) = its growth after the imports; ratio = time / faster torch"
        )
        if like is not None:
            title += " of the issue's (torch-all, torch-masked); vs pruned = time / torch-pruned's"
        print(format_rows(title, config_rows, phases=mode == "train"), flush=True)
    return rows


def run(ctx) -> list[dict]:
    impls = ["minibert", "minibert-blas1"]
    if mw.torch_available():
        impls += ["torch-all", "torch-masked", "torch-pruned"]
    else:
        print("train-step: torch/transformers not installed (the ref extra): minibert only")

    def flops_of(config_name, impl):
        rows = mw.IMPLS[impl][1]
        every, masked = mw.BATCH * mw.SEQ_LEN, masked_rows(config_name)
        mlm_rows = every if rows == "all" else masked
        last_rows = masked + mw.BATCH if rows == "pruned" else every
        return step_flops(config_name, mlm_rows, last_rows)

    rows = measure("train", CONFIG_NAMES, impls, ctx, flops_of)
    threads = getattr(ctx, "threads", 2)
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache_dir:
        cold = mw.first_step_probe("tiny", cache_dir, threads)
        warm = mw.first_step_probe("tiny", cache_dir, threads)
    for label, probe in (("cold (empty Numba cache)", cold), ("warm (cache filled)", warm)):
        print(
            f"first training step, tiny, {label}: {probe['wall_s']:.2f} s from a fresh "
            f"interpreter (import {probe['import_s']:.2f} s, build {probe['build_s']:.2f} s, "
            f"first step {probe['first_step_s']:.2f} s)"
        )
        rows.append(
            {
                "name": f"first step tiny, {label}",
                "impl": "minibert",
                "median_s": probe["wall_s"],
                "min_s": probe["wall_s"],
                "runs": 1,
                **probe,
            }  # fmt: skip
        )
    return rows
