# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 14 · Data parallel: one model, several processes
#
# When one machine is too slow, we run N copies of the training program (MPI calls them
# **ranks**), give each a slice of every batch, and add up their gradients before every step.
# The addition is an **allreduce**: every rank puts in an array and gets back the sum of all of
# them. If it is done right, N ranks of batch b train *exactly* as one process of batch N x b:
# same examples, same gradient, same weights, up to float32 round-off.
#
# **Goals.** By the end you can
#
# 1. say what an allreduce computes, and run a **ring allreduce** by hand on NumPy arrays,
#    counting what every rank sends: 2(N-1)/N of the data, whatever N;
# 2. predict an allreduce's time from two measured numbers (latency and bandwidth), for more
#    ranks and bigger models;
# 3. explain why summing the ranks' gradients gives the big batch's gradient, and why a plain
#    average of the ranks' losses is *wrong* for BERT's MLM loss (a mean over masked tokens);
# 4. see how dropout stays identical when the batch is cut into slices;
# 5. launch `mpiexec -n 2 minibert pretrain --distributed` and check that its weights equal
#    those of one process with twice the batch.
#
# **Prerequisites.** Tutorials 07 (batches, masks) and 08 (the pretraining loop). The last
# section needs the `mpi` extra (`pip install -e '.[mpi]'`: mpi4py and the mpich wheel, which
# brings `mpiexec`); without it, that section says so and the rest runs.
#
# **Run time.** About 20 seconds as a script
# (`.venv/bin/python tutorials/14_data_parallel.py`), most of it the two small training runs.

# %%
from course import pyplot, save_figure, use_one_thread  # tutorials/course.py

# One BLAS/Numba thread per process: two ranks on two cores (see tutorial 08 for why).
use_one_thread()

import shutil  # noqa: E402  (the thread settings above must come first)
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import autograd as ag  # noqa: E402

rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. What an allreduce computes
#
# Four ranks each hold a gradient (here 12 numbers). After the allreduce, *every* rank holds
# their sum. The obvious way, "send everything to rank 0, add, send the sum back", makes
# rank 0 receive and send N - 1 whole arrays: its link is the bottleneck, and it gets worse
# with every rank added.

# %%
N = 4
gradients = [rng.standard_normal(12) for _ in range(N)]  # one (12,) array per rank
expected = np.sum(gradients, axis=0)  # what every rank must end with
print("rank 0's gradient:", np.round(gradients[0], 2))
print("the sum          :", np.round(expected, 2))

# %% [markdown]
# ## 2. The ring allreduce, step by step
#
# The ranks stand in a ring; rank r only ever sends to rank r + 1. Each array is cut into N
# chunks.
#
# - **Reduce-scatter** (N - 1 steps): at step s, rank r sends chunk (r - s) mod N to its
#   neighbour, which adds it to its own copy. A chunk travels around the ring collecting one
#   rank's contribution per step; after N - 1 steps rank r holds the *complete* sum of chunk
#   (r + 1) mod N.
# - **Allgather** (N - 1 steps): the complete chunks travel around the ring once more, and
#   each rank overwrites its copy.
#
# Every step, every rank sends one chunk (1/N of the array) at the same time as all the
# others, so all links are busy and none carries more than its share.


# %%
def ring_allreduce(arrays: list[np.ndarray], verbose: bool = False):
    """Sum ``arrays`` (one per rank) the ring's way; returns every rank's result and the
    number of elements each rank sent.

    Shapes:
        arrays: N arrays (n,); returns N arrays (n,) and N counts.
    """
    n_ranks = len(arrays)
    chunks = [np.array_split(a.astype(np.float64), n_ranks) for a in arrays]  # [rank][chunk]
    sent = [0] * n_ranks
    for phase in ("reduce-scatter", "allgather"):
        for s in range(n_ranks - 1):
            # Everyone sends at once: take all the messages before anyone receives.
            first = -s if phase == "reduce-scatter" else 1 - s
            messages = [((r + first) % n_ranks, chunks[r][(r + first) % n_ranks].copy())
                        for r in range(n_ranks)]  # fmt: skip
            for r, (c, data) in enumerate(messages):
                receiver = (r + 1) % n_ranks
                if phase == "reduce-scatter":
                    chunks[receiver][c] = chunks[receiver][c] + data  # add its contribution
                else:
                    chunks[receiver][c] = data  # a finished chunk: copy it
                sent[r] += data.size
            if verbose:
                print(f"{phase} step {s}: rank r sent chunk {[c for c, _ in messages]}[r]")
    return [np.concatenate(c) for c in chunks], sent


results, sent = ring_allreduce(gradients, verbose=True)
for r in range(N):
    np.testing.assert_allclose(results[r], expected, rtol=1e-12)
print("elements each rank sent:", sent, "of", gradients[0].size, "per array")

# %% [markdown]
# **Checkpoint.** Every rank has the sum, and each sent 2(N - 1)/N times the array's size:
# 2 x 3/4 x 12 = 18 elements. However many ranks, a rank never sends more than twice its
# gradient. (With `np.array_split` the chunks may differ by one element; the count is exact
# when N divides the size.)

# %%
for n_ranks in (2, 3, 5, 8):
    arrays = [rng.standard_normal(120) for _ in range(n_ranks)]  # 120: N divides it
    results, sent = ring_allreduce(arrays)
    assert all(np.allclose(x, np.sum(arrays, axis=0)) for x in results)
    assert sent == [2 * (n_ranks - 1) * 120 // n_ranks] * n_ranks, sent
print("ring allreduce: correct for 2, 3, 5 and 8 ranks; 2(N-1)/N of the data sent per rank")

# %% [markdown]
# ## 3. A cost model you can use
#
# A message of S bytes takes about $\alpha + S / \beta$: a fixed **latency** $\alpha$ and the
# link's **bandwidth** $\beta$. The ring makes 2(N - 1) steps of S/N bytes each, so
#
# $$ t_\text{allreduce}(N, S) \approx 2(N-1)\,\alpha + \frac{2(N-1)}{N}\,\frac{S}{\beta}. $$
#
# The bandwidth term barely grows with N (it tends to 2S/β); the latency term grows linearly.
# That is why minibert sends the gradients in a few large **buckets** (about 4 MB each) rather
# than one message per parameter: BERT-tiny has 46 parameter arrays, so one call each would pay
# the latency 46 times over.
#
# `make bench` measures both numbers on your machine (`--only distributed`). On our 2-core
# reference machine two ranks (shared memory, no network) took 2.9 us to allreduce 8 bytes
# (two steps of the ring: α ≈ 1.5 us) and at best 1.07 ms for 6 MB (β ≈ 6 GB/s); see
# `docs/data_parallel.md` for the whole measurement.

# %%
ALPHA = 1.5e-6  # s, latency of one ring step (2 ranks on one machine, shared memory)
BETA = 6e9  # bytes/s, bandwidth of one ring step (the same)


def allreduce_seconds(n_ranks: int, nbytes: float, alpha: float = ALPHA, beta: float = BETA):
    """The ring model's time for one allreduce of ``nbytes`` over ``n_ranks`` ranks."""
    if n_ranks == 1:
        return 0.0
    return 2 * (n_ranks - 1) * alpha + 2 * (n_ranks - 1) / n_ranks * nbytes / beta


tiny_bytes = 1.5e6 * 4  # BERT-tiny: 1.5M float32 gradients
base_bytes = 110e6 * 4  # BERT-base: 110M
for n_ranks in (2, 4, 8, 64):
    print(
        f"N = {n_ranks:2d}: tiny {allreduce_seconds(n_ranks, tiny_bytes) * 1e3:6.1f} ms, "
        f"base {allreduce_seconds(n_ranks, base_bytes) * 1e3:7.1f} ms a step"
    )

# %%
plt = pyplot()  # None without matplotlib: no picture (the numbers above say the same)
if plt is not None:
    ranks_axis = np.arange(2, 65)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for label, nbytes in (("BERT-tiny (6 MB)", tiny_bytes), ("BERT-base (440 MB)", base_bytes)):
        ax.plot(ranks_axis, [allreduce_seconds(n, nbytes) * 1e3 for n in ranks_axis], label=label)
    ax.set_yscale("log")
    ax.set_xlabel("ranks N")
    ax.set_ylabel("allreduce per step (ms)")
    ax.set_title(f"ring allreduce, alpha = {ALPHA * 1e6:.1f} us, beta = {BETA / 1e9:.0f} GB/s")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, "14_allreduce_cost.png")

# %% [markdown]
# Across machines, $\beta$ is the network's (1.25 GB/s for 10 Gbit Ethernet) and $\alpha$
# tens of microseconds: plug them in to see whether a step's compute time hides the
# allreduce. For BERT-base on 10 Gbit Ethernet, 2S/β alone is about 0.7 s a step; for
# BERT-tiny, whose step takes about 0.3 s here, 10 ms.
#
# ## 4. Why summing gradients equals the big batch
#
# The gradient is linear: the gradient of a sum of losses is the sum of their gradients. If
# the loss is a **mean** over B rows and every rank holds B/N rows, the mean of the ranks'
# gradients is the big batch's gradient. A least-squares toy, in NumPy:

# %%
X, y, w = rng.standard_normal((8, 3)), rng.standard_normal(8), rng.standard_normal(3)


def mean_squared_error_gradient(X, y, w):
    """d/dw of mean((X w - y)^2). Shapes: X (B, 3), y (B,), w (3,) -> (3,)."""
    return 2 * X.T @ (X @ w - y) / len(y)


big_batch = mean_squared_error_gradient(X, y, w)
halves = [mean_squared_error_gradient(X[s], y[s], w) for s in (slice(0, 4), slice(4, 8))]
assert np.allclose(np.mean(halves, axis=0), big_batch)
print("2 equal shards: the mean of their gradients is the big batch's gradient")

# %% [markdown]
# Now cut the batch **unequally**, 5 rows and 3. The plain mean of the two gradients weighs
# each of the 3 rows more than each of the 5; the right combination weighs each shard by its
# share of the rows:

# %%
shards = [slice(0, 5), slice(5, 8)]
parts = [mean_squared_error_gradient(X[s], y[s], w) for s in shards]
plain = np.mean(parts, axis=0)
weighted = sum(part * (len(y[s]) / len(y)) for part, s in zip(parts, shards, strict=True))
print("plain mean   off by", np.abs(plain - big_batch).max())
print("weighted sum off by", np.abs(weighted - big_batch).max())
assert np.allclose(weighted, big_batch) and not np.allclose(plain, big_batch)

# %% [markdown]
# BERT's rows are equal, but its MLM loss is a mean over **masked tokens**, and two ranks'
# rows rarely hold the same number of them (a short row has fewer). So rank r back-propagates
# `mlm_r * M_r / M + nsp_r * B_r / B` (M_r of the batch's M masked tokens, B_r of its B rows)
# and the ranks' gradients are *summed*. Every rank reads the whole global batch (it is cheap
# to make) and keeps its rows, so it knows M without asking the others.
# `minibert.training.distributed` does exactly that; here it is on a real batch, in float64
# so that round-off cannot hide a mistake, two "ranks" run one after the other:

# %%
from minibert.cli_pretraining import embedded_corpus  # noqa: E402
from minibert.config import BertConfig  # noqa: E402
from minibert.data.dataset import DataConfig, PretrainingData  # noqa: E402
from minibert.modeling import BertForPreTraining  # noqa: E402
from minibert.tokenization import WordPieceTokenizer  # noqa: E402
from minibert.training.distributed import (  # noqa: E402
    RowWindow,
    shard_batch,
    shard_dropout,
    shard_loss,
)

corpus = embedded_corpus("heldout")  # 50 KB of the Jargon File: quick to tokenize
tokenizer = WordPieceTokenizer.train([corpus], vocab_size=1000, show_progress=False)
config = BertConfig(
    vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
    intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1,
)  # fmt: skip
data = PretrainingData([corpus], tokenizer, DataConfig(max_seq_length=64, batch_size=8), seed=0)
batch = next(data.epoch_batches(0))  # the global batch: (8, T) arrays

one = BertForPreTraining(config, seed=0).double()
start = one.dropout_generator.bit_generator.state  # every rank's generator starts here too
one(**batch).loss.backward()
reference = {n: p.grad.copy() for n, p in one.named_parameters() if p.grad is not None}

two = BertForPreTraining(config, seed=0).double()
window = RowWindow()
shard_dropout(two, window)  # section 5
for rank in range(2):
    two.dropout_generator.bit_generator.state = start
    local, shard = shard_batch(batch, rank, 2)  # rows [4 r, 4 r + 4)
    window.start, window.rows = shard.start, shard.rows
    print(f"rank {rank}: rows {shard.start}-{shard.stop - 1}, {shard.masked} of "
          f"{shard.total_masked} masked tokens, MLM weight {shard.mlm_weight:.3f}")  # fmt: skip
    shard_loss(two(**local), shard).backward()  # gradients add up in .grad
worst = max(
    np.abs(p.grad - reference[n]).max() for n, p in two.named_parameters() if n in reference
)
print(f"largest difference from the one-process gradient: {worst:.1e}")
assert worst < 1e-12

# %% [markdown]
# ## 5. Dropout, cut into slices
#
# Dropout draws a random mask, and the two ranks above dropped *the same* entries as the one
# process. Our masks are counter-based: one number is drawn from the generator per call, and
# element i of the tensor is kept or dropped by a hash of (that number, i). Every rank's
# generator draws the same numbers, so `RowShardedDropout` draws the mask of the global tensor
# and keeps its rows:

# %%
from minibert.training.distributed import RowShardedDropout  # noqa: E402

ones = np.ones((4, 6))  # a global batch of 4 rows; with 2 ranks, 2 rows each
global_mask = ag.dropout(ag.tensor(ones), 0.5, np.random.default_rng(7)).data  # one process
rank_masks = []
for r in range(2):
    layer = RowShardedDropout(0.5, RowWindow(start=2 * r, rows=4),
                              generator=np.random.default_rng(7))  # fmt: skip
    rank_masks.append(layer(ag.tensor(ones[2 * r : 2 * r + 2])).data)  # (2, 6): rank r's rows
local = ag.dropout(ag.tensor(ones[2:4]), 0.5, np.random.default_rng(7)).data  # a (2, 6) mask
print("one process:\n", global_mask)
print("rank 1 with RowShardedDropout:\n", rank_masks[1])
print("rank 1 with a plain (2, 6) mask:\n", local)
assert np.array_equal(np.concatenate(rank_masks), global_mask)
assert np.array_equal(local, global_mask[:2]) and not np.array_equal(local, global_mask[2:])

# %% [markdown]
# A plain mask for rank 1's (2, 6) slice hashes counters 0..11, the counters of the
# one-process run's rows 0 and 1: the same *distribution* of dropped entries, but other
# entries, and the equality with one process would be lost.
#
# ## 6. The real thing: two processes
#
# `minibert pretrain --distributed`, launched by `mpiexec -n 2`, runs two ranks. Each reads
# the same global batches of 2 x `--batch-size` rows, computes its rows, and the gradients
# travel in ~4 MB buckets through `MPI_Iallreduce`. Rank 0 alone writes checkpoints, logs and
# the progress bar. A rank that dies or hangs stops the others after `--collective-timeout`
# seconds instead of leaving them waiting forever.
#
# We train our small config for 12 steps twice: one process with batch 16, and two ranks with
# batch 8 each; then compare the weights.

# %%
from safetensors.numpy import load_file  # noqa: E402

mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
try:
    import mpi4py  # noqa: F401  (MPI itself starts in the launched ranks)
except ImportError:
    mpiexec = None
workdir = Path(tempfile.mkdtemp(prefix="minibert-14-"))
tokenizer.save_pretrained(workdir / "tokenizer")
config.save(workdir / "config.json")


def pretrain_command(out: Path, batch_size: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "minibert.cli", "pretrain", "--corpus", str(corpus),
        "--tokenizer", str(workdir / "tokenizer"), "--config", str(workdir / "config.json"),
        "--steps", "12", "--batch-size", str(batch_size), "--max-seq-length", "64",
        "--warmup-steps", "2", "--lr", "2e-3", "--eval-every", "0", "--save-every", "6",
        "--quiet", "--out", str(out), *extra,
    ]  # fmt: skip


if mpiexec is None:
    print("MPI is not installed (pip install -e '.[mpi]'): skipping the 2-process run")
else:
    single = subprocess.run(pretrain_command(workdir / "one", 16), capture_output=True,
                            text=True, check=True)  # fmt: skip
    double = subprocess.run(
        [mpiexec, "-n", "2", *pretrain_command(workdir / "two", 8, "--distributed")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    print(double.stdout)  # one "pretraining ..." line: rank 1 is silent
    a = load_file(str(workdir / "one" / "model" / "model.safetensors"))
    b = load_file(str(workdir / "two" / "model" / "model.safetensors"))
    difference = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    print(f"largest weight difference after 12 steps: {difference:.1e}")
    assert double.stdout.count("pretraining") == 1
    assert difference < 5e-6  # float32: the ranks add their rows in another order

# %% [markdown]
# **Checkpoint.** The weights agree to about 1e-7: float32 round-off, because the two ranks add
# up their rows' gradients in another order than one process's matmuls do. Nothing else
# differs: the examples, masks, dropout and loss weights are the same.
#
# On several machines, the same command runs with a host file (`mpiexec -n 8 -f hosts ...`)
# and a directory all ranks can read (the checkpoints to resume from). See
# `docs/data_parallel.md` for the measured throughput on this machine and how to predict it
# on yours.
#
# ## Summary
#
# - An allreduce leaves the sum of every rank's array on every rank. The ring does it with
#   each rank sending 2(N-1)/N of the data: $t \approx 2(N-1)\alpha + 2\frac{N-1}{N}S/\beta$.
# - Few large buckets pay the latency α a few times a step, not once per parameter.
# - N ranks of batch b equal one process of batch N x b when the ranks split the same global
#   batch and weigh their losses by their share (masked tokens for MLM, rows for NSP), and
#   draw the global batch's dropout masks.
#
# ## Exercises
#
# Run the next cell to define the checks; write your answer; un-comment its `check_...` line.
# The solutions are in the last cell.


# %%
def check_exercise_1(tree_allreduce) -> None:
    """tree_allreduce(arrays) -> (results, sent) against np.sum, for several rank counts."""
    for n_ranks in (2, 4, 8):
        arrays = [np.random.default_rng(n_ranks + r).standard_normal(16) for r in range(n_ranks)]
        results, sent = tree_allreduce(arrays)
        for x in results:
            np.testing.assert_allclose(x, np.sum(arrays, axis=0), rtol=1e-12)
        assert max(sent) == 16 * 2 * int(np.log2(n_ranks)), (n_ranks, sent)
    print("exercise 1: correct; the busiest rank sends 2 log2(N) whole arrays, not 2(N-1)/N")


def check_exercise_2(ranks_to_hide) -> None:
    """ranks_to_hide(compute_s, nbytes) against a brute-force search with our model."""
    for compute_s, nbytes in ((0.3, tiny_bytes), (0.05, base_bytes), (1.0, base_bytes)):
        brute = max((n for n in range(2, 1025) if allreduce_seconds(n, nbytes) <= compute_s / 10),
                    default=1)  # fmt: skip
        assert ranks_to_hide(compute_s, nbytes) == brute, (compute_s, nbytes, brute)
    print("exercise 2: correct")


def check_exercise_3(loss_weights) -> None:
    """loss_weights(batch, world_size) against shard_batch's."""
    for world_size in (2, 3, 9):
        expected = [shard_batch(batch, r, world_size)[1] for r in range(world_size)]
        got = loss_weights(batch, world_size)
        assert np.allclose(got, [(s.mlm_weight, s.nsp_weight) for s in expected]), world_size
    print("exercise 3: correct")


# %% [markdown]
# **Exercise 1.** Write `tree_allreduce(arrays)` for a power-of-two number of ranks: add
# pairwise up a binary tree to rank 0 (rank r + 2^k sends its whole array to rank r), then send
# the sum back down the same tree. Return every rank's result and the number of elements each
# rank *sent or received* (count both: the busiest rank's link is the limit). Compare with the
# ring.


# %%
def tree_allreduce(arrays):
    raise NotImplementedError("exercise 1: your code here")


# check_exercise_1(tree_allreduce)

# %% [markdown]
# **Exercise 2.** Write `ranks_to_hide(compute_s, nbytes)`: the largest N (up to 1024) for
# which our model's allreduce takes at most a tenth of a step's compute time `compute_s`; 1 if
# even N = 2 is too many. (`allreduce_seconds` grows with N, so a loop will do.)


# %%
def ranks_to_hide(compute_s: float, nbytes: float) -> int:
    raise NotImplementedError("exercise 2: your code here")


# check_exercise_2(ranks_to_hide)

# %% [markdown]
# **Exercise 3.** Write `loss_weights(batch, world_size)`: for each rank, the pair (MLM weight,
# NSP weight) of section 4, with rows split as `shard_batch` splits them (rank r gets rows
# [r B / N, (r + 1) B / N)). With 9 ranks and 8 rows one rank gets none: its weights are 0.


# %%
def loss_weights(batch: dict, world_size: int) -> list[tuple[float, float]]:
    raise NotImplementedError("exercise 3: your code here")


# check_exercise_3(loss_weights)

# %% [markdown]
# ---
# ## Solutions
#
# *Spoilers below.* This cell runs when the tutorial runs as a script, so the tutorial checks
# its own exercises.


# %%
def tree_allreduce_solution(arrays):
    n_ranks = len(arrays)
    values = [a.astype(np.float64).copy() for a in arrays]
    traffic = [0] * n_ranks
    step = 1
    while step < n_ranks:  # up the tree: rank r + step sends to rank r
        for r in range(0, n_ranks, 2 * step):
            values[r] = values[r] + values[r + step]
            traffic[r] += values[r].size
            traffic[r + step] += values[r].size
        step *= 2
    while step > 1:  # down the tree: rank r sends the sum to rank r + step / 2
        step //= 2
        for r in range(0, n_ranks, 2 * step):
            values[r + step] = values[r].copy()
            traffic[r] += values[r].size
            traffic[r + step] += values[r].size
    return values, traffic


def ranks_to_hide_solution(compute_s: float, nbytes: float) -> int:
    best = 1
    for n_ranks in range(2, 1025):
        if allreduce_seconds(n_ranks, nbytes) <= compute_s / 10:
            best = n_ranks
    return best


def loss_weights_solution(batch: dict, world_size: int) -> list[tuple[float, float]]:
    masked = batch["labels"] != -100  # (B, T)
    rows = len(masked)
    weights = []
    for r in range(world_size):
        start, stop = r * rows // world_size, (r + 1) * rows // world_size
        weights.append((masked[start:stop].sum() / masked.sum(), (stop - start) / rows))
    return weights


check_exercise_1(tree_allreduce_solution)
check_exercise_2(ranks_to_hide_solution)
check_exercise_3(loss_weights_solution)
shutil.rmtree(workdir, ignore_errors=True)
