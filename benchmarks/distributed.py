"""Data-parallel benchmarks: pretraining throughput on 1 process and 2 MPI ranks, and the
allreduce's latency and bandwidth on this machine (the two numbers of docs/data_parallel.md's
cost model).

- ``pretrain tiny``: the ``tiny`` preset (hidden 128, 2 layers, vocabulary 8192) on the embedded
  corpus, 32 rows of 128 tokens per rank, one BLAS/Numba thread per rank, through
  ``minibert.training.pretrain`` itself (no checkpoints, logs or evaluation). One process, then
  ``mpiexec -n 2`` with ``--distributed`` (a global batch of 64). A row gives seconds per step;
  its note gives tokens per second, and for 2 ranks the seconds per step spent in the gradient
  allreduce, waiting for the slower rank included. ``ratio_vs_reference`` is the throughput
  (tokens/s) over one process's: 2.0 would be perfect scaling.
- ``allreduce``: ``MPI_Allreduce`` of float32 buffers between 2 ranks, from 8 bytes (latency)
  to the tiny model's 6 MB of gradients. The note of the largest gives the bandwidth.

Skipped, with a row saying why, without the ``mpi`` extra (mpi4py and the mpich wheel).
Run alone: ``python -m benchmarks --only distributed``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ROWS, SEQ, STEPS, WARMUP_STEPS = 32, 128, 24, 4
SIZES = [8, 64 * 2**10, 2**20, 4 * 2**20, 6 * 2**20]  # bytes
ONE_THREAD = {v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")}


def _mpiexec() -> str | None:
    return shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")


def _launch(ranks: int, *args: str) -> dict:
    """Run this module's worker (on ``ranks`` MPI ranks, or plainly for 0); rank 0's JSON."""
    command = [sys.executable, "-m", "benchmarks.distributed", *args]
    if ranks:
        command = [_mpiexec(), "-n", str(ranks), *command]
    result = subprocess.run(
        command, cwd=REPO_ROOT, env={**os.environ, **ONE_THREAD}, capture_output=True,
        text=True, timeout=1200,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(ctx) -> list[dict]:
    try:
        import mpi4py  # noqa: F401  (MPI itself starts in the workers)
    except ImportError:
        mpi4py = None
    if mpi4py is None or _mpiexec() is None:
        note = "skipped: needs the mpi extra (pip install -e '.[mpi]')"
        return [{"name": "pretrain tiny", "impl": "-", "median_s": None, "runs": 0, "note": note}]
    with tempfile.TemporaryDirectory() as scratch:
        from minibert.cli_pretraining import embedded_corpus
        from minibert.tokenization import WordPieceTokenizer

        WordPieceTokenizer.train(
            [embedded_corpus("train")], vocab_size=8192, show_progress=False
        ).save_pretrained(Path(scratch) / "tokenizer")
        one = _launch(0, "train", scratch)
        two = _launch(2, "train", scratch, "--distributed")
    name = f"pretrain tiny {ROWS}x{SEQ} per rank"
    rows = []
    for impl, result in (("1 process", one), ("2 ranks", two)):
        note = f"{result['tokens_per_second']:.0f} tokens/s"
        if impl != "1 process":
            share = result["allreduce_s_per_step"] / result["median_s"]
            note += (
                f"; allreduce {result['allreduce_s_per_step'] * 1e3:.1f} ms a step "
                f"({share:.0%}, waiting for the slower rank included)"
            )
        rows.append({
            "name": name, "impl": impl, "median_s": result["median_s"], "min_s": result["min_s"],
            "runs": result["steps"], "note": note, "tokens_per_second": result["tokens_per_second"],
            "allreduce_s_per_step": result["allreduce_s_per_step"],
            "ratio_vs_reference": result["tokens_per_second"] / one["tokens_per_second"],
        })  # fmt: skip
    sweep = _launch(2, "allreduce", str(getattr(ctx, "repeat", 15)))
    for index, size in enumerate(SIZES):
        for way, timings in sweep.items():
            timing = timings[index]
            note = f"{size / timing['median_s'] / 1e9:.2f} GB/s" if size > 2**20 else ""
            rows.append({"name": f"allreduce {_bytes(size)} f32, 2 ranks", "impl": way,
                         "note": note, **timing})  # fmt: skip
    return rows


def _bytes(size: int) -> str:
    if size >= 2**20:
        return f"{size // 2**20} MB"
    return f"{size // 2**10} KB" if size >= 2**10 else f"{size} B"


# ------------------------------------------------------------------------------- workers
def _train(scratch: str, distributed: bool) -> None:
    """The steps of ``minibert.training.pretrain`` (forward, backward, allreduce, clip, AdamW),
    timed one by one after ``WARMUP_STEPS``; without its files, logs and evaluation."""
    import statistics

    from autograd import optim
    from minibert.cli_pretraining import embedded_corpus
    from minibert.config import BertConfig
    from minibert.data.dataset import DataConfig, PretrainingData
    from minibert.modeling import BertForPreTraining
    from minibert.tokenization import WordPieceTokenizer
    from minibert.training import TrainingArguments
    from minibert.training.pretrain import build_optimizer

    data_parallel = None
    if distributed:
        from minibert.training.distributed import DataParallel

        data_parallel = DataParallel()
    ranks = data_parallel.world_size if data_parallel else 1
    tokenizer = WordPieceTokenizer.from_pretrained(Path(scratch) / "tokenizer")
    config = DataConfig(max_seq_length=SEQ, batch_size=ROWS * ranks)  # the global batch
    data = PretrainingData([embedded_corpus("train")], tokenizer, config, seed=0)
    model = BertForPreTraining(BertConfig.preset("tiny", vocab_size=len(tokenizer)), seed=0)
    args = TrainingArguments(max_steps=STEPS, warmup_steps=2)
    optimizer, scheduler = build_optimizer(model, args)
    if data_parallel is not None:
        data_parallel.prepare(model, args, data)
    batches, times, tokens, in_allreduce = data.batches(), [], 0, 0.0
    model.train()
    for step in range(STEPS):
        started = time.perf_counter()
        before = data_parallel.allreduce_seconds if data_parallel else 0.0
        optimizer.zero_grad()
        _, _, batch = next(batches)
        if data_parallel is None:
            model(**batch).loss.backward()
        else:
            data_parallel.forward(model, batch)[1].backward()
            data_parallel.allreduce(model.parameters())
        optim.clip_grad_norm_(model.parameters(), args.max_grad_norm)
        optimizer.step()
        scheduler.step()
        if step >= WARMUP_STEPS:  # the first steps load kernels and touch fresh memory
            times.append(time.perf_counter() - started)
            tokens += int(batch["attention_mask"].sum())  # the global batch's
            if data_parallel is not None:
                in_allreduce += data_parallel.allreduce_seconds - before
    result = {
        "steps": len(times), "median_s": statistics.median(times), "min_s": min(times),
        "tokens_per_second": tokens / sum(times), "allreduce_s_per_step": in_allreduce / len(times),
    }  # fmt: skip
    if data_parallel is None or data_parallel.is_writer:
        print(json.dumps(result))


def _allreduce(repeat: int) -> None:
    """Each size through MPI's blocking Allreduce and through DataParallel's Iallreduce polled
    with Testall (what training runs, timeout included)."""
    import numpy as np

    from minibert.training.distributed import DataParallel

    data_parallel = DataParallel()
    comm, MPI = data_parallel.comm, data_parallel.MPI
    ways = {
        "Allreduce": lambda b: comm.Allreduce(MPI.IN_PLACE, b, op=MPI.SUM),
        "Iallreduce+Testall": lambda b: data_parallel.wait([data_parallel._iallreduce(b)], "x"),
    }
    timings = {way: [] for way in ways}
    for size in SIZES:
        buffer = np.ones(size // 4, dtype=np.float32)
        for way, reduce in ways.items():
            times = []
            for _ in range(repeat + 2):  # two warm-up calls
                comm.Barrier()
                started = time.perf_counter()
                reduce(buffer)
                times.append(time.perf_counter() - started)
            times = sorted(times[2:])
            timings[way].append({"median_s": times[len(times) // 2], "min_s": times[0],
                                 "runs": repeat})  # fmt: skip
    if comm.Get_rank() == 0:
        print(json.dumps(timings))


if __name__ == "__main__":
    if sys.argv[1] == "train":
        _train(sys.argv[2], "--distributed" in sys.argv[3:])
    else:
        _allreduce(int(sys.argv[2]))
