"""Whole-model benchmark workers: one fresh process per measured model, driven over a pipe.

Why processes: each model's peak memory is its own process's peak resident set (``VmHWM``, see
``_maxrss_mb``; NumPy allocates outside ``tracemalloc``'s view, and psutil is not a dependency),
and each library runs
under its own thread policy (autograd sets ``OMP_WAIT_POLICY=PASSIVE`` for Numba's OpenMP, which
would slow torch down if both shared one process and one libgomp). The parent drives the workers
in turns (``Worker.run(n)``), so machine load hits every model alike.

Protocol: the parent writes one JSON object per line to the worker's stdin; the worker answers one
line starting with ``@@`` followed by JSON (anything else on stdout, such as a library's warning,
is ignored). Commands::

    {"cmd": "run", "n": 3}   -> {"times": [[forward_s, backward_s, optimizer_s], ...]}
    {"cmd": "stop"}          -> {"maxrss_mb": ..., "baseline_mb": ...} and the worker exits

``baseline_mb`` is the peak after the imports, before the model is built: the libraries'
own footprint (torch's is large), so ``maxrss_mb - baseline_mb`` is what the model and its steps
added. Usage, as the sections run it::

    python -m benchmarks.model_workers worker --impl minibert --mode train --config tiny
    python -m benchmarks.model_workers first-step --config tiny   # the cold/warm start probe
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
BATCH, SEQ_LEN, MASK_RATE = 32, 128, 0.15

# hidden, layers, heads, FFN, vocabulary: the two training configs and MiniLM's shape.
CONFIGS = {
    "tiny": dict(
        vocab_size=8192, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=512,
    ),
    "small": dict(
        vocab_size=8192, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
        intermediate_size=1024,
    ),
    "minilm": dict(
        vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
        intermediate_size=1536,
    ),
}  # fmt: skip

# impl -> (library, which rows the training step computes past the last self-attention):
# "all" (every position: MLM logits everywhere, transformers as shipped), "masked" (every
# position through the encoder, MLM logits at the labelled rows only) or "pruned" (the last
# layer's output block and feed-forward network, and the heads, at the labelled and [CLS] rows
# only: what minibert's BertForPreTraining does with masked_only). "minibert-blas1" is minibert
# with NumPy's OpenBLAS on one thread (Numba's kernels keep every thread): on a shared machine,
# OpenBLAS's spinning worker threads fight Numba's for the cores, so both policies are shown.
IMPLS = {
    "minibert": ("minibert", "pruned"),
    "minibert-blas1": ("minibert", "pruned"),
    "torch": ("torch", "masked"),  # inference: no MLM head at all
    "torch-all": ("torch", "all"),
    "torch-masked": ("torch", "masked"),
    "torch-pruned": ("torch", "pruned"),
}
PROTOCOL_PREFIX = "@@"


def describe(config_name: str) -> str:
    c = CONFIGS[config_name]
    return (
        f"{config_name} (V{c['vocab_size']} H{c['hidden_size']} L{c['num_hidden_layers']} "
        f"nh{c['num_attention_heads']} F{c['intermediate_size']})"
    )


def make_batch(vocab_size: int, seed: int = 0) -> dict:
    """A pretraining batch of ``BATCH x SEQ_LEN`` tokens: ~15% MLM labels, NSP labels, two segments.

    Shapes:
        input_ids, token_type_ids, attention_mask, labels (B, T); next_sentence_label (B,).
    """
    rng = np.random.default_rng(seed)
    input_ids = rng.integers(5, vocab_size, size=(BATCH, SEQ_LEN))
    labels = np.full((BATCH, SEQ_LEN), -100)
    masked = rng.random((BATCH, SEQ_LEN)) < MASK_RATE
    labels[masked] = input_ids[masked]
    token_type_ids = np.zeros((BATCH, SEQ_LEN), dtype=np.int64)
    token_type_ids[:, SEQ_LEN // 2 :] = 1
    return {
        "input_ids": input_ids,
        "attention_mask": np.ones((BATCH, SEQ_LEN), dtype=np.int64),
        "token_type_ids": token_type_ids,
        "labels": labels,
        "next_sentence_label": rng.integers(0, 2, size=BATCH),
    }


# --------------------------------------------------------------------- the measured models
# Each builder returns a zero-argument callable that runs one step and returns
# (forward_s, backward_s, optimizer_s); inference puts its whole time in forward_s.


def minibert_train(config_name: str):
    from autograd import optim
    from minibert.config import BertConfig
    from minibert.modeling.models import BertForPreTraining

    model = BertForPreTraining(BertConfig(**CONFIGS[config_name]), seed=0)
    model.train()
    optimizer = optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    batch = make_batch(model.config.vocab_size)
    return timed_step(lambda: model(**batch, masked_only=True).loss, optimizer)


def timed_step(loss_of_batch, optimizer):
    """One training step (forward to the loss, backward, optimizer step and zero_grad) that
    returns the three phases' seconds; the same for both libraries, whose APIs agree here."""

    def step():
        t0 = time.perf_counter()
        loss = loss_of_batch()
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        optimizer.step()
        optimizer.zero_grad()
        return t1 - t0, t2 - t1, time.perf_counter() - t2

    return step


def torch_train(config_name: str, rows: str):
    import torch
    from transformers import BertConfig, BertForPreTraining

    model = BertForPreTraining(BertConfig(**CONFIGS[config_name]))
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    batch = {k: torch.from_numpy(v) for k, v in make_batch(model.config.vocab_size).items()}
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    cross_entropy = torch.nn.CrossEntropyLoss()
    flat_labels = batch["labels"].reshape(-1)  # (B, T) -> (B*T,)
    positions = (flat_labels != -100).nonzero()[:, 0]  # (M,)
    M = positions.shape[0]

    def loss(hidden_rows, pooled):
        logits = model.cls.predictions(hidden_rows)  # (M, H) -> (M, V)
        nsp_logits = model.cls.seq_relationship(pooled)  # (B, H) -> (B, 2)
        return cross_entropy(logits, flat_labels[positions]) + cross_entropy(
            nsp_logits, batch["next_sentence_label"]
        )

    def loss_masked():
        # transformers computes MLM logits at every position; this variant computes them only
        # where labels are (as the original BERT does): the same loss.
        out = model.bert(**inputs)
        hidden = out.last_hidden_state.reshape(BATCH * SEQ_LEN, -1)  # (B, T, H) -> (B*T, H)
        return loss(hidden[positions], out.pooler_output)

    def loss_pruned():
        # As minibert's BertForPreTraining: the last layer's output block and feed-forward
        # network at the rows the losses read only (the labelled ones and the [CLS] ones), after
        # a self-attention over every position. transformers' own modules, called in order.
        bert, layers = model.bert, model.bert.encoder.layer
        hidden = bert.embeddings(input_ids=inputs["input_ids"],
                                 token_type_ids=inputs["token_type_ids"])  # fmt: skip
        mask, _ = bert._create_attention_masks(
            attention_mask=inputs["attention_mask"], encoder_attention_mask=None,
            embedding_output=hidden, encoder_hidden_states=None, cache=None, position_ids=None,
        )  # fmt: skip
        for layer in layers[:-1]:
            hidden = layer(hidden, mask)  # (B, T, H)
        context, _ = layers[-1].attention.self(hidden, attention_mask=mask)  # (B, T, H)
        rows = torch.cat([positions, torch.arange(BATCH) * SEQ_LEN])  # (M + B,)
        context, residual = (t.reshape(BATCH * SEQ_LEN, -1)[rows] for t in (context, hidden))
        attended = layers[-1].attention.output(context, residual)  # (M + B, H)
        out = layers[-1].output(layers[-1].intermediate(attended), attended)
        return loss(out[:M], bert.pooler(out[M:, None]))  # the pooler reads (B, 1, H)[:, 0]

    losses = {"all": lambda: model(**batch).loss, "masked": loss_masked, "pruned": loss_pruned}
    return timed_step(losses[rows], optimizer)


def minibert_infer(config_name: str):
    import autograd as ag
    from minibert.config import BertConfig
    from minibert.modeling.models import BertModel

    model = BertModel(BertConfig(**CONFIGS[config_name]), seed=0)
    model.eval()
    batch = make_batch(model.config.vocab_size)
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}

    def step():
        t0 = time.perf_counter()
        with ag.no_grad():
            model(**inputs)
        return time.perf_counter() - t0, 0.0, 0.0

    return step


def torch_infer(config_name: str):
    import torch
    from transformers import BertConfig, BertModel

    model = BertModel(BertConfig(**CONFIGS[config_name]))
    model.eval()
    batch = make_batch(model.config.vocab_size)
    inputs = {
        k: torch.from_numpy(batch[k]) for k in ("input_ids", "attention_mask", "token_type_ids")
    }

    def step():
        t0 = time.perf_counter()
        with torch.no_grad():
            model(**inputs)
        return time.perf_counter() - t0, 0.0, 0.0

    return step


def build(impl: str, mode: str, config_name: str):
    library, rows = IMPLS[impl]
    if library == "minibert":
        return minibert_train(config_name) if mode == "train" else minibert_infer(config_name)
    return torch_train(config_name, rows) if mode == "train" else torch_infer(config_name)


# ---------------------------------------------------------------------------- worker side


def _maxrss_mb() -> float:
    """This process's peak resident memory, MB.

    On Linux, ``VmHWM`` from /proc/self/status: it belongs to the address space, which ``exec``
    replaces, whereas ``ru_maxrss`` survives ``exec`` and so reports the *parent's* peak when
    that was higher (a full ``make bench`` parent that ran the kernel sections first: every
    worker then showed the parent's 1.1 GB). Elsewhere ``ru_maxrss``.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes / KiB


def _answer(payload: dict) -> None:
    sys.stdout.write(PROTOCOL_PREFIX + json.dumps(payload) + "\n")
    sys.stdout.flush()


def serve(impl: str, mode: str, config_name: str, threads: int) -> None:
    """The worker loop: build the model, then answer the parent's commands until "stop"."""
    if IMPLS[impl][0] == "torch":
        import torch
        import transformers  # noqa: F401  (part of the baseline footprint)

        torch.set_num_threads(threads)
    else:
        import autograd  # noqa: F401
        import minibert  # noqa: F401
    baseline_mb = _maxrss_mb()
    step = build(impl, mode, config_name)
    _answer({"ready": True})
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "run":
            _answer({"times": [step() for _ in range(int(command["n"]))]})
        elif command["cmd"] == "stop":
            _answer({"maxrss_mb": _maxrss_mb(), "baseline_mb": baseline_mb})
            return
        else:
            raise ValueError(f"unknown worker command {command!r}; expected 'run' or 'stop'")


def first_step(config_name: str) -> None:
    """Import, build and run one training step; print the phase times (the cold-start probe)."""
    t0 = time.perf_counter()
    import autograd  # noqa: F401
    import minibert  # noqa: F401

    t1 = time.perf_counter()
    step = minibert_train(config_name)
    t2 = time.perf_counter()
    step()
    t3 = time.perf_counter()
    _answer({"import_s": t1 - t0, "build_s": t2 - t1, "first_step_s": t3 - t2})


# ---------------------------------------------------------------------------- parent side


def thread_env(threads: int, impl: str) -> dict:
    """The environment of a worker: every thread pool sized ``threads`` (OpenBLAS on one thread
    for ``minibert-blas1``).

    A torch worker gets OpenMP's default wait policy back (torch spins between parallel
    regions, which is faster when it has the cores to itself), not the passive one autograd
    sets in this process on import.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[var] = str(threads)
    if impl == "minibert-blas1":
        env["OPENBLAS_NUM_THREADS"] = "1"
    if IMPLS[impl][0] == "torch" and env.get("OMP_WAIT_POLICY") == "PASSIVE":
        del env["OMP_WAIT_POLICY"]
    return env


class Worker:
    """A model in its own process: ``run(n)`` times n steps, ``stop()`` returns its memory."""

    def __init__(self, impl: str, mode: str, config_name: str, threads: int):
        self.impl = impl
        command = [sys.executable, "-m", "benchmarks.model_workers", "worker", "--impl", impl,
                   "--mode", mode, "--config", config_name, "--threads", str(threads)]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=thread_env(threads, impl),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._read()  # {"ready": True} once the model is built

    def _read(self) -> dict:
        for line in self.process.stdout:
            if line.startswith(PROTOCOL_PREFIX):
                return json.loads(line[len(PROTOCOL_PREFIX) :])
        raise RuntimeError(
            f"benchmark worker {self.impl} exited with code {self.process.wait()}; its error "
            "is printed above"
        )

    def _ask(self, command: dict) -> dict:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._read()

    def run(self, n: int) -> list[list[float]]:
        return self._ask({"cmd": "run", "n": n})["times"]

    def stop(self) -> dict:
        answer = self._ask({"cmd": "stop"})
        self.process.wait(timeout=60)
        return answer

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def first_step_probe(config_name: str, cache_dir: str, threads: int) -> dict:
    """Seconds from a fresh interpreter to the end of its first training step, with Numba's
    cache in ``cache_dir`` (empty: everything compiles; filled: everything loads)."""
    env = {**thread_env(threads, "minibert"), "NUMBA_CACHE_DIR": cache_dir}
    command = [sys.executable, "-m", "benchmarks.model_workers", "first-step", "--config",
               config_name]  # fmt: skip
    t0 = time.perf_counter()
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900, check=True
    )
    wall = time.perf_counter() - t0
    lines = [line for line in done.stdout.splitlines() if line.startswith(PROTOCOL_PREFIX)]
    return {"wall_s": wall, **json.loads(lines[-1][len(PROTOCOL_PREFIX) :])}


def torch_available() -> bool:
    """Whether torch and transformers import here (the ``ref`` extra)."""
    import importlib.util

    return all(importlib.util.find_spec(name) for name in ("torch", "transformers"))


def measure_interleaved(
    workers: dict[str, Worker],
    steps: int,
    per_turn: int = 5,
    warmup: int = 2,
    pause_s=0.3,
    rewarm: int = 1,
) -> dict[str, list[list[float]]]:
    """``steps`` timed steps of every worker, taken in turns of ``per_turn``.

    The order of the turns rotates, so no model always runs right after the same neighbour;
    ``pause_s`` before each turn lets the previous worker's thread pools go to sleep (torch's
    OpenMP threads spin up to ~0.2 s after a parallel region). The first ``rewarm`` steps of
    each turn run untimed, for every model alike: after the pause the cores were idle, and on
    this VM waking one costs each thread hand-off ~0.3 ms until it is busy again (minibert's
    tiny forward measured 43, 31 and 25 ms for the first three steps after a 0.3 s pause and
    23.5 ms back to back; torch's 27, 26, 26 and 25.7). A training loop runs its steps back to
    back: the warm steps are the ones to compare, hence also five timed steps a turn, whose
    median is a warm one.
    """
    for worker in workers.values():
        worker.run(warmup)  # Numba compilation or cache load, first-touch page faults
    times: dict[str, list[list[float]]] = {impl: [] for impl in workers}
    names = list(workers)
    turn = 0
    while any(len(t) < steps for t in times.values()):
        for impl in names[turn % len(names) :] + names[: turn % len(names)]:
            if len(times[impl]) < steps:
                time.sleep(pause_s)
                if rewarm:
                    workers[impl].run(rewarm)
                times[impl].extend(workers[impl].run(min(per_turn, steps - len(times[impl]))))
        turn += 1
    return times


def blas_ceiling(n: int = 1024, runs: int = 7) -> float:
    """The best float32 GFLOP/s of ``np.matmul`` on an n x n square (this process's BLAS
    threads): what the achieved GFLOP/s of a model are compared with."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b  # warm-up: thread start, page faults
    best = min(_timed(lambda: a @ b) for _ in range(runs))
    return 2.0 * n**3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.model_workers")
    parser.add_argument("what", choices=["worker", "first-step"])
    parser.add_argument("--impl", choices=sorted(IMPLS), default="minibert")
    parser.add_argument("--mode", choices=["train", "infer"], default="train")
    parser.add_argument("--config", choices=sorted(CONFIGS), default="tiny")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.what == "first-step":
        first_step(args.config)
    else:
        serve(args.impl, args.mode, args.config, args.threads)


if __name__ == "__main__":
    main()
