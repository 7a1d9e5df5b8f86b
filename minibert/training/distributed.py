"""Data-parallel pretraining over MPI: N processes (ranks) train one model as if they were one.

Every rank builds the same model from the same seed and reads the same stream of *global*
batches of N x b rows (``DataConfig.batch_size`` is the global batch); rank r keeps its own b
rows, computes the gradient of its share of the global loss, and one allreduce sums the shares,
so every rank holds the gradient one process would have computed for the whole global batch.
Each rank then clips and steps its own, identical, AdamW. Why this split and not "rank r takes
batches r, r + N, ...": the global batch is then exactly the one-process batch (the same pairs,
masks and padding, drawn from the same ``(seed, epoch, index)``), which is what makes N ranks of
batch b equal one process of batch N x b. Making the batch costs each rank the whole global
batch's masking; the model's forward and backward, the real cost, run on b rows.

Three details keep the equivalence exact:

- **The loss weights.** One process averages the MLM loss over the M masked tokens of the whole
  batch and the NSP loss over its B rows. Rank r's own mean over its M_r tokens is not 1/N of
  that when the ranks hold different numbers of masked tokens, so rank r back-propagates
  ``mlm_r * M_r / M + nsp_r * B_r / B`` and the ranks' gradients are *summed*: the sum is the
  gradient of the global loss. (Every rank holds the global batch, so M needs no communication.)
- **Dropout.** Our masks are counter-based: element i of a tensor is kept or dropped by a hash
  of (one draw from the generator, i). Every rank's generator makes the same draws, and
  ``RowShardedDropout`` draws the mask of the global tensor and keeps the rank's rows, so a
  row is dropped exactly as it is in the one-process run.
- **A rank without rows.** The last, short batch of an epoch may have fewer rows than ranks. A
  rank with no rows runs the forward on one row with weight 0: its gradient is zero and its
  dropout generator draws what the others draw, so the ranks stay in step.

Gradients travel in a few large buckets (~4 MB), one non-blocking ``Iallreduce`` each, not one
call per parameter: a collective's fixed latency is paid a few times per step, not ~200 times.
MPI has no timeout on a collective, so ``wait`` polls ``Testall`` against a deadline; when a
rank has died or hangs, the others print which rank timed out and ``Abort`` the job instead of
waiting forever.

Requires the ``mpi`` extra (mpi4py and the mpich wheel): ``pip install 'minibert[mpi]'``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
import zlib
from dataclasses import dataclass, field

import numpy as np

import autograd as ag
from autograd import nn
from minibert.data.pretraining import IGNORE_INDEX

BUCKET_BYTES = 4 * 2**20
# Seconds a failing rank waits between printing why and MPI_Abort, so that mpiexec forwards the
# message before the job is torn down.
ABORT_GRACE_S = 0.5
INSTALL_HINT = (
    "--distributed needs mpi4py and an MPI library: pip install 'minibert[mpi]' "
    "(mpi4py and the mpich wheel, which brings mpiexec), then run "
    "mpiexec -n 2 minibert pretrain --distributed ..."
)


def import_mpi():
    """``mpi4py.MPI`` (importing it initializes MPI), or an ImportError saying what to install."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error
    return MPI


# ------------------------------------------------------------------------------------ buckets
@dataclass
class Bucket:
    """One contiguous buffer that carries the gradients of several parameters in one allreduce.

    ``slots`` holds (parameter index, offset, size) per parameter, in the buffer's order.
    """

    buffer: np.ndarray
    slots: list[tuple[int, int, int]] = field(default_factory=list)


def plan_buckets(arrays, bucket_bytes: int = BUCKET_BYTES) -> list[Bucket]:
    """Group ``arrays`` (parameters, in order) into buckets of about ``bucket_bytes`` each.

    Arrays go in order; a bucket closes when the next array would take it past
    ``bucket_bytes`` or has another dtype (a buffer has one dtype). An array larger than
    ``bucket_bytes`` gets a bucket of its own.

    Shapes:
        arrays: any shapes; each bucket's buffer is 1-D, the sum of its arrays' sizes.
    """
    buckets, current, dtype, used = [], [], None, 0
    for index, array in enumerate(arrays):
        nbytes = array.size * array.dtype.itemsize
        if current and (array.dtype != dtype or used + nbytes > bucket_bytes):
            buckets.append(_bucket(current, dtype))
            current, used = [], 0
        current.append((index, array.size))
        dtype, used = array.dtype, used + nbytes
    if current:
        buckets.append(_bucket(current, dtype))
    return buckets


def _bucket(members: list[tuple[int, int]], dtype) -> Bucket:
    offsets = np.cumsum([0] + [size for _, size in members])
    slots = [(index, int(offsets[i]), size) for i, (index, size) in enumerate(members)]
    return Bucket(np.zeros(int(offsets[-1]), dtype=dtype), slots)


def flatten_into(bucket: Bucket, grads) -> None:
    """Copy the gradients of the bucket's parameters into its buffer (None counts as zeros).

    Shapes:
        grads: a list indexed like the parameters, each (*param.shape) or None.
    """
    for index, offset, size in bucket.slots:
        grad = grads[index]
        target = bucket.buffer[offset : offset + size]
        if grad is None:
            target[...] = 0
        else:
            target[...] = grad.reshape(-1)  # (*shape) -> (size,)


def unflatten(bucket: Bucket, shapes) -> dict[int, np.ndarray]:
    """The buffer cut back into one array per parameter (copies, so the buffer can be reused).

    Shapes:
        returns {parameter index: (*shapes[index])}.
    """
    return {
        index: bucket.buffer[offset : offset + size]
        .reshape(shapes[index])
        .copy()  # (size,) -> shape
        for index, offset, size in bucket.slots
    }


# --------------------------------------------------------------------------- batch sharding
@dataclass
class Shard:
    """Which rows of the global batch this rank computes, and its share of the global loss.

    ``start, stop``: the rows (``stop - start`` may be 0 on a short last batch); ``rows``: the
    global batch's B; ``masked``/``total_masked``: M_r and M, masked tokens in the shard and in
    the global batch.
    """

    start: int
    stop: int
    rows: int
    masked: int
    total_masked: int

    @property
    def mlm_weight(self) -> float:
        return self.masked / self.total_masked if self.total_masked else 0.0

    @property
    def nsp_weight(self) -> float:
        return (self.stop - self.start) / self.rows


def shard_batch(batch: dict, rank: int, world_size: int) -> tuple[dict, Shard]:
    """Rank ``rank``'s rows of a global batch, and their share of the loss.

    Rows are split as evenly as possible, in order (rank r gets rows [r B / N, (r + 1) B / N)),
    so the ranks' rows put back together are the global batch. Every array keeps the global
    batch's padded length T, so the dropout masks line up with the one-process run's. A rank
    whose share is empty gets row 0 and ``Shard.start == Shard.stop``: it must compute with
    weight 0 (see the module docstring).

    Shapes:
        batch: arrays (B, T) and ``next_sentence_label`` (B,); returns arrays (B_r, T), (B_r,).
    """
    rows = len(batch["input_ids"])
    start, stop = rank * rows // world_size, (rank + 1) * rows // world_size
    masked = batch["labels"] != IGNORE_INDEX  # (B, T)
    shard = Shard(start, stop, rows, int(masked[start:stop].sum()), int(masked.sum()))
    chosen = slice(start, stop) if stop > start else slice(0, 1)
    return {name: array[chosen] for name, array in batch.items()}, shard


def shard_loss(out, shard: Shard):
    """This rank's share of the global loss: ``mlm_r M_r / M + nsp_r B_r / B``.

    The ranks' shares add up to the one-process loss ``mlm + nsp`` (MLM averaged over the M
    masked tokens of the global batch, NSP over its B rows), so their gradients add up to its
    gradient; one process's ``out.loss`` is this with one shard of weight 1.
    """
    loss = out.mlm_loss * shard.mlm_weight
    if out.nsp_loss is not None:
        loss = loss + out.nsp_loss * shard.nsp_weight
    return loss


@dataclass
class RowWindow:
    """The rows of the global batch that the model is computing now; shared by every dropout."""

    start: int = 0
    rows: int = 0


class RowShardedDropout(nn.Dropout):
    """Dropout that drops exactly what the one-process run drops on the same rows.

    The mask of the global tensor (``window.rows`` rows) is drawn, with the one draw from the
    generator that ``nn.Dropout`` makes, and this rank keeps rows ``window.start`` onwards:
    counter-based masks make element i of the global tensor depend on i alone. It costs the
    whole global mask per call (N times the work of a local one), cheap next to the matmuls.

    Shapes:
        x (B_r, ...) -> (B_r, ...), with B_r + window.start <= window.rows.
    """

    def __init__(self, p: float, window: RowWindow, *, generator=None):
        super().__init__(p, generator=generator)
        self.window = window

    def forward(self, x):
        if not self.training or self.p in (0.0, 1.0):
            return super().forward(x)  # no mask is drawn: the same on every rank
        start, rows = self.window.start, self.window.rows
        full = np.ones((rows, *x.shape[1:]), dtype=x.data.dtype)  # (B, ...)
        mask = ag.dropout(ag.tensor(full), self.p, self.generator).data  # 1 x mask = mask
        return x * ag.tensor(mask[start : start + x.shape[0]])  # (B, ...) -> (B_r, ...)


def shard_dropout(model, window: RowWindow) -> int:
    """Replace every ``nn.Dropout`` of ``model`` by a ``RowShardedDropout`` reading ``window``.

    Returns:
        How many layers were replaced.
    """
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Dropout:  # a RowShardedDropout already is one: left alone
                layer = RowShardedDropout(child.p, window, generator=child.generator)
                layer.train(child.training)
                setattr(parent, name, layer)
                replaced += 1
    return replaced


@dataclass
class LossParts:
    """The global MLM and NSP losses of one micro-batch (what ``_mean_of`` in the loop reads)."""

    mlm_loss: np.float64 | None
    nsp_loss: np.float64 | None


# ------------------------------------------------------------------------------ the ranks
class DataParallel:
    """This process's place in a data-parallel run, and the collectives the loop needs.

    Args:
        collective_timeout: seconds a collective may wait for the other ranks before this rank
            declares one of them dead or hung and aborts the job.
        bucket_bytes: the size of a gradient bucket.
        comm: an mpi4py communicator (default ``MPI.COMM_WORLD``).
    """

    def __init__(
        self, collective_timeout: float = 300.0, bucket_bytes: int = BUCKET_BYTES, comm=None
    ):
        if collective_timeout <= 0:
            raise ValueError(f"--collective-timeout must be positive, got {collective_timeout}")
        self.MPI = import_mpi()
        self.comm = comm if comm is not None else self.MPI.COMM_WORLD
        self.rank, self.world_size = self.comm.Get_rank(), self.comm.Get_size()
        self.collective_timeout = collective_timeout
        self.bucket_bytes = bucket_bytes
        self.window = RowWindow()
        self.allreduce_seconds = 0.0  # time spent in collectives (waiting included)
        self._buckets: list[Bucket] | None = None
        self._parts: list[tuple[float, float | None]] = []

    @property
    def is_writer(self) -> bool:
        """Rank 0 alone writes checkpoints, logs, the progress bar and messages."""
        return self.rank == 0

    # ------------------------------------------------------------------------ set-up
    def prepare(self, model, args, train_data) -> None:
        """Shard the model's dropout; check that every rank starts from the same point.

        Raises:
            ValueError: on every rank, when the ranks' weights, arguments or data settings
                differ (launched with different command lines, say).
        """
        if self.world_size > 1:
            shard_dropout(model, self.window)
        fingerprint = np.array([_fingerprint(model, args, train_data)], dtype=np.int64)
        everyone = np.zeros(self.world_size, dtype=np.int64)
        self.wait([self.comm.Iallgather(fingerprint, everyone)], "the start-up check")
        odd = [r for r in range(self.world_size) if everyone[r] != everyone[0]]
        if odd:
            raise ValueError(
                f"rank(s) {odd} start from other weights, arguments or data settings than rank "
                "0; launch every rank with the same command line (and --resume from the same "
                "checkpoint)"
            )

    def trainer_state(self, train_data) -> dict:
        return {"world_size": self.world_size, "global_batch_size": train_data.config.batch_size}

    def check_resume(self, saved: dict, train_data) -> None:
        """Refuse to resume with a global batch other than the checkpoint's (the data position
        counts global batches, so it would point at other examples)."""
        before, now = saved.get("global_batch_size"), train_data.config.batch_size
        if before is not None and before != now:
            raise ValueError(
                f"--resume: the checkpoint was trained with a global batch of {before} rows "
                f"({saved.get('world_size')} ranks x --batch-size), this run has {now}; launch "
                f"with ranks x --batch-size = {before}"
            )

    # ------------------------------------------------------------------------ one step
    def forward(self, model, batch: dict):
        """The model on this rank's rows of ``batch``; returns (output, loss to back-propagate).

        The loss is this rank's share of the global loss (``shard_loss``); its value and the
        weights are recorded for ``allreduce``.
        """
        local, shard = shard_batch(batch, self.rank, self.world_size)
        self.window.start = shard.start if shard.stop > shard.start else 0  # an empty shard: row 0
        self.window.rows = shard.rows
        out = model(**local)
        loss = shard_loss(out, shard)
        nsp = None if out.nsp_loss is None else float(out.nsp_loss.item()) * shard.nsp_weight
        self._parts.append((float(out.mlm_loss.item()) * shard.mlm_weight, nsp))
        return out, loss

    def allreduce(self, parameters) -> list[tuple[float, LossParts]]:
        """Sum every parameter's gradient over the ranks, in place, and the recorded losses.

        Returns:
            Per micro-batch since the last call, ``(global loss, LossParts)``: on every rank the
            values one process would have logged.
        """
        parameters = list(parameters)
        if self._buckets is None:
            self._buckets = plan_buckets([p.data for p in parameters], self.bucket_bytes)
        grads = [p.grad for p in parameters]
        # The small vector carries the losses and, per parameter, whether a rank has a
        # gradient: a parameter no rank touched keeps grad None (AdamW skips it, as in one
        # process), one that some rank touched gets the sum.
        parts, self._parts = self._parts, []
        nsp = parts[0][1] is not None
        small = np.array(
            [v for mlm, n in parts for v in ((mlm, n) if nsp else (mlm,))]
            + [g is not None for g in grads],
            dtype=np.float64,
        )
        requests = [self._iallreduce(small)]
        for bucket in self._buckets:
            flatten_into(bucket, grads)
            requests.append(self._iallreduce(bucket.buffer))
        self.wait(requests, "the gradient allreduce")
        shapes = [p.shape for p in parameters]
        has_grad = small[len(small) - len(grads) :] > 0
        for bucket in self._buckets:
            for index, grad in unflatten(bucket, shapes).items():
                parameters[index].grad = grad if has_grad[index] else None
        width = 2 if nsp else 1
        losses = small[: width * len(parts)].reshape(len(parts), width)  # (micro-batches, width)
        return [
            (
                float(row.sum()),
                LossParts(np.float64(row[0]), np.float64(row[1]) if nsp else None),
            )
            for row in losses
        ]

    # --------------------------------------------------------------------- collectives
    def _iallreduce(self, buffer: np.ndarray):
        return self.comm.Iallreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)

    def wait(self, requests, what: str) -> None:
        """Wait for ``requests``; abort the job when they take over ``collective_timeout``.

        MPI's own waits block forever when a peer is gone. Polling ``Testall`` also drives
        MPI's progress (a large message moves in pieces, each needing a call on both sides),
        so the loop spins; ``sched_yield`` lets other processes have the core meanwhile.
        """
        started = time.monotonic()
        deadline = started + self.collective_timeout
        polls = 0
        while not self.MPI.Request.Testall(requests):
            polls += 1
            if polls % 256 == 0 and time.monotonic() > deadline:
                self.abort(
                    f"{what} did not complete within --collective-timeout "
                    f"{self.collective_timeout:g} s: another rank has died or hangs"
                )
            os.sched_yield()
        self.allreduce_seconds += time.monotonic() - started

    def abort(self, message: str) -> None:
        """Print ``message`` with this rank's name and stop every rank of the job (exit 1)."""
        sys.stdout.flush()
        print(
            f"minibert pretrain: rank {self.rank} of {self.world_size}: {message}; stopping all "
            "ranks",
            file=sys.stderr,
            flush=True,
        )
        # The message is in the pipe to mpiexec, which forwards it on its own time; MPI_Abort
        # tears the job down at once and can lose it (seen in CI: exit 1, empty stderr).
        time.sleep(ABORT_GRACE_S)
        self.comm.Abort(1)  # mpiexec then kills the other ranks
        os._exit(1)  # MPICH's MPI_Abort can return while it tells mpiexec; never go on from here


def _fingerprint(model, args, train_data) -> int:
    """A CRC-32 of the weights, the training arguments, the data settings and the vocabulary."""
    settings = {
        "arguments": dataclasses.asdict(args),
        "data": dataclasses.asdict(train_data.config),
        "seed": train_data.seed,
        "vocabulary": sorted(train_data.tokenizer.get_vocab().items()),
    }
    crc = zlib.crc32(json.dumps(settings, sort_keys=True).encode("utf-8"))
    for param in model.parameters():
        crc = zlib.crc32(np.ascontiguousarray(param.data).tobytes(), crc)
    return crc
