"""Data-parallel pretraining: N ranks of batch b train exactly as one process of batch N x b.

The first tests need no MPI: the bucketing round trip, the row split, and the exactness argument
itself (the ranks' weighted gradients, computed in float64 in this process, add up to the
one-process gradient, dropout on). The MPI tests launch ``mpiexec -n 2`` on this machine and
are skipped, with the reason, where mpi4py or mpiexec is missing (``pip install -e '.[mpi]'``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from safetensors.numpy import load_file

from minibert import cli
from minibert.config import BertConfig
from minibert.data.dataset import DataConfig, PretrainingData
from minibert.modeling import BertForPreTraining
from minibert.tokenization import WordPieceTokenizer
from minibert.training.distributed import (
    RowWindow,
    flatten_into,
    plan_buckets,
    shard_batch,
    shard_dropout,
    shard_loss,
    unflatten,
)
from minibert.training.state import latest_checkpoint
from tests.helpers import ONE_THREAD

TINY = Path(__file__).resolve().parents[1] / "data" / "tiny_corpus.txt"
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")


@pytest.fixture(scope="module")
def tokenizer():
    return WordPieceTokenizer.train([TINY], vocab_size=600, show_progress=False)


def small_config(vocab_size: int) -> BertConfig:
    # Dropout on: the ranks must drop exactly what one process drops.
    return BertConfig(
        vocab_size=vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=48, hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
    )  # fmt: skip


# ---------------------------------------------------------------------------- no MPI needed
shapes = st.lists(st.lists(st.integers(1, 6), min_size=0, max_size=3), min_size=1, max_size=8)


@given(shapes=shapes, bucket_bytes=st.integers(4, 600), dtypes=st.lists(st.booleans(), max_size=8))
def test_buckets_hold_every_gradient_once_and_give_it_back_unchanged(shapes, bucket_bytes, dtypes):
    rng = np.random.default_rng(0)
    # A change of dtype closes a bucket: mix float32 and float64 parameters.
    kinds = [
        np.float64 if i < len(dtypes) and dtypes[i] else np.float32 for i in range(len(shapes))
    ]
    params = [rng.standard_normal(s).astype(k) for s, k in zip(shapes, kinds, strict=True)]
    grads = [rng.standard_normal(p.shape).astype(p.dtype) if i % 3 else None
             for i, p in enumerate(params)]  # fmt: skip
    buckets = plan_buckets(params, bucket_bytes)
    indices = [index for b in buckets for index, _, _ in b.slots]
    assert indices == list(range(len(params))), "every parameter once, in order"
    for bucket in buckets:
        assert len({params[i].dtype for i, _, _ in bucket.slots}) == 1
        assert bucket.buffer.dtype == params[bucket.slots[0][0]].dtype
        if len(bucket.slots) > 1:  # only a lone, large parameter may exceed the bucket size
            assert bucket.buffer.nbytes <= bucket_bytes
    restored = {}
    for bucket in buckets:
        flatten_into(bucket, grads)
        restored.update(unflatten(bucket, [p.shape for p in params]))
    for index, grad in enumerate(grads):
        expected = np.zeros_like(params[index]) if grad is None else grad
        assert restored[index].dtype == params[index].dtype
        np.testing.assert_array_equal(restored[index], expected)


def test_a_few_large_buckets_for_a_bert():
    model = BertForPreTraining(BertConfig.preset("tiny", vocab_size=8192))
    params = [p.data for p in model.parameters()]
    buckets = plan_buckets(params)  # 4 MB each
    total = sum(p.nbytes for p in params)
    assert len(buckets) == -(-total // (4 * 2**20))  # ceil(5.7 MB / 4 MB) = 2 calls, not 46
    assert len(params) > 10 * len(buckets)


def _global_batch(tokenizer, rows: int) -> dict:
    data = PretrainingData(
        [TINY], tokenizer, DataConfig(max_seq_length=48, batch_size=rows), seed=2
    )
    return next(data.epoch_batches(0))


@pytest.mark.parametrize("world_size", [2, 3, 7])
def test_the_shards_put_back_together_are_the_global_batch(tokenizer, world_size):
    batch = _global_batch(tokenizer, 6)
    shards = [shard_batch(batch, r, world_size) for r in range(world_size)]
    real = [(local, s) for local, s in shards if s.stop > s.start]
    for name, array in batch.items():
        np.testing.assert_array_equal(np.concatenate([local[name] for local, _ in real]), array)
    assert sum(s.mlm_weight for _, s in shards) == pytest.approx(1.0, abs=1e-12)
    assert sum(s.nsp_weight for _, s in shards) == pytest.approx(1.0, abs=1e-12)
    for local, s in shards:  # 7 ranks, 6 rows: one rank computes row 0 with weight 0
        if s.stop == s.start:
            assert s.mlm_weight == s.nsp_weight == 0 and len(local["input_ids"]) == 1


def _gradients(model) -> dict[str, np.ndarray]:
    return {name: p.grad.copy() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("world_size", [2, 3, 7])
def test_the_ranks_weighted_gradients_add_up_to_the_one_process_gradient(tokenizer, world_size):
    # In float64 the sum over ranks equals the one-process gradient to round-off: this is the
    # exactness argument of minibert.training.distributed, checked without MPI. 6 rows over 7
    # ranks include an empty shard; over 2 ranks the shards have different masked-token counts.
    batch = _global_batch(tokenizer, 6)
    config = small_config(len(tokenizer))
    one = BertForPreTraining(config, seed=1).double()
    start = one.dropout_generator.bit_generator.state
    one(**batch).loss.backward()
    expected = _gradients(one)

    ranks = BertForPreTraining(config, seed=1).double()
    window = RowWindow()
    assert shard_dropout(ranks, window) == 4  # embeddings, attention probs, two residuals
    naive = {}
    for rank in range(world_size):
        # every rank's dropout generator starts where the one-process run's starts
        ranks.dropout_generator.bit_generator.state = start
        local, shard = shard_batch(batch, rank, world_size)
        window.start, window.rows = (shard.start if shard.stop > shard.start else 0), shard.rows
        out = ranks(**local)
        shard_loss(out, shard).backward()
        if shard.stop > shard.start:
            naive[rank] = (
                out.loss,
                shard,
            )  # what "average the ranks' own losses" would differentiate
    summed = _gradients(ranks)
    assert summed.keys() == expected.keys()
    for name in expected:
        np.testing.assert_allclose(summed[name], expected[name], rtol=1e-9, atol=1e-12,
                                   err_msg=name)  # fmt: skip

    # The weighting matters: the plain mean of the ranks' losses has another gradient.
    ranks.zero_grad()
    assert len({shard.masked for _, shard in naive.values()}) > 1  # unequal shares of tokens
    for loss, _ in naive.values():
        (loss * (1.0 / len(naive))).backward()
    differences = [np.abs(g - expected[n]).max() for n, g in _gradients(ranks).items()]
    assert max(differences) > 1e-4


def test_distributed_without_mpi4py_says_what_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py now raises ImportError
    code = cli.main(["pretrain", "--distributed", "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert "pip install 'minibert[mpi]'" in err and "mpiexec" in err
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------- 2 ranks
def _mpi_missing() -> str | None:
    try:
        import mpi4py  # noqa: F401  (the package only: MPI itself starts in the launched ranks)
    except ImportError:
        return "mpi4py is not installed (pip install -e '.[mpi]')"
    if MPIEXEC is None:
        return "no mpiexec on PATH (the mpich wheel of the mpi extra brings one)"
    return None


needs_mpi = pytest.mark.skipif(_mpi_missing() is not None, reason=str(_mpi_missing()))
STEPS, ROWS = 6, 4
# One BLAS/Numba thread per rank: two ranks on two cores, no oversubscription.
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", **ONE_THREAD}


@pytest.fixture(scope="module")
def files(tmp_path_factory, tokenizer):
    root = tmp_path_factory.mktemp("dp")
    tokenizer.save_pretrained(root / "tokenizer")
    small_config(len(tokenizer)).save(root / "config.json")
    return root


def pretrain_command(files: Path, out: Path, batch_size: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "minibert.cli", "pretrain", "--corpus", str(TINY),
        "--tokenizer", str(files / "tokenizer"), "--config", str(files / "config.json"),
        "--steps", str(STEPS), "--batch-size", str(batch_size), "--max-seq-length", "48",
        "--warmup-steps", "2", "--lr", "2e-3", "--save-every", "3", "--eval-every", "0",
        "--seed", "3", "--quiet", "--out", str(out), *extra,
    ]  # fmt: skip


def run(command: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    result = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def weights(out: Path) -> dict[str, np.ndarray]:
    return load_file(str(out / "model" / "model.safetensors"))


@pytest.fixture(scope="module")
def two_rank_run(files):
    """One process of batch 2b, and 2 ranks of batch b whose rank 1 was given its own --out."""
    one = files / "one"
    run(pretrain_command(files, one, 2 * ROWS))
    two, elsewhere = files / "two", files / "rank1-out"
    # MPMD launch: the same program, but rank 1 is told another --out, so any file it wrote
    # would show up there.
    rank = [*pretrain_command(files, two, ROWS, "--distributed")]
    other = [*pretrain_command(files, elsewhere, ROWS, "--distributed")]
    result = run([MPIEXEC, "-n", "1", *rank, ":", "-n", "1", *other])
    return one, two, elsewhere, result


@needs_mpi
def test_two_ranks_of_batch_b_equal_one_process_of_batch_2b(two_rank_run, files, tokenizer):
    one, two, _, _ = two_rank_run
    expected, actual = weights(one), weights(two)
    initial = BertForPreTraining(small_config(len(tokenizer)), seed=3).state_dict()
    assert actual.keys() == expected.keys()
    # Tolerance: the ranks add their rows' gradients in another order than one process's
    # matmuls do (float32 sums, ~1e-7 relative), and AdamW passes that noise on, divided by
    # sqrt(v). Measured after 6 steps: at most 1.7e-7; the weights moved by up to 6e-3 (a
    # wrong weighting or dropout mask moves them by ~1e-3 from the one-process run).
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], rtol=0, atol=2e-6, err_msg=name)
    moved = max(np.abs(expected[n] - initial[n].data).max() for n in expected if n in initial)
    assert moved > 1e-3  # the tolerance is far below what training changed
    summaries = [json.loads((out / "summary.json").read_text()) for out in (one, two)]
    assert summaries[1]["loss"] == pytest.approx(summaries[0]["loss"], rel=1e-5)
    assert summaries[1]["mlm_loss"] == pytest.approx(summaries[0]["mlm_loss"], rel=1e-5)


@needs_mpi
def test_only_rank_0_writes(two_rank_run):
    _, two, elsewhere, result = two_rank_run
    assert not elsewhere.exists(), f"rank 1 wrote {sorted(elsewhere.rglob('*'))}"
    assert (two / "model" / "model.safetensors").is_file()
    assert latest_checkpoint(two).name == f"step-{STEPS:07d}"
    assert result.stdout.count("pretraining 32,") == 1  # rank 0 alone speaks
    state = json.loads((latest_checkpoint(two) / "trainer_state.json").read_text())
    assert state["world_size"] == 2 and state["global_batch_size"] == 2 * ROWS


@needs_mpi
def test_two_ranks_resume_to_the_same_weights_bit_for_bit(two_rank_run, files):
    _, two, _, _ = two_rank_run
    resumed = files / "resumed"
    shutil.copytree(two, resumed)
    # Go back to the step-3 checkpoint, as if the run had been killed after it.
    shutil.rmtree(resumed / "checkpoints" / f"step-{STEPS:07d}")
    shutil.rmtree(resumed / "model")
    (resumed / "checkpoints" / "latest").write_text("step-0000003\n")
    run([MPIEXEC, "-n", "2", *pretrain_command(files, resumed, ROWS, "--distributed", "--resume")])
    expected, actual = weights(two), weights(resumed)
    for name in expected:  # the same ranks sum in the same order: equal bit for bit
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)
    # A different global batch would read other examples at the saved data position.
    refused = subprocess.run(
        [MPIEXEC, "-n", "2", *pretrain_command(files, resumed, ROWS + 1, "--distributed",
                                                "--resume")],
        env=ENV, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert refused.returncode != 0 and "global batch of 8 rows" in refused.stderr


def _rank_pid(launcher: subprocess.Popen, rank: int) -> int | None:
    """The pid of ``rank`` among the launcher's descendants (PMI_RANK in its environment)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            ancestors, pid = [], int(proc.name)
            while pid > 1 and len(ancestors) < 8:
                pid = int(
                    (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
                ancestors.append(pid)
        except (OSError, ValueError, IndexError):
            continue
        if launcher.pid in ancestors and f"PMI_RANK={rank}".encode() in environ:
            return int(proc.name)
    return None


def _start_and_stop_rank_1(files: Path, out: Path, sig: int, timeout_s: float):
    command = pretrain_command(files, out, ROWS, "--distributed", "--collective-timeout",
                               str(timeout_s))  # fmt: skip
    command[command.index("--steps") + 1] = "100000"
    command[command.index("--save-every") + 1] = "1"
    launcher = subprocess.Popen([MPIEXEC, "-n", "2", *command], env=ENV, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 120
    while latest_checkpoint(out) is None and launcher.poll() is None:
        assert time.monotonic() < deadline, "the 2-rank run did not reach its first checkpoint"
        time.sleep(0.05)
    victim = _rank_pid(launcher, 1)
    assert victim is not None, "rank 1's process was not found"
    os.kill(victim, sig)
    stopped = time.monotonic()
    try:
        _, err = launcher.communicate(timeout=timeout_s + 60)
    finally:
        if launcher.poll() is None:
            launcher.kill()
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return launcher.returncode, err, time.monotonic() - stopped


@needs_mpi
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux's /proc")
def test_a_hung_rank_stops_the_other_after_the_collective_timeout(files):
    # SIGSTOP: rank 1 neither works nor dies, as a rank on a lost machine; mpiexec sees nothing
    # wrong, so only rank 0's timeout can end the run.
    code, err, seconds = _start_and_stop_rank_1(files, files / "hung", signal.SIGSTOP, 3)
    assert code != 0
    assert (
        "rank 0 of 2: the gradient allreduce did not complete within --collective-timeout 3 s"
        in err
    )
    assert seconds < 3 + 45, f"the run took {seconds:.0f} s to stop"


@needs_mpi
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux's /proc")
def test_a_killed_rank_stops_the_run(files):
    # kill -9 on one machine: mpiexec notices the dead rank and ends the others (the timeout is
    # the back-stop where it cannot, as above).
    code, _, seconds = _start_and_stop_rank_1(files, files / "killed", signal.SIGKILL, 30)
    assert code != 0
    assert seconds < 30
