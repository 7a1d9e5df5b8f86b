"""Kernel benchmarks: each fused Numba kernel against its NumPy reference twin and PyTorch.

Forward and backward are timed together (what a training step pays), at the shapes of the
tiny BERT recipe (batch 32 x 128 tokens, hidden 128, 2 heads, FFN 512, vocabulary 8192) and a
few larger ones. Implementations: ``reference`` (the NumPy twin), ``numba`` (both cores),
``numba-1t`` (the same kernel on one thread) and ``torch`` (2 threads) when it is installed.
Both twins come from the registry explicitly (``backend="numba"`` / ``"reference"``), so
``MINIBERT_DISABLE_JIT`` does not change what is measured.
"""

from __future__ import annotations

import time

import numba
import numpy as np

from autograd.kernels import get_kernel

B, T, H, NH, FFN, VOCAB = 32, 128, 128, 2, 512, 8192


def _kernels(backend: str, *names: str):
    return [get_kernel(name, None, backend=backend) for name in names]


# ---------------------------------------------------------------- one builder per benchmark
# Each returns {impl: zero-argument callable}; the inputs are made once, outside the timing.


def softmax_case(shape, scale=1.0, mask_shape=None, dtype=np.float32, torch=None):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    mask = None
    if mask_shape is not None:
        mask = np.where(rng.random(mask_shape) < 0.15, -np.inf, 0.0).astype(dtype)
    impls = {}
    for backend in ("reference", "numba"):
        fwd, bwd = _kernels(backend, "softmax_forward", "softmax_backward")
        impls[backend] = lambda fwd=fwd, bwd=bwd: bwd(fwd(x, scale, mask), g, scale)
    if torch is not None:
        tx, tg = torch.from_numpy(x), torch.from_numpy(g)
        tmask = torch.from_numpy(mask) if mask is not None else None

        def torch_step():
            xr = tx.detach().requires_grad_()
            z = xr * scale + tmask if tmask is not None else xr * scale
            torch.softmax(z, dim=-1).backward(tg)

        impls["torch"] = torch_step
    return impls


def log_softmax_case(shape, dtype=np.float32, torch=None):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    impls = {}
    for backend in ("reference", "numba"):
        fwd, bwd = _kernels(backend, "log_softmax_forward", "log_softmax_backward")
        impls[backend] = lambda fwd=fwd, bwd=bwd: bwd(fwd(x), g)
    if torch is not None:
        tx, tg = torch.from_numpy(x), torch.from_numpy(g)
        impls["torch"] = lambda: torch.log_softmax(tx.detach().requires_grad_(), -1).backward(tg)
    return impls


def layer_norm_case(shape, dtype=np.float32, torch=None):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(shape[-1]).astype(dtype)
    b = rng.standard_normal(shape[-1]).astype(dtype)
    impls = {}
    for backend in ("reference", "numba"):
        fwd, bwd = _kernels(backend, "layer_norm_forward", "layer_norm_backward")

        def step(fwd=fwd, bwd=bwd):
            _, mean, rstd = fwd(x, w, b, 1e-12)
            bwd(g, x, w, mean, rstd, True)

        impls[backend] = step
    if torch is not None:
        tx, tg, tw, tb = (torch.from_numpy(a) for a in (x, g, w, b))

        def torch_step():
            xr, wr, br = (t.detach().requires_grad_() for t in (tx, tw, tb))
            torch.nn.functional.layer_norm(xr, (shape[-1],), wr, br, 1e-12).backward(tg)

        impls["torch"] = torch_step
    return impls


def gelu_case(shape, approximate, dtype=np.float32, torch=None):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 2).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    impls = {}
    for backend in ("reference", "numba"):
        fwd, bwd = _kernels(backend, "gelu_forward", "gelu_backward")
        impls[backend] = lambda fwd=fwd, bwd=bwd: (fwd(x, approximate), bwd(x, g, approximate))
    if torch is not None:
        tx, tg = torch.from_numpy(x), torch.from_numpy(g)

        def torch_step():
            xr = tx.detach().requires_grad_()
            torch.nn.functional.gelu(xr, approximate=approximate).backward(tg)

        impls["torch"] = torch_step
    return impls


def cross_entropy_case(n_rows, n_classes, dtype=np.float32, torch=None):
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((n_rows, n_classes)).astype(dtype)
    targets = rng.integers(0, n_classes, n_rows)
    targets[::7] = -100  # some positions without a label
    grad_losses = np.full(n_rows, 1.0 / n_rows, dtype=dtype)
    impls = {}
    for backend in ("reference", "numba"):
        fwd, bwd = _kernels(backend, "cross_entropy_forward", "cross_entropy_backward")

        def step(fwd=fwd, bwd=bwd):
            _, log_normalizer = fwd(logits, targets, -100, 0.0)
            bwd(logits, log_normalizer, targets, grad_losses, -100, 0.0)

        impls[backend] = step
    if torch is not None:
        tl, tt, tg = (
            torch.from_numpy(logits),
            torch.from_numpy(targets),
            torch.from_numpy(grad_losses),
        )

        def torch_step():
            lr = tl.detach().requires_grad_()
            loss = torch.nn.functional.cross_entropy(lr, tt, ignore_index=-100, reduction="none")
            loss.backward(tg)

        impls["torch"] = torch_step
    return impls


def embedding_case(n_indices, num_embeddings, dim, dtype=np.float32, torch=None):
    rng = np.random.default_rng(0)
    indices = rng.integers(0, num_embeddings, n_indices)
    grad_out = rng.standard_normal((n_indices, dim)).astype(dtype)
    impls = {}
    for backend in ("reference", "numba"):
        k = get_kernel("embedding_backward", None, backend=backend)
        impls[backend] = lambda k=k: k(indices, grad_out, num_embeddings, None)
    if torch is not None:
        ti, tg = torch.from_numpy(indices), torch.from_numpy(grad_out)
        impls["torch"] = lambda: torch.ops.aten.embedding_dense_backward(
            tg, ti, num_embeddings, -1, False
        )
    return impls


def adamw_case(n_params, dtype=np.float32, torch=None):
    rng = np.random.default_rng(0)
    arrays = {name: rng.standard_normal(n_params).astype(dtype) for name in ("p", "g", "m")}
    arrays["v"] = rng.random(n_params).astype(dtype)
    hyper = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, step=10)
    impls = {}
    for backend in ("reference", "numba"):
        k = get_kernel("adamw_step", None, backend=backend)
        impls[backend] = lambda k=k: k(arrays["p"], arrays["g"], arrays["m"], arrays["v"], **hyper)
    if torch is not None:
        param = torch.nn.Parameter(torch.from_numpy(arrays["p"].copy()))
        param.grad = torch.from_numpy(arrays["g"].copy())
        try:
            optimizer = torch.optim.AdamW([param], lr=1e-3, weight_decay=0.01, fused=True)
            optimizer.step()
        except (RuntimeError, TypeError):  # no fused CPU AdamW in this torch
            optimizer = torch.optim.AdamW([param], lr=1e-3, weight_decay=0.01, foreach=True)
        impls["torch"] = optimizer.step
    return impls


def dropout_case(shape, p, dtype=np.float32, torch=None):
    like = np.zeros(shape, dtype=dtype)
    impls = {}
    for backend in ("reference", "numba"):
        k = get_kernel("dropout_mask", None, backend=backend)
        generator = np.random.default_rng(0)
        impls[backend] = lambda k=k, generator=generator: k(like, p, generator)
    if torch is not None:
        t_like = torch.from_numpy(like)
        impls["torch"] = lambda: torch.empty_like(t_like).bernoulli_(1 - p).mul_(1 / (1 - p))
    return impls


def cases(torch=None):
    """(name, builder of {impl: callable}): the benchmark list, inputs built lazily."""
    bt = B * T
    return [
        (f"softmax fwd+bwd ({bt * 2},{T}) f32", lambda: softmax_case((bt * 2, T), torch=torch)),
        (
            f"attention softmax fwd+bwd ({B},{NH},{T},{T}) mask ({B},1,1,{T}) f32",
            lambda: softmax_case((B, NH, T, T), 0.125, (B, 1, 1, T), torch=torch),
        ),
        (
            f"log_softmax fwd+bwd ({bt * 2},{T}) f32",
            lambda: log_softmax_case((bt * 2, T), torch=torch),
        ),
        (f"layer_norm fwd+bwd ({bt},{H}) f32", lambda: layer_norm_case((bt, H), torch=torch)),
        (f"layer_norm fwd+bwd ({bt},768) f32", lambda: layer_norm_case((bt, 768), torch=torch)),
        (f"layer_norm fwd+bwd ({bt},{H}) f64", lambda: layer_norm_case((bt, H), np.float64, torch)),
        (f"gelu fwd+bwd ({bt},{FFN}) f32", lambda: gelu_case((bt, FFN), "none", torch=torch)),
        (f"gelu tanh fwd+bwd ({bt},{FFN}) f32", lambda: gelu_case((bt, FFN), "tanh", torch=torch)),
        (
            f"cross_entropy fwd+bwd ({bt},{VOCAB}) f32",
            lambda: cross_entropy_case(bt, VOCAB, torch=torch),
        ),
        (
            f"embedding bwd {bt} idx -> ({VOCAB},{H}) f32",
            lambda: embedding_case(bt, VOCAB, H, torch=torch),
        ),
        ("adamw step 1M f32", lambda: adamw_case(1 << 20, torch=torch)),
        ("adamw step 4M f32", lambda: adamw_case(1 << 22, torch=torch)),
        (f"dropout mask ({B},{T},{FFN}) f32", lambda: dropout_case((B, T, FFN), 0.1, torch=torch)),
    ]


def on_one_thread(fn):
    """``fn`` with Numba limited to the calling thread: the fusion's gain without the second
    core, and a figure that stays meaningful while another process holds that core."""

    def wrapped():
        threads = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            return fn()
        finally:
            numba.set_num_threads(threads)

    return wrapped


def run(ctx) -> list[dict]:
    """The section entry point: one row per (benchmark, implementation)."""
    rows = []
    for name, build in cases(ctx.torch):
        impls = build()
        impls["numba-1t"] = on_one_thread(impls["numba"])
        for impl in ("reference", "numba", "numba-1t", "torch"):
            if impl in impls:
                timing = ctx.time(impls[impl])
                rows.append({"section": "kernels", "name": name, "impl": impl, **timing})
    return rows


# ------------------------------------------------------------------------- compile probe


def compile_probe() -> dict[str, float]:
    """Call every Numba kernel once per dtype on tiny inputs; seconds per call (= compile or
    cache load). Run in a fresh process, with NUMBA_CACHE_DIR pointing where you want."""
    rng = np.random.default_rng(0)
    seconds: dict[str, float] = {}

    def probe(label, name, *args, **kwargs):
        kernel = get_kernel(name, None, backend="numba")
        t0 = time.perf_counter()
        out = kernel(*args, **kwargs)
        seconds[label] = time.perf_counter() - t0
        return out

    for dtype in (np.float32, np.float64):
        tag = np.dtype(dtype).name
        x = rng.standard_normal((4, 3, 8)).astype(dtype)
        g = rng.standard_normal(x.shape).astype(dtype)
        w = np.ones(8, dtype=dtype)
        mask = np.zeros((4, 1, 8), dtype=dtype)  # (B, 1, T) against (B, 3, T)
        targets = np.array([1, -100, 3, 0])
        y = probe(f"softmax_forward {tag}", "softmax_forward", x, 0.5, mask)
        probe(f"softmax_backward {tag}", "softmax_backward", y, g, 0.5)
        probe(f"log_softmax_forward {tag}", "log_softmax_forward", x)
        probe(f"log_softmax_backward {tag}", "log_softmax_backward", y, g)
        _, mean, rstd = probe(f"layer_norm_forward {tag}", "layer_norm_forward", x, w, w, 1e-5)
        probe(f"layer_norm_backward {tag}", "layer_norm_backward", g, x, w, mean, rstd, True)
        for approximate in ("none", "tanh"):
            probe(f"gelu_forward {approximate} {tag}", "gelu_forward", x, approximate)
            probe(f"gelu_backward {approximate} {tag}", "gelu_backward", x, g, approximate)
        logits = x.reshape(4, -1)
        _, log_normalizer = probe(
            f"cross_entropy_forward {tag}", "cross_entropy_forward", logits, targets
        )
        grad_losses = np.ones(4, dtype=dtype)
        label = f"cross_entropy_backward {tag}"
        probe(label, "cross_entropy_backward", logits, log_normalizer, targets, grad_losses)
        indices = np.array([[1, 2, 1]])
        probe(f"embedding_backward {tag}", "embedding_backward", indices, g[0], 5, None)
        p, m, v = x.copy(), np.zeros_like(x), np.zeros_like(x)
        hyper = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, step=1)
        probe(f"adamw_step {tag}", "adamw_step", p, g, m, v, **hyper)
        probe(f"dropout_mask {tag}", "dropout_mask", x, 0.1, rng)
    return seconds
