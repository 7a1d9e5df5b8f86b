"""Plain array reference twins of every kernel.

These are the definitions: short, obviously correct compositions of array-module calls, written
for any array module (NumPy, CuPy, or the strict device-array stand-in the tests use). The fused
Numba kernels beside them must compute the same numbers, and the tests hold them to it.

Conventions: "forward" kernels return new arrays; "backward" kernels take the saved forward
results and ``grad_out`` and return input gradients; the AdamW step updates its arrays in place.
"""

from __future__ import annotations

import math

from autograd.backend import get_xp
from autograd.kernels.registry import register
from autograd.kernels.special import erf

# ---------------------------------------------------------------------------------------- matmul


@register("matmul")
def matmul(a, b, transpose_a=False, transpose_b=False):
    """``op(a) @ op(b)`` with batch broadcasting; ``op`` transposes the last two axes if asked."""
    xp = get_xp(a)
    if transpose_a:
        a = xp.swapaxes(a, -1, -2)
    if transpose_b:
        b = xp.swapaxes(b, -1, -2)
    return xp.matmul(a, b)


# ------------------------------------------------------------------------------------ the engine


@register("accumulate")
def accumulate(a, b):
    """a + b, a new array: the backward pass summing two gradients of one tensor."""
    return a + b


# ---------------------------------------------------------------------------------------- linear


@register("add_bias_")
def add_bias_(x, bias):
    """x += bias along the last axis, in place (x is a fresh product no one else holds); x."""
    x += bias
    return x


@register("bias_grad")
def bias_grad(grad):
    """The bias gradient of a linear layer: ``grad`` summed over every axis but the last."""
    return grad.reshape(-1, grad.shape[-1]).sum(axis=0)  # (..., out) -> (N, out) -> (out,)


# --------------------------------------------------------------------------------------- softmax


@register("softmax_forward")
def softmax_forward(x, scale=1.0, mask=None):
    """softmax(x * scale + mask) along the last axis.

    ``mask`` is additive and broadcasts against ``x`` (0 to keep, a large negative number or -inf
    to drop). A row whose every entry is -inf gives zeros instead of NaN.
    """
    xp = get_xp(x)
    z = x * x.dtype.type(scale) if scale != 1.0 else x
    if mask is not None:
        z = z + mask
    row_max = xp.max(z, axis=-1, keepdims=True)
    row_max = xp.where(xp.isfinite(row_max), row_max, 0)  # fully masked rows: avoid inf - inf
    e = xp.exp(z - row_max)
    total = xp.sum(e, axis=-1, keepdims=True)
    return e / xp.where(total == 0, 1, total)


@register("softmax_backward")
def softmax_backward(y, grad_out, scale=1.0):
    """Gradient of softmax(x * scale + mask) w.r.t. x, from its output ``y``.

    dL/dz = y * (g - sum(g * y)), and dz/dx = scale.
    """
    xp = get_xp(y)
    dot = xp.sum(grad_out * y, axis=-1, keepdims=True)
    grad = y * (grad_out - dot)
    return grad * y.dtype.type(scale) if scale != 1.0 else grad


# ------------------------------------------------------------------------------------ attention


@register("attention_forward")
def attention_forward(q, k, v, mask=None, scale=1.0, p=0.0, seed=0, need_probs=True):
    r"""Scaled dot-product attention: C = dropout(softmax(Q K^T * scale + mask)) V.

    q (..., Tq, hs), k and v (..., Tk, hs); ``mask`` is additive and broadcasts to (..., Tq, Tk);
    the dropout of the probabilities is ``dropout_apply`` with ``seed`` (none when p is 0).
    Returns (context (..., Tq, hs), probs (..., Tq, Tk) before dropout, or None when
    ``need_probs`` is False).
    """
    xp = get_xp(q)
    scores = xp.matmul(q, xp.swapaxes(k, -1, -2))  # (..., Tq, hs) @ (..., hs, Tk)
    probs = softmax_forward(scores, scale, mask)
    dropped = dropout_apply(probs, p, seed) if p > 0 else probs
    return xp.matmul(dropped, v), (probs if need_probs else None)  # (..., Tq, Tk) @ (..., Tk, hs)


@register("attention_backward")
def attention_backward(q, k, v, probs, grad, scale=1.0, p=0.0, seed=0, out=None):
    r"""(dq, dk, dv) of ``attention_forward``, from its ``probs`` and G = dL/dC.

    With Pd = dropout(P): dV = Pd^T G; dP = dropout(G V^T); dS = softmax_backward(P, dP, scale);
    dQ = dS K; dK = dS^T Q. ``out``: three arrays shaped like q, k and v (views into one
    packed gradient, say) to write the results into, and return.
    """
    xp = get_xp(q)
    dropped = dropout_apply(probs, p, seed) if p > 0 else probs
    grad_v = xp.matmul(xp.swapaxes(dropped, -1, -2), grad)  # (..., Tk, Tq) @ (..., Tq, hs)
    grad_dropped = xp.matmul(grad, xp.swapaxes(v, -1, -2))  # (..., Tq, hs) @ (..., hs, Tk)
    grad_probs = dropout_apply(grad_dropped, p, seed) if p > 0 else grad_dropped
    grad_scores = softmax_backward(probs, grad_probs, scale)
    grad_q = xp.matmul(grad_scores, k)  # (..., Tq, Tk) @ (..., Tk, hs)
    grad_k = xp.matmul(xp.swapaxes(grad_scores, -1, -2), q)  # (..., Tk, Tq) @ (..., Tq, hs)
    if out is None:
        return grad_q, grad_k, grad_v
    for target, result in zip(out, (grad_q, grad_k, grad_v), strict=True):
        target[...] = result
    return out


@register("log_softmax_forward")
def log_softmax_forward(x):
    """log(softmax(x)) along the last axis, computed as x - logsumexp(x) for stability."""
    xp = get_xp(x)
    shifted = x - xp.max(x, axis=-1, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=-1, keepdims=True))


@register("log_softmax_backward")
def log_softmax_backward(out, grad_out):
    """Gradient of log_softmax from its output: g - softmax * sum(g)."""
    xp = get_xp(out)
    return grad_out - xp.exp(out) * xp.sum(grad_out, axis=-1, keepdims=True)


# --------------------------------------------------------------------------------- cross-entropy


@register("cross_entropy_forward")
def cross_entropy_forward(logits, targets, ignore_index=-100, label_smoothing=0.0):
    """Per-row cross-entropy of (N, C) logits against (N,) integer targets.

    Returns ``(losses, log_normalizer)``: ``losses`` is (N,), 0 on rows whose target is
    ``ignore_index``; ``log_normalizer`` (N, 1) is each row's log-sum-exp, all the backward
    needs besides the logits (log_probs = logits - log_normalizer), so no (N, C) array of
    log-probabilities is kept. With label smoothing eps, the target distribution is
    (1 - eps) * one_hot + eps / C.
    """
    xp = get_xp(logits)
    row_max = xp.max(logits, axis=1, keepdims=True)
    shifted = logits - row_max
    log_total = xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))
    log_probs = shifted - log_total
    valid = targets != ignore_index
    safe_targets = xp.where(valid, targets, 0)
    nll = -xp.take_along_axis(log_probs, safe_targets[:, None], axis=1)[:, 0]
    if label_smoothing:
        smooth = -xp.mean(log_probs, axis=1)
        nll = (1.0 - label_smoothing) * nll + label_smoothing * smooth
    losses = xp.where(valid, nll, 0).astype(logits.dtype, copy=False)
    return losses, row_max + log_total


@register("cross_entropy_backward")
def cross_entropy_backward(
    logits, log_normalizer, targets, grad_losses, ignore_index=-100, label_smoothing=0.0
):
    """Gradient w.r.t. the logits: (softmax - target distribution) * grad_loss, per row.

    softmax = exp(logits - log_normalizer), from the forward's (N, 1) log-sum-exp.
    """
    xp = get_xp(logits)
    n_rows, n_classes = logits.shape
    valid = targets != ignore_index
    grad = xp.exp(logits - log_normalizer)
    if label_smoothing:
        grad = grad - label_smoothing / n_classes
    rows = xp.arange(n_rows)
    grad[rows, xp.where(valid, targets, 0)] -= 1.0 - label_smoothing
    scale = xp.where(valid, grad_losses, 0).astype(logits.dtype, copy=False)
    return grad * scale[:, None]


# ------------------------------------------------------------------------------------ layer norm


@register("layer_norm_forward")
def layer_norm_forward(x, weight, bias, eps):
    """Normalize over the last axis; returns ``(y, mean, rstd)`` with mean/rstd shaped (..., 1)."""
    xp = get_xp(x)
    mean = xp.mean(x, axis=-1, keepdims=True)
    # The mean's rounding error, measured and taken out: a row of equal values then centres to
    # exact zeros, which 1 / sqrt(eps) would otherwise turn into errors of 1e-4 in float32.
    mean = mean + xp.mean(x - mean, axis=-1, keepdims=True)
    centered = x - mean
    var = xp.mean(centered * centered, axis=-1, keepdims=True)
    rstd = 1.0 / xp.sqrt(var + x.dtype.type(eps))
    y = centered * rstd
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y, mean, rstd


@register("add_layer_norm_forward")
def add_layer_norm_forward(
    x, residual, weight, bias, eps, keep_sum=True, x_bias=None, p=0.0, seed=0, out=None, rows=None
):
    """LayerNorm(dropout(x + x_bias) + residual) over the last axis (the post-LN residual block).

    ``x_bias`` is the bias of the linear layer that made x, and the dropout is ``dropout_apply``
    with ``seed`` (none when p is 0): with both, the block's three passes become one. With
    ``rows`` (R,), x's R rows drop as rows ``rows`` of a larger tensor would (``_mask_of_seed``).

    Returns ``(y, s, mean, rstd)``: s = dropout(x + x_bias) + residual is what the backward
    differentiates (``add_layer_norm_backward``), or None when ``keep_sum`` is False (no
    backward will run; the fused kernel then writes y only). ``out``, an array of x's shape and
    dtype, receives y (and is returned as y); it may be x itself, which is then overwritten.
    """
    h = x + x_bias if x_bias is not None else x
    if p > 0:
        h = h * _mask_of_seed(h, p, seed, rows)
    s = h + residual
    y, mean, rstd = layer_norm_forward(s, weight, bias, eps)
    if out is not None:
        out[...] = y
        y = out
    return y, (s if keep_sum else None), mean, rstd


@register("embedding_layer_norm_forward")
def embedding_layer_norm_forward(tables, indices, weight, bias, eps, keep_sum=True):
    """LayerNorm(tables[0][indices[0]] + tables[1][indices[1]] + ...) over the last axis: a
    transformer's input embeddings (word, token type, position), summed left to right.

    Returns ``(y, s, mean, rstd)`` as ``add_layer_norm_forward``: s is the sum of the looked-up
    rows, (..., D) for indices (...), or None when ``keep_sum`` is False.
    """
    xp = get_xp(tables[0])
    s = xp.take(tables[0], indices[0], axis=0)  # (...) -> (..., D)
    for table, index in zip(tables[1:], indices[1:], strict=True):
        s = s + xp.take(table, index, axis=0)
    y, mean, rstd = layer_norm_forward(s, weight, bias, eps)
    return y, (s if keep_sum else None), mean, rstd


@register("add_layer_norm_backward")
def add_layer_norm_backward(
    grad_out, s, weight, mean, rstd, has_bias, has_x_bias, p=0.0, seed=0, rows=None
):
    """Gradients of ``add_layer_norm_forward``: ``(grad_x, grad_residual, grad_weight,
    grad_bias, grad_x_bias)``.

    grad_residual is LayerNorm's gradient at s; grad_x is it through the dropout (the same
    mask, ``rows`` included), and grad_x_bias its sum over the rows (None without an x_bias).
    """
    grad_s, grad_weight, grad_bias = layer_norm_backward(grad_out, s, weight, mean, rstd, has_bias)
    grad_x = grad_s * _mask_of_seed(grad_s, p, seed, rows) if p > 0 else grad_s
    grad_x_bias = bias_grad(grad_x) if has_x_bias else None
    return grad_x, grad_s, grad_weight, grad_bias, grad_x_bias


@register("layer_norm_backward")
def layer_norm_backward(grad_out, x, weight, mean, rstd, has_bias=True):
    """Gradients ``(grad_x, grad_weight, grad_bias)`` of LayerNorm over the last axis.

    With xhat = (x - mean) * rstd and gh = grad_out * weight:
    grad_x = rstd * (gh - mean(gh) - xhat * mean(gh * xhat)).
    """
    xp = get_xp(x)
    xhat = (x - mean) * rstd
    reduce_axes = tuple(range(x.ndim - 1))
    grad_weight = xp.sum(grad_out * xhat, axis=reduce_axes) if weight is not None else None
    grad_bias = xp.sum(grad_out, axis=reduce_axes) if has_bias else None
    gh = grad_out * weight if weight is not None else grad_out
    grad_x = rstd * (
        gh - xp.mean(gh, axis=-1, keepdims=True) - xhat * xp.mean(gh * xhat, axis=-1, keepdims=True)
    )
    return grad_x, grad_weight, grad_bias


# ------------------------------------------------------------------------------------------ GELU

_SQRT_HALF = math.sqrt(0.5)
_SQRT_TWO_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_TWO_PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_CUBIC = 0.044715


@register("gelu_forward")
def gelu_forward(x, approximate="none", bias=None):
    """GELU: x * Phi(x) (``"none"``, BERT's exact erf form) or its tanh approximation.

    ``bias`` (along the last axis) is added first: GELU(x + bias), a linear layer's bias fused.
    """
    xp = get_xp(x)
    x = x + bias if bias is not None else x
    if approximate == "tanh":
        inner = _SQRT_TWO_OVER_PI * (x + _GELU_CUBIC * x * x * x)
        return (0.5 * x * (1.0 + xp.tanh(inner))).astype(x.dtype, copy=False)
    return (0.5 * x * (1.0 + erf(x * _SQRT_HALF))).astype(x.dtype, copy=False)


@register("gelu_forward_")
def gelu_forward_(x, approximate="none", bias=None):
    """``gelu_forward`` written over x (a writable floating array); returns x."""
    x[...] = gelu_forward(x, approximate, bias)
    return x


@register("gelu_backward")
def gelu_backward(x, grad_out, approximate="none", bias=None):
    """d GELU / dx times ``grad_out``, at x + ``bias`` when a bias is given (see the forward)."""
    xp = get_xp(x)
    x = x + bias if bias is not None else x
    if approximate == "tanh":
        inner = _SQRT_TWO_OVER_PI * (x + _GELU_CUBIC * x * x * x)
        t = xp.tanh(inner)
        d_inner = _SQRT_TWO_OVER_PI * (1.0 + 3.0 * _GELU_CUBIC * x * x)
        grad = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * d_inner
    else:
        cdf = 0.5 * (1.0 + erf(x * _SQRT_HALF))
        pdf = _INV_SQRT_TWO_PI * xp.exp(-0.5 * x * x)
        grad = cdf + x * pdf
    return (grad_out * grad).astype(x.dtype, copy=False)


@register("gelu_bias_backward")
def gelu_bias_backward(x, grad_out, approximate="none", bias=None):
    """(``gelu_backward``, its sum over every axis but the last): the gradients of x and of the
    bias added to it, which the Numba twin computes in one pass."""
    grad = gelu_backward(x, grad_out, approximate, bias)
    return grad, bias_grad(grad)


# ------------------------------------------------------------------------------------- embedding


@register("embedding_backward")
def embedding_backward(indices, grad_out, num_embeddings, padding_idx=None):
    """Scatter-add rows of ``grad_out`` (..., D) into a (num_embeddings, D) gradient table.

    ``np.add.at`` (not ``table[indices] += g``) because an index that repeats must add up.
    The row of ``padding_idx`` gets no gradient, as in ``torch.nn.Embedding``.
    """
    xp = get_xp(grad_out)
    dim = grad_out.shape[-1]
    grad_weight = xp.zeros((num_embeddings, dim), dtype=grad_out.dtype)
    xp.add.at(grad_weight, indices.reshape(-1), grad_out.reshape(-1, dim))  # (N, D) rows
    if padding_idx is not None:
        grad_weight[padding_idx] = 0
    return grad_weight


# ----------------------------------------------------------------------------------------- AdamW


@register("adamw_step")
def adamw_step(param, grad, exp_avg, exp_avg_sq, *, lr, beta1, beta2, eps, weight_decay, step):
    """One AdamW update, in place on ``param``, ``exp_avg`` and ``exp_avg_sq``.

    The order of operations is PyTorch's, so results agree to the last bits in float64:
    decoupled decay ``p *= 1 - lr * wd``; moments; then
    ``p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)`` with ``bc_i = 1 - beta_i ** step``.
    """
    xp = get_xp(param)
    param *= 1.0 - lr * weight_decay
    exp_avg *= beta1
    exp_avg += (1.0 - beta1) * grad
    exp_avg_sq *= beta2
    exp_avg_sq += (1.0 - beta2) * grad * grad
    bias_correction1 = 1.0 - beta1**step
    bias_correction2_sqrt = math.sqrt(1.0 - beta2**step)
    denom = xp.sqrt(exp_avg_sq) / bias_correction2_sqrt + eps
    param -= (lr / bias_correction1) * (exp_avg / denom)


# --------------------------------------------------------------------------------------- dropout


@register("dropout_mask")
def dropout_mask(like, p, generator):
    """A scaled keep-mask shaped like ``like``: 0 with probability p, else 1 / (1 - p).

    Counter-based, so every backend can compute the same mask: one draw from ``generator`` (a
    seeded ``numpy.random.Generator``) gives a 63-bit ``seed`` (``dropout_seed``); element i (in
    C order) is dropped when the top 53 bits of SplitMix64's output ``mix(seed + (i + 1) *
    golden)`` fall below ``p * 2**53``. A fused kernel hashes the same counters in registers and
    gets the same mask bit for bit.
    """
    return _mask_of_seed(like, p, dropout_seed(generator))


def dropout_seed(generator):
    """The one draw a dropout mask takes from ``generator``: a 63-bit seed as ``numpy.uint64``."""
    import numpy as np

    return np.uint64(generator.integers(2**63))


def _mask_of_seed(like, p, seed, rows=None):
    """The mask of ``seed`` (see ``dropout_mask``). The hash runs on the host in NumPy (uint64
    arithmetic wraps modulo 2**64, which the mix relies on) and the mask moves to ``like``'s
    device explicitly.

    ``rows`` (R,) gives ``like``'s rows (its last axis, N) the counters of other rows: row i
    takes the mask of row ``rows[i]`` of a larger (.., N) tensor, so that some rows computed
    alone drop exactly what that tensor's rows drop.
    """
    import numpy as np  # the hash is host arithmetic, whatever module ``like`` belongs to

    xp = get_xp(like)
    seed = np.uint64(seed)
    if rows is None:
        counters = np.arange(like.size, dtype=np.uint64)  # element i of the flat array: i
    else:
        n = like.shape[-1]
        host_rows = rows.get() if get_xp(rows).__name__ == "cupy" else rows  # to the host, openly
        first = np.asarray(host_rows, dtype=np.uint64) * np.uint64(n)  # (R,): each row's start
        counters = (first[:, None] + np.arange(n, dtype=np.uint64)).reshape(-1)  # (R, N) -> (RN,)
    z = (counters + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15) + seed
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    keep = (z >> np.uint64(11)) >= np.uint64(int(p * 2.0**53))  # uniform 53-bit integer >= p 2^53
    mask = keep.reshape(like.shape).astype(like.dtype) * like.dtype.type(1.0 / (1.0 - p))
    return mask if xp.__name__ == "numpy" else xp.asarray(mask)


@register("dropout_apply")
def dropout_apply(x, p, seed):
    """``x`` times the mask of ``seed`` (``dropout_mask``'s, for the generator draw ``seed``).

    Dropout's forward applies it to the input and its backward to the gradient: only the seed is
    kept between the two, not a mask as large as the activation.
    """
    return x * _mask_of_seed(x, p, seed)
