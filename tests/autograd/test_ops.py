"""Every op in ``autograd.ops``, three ways: forward against NumPy, gradcheck, backward twice.

The table ``OPS`` has one row per op (or per way of calling it): a hypothesis strategy for its
inputs, the autograd call, and the same computation written in plain NumPy here in the test.
Three parametrized tests run over the table:

(a) the forward output equals the NumPy computation, in float64 and in float32 (and keeps the
    input's dtype);
(b) ``autograd.gradcheck`` passes in float64, on broadcasting shapes and non-contiguous inputs;
(c) a second backward through the same graph leaves exactly twice the gradient.

Inputs come from ``autograd.testing`` (the strategies users get), which keeps values away from
kinks and poles and, half of the time, hands out strided views instead of contiguous arrays.
Behaviour that a table row cannot express (ties, fully masked rows, error messages) follows it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd as ag
import autograd.ops
from autograd import testing as agt
from tests.helpers import assert_close

# ------------------------------------------------------------------------------ a row of the table


@dataclass(frozen=True)
class Op:
    """One row: ``inputs`` draws ``(arrays, static)``; ``fn(*tensors, **static)`` is the autograd
    call and ``numpy(*arrays, **static)`` its NumPy twin (None when tested on its own below)."""

    name: str
    covers: tuple[str, ...]  # the names in autograd.ops this row exercises
    inputs: st.SearchStrategy
    fn: Callable
    numpy: Callable | None
    gradcheck: dict = field(default_factory=dict)
    float32_atol: float = 1e-5


# --------------------------------------------------------------- inputs, one strategy per kind


def one(array_strategy, **static):
    """Inputs of a unary op: one array, fixed static arguments."""
    return st.tuples(st.tuples(array_strategy), st.just(static))


NONZERO_FLOATS = agt.safe_floats(avoid=(0.0,))  # away from poles (1/x) and kinks (relu)
POSITIVE_FLOATS = agt.safe_floats(0.1, 3.0)  # the domain of log, sqrt and x ** 0.5
ANY = agt.arrays(agt.shapes())
POSITIVE = agt.arrays(agt.shapes(), elements=POSITIVE_FLOATS)
NONZERO = agt.arrays(agt.shapes(), elements=NONZERO_FLOATS)


@st.composite
def pairs(draw, a_elements=None, b_elements=None):
    """Two arrays whose shapes broadcast together (missing leading axes, sides of 1)."""
    a_shape, b_shape = draw(agt.broadcastable_shapes(2))
    a = draw(agt.arrays(a_shape, elements=a_elements))
    b = draw(agt.arrays(b_shape, elements=b_elements))
    return (a, b), {}


@st.composite
def scalar_powers(draw):
    """x ** p for a constant p, with x kept in p's domain (positive for fractional p)."""
    exponent = draw(st.sampled_from([0, 1, 2, 3, -1.0, -2, 0.5, 1.5]))
    if float(exponent).is_integer() and exponent >= 0:
        x = draw(ANY)
    elif float(exponent).is_integer():
        x = draw(NONZERO)
    else:
        x = draw(POSITIVE)
    return (x,), {"exponent": exponent}


def _broadcastable_to(draw, shape):
    """A shape that broadcasts to ``shape``: some sides set to 1, some leading axes dropped."""
    ones = draw(st.lists(st.booleans(), min_size=len(shape), max_size=len(shape)))
    reduced = tuple(1 if one else n for one, n in zip(ones, shape, strict=True))
    return reduced[draw(st.integers(0, len(shape))) :]


@st.composite
def reductions(draw, unique=False, with_ddof=False):
    x = draw(agt.arrays(agt.shapes(max_dims=3), unique=unique))
    static = {"axis": draw(agt.axes(x.ndim)), "keepdims": draw(st.booleans())}
    if with_ddof:
        reduced = reduced_count(x.shape, static["axis"])
        static["ddof"] = draw(st.integers(0, 1 if reduced > 1 else 0))
    return (x,), static


def reduced_count(shape, axis) -> int:
    if axis is None:
        return math.prod(shape)
    return math.prod(shape[ax] for ax in ((axis,) if isinstance(axis, int) else axis))


@st.composite
def reshapes(draw):
    x = draw(ANY)
    s = x.shape
    target = draw(st.sampled_from([(-1,), s[::-1], (1, *s), (-1, *s[1:]), (x.size, 1)]))
    return (x,), {"shape": target}


@st.composite
def permutations(draw):
    x = draw(ANY)
    order = draw(st.permutations(range(x.ndim)))
    return (x,), {"axes": tuple(ax - x.ndim if draw(st.booleans()) else ax for ax in order)}


@st.composite
def two_axes(draw):
    x = draw(ANY)
    axis = st.integers(-x.ndim, x.ndim - 1)
    return (x,), {"axis0": draw(axis), "axis1": draw(axis)}


@st.composite
def transposes(draw):
    x = draw(agt.arrays(agt.shapes(min_dims=2)))
    return (x,), {"how": draw(st.sampled_from(["T", "mT", "transpose(0, -1)"]))}


@st.composite
def unsqueezes(draw):
    x = draw(ANY)
    return (x,), {"axis": draw(st.integers(-x.ndim - 1, x.ndim))}


@st.composite
def squeezes(draw):
    x = draw(agt.arrays(agt.shapes(max_side=2)))  # sides of 1 are common
    size_one = [ax for ax, n in enumerate(x.shape) if n == 1]
    options = [None] + size_one + [ax - x.ndim for ax in size_one]
    return (x,), {"axis": draw(st.sampled_from(options))}


@st.composite
def broadcasts(draw):
    target = draw(agt.shapes())
    x = draw(agt.arrays(_broadcastable_to(draw, target)))
    return (x,), {"shape": target}


@st.composite
def indexings(draw):
    """Slices (with steps, negative ones too), ints, None, Ellipsis, boolean masks, and integer
    arrays (which repeat elements, so their gradients must add up), alone too: one array of
    rows (negative ones too), as BERT's masked-LM head gathers positions."""
    x = draw(agt.arrays(agt.shapes(max_dims=3)))
    kinds = ["basic", "integer arrays", "boolean mask", "slice and array"]
    kind = draw(st.sampled_from(kinds + (["rows"] if x.ndim and x.shape[0] else [])))
    if kind == "rows":
        n = x.shape[0]
        index = draw(agt.integer_arrays(agt.shapes(max_dims=2, max_side=6), -n, n))
    elif kind == "basic":
        index = draw(hnp.basic_indices(x.shape, allow_newaxis=True))
    elif kind == "integer arrays":
        index = draw(hnp.integer_array_indices(x.shape, result_shape=agt.shapes(max_dims=2)))
    elif kind == "boolean mask":
        mask_ndim = draw(st.integers(1, x.ndim))
        index = draw(hnp.arrays(np.bool_, x.shape[:mask_ndim]))
    else:
        rows = draw(
            agt.integer_arrays(agt.shapes(max_dims=1, max_side=6), -x.shape[-1], x.shape[-1])
        )
        index = (Ellipsis, rows) if x.ndim > 1 else rows
    return (x,), {"index": index}


@st.composite
def joins(draw, stacking=False):
    shape = draw(agt.shapes(max_dims=3))
    count = draw(st.integers(1, 3))
    if stacking:
        axis = draw(st.integers(-len(shape) - 1, len(shape)))
        shapes = [shape] * count
    else:
        axis = draw(st.integers(-len(shape), len(shape) - 1))
        sizes = draw(st.lists(st.integers(1, 3), min_size=count, max_size=count))
        shapes = [shape[: axis % len(shape)] + (n,) + shape[axis % len(shape) + 1 :] for n in sizes]
    return tuple(draw(agt.arrays(s)) for s in shapes), {"axis": axis}


@st.composite
def wheres(draw):
    condition_shape, a_shape, b_shape = draw(agt.broadcastable_shapes(3))
    condition = draw(hnp.arrays(np.bool_, condition_shape))
    return (draw(agt.arrays(a_shape)), draw(agt.arrays(b_shape))), {"condition": condition}


@st.composite
def masked_fills(draw):
    x = draw(ANY)
    mask = draw(hnp.arrays(np.bool_, _broadcastable_to(draw, x.shape)))
    # A fill of -1e4 (attention-mask style) works too, but in gradcheck's projection
    # sum(out * R) it would swamp the finite differences in round-off.
    return (x,), {"mask": mask, "value": draw(st.sampled_from([0.0, -10.0, 2.5]))}


@st.composite
def matmuls(draw):
    """Matrices, batches that broadcast against each other, and 1-D operands on either side."""
    n, k, m = draw(st.tuples(*[st.integers(1, 4)] * 3))
    batch_a, batch_b = draw(agt.broadcastable_shapes(2, max_dims=2, max_side=3))
    a_shape, b_shape = draw(
        st.sampled_from(
            [
                ((n, k), (k, m)),
                ((*batch_a, n, k), (*batch_b, k, m)),
                ((k,), (*batch_b, k, m)),
                ((*batch_a, n, k), (k,)),
                ((k,), (k,)),
            ]
        )
    )
    return (draw(agt.arrays(a_shape)), draw(agt.arrays(b_shape))), {}


@st.composite
def softmaxes(draw):
    """Any axis with a scale; along the last axis also an additive mask holding -inf entries
    (never a whole row: that case has its own test)."""
    x = draw(agt.arrays(agt.shapes(max_dims=3)))
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    scale = draw(st.sampled_from([1.0, 0.5, 0.125]))
    mask = None
    if axis % x.ndim == x.ndim - 1 and draw(st.booleans()):
        mask_shape = _broadcastable_to(draw, x.shape) or (1,)
        dropped = draw(hnp.arrays(np.bool_, mask_shape))
        dropped[..., 0] = False  # every row keeps an entry
        mask = np.where(dropped, -np.inf, draw(agt.arrays(mask_shape)))
    return (x,), {"axis": axis, "scale": scale, "mask": mask}


@st.composite
def attentions(draw):
    """q (..., Tq, hs), k and v (..., Tk, hs) with one or two leading axes, and sometimes an
    additive mask broadcasting to (..., Tq, Tk) with -inf entries (never a whole row)."""
    lead = draw(agt.shapes(min_dims=1, max_dims=2, max_side=3))
    tq, tk, hs = (draw(st.integers(1, 5)) for _ in range(3))
    q = draw(agt.arrays((*lead, tq, hs)))
    k = draw(agt.arrays((*lead, tk, hs)))
    v = draw(agt.arrays((*lead, tk, hs)))
    mask = None
    if draw(st.booleans()):
        mask_shape = _broadcastable_to(draw, (*lead, tq, tk)) or (1,)
        dropped = draw(hnp.arrays(np.bool_, mask_shape))
        dropped[..., 0] = False  # every row keeps a key
        mask = np.where(dropped, -np.inf, draw(agt.arrays(mask_shape)))
    scale = draw(st.sampled_from([None, 0.5]))
    return (q, k, v), {"attn_mask": mask, "scale": scale}


@st.composite
def packed_attentions(draw):
    """qkv (B, T, 3 nh hs) and a (B, 1, 1, T) padding mask with -inf entries, or none."""
    B, T = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    nh, hs = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    qkv = draw(agt.arrays((B, T, 3 * nh * hs)))
    mask = None
    if draw(st.booleans()):
        dropped = draw(hnp.arrays(np.bool_, (B, 1, 1, T)))
        dropped[..., 0] = False
        mask = np.where(dropped, -np.inf, 0.0)
    return (qkv,), {"num_heads": nh, "attn_mask": mask}


@st.composite
def biased(draw):
    """x (..., N) and a bias (N,): a linear layer's bias fused into its activation."""
    x = draw(agt.arrays(agt.shapes(min_dims=1, max_dims=3)))
    bias = draw(agt.arrays(x.shape[-1:]))
    return (x, bias), {"approximate": draw(st.sampled_from(["none", "tanh"]))}


@st.composite
def log_softmaxes(draw):
    x = draw(agt.arrays(agt.shapes(max_dims=3)))
    return (x,), {"axis": draw(st.integers(-x.ndim, x.ndim - 1))}


@st.composite
def cross_entropies(draw):
    batch = draw(agt.shapes(max_dims=2))
    classes = draw(st.integers(2, 5))
    logits = draw(agt.arrays((*batch, classes)))
    ignore_index = draw(st.sampled_from([-100, 1]))
    targets = draw(agt.integer_arrays(batch, 0, classes))
    ignored = draw(hnp.arrays(np.bool_, batch))
    targets = np.where(ignored, ignore_index, targets)
    targets.flat[0] = 0  # at least one target counts (the all-ignored mean is tested below)
    static = {
        "targets": targets,
        "ignore_index": ignore_index,
        "reduction": draw(st.sampled_from(["mean", "sum", "none"])),
        "label_smoothing": draw(st.sampled_from([0.0, 0.1])),
    }
    return (logits,), static


@st.composite
def layer_norms(draw):
    batch = draw(agt.shapes(min_dims=0, max_dims=2))
    hidden = draw(st.integers(1, 5))
    x = draw(agt.arrays((*batch, hidden)))
    weight = draw(st.one_of(st.none(), agt.arrays((hidden,))))
    bias = draw(st.one_of(st.none(), agt.arrays((hidden,))))
    return (x, weight, bias), {"eps": 1e-5}


@st.composite
def add_layer_norms(draw):
    batch = draw(agt.shapes(min_dims=0, max_dims=2))
    hidden = draw(st.integers(1, 5))
    x = draw(agt.arrays((*batch, hidden)))
    residual = draw(agt.arrays((*batch, hidden)))
    weight = draw(st.one_of(st.none(), agt.arrays((hidden,))))
    bias = draw(st.one_of(st.none(), agt.arrays((hidden,))))
    return (x, residual, weight, bias), {"eps": 1e-5}


@st.composite
def biased_add_layer_norms(draw):
    """add_layer_norm's inputs plus a linear layer's bias for x."""
    (x, residual, weight, bias), static = draw(add_layer_norms())
    return (x, residual, weight, bias, draw(agt.arrays(x.shape[-1:]))), static


def ag_add_layer_norm_x_bias(x, residual, weight, bias, x_bias, eps):
    return autograd.ops.add_layer_norm(x, residual, weight, bias, eps, x_bias=x_bias)


def ag_add_layer_norm_dropout(x, residual, weight, bias, x_bias, eps):
    # a fresh generator with the same seed for each evaluation: the same mask every time
    return autograd.ops.add_layer_norm(
        x, residual, weight, bias, eps, x_bias=x_bias, dropout_p=0.3,
        generator=np.random.default_rng(11),
    )  # fmt: skip


@st.composite
def embeddings(draw):
    rows, dim = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    weight = draw(agt.arrays((rows, dim)))
    indices = draw(agt.integer_arrays(agt.shapes(max_dims=2, max_side=6), 0, rows))
    return (weight,), {"indices": indices}


@st.composite
def embedding_layer_norms(draw):
    """One to three tables of one width, an index array per table, LayerNorm's weight and bias."""
    dim = draw(st.integers(1, 4))
    tables = tuple(
        draw(agt.arrays((draw(st.integers(1, 5)), dim))) for _ in range(draw(st.integers(1, 3)))
    )
    shape = draw(agt.shapes(max_dims=2, max_side=5))
    indices = tuple(draw(agt.integer_arrays(shape, 0, t.shape[0])) for t in tables)
    weight = draw(st.one_of(st.none(), agt.arrays((dim,))))
    bias = draw(st.one_of(st.none(), agt.arrays((dim,))))
    return (weight, bias, *tables), {"indices": indices, "eps": 1e-5}


def ag_embedding_layer_norm(weight, bias, *tables, indices, eps):
    return autograd.ops.embedding_layer_norm(indices, tables, weight, bias, eps)


def np_embedding_layer_norm(weight, bias, *tables, indices, eps):
    total = tables[0][indices[0]]
    for table, index in zip(tables[1:], indices[1:], strict=True):
        total = total + table[index]
    return np_layer_norm(total, weight, bias, eps)


# ------------------------------------------------------------------------- NumPy twins, by hand


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_gelu_erf(x):
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def ag_gelu_bias(x, bias, approximate):
    return ag.gelu(x, approximate, bias=bias)


def np_gelu_bias(x, bias, approximate):
    return (np_gelu_tanh if approximate == "tanh" else np_gelu_erf)(x + bias)


def np_gelu_tanh(x, approximate="tanh"):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def np_softmax(x, axis=-1, scale=1.0, mask=None):
    z = x * scale + (0.0 if mask is None else mask)
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def np_attention(q, k, v, attn_mask=None, scale=None):
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    probs = np_softmax(q @ np.swapaxes(k, -1, -2), scale=scale, mask=attn_mask)
    return probs @ v


def np_packed_attention(qkv, num_heads, attn_mask=None):
    B, T, three_h = qkv.shape
    heads = qkv.reshape(B, T, 3, num_heads, -1).transpose(2, 0, 3, 1, 4)  # (3, B, nh, T, hs)
    context = np_attention(heads[0], heads[1], heads[2], attn_mask)  # (B, nh, T, hs)
    return context.transpose(0, 2, 1, 3).reshape(B, T, three_h // 3)


def attention_with_dropout(q, k, v):
    # A fresh generator with the same seed for every evaluation: the same mask each time.
    return ag.nn.functional.scaled_dot_product_attention(
        q, k, v, dropout_p=0.3, generator=np.random.default_rng(7)
    )


def np_log_softmax(x, axis=-1):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def np_ce(logits, targets, ignore_index, reduction, label_smoothing):
    classes = logits.shape[-1]
    log_probs = np_log_softmax(logits.reshape(-1, classes))  # (N, C)
    flat = targets.reshape(-1)
    counted = flat != ignore_index
    picked = log_probs[np.arange(flat.size), np.where(counted, flat, 0)]
    losses = -(1 - label_smoothing) * picked - label_smoothing * log_probs.mean(axis=1)
    losses = np.where(counted, losses, 0.0)
    if reduction == "none":
        return losses.reshape(targets.shape)
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / counted.sum()


def np_layer_norm(x, weight, bias, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    y = y if weight is None else y * weight
    return y if bias is None else y + bias


# ------------------------------------------------- calls with static arguments, in both spellings
# Where one expression works on a Tensor and on an array alike, one function serves both.


def power(x, exponent):
    return x**exponent


def getitem(x, index):
    return x[index]


def matmul(a, b):
    return a @ b


def ag_reshape(x, shape):
    return ag.reshape(x, shape)


def ag_permute(x, axes):
    return x.permute(*axes)


def ag_swapaxes(x, axis0, axis1):
    return x.swapaxes(axis0, axis1)


def np_swapaxes(x, axis0, axis1):
    return np.swapaxes(x, axis0, axis1)


def ag_transpose(x, how):
    return x.T if how == "T" else x.mT if how == "mT" else x.transpose(0, -1)


def np_transpose(x, how):
    return x.T if how == "T" else np.swapaxes(x, -1, -2 if how == "mT" else 0)


def ag_concatenate(*xs, axis):
    return ag.concatenate(xs, axis=axis)


def np_concatenate(*xs, axis):
    return np.concatenate(xs, axis=axis)


def ag_stack(*xs, axis):
    return ag.stack(xs, axis=axis)


def np_stack(*xs, axis):
    return np.stack(xs, axis=axis)


def ag_where(a, b, condition):
    return ag.where(condition, a, b)


def np_where(a, b, condition):
    return np.where(condition, a, b)


def ag_masked_fill(x, mask, value):
    return x.masked_fill(mask, value)


def np_masked_fill(x, mask, value):
    return np.where(mask, value, x)


def ag_embedding(weight, indices):
    return ag.embedding(indices, weight)


def np_embedding(weight, indices):
    return weight[indices]


def dropout_with_seed(x, p, seed):
    # gradcheck evaluates fn many times; a fresh generator with the same seed each time makes
    # every evaluation use the same mask.
    return ag.dropout(x, p, np.random.default_rng(seed))


OPS = [
    # ---- arithmetic, broadcasting pairs
    Op("add", ("add",), pairs(), lambda a, b: a + b, np.add),
    Op("sub", ("sub",), pairs(), lambda a, b: a - b, np.subtract),
    Op("mul", ("mul",), pairs(), lambda a, b: a * b, np.multiply),
    Op("div", ("div",), pairs(b_elements=NONZERO_FLOATS), lambda a, b: a / b, np.divide),
    Op("pow tensor", ("pow",), pairs(a_elements=POSITIVE_FLOATS), lambda a, b: a**b, np.power),
    Op("neg", ("neg",), one(ANY), lambda x: -x, np.negative),
    # ---- Python numbers on either side keep the tensor's dtype
    Op("scalar - x", ("sub",), one(ANY), lambda x: 2.5 - x, lambda x: 2.5 - x),
    Op("x * scalar", ("mul",), one(ANY), lambda x: x * 2.5, lambda x: x * 2.5),
    Op("scalar / x", ("div",), one(NONZERO), lambda x: 3.0 / x, lambda x: 3.0 / x),
    Op("x ** scalar", ("pow",), scalar_powers(), power, power),
    Op("scalar ** x", ("pow",), one(ANY), lambda x: 2.0**x, lambda x: 2.0**x),
    # ---- unary math and activations
    Op("exp", ("exp",), one(ANY), ag.exp, np.exp),
    Op("log", ("log",), one(POSITIVE), ag.log, np.log),
    Op("sqrt", ("sqrt",), one(POSITIVE), ag.sqrt, np.sqrt),
    Op("tanh", ("tanh",), one(ANY), ag.tanh, np.tanh),
    Op("sigmoid", ("sigmoid",), one(ANY), ag.sigmoid, np_sigmoid),
    Op("relu", ("relu",), one(NONZERO), ag.relu, lambda x: np.maximum(x, 0.0)),
    Op("gelu erf", ("gelu",), one(ANY), ag.gelu, np_gelu_erf),
    Op("gelu tanh", ("gelu",), one(ANY, approximate="tanh"), ag.gelu, np_gelu_tanh),
    Op("gelu with bias", ("gelu",), biased(), ag_gelu_bias, np_gelu_bias),
    # ---- reductions, axis None / int / negative / tuple, keepdims
    Op("sum", ("sum",), reductions(), ag.sum, np.sum),
    Op("mean", ("mean",), reductions(), ag.mean, np.mean),
    Op("max", ("max",), reductions(unique=True), ag.max, np.max),
    Op("var", ("var",), reductions(with_ddof=True), ag.var, np.var),
    # ---- shape
    Op("reshape", ("reshape",), reshapes(), ag_reshape, np.reshape),
    Op("permute", ("permute",), permutations(), ag_permute, np.transpose),
    Op("swapaxes", ("swapaxes",), two_axes(), ag_swapaxes, np_swapaxes),
    Op("transpose", ("permute", "swapaxes"), transposes(), ag_transpose, np_transpose),
    Op("unsqueeze", ("unsqueeze",), unsqueezes(), autograd.ops.unsqueeze, np.expand_dims),
    Op("squeeze", ("squeeze",), squeezes(), autograd.ops.squeeze, np.squeeze),
    Op("broadcast_to", ("broadcast_to",), broadcasts(), ag.broadcast_to, np.broadcast_to),
    Op("getitem", ("getitem",), indexings(), getitem, getitem),
    Op("concatenate", ("concatenate",), joins(), ag_concatenate, np_concatenate),
    Op("stack", ("stack",), joins(stacking=True), ag_stack, np_stack),
    # ---- selection
    Op("where", ("where",), wheres(), ag_where, np_where),
    Op("masked_fill", ("masked_fill",), masked_fills(), ag_masked_fill, np_masked_fill),
    # ---- linear algebra, normalization, losses
    Op("matmul", ("matmul",), matmuls(), matmul, matmul),
    Op("softmax", ("softmax",), softmaxes(), ag.softmax, np_softmax),
    Op("log_softmax", ("log_softmax",), log_softmaxes(), ag.log_softmax, np_log_softmax),
    Op(
        "scaled_dot_product_attention",
        ("scaled_dot_product_attention",),
        attentions(),
        autograd.ops.scaled_dot_product_attention,
        np_attention,
    ),
    Op(
        "packed_self_attention",
        ("packed_self_attention",),
        packed_attentions(),
        autograd.ops.packed_self_attention,
        np_packed_attention,
    ),
    # with dropout the forward is random: a fixed seed makes it a function to gradient-check
    Op(
        "attention with dropout",
        ("scaled_dot_product_attention",),
        st.tuples(st.tuples(*(agt.arrays((2, 3, 4, 5)) for _ in range(3))), st.just({})),
        attention_with_dropout,
        None,
    ),
    Op("cross_entropy", ("cross_entropy",), cross_entropies(), ag.cross_entropy, np_ce),
    # A row of equal values has var 0 and rstd = 1/sqrt(eps) ~ 316, which magnifies float32's
    # rounding of the mean (1e-7) into ~1e-4.
    Op(
        "layer_norm",
        ("layer_norm",),
        layer_norms(),
        ag.layer_norm,
        np_layer_norm,
        float32_atol=2e-4,
    ),
    Op(
        "add_layer_norm",
        ("add_layer_norm",),
        add_layer_norms(),
        autograd.ops.add_layer_norm,
        lambda x, r, weight, bias, eps: np_layer_norm(x + r, weight, bias, eps),
        float32_atol=2e-4,
    ),
    Op(
        "add_layer_norm with x_bias",
        ("add_layer_norm",),
        biased_add_layer_norms(),
        ag_add_layer_norm_x_bias,
        lambda x, r, weight, bias, x_bias, eps: np_layer_norm(x + x_bias + r, weight, bias, eps),
        float32_atol=2e-4,
    ),
    Op(
        "add_layer_norm with dropout",
        ("add_layer_norm",),
        biased_add_layer_norms(),
        ag_add_layer_norm_dropout,
        None,
    ),
    Op("embedding", ("embedding",), embeddings(), ag_embedding, np_embedding),
    Op(
        "embedding_layer_norm",
        ("embedding_layer_norm",),
        embedding_layer_norms(),
        ag_embedding_layer_norm,
        np_embedding_layer_norm,
        float32_atol=2e-4,
    ),
    # dropout's forward is random: its properties are tested below.
    Op("dropout", ("dropout",), one(ANY, p=0.3, seed=7), dropout_with_seed, None),
]
# cast and to_device change dtype or device, which a float64 gradcheck cannot follow; they have
# tests of their own below.
TESTED_BELOW = {"cast", "to_device"}


def by_name(op: Op) -> str:
    return op.name


def as_tensors(arrays, dtype=np.float64, requires_grad=True):
    """Tensors of the drawn arrays (None stays None). float64 arrays are wrapped as they are, so a
    non-contiguous view reaches the op."""
    return [
        None if a is None else ag.Tensor(a.astype(dtype, copy=False), requires_grad=requires_grad)
        for a in arrays
    ]


def test_the_table_covers_every_op():
    covered = {name for op in OPS for name in op.covers} | TESTED_BELOW
    assert set(autograd.ops.__all__) - covered == set()


# ----------------------------------------------------------------------- (a) forward vs NumPy


@pytest.mark.parametrize("op", [op for op in OPS if op.numpy is not None], ids=by_name)
@given(data=st.data())
def test_forward_matches_numpy(op, data):
    arrays, static = data.draw(op.inputs)
    dtype = data.draw(st.sampled_from([np.float64, np.float32]), label="dtype")
    out = op.fn(*as_tensors(arrays, dtype, requires_grad=False), **static)
    exact = [None if a is None else a.astype(dtype).astype(np.float64) for a in arrays]
    expected = np.asarray(op.numpy(*exact, **static))
    assert out.dtype == dtype, f"{op.name} turned {np.dtype(dtype)} into {out.dtype}"
    rtol, atol = (1e-10, 1e-12) if dtype == np.float64 else (1e-5, op.float32_atol)
    assert_close(out, expected, rtol=rtol, atol=atol, what=op.name)


# --------------------------------------------------------------------------- (b) gradcheck


@pytest.mark.parametrize("op", OPS, ids=by_name)
@given(data=st.data())
def test_gradcheck(op, data):
    arrays, static = data.draw(op.inputs)
    inputs = as_tensors(arrays)
    assert ag.gradcheck(lambda *xs: op.fn(*xs, **static), *inputs, **op.gradcheck)


# ----------------------------------------------------------------- (c) backward twice = 2 x grad


@pytest.mark.parametrize("op", OPS, ids=by_name)
@given(data=st.data())
def test_backward_twice_doubles_the_gradient(op, data):
    arrays, static = data.draw(op.inputs)
    tensors = as_tensors(arrays)
    inputs = [t for t in tensors if t is not None]
    out = op.fn(*tensors, **static)
    cotangent = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(cotangent)
    once = [t.grad.copy() for t in inputs]
    out.backward(cotangent)
    for i, (t, first) in enumerate(zip(inputs, once, strict=True)):
        np.testing.assert_array_equal(t.grad, 2 * first, err_msg=f"{op.name}, input {i}")


# ------------------------------------------------------------ what a table row cannot express


def grad_of(fn, x, cotangent=None):
    """The gradient of sum(fn(x) * cotangent) w.r.t. the float64 array x (cotangent: ones)."""
    t = ag.Tensor(np.array(x, dtype=np.float64), requires_grad=True)
    out = fn(t)
    out.backward(np.ones(out.shape) if cotangent is None else cotangent)
    return t.grad


def test_max_shares_the_gradient_among_ties():
    grad = grad_of(lambda t: t.max(axis=1), [[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]])
    assert_close(grad, [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])


def test_relu_gradient_is_zero_at_and_below_zero():
    assert_close(grad_of(ag.relu, [-1.0, 0.0, 2.0]), [0.0, 0.0, 1.0])


def test_x_to_the_zero_has_zero_gradient_even_at_zero():
    # d/dx x**0 = 0 everywhere; p * x**(p - 1) would give 0 * inf = NaN at x = 0.
    assert_close(grad_of(lambda t: t**0, [0.0, 2.0]), [0.0, 0.0])


def test_var_needs_degrees_of_freedom():
    with pytest.raises(ValueError, match="degrees of freedom"):
        ag.var(ag.tensor([1.0]), ddof=1)


def test_gelu_rejects_an_unknown_approximation():
    with pytest.raises(ValueError, match="approximate"):
        ag.gelu(ag.tensor([1.0]), approximate="sigmoid")


@given(
    hnp.arrays(np.float32, (3, 7), elements=st.floats(-8, 8, width=32)),
    st.sampled_from(["none", "tanh"]),
    st.booleans(),
)
def test_gelu_in_place_writes_the_ops_result_over_its_input(values, approximate, has_bias):
    bias = ag.tensor(np.linspace(-1, 1, 7, dtype=np.float32)) if has_bias else None
    x = ag.Tensor(values.copy())
    expected = ag.gelu(x, approximate, bias=bias).data  # computed aside first
    with ag.no_grad():
        returned = ag.gelu(x, approximate, bias=bias, inplace=True)
    assert returned is x and returned.dtype == np.float32
    np.testing.assert_array_equal(x.data, expected)


def test_gelu_in_place_needs_no_graph_to_record():
    x = ag.Tensor(np.linspace(-2, 2, 6).reshape(2, 3))
    ag.gelu(x, inplace=True)  # grad mode, but nothing requires grad: no graph, allowed
    leaf = ag.Tensor(np.ones((2, 3)), requires_grad=True)
    bias = ag.Tensor(np.ones(3), requires_grad=True)
    for a, b in ((leaf, None), (x, bias)):
        before = a.data.copy()
        with pytest.raises(RuntimeError, match="overwrite the input that its backward needs"):
            ag.gelu(a, bias=b, inplace=True)
        np.testing.assert_array_equal(a.data, before)  # refused before writing anything
    with ag.no_grad():
        assert ag.gelu(leaf, bias=bias, inplace=True) is leaf


def test_gelu_in_place_refuses_integers_and_mixed_dtypes():
    with pytest.raises(TypeError, match="floating tensor"), ag.no_grad():
        ag.gelu(ag.Tensor(np.arange(4)), inplace=True)
    x32 = ag.Tensor(np.ones((2, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="float32 and float64"), ag.no_grad():
        ag.gelu(x32, bias=ag.Tensor(np.ones(3)), inplace=True)


@given(
    hnp.arrays(np.float32, (3, 7), elements=st.floats(-8, 8, width=32)),
    st.booleans(),
    st.sampled_from([0.0, 0.4]),
)
def test_add_layer_norm_in_place_writes_the_ops_result_over_x(values, has_x_bias, p):
    rng = np.random.default_rng(0)
    residual, weight, bias, x_bias = (
        ag.Tensor(rng.standard_normal(shape).astype(np.float32))
        for shape in ((3, 7), (7,), (7,), (7,))
    )
    x_bias = x_bias if has_x_bias else None
    x = ag.Tensor(values.copy())

    def block(inplace):
        generator = np.random.default_rng(1) if p > 0 else None  # the same dropout mask
        return autograd.ops.add_layer_norm(
            x, residual, weight, bias, 1e-5, x_bias=x_bias, dropout_p=p, generator=generator,
            inplace=inplace,
        )  # fmt: skip

    expected = block(inplace=False).data  # computed aside first
    with ag.no_grad():
        returned = block(inplace=True)
    assert returned is x and returned.dtype == np.float32
    np.testing.assert_array_equal(x.data, expected)


def test_add_layer_norm_in_place_needs_no_graph_to_record():
    def x_and_residual():
        return ag.Tensor(np.linspace(-2, 2, 6).reshape(2, 3)), ag.Tensor(np.ones((2, 3)))

    x, residual = x_and_residual()
    autograd.ops.add_layer_norm(x, residual, inplace=True)  # grad mode, nothing requires grad
    centred = np.array([-0.8, 0.0, 0.8])  # both rows of x + 1, minus their means
    normalized = centred / np.sqrt((centred**2).mean() + 1e-5)
    np.testing.assert_allclose(x.data, [normalized] * 2, rtol=1e-12, atol=1e-15)
    for needs_grad in range(2):
        x, residual = x_and_residual()
        (x, residual)[needs_grad].requires_grad = True
        before = x.data.copy()
        with pytest.raises(RuntimeError, match="overwrite x while a graph is recorded"):
            autograd.ops.add_layer_norm(x, residual, inplace=True)
        np.testing.assert_array_equal(x.data, before)  # refused before writing anything
    with pytest.raises(TypeError, match="floating tensor to write into"), ag.no_grad():
        autograd.ops.add_layer_norm(ag.Tensor(np.arange(3)), ag.Tensor(np.ones(3)), inplace=True)
    x32 = ag.Tensor(np.ones((2, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="float32 and float64"), ag.no_grad():
        autograd.ops.add_layer_norm(x32, ag.Tensor(np.ones((2, 3))), inplace=True)


def test_softmax_of_a_fully_masked_row_is_zero_with_zero_gradient():
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    mask = np.array([[0.0, -np.inf, 0.0], [-np.inf, -np.inf, -np.inf]])
    t = ag.Tensor(x, requires_grad=True)
    y = ag.softmax(t, mask=mask)
    y.backward(np.arange(6.0).reshape(2, 3))
    e = np.exp([1.0 - 3.0, 0.0])
    assert_close(y, [[e[0] / e.sum(), 0.0, e[1] / e.sum()], [0.0, 0.0, 0.0]], rtol=1e-12)
    assert np.all(np.isfinite(t.grad)) and np.all(t.grad[1] == 0.0)


def test_softmax_mask_only_along_the_last_axis():
    with pytest.raises(ValueError, match="last axis"):
        ag.softmax(ag.tensor(np.zeros((2, 3))), axis=0, mask=np.zeros((2, 3)))


@pytest.mark.parametrize("reduction, expected", [("mean", np.nan), ("sum", 0.0)])
def test_cross_entropy_with_every_target_ignored(reduction, expected):
    # As in PyTorch: the mean over no targets is NaN; the sum is 0. The gradient stays finite.
    logits = ag.Tensor(np.ones((2, 3)), requires_grad=True)
    loss = ag.cross_entropy(logits, np.array([-100, -100]), reduction=reduction)
    np.testing.assert_equal(loss.item(), expected)
    loss.backward()
    assert_close(logits.grad, np.zeros((2, 3)))


@pytest.mark.parametrize(
    "targets, error, message",
    [
        (np.array([0, 3]), ValueError, "target 3 is outside"),
        (np.array([0.0, 1.0]), TypeError, "integer"),
        (np.array([0]), ValueError, r"targets of shape \(2,\)"),
    ],
)
def test_cross_entropy_rejects_bad_targets(targets, error, message):
    with pytest.raises(error, match=message):
        ag.cross_entropy(ag.tensor(np.zeros((2, 3))), targets)


def test_layer_norm_rejects_a_weight_of_the_wrong_size():
    with pytest.raises(ValueError, match=r"weight has shape \(3,\), expected \(4,\)"):
        ag.layer_norm(ag.tensor(np.zeros((2, 4))), ag.tensor(np.ones(3)))


# ---- dropout: random, so its forward is checked by its properties


@given(
    x=agt.arrays(agt.shapes(), elements=agt.safe_floats(avoid=(0.0,))),
    p=st.sampled_from([0.1, 0.5]),
)
def test_dropout_zeroes_or_scales_each_element(x, p):
    out = ag.dropout(ag.Tensor(x), p, np.random.default_rng(0)).numpy()
    kept = out != 0
    assert_close(out[kept], x[kept] / (1 - p), rtol=1e-12)


def test_dropout_drops_a_fraction_p_within_binomial_bounds():
    n, p = 100_000, 0.1
    out = ag.dropout(ag.ones(n), p, np.random.default_rng(1)).numpy()
    dropped = np.count_nonzero(out == 0)
    assert abs(dropped - n * p) < 5 * math.sqrt(n * p * (1 - p))  # 5 sigma


def test_dropout_same_seed_same_mask_and_gradient_is_the_mask():
    x = ag.Tensor(np.linspace(1.0, 2.0, 50), requires_grad=True)
    first = ag.dropout(x, 0.5, np.random.default_rng(3))
    second = ag.dropout(x, 0.5, np.random.default_rng(3))
    np.testing.assert_array_equal(first.numpy(), second.numpy())
    first.backward(np.ones(50))
    assert_close(x.grad, first.numpy() / x.numpy(), rtol=1e-12)


def test_dropout_is_the_identity_in_evaluation_or_with_p_zero():
    x = ag.tensor([1.0, 2.0])
    assert ag.dropout(x, 0.5, np.random.default_rng(0), training=False) is x
    assert ag.dropout(x, 0.0, np.random.default_rng(0)) is x
    assert_close(ag.dropout(x, 1.0, np.random.default_rng(0)), [0.0, 0.0])
    with pytest.raises(ValueError, match="probability"):
        ag.dropout(x, 1.5, np.random.default_rng(0))


# ---- embedding


def test_embedding_sums_repeated_rows_and_skips_padding_idx():
    weight = ag.Tensor(np.arange(12.0).reshape(4, 3), requires_grad=True)
    indices = np.array([[1, 0, 1], [3, 1, 0]])
    out = ag.embedding(indices, weight, padding_idx=0)
    assert_close(out, weight.numpy()[indices])  # the padding row is still looked up
    grad_out = np.random.default_rng(0).standard_normal((2, 3, 3))
    out.backward(grad_out)
    expected = np.zeros((4, 3))
    for position, row in np.ndenumerate(indices):
        if row != 0:
            expected[row] += grad_out[position]
    assert_close(weight.grad, expected, rtol=1e-12)


@pytest.mark.parametrize(
    "indices, error, message",
    [([0, 4], ValueError, "index 4 is outside"), ([0.0], TypeError, "integers")],
)
def test_embedding_rejects_bad_indices(indices, error, message):
    with pytest.raises(error, match=message):
        ag.embedding(np.array(indices), ag.tensor(np.zeros((4, 2))))


def test_embedding_layer_norm_equals_the_separate_ops_and_skips_each_padding_row():
    # word + type + position, as BERT sums them: one node gives the separate ops' numbers, and
    # each table's padding row (if any) gets no gradient.
    rng = np.random.default_rng(3)
    values = [rng.standard_normal(shape) for shape in ((7, 4), (2, 4), (5, 4))]
    indices = (
        rng.integers(0, 7, (3, 5)),
        rng.integers(0, 2, (3, 5)),
        np.tile(np.arange(5), (3, 1)),
    )
    indices[0][0, :2] = 0  # the padding id, twice
    padding = (0, None, None)
    cotangent = rng.standard_normal((3, 5, 4))
    F = ag.nn.functional

    def run(fused: bool):
        tables = [ag.Tensor(v.copy(), requires_grad=True) for v in values]
        weight = ag.Tensor(np.linspace(0.5, 2.0, 4), requires_grad=True)
        bias = ag.Tensor(np.linspace(-1.0, 1.0, 4), requires_grad=True)
        if fused:
            out = F.embedding_layer_norm(indices, tables, weight, bias, 1e-5, padding)
        else:
            word, kind, position = (
                F.embedding(i, t, p) for i, t, p in zip(indices, tables, padding, strict=True)
            )
            out = F.layer_norm(word + kind + position, weight, bias, 1e-5)
        out.backward(cotangent)
        return out.numpy(), [t.grad for t in (*tables, weight, bias)]

    (fused_out, fused_grads), (plain_out, plain_grads) = run(True), run(False)
    assert_close(fused_out, plain_out, rtol=1e-12, atol=1e-12)
    for got, want in zip(fused_grads, plain_grads, strict=True):
        assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert not fused_grads[0][0].any()  # the padding row of the word table
    assert fused_grads[0][1:].any()


@pytest.mark.parametrize(
    "indices, tables, message",
    [
        ((np.array([0, 4]),), ((4, 2),), "index 4 is outside table 0"),
        ((np.array([0]), np.array([0, 1])), ((4, 2), (3, 2)), "broadcast them to one shape"),
        ((np.array([0]),), ((4, 2), (3, 2)), "1 index arrays for 2 tables"),
        ((np.array([0]), np.array([0])), ((4, 2), (3, 3)), r"table 1 has shape \(3, 3\)"),
    ],
)
def test_embedding_layer_norm_rejects_mismatched_inputs(indices, tables, message):
    tensors = [ag.tensor(np.zeros(shape)) for shape in tables]
    with pytest.raises(ValueError, match=message):
        ag.nn.functional.embedding_layer_norm(indices, tensors)


# ---- cast and device moves


def test_cast_changes_dtype_and_casts_the_gradient_back():
    x = ag.Tensor(np.array([1.0, 1.0 / 3.0]), requires_grad=True)
    y = x.astype(np.float32)
    assert y.dtype == np.float32
    assert_close(y, np.array([1.0, 1.0 / 3.0]).astype(np.float32))
    cotangent = np.array([0.1, 0.7], dtype=np.float32)
    y.backward(cotangent)
    assert x.grad.dtype == np.float64
    assert_close(x.grad, cotangent.astype(np.float64))
    assert x.double() is x  # a cast to the same dtype is no op at all


def test_cast_of_a_tensor_that_requires_grad_to_integers_raises():
    with pytest.raises(TypeError, match="detach"):
        ag.tensor([1.5], requires_grad=True).astype(np.int64)
    assert ag.tensor([1.5]).astype(np.int64).dtype == np.int64


def test_to_cpu_is_a_no_op_and_unknown_devices_are_refused():
    x = ag.tensor([1.0])
    assert x.to("cpu") is x
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        x.to("tpu")


# ---- indexing with tensors and lists, and the errors of shape ops


def test_getitem_accepts_lists_and_integer_tensors_as_index_arrays():
    x = ag.Tensor(np.arange(5.0), requires_grad=True)
    y = x[[0, 0, 4]] + x[ag.tensor([4])]
    y.backward(np.ones(3))
    assert_close(x.grad, [2.0, 0.0, 0.0, 0.0, 4.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gathered_rows_backward_adds_like_np_add_at(dtype):
    # x[rows] takes the scatter-add kernel backward (an embedding's): repeated and negative
    # rows must add up in index order, to the bits np.add.at gives.
    rng = np.random.default_rng(3)
    x = ag.Tensor(rng.standard_normal((6, 4, 3)).astype(dtype), requires_grad=True)
    rows = np.array([[5, -1, 0], [2, 5, 0]])  # row 5 three times (once as -1), row 0 twice
    cotangent = rng.standard_normal((2, 3, 4, 3)).astype(dtype)
    x[rows].backward(cotangent)
    expected = np.zeros((6, 4, 3), dtype=dtype)
    np.add.at(expected, rows, cotangent)
    assert x.grad.dtype == dtype
    np.testing.assert_array_equal(x.grad, expected)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x: x.reshape(4, 2), r"reshape a tensor of shape \(2, 3\) to \(4, 2\)"),
        (lambda x: x.permute(0, 0), "not a permutation"),
        (lambda x: x.squeeze(0), "has size 2, not 1"),
        (lambda x: x.broadcast_to((3, 3)), r"\(2, 3\) cannot be broadcast to \(3, 3\)"),
        (lambda x: ag.concatenate([x, ag.zeros(3, 2)], axis=0), r"\(2, 3\) and \(3, 2\)"),
        (lambda x: ag.stack([x, ag.zeros(2, 2)]), r"\(2, 3\) and \(2, 2\)"),
        (lambda x: x @ ag.zeros(2, 3), r"\(2, 3\) and \(2, 3\) are not aligned"),
        (lambda x: x.sum(axis=2), "axis 2 is out of range"),
        (lambda x: x[2], r"shape \(2, 3\)"),
    ],
)
def test_shape_errors_name_the_shapes(call, message):
    with pytest.raises((ValueError, IndexError), match=message):
        call(ag.zeros(2, 3))


# ---------------------------------------------------------------------------------- attention


@pytest.mark.parametrize("dropout_p", [0.0, 0.3])
def test_packed_attention_fused_and_separate_ops_agree_with_dropout(dropout_p):
    # need_weights in grad mode takes the separate ops (differentiable weights); otherwise the
    # fused op runs. Same seed: the same mask, the same context and the same gradient.
    rng = np.random.default_rng(0)
    qkv_data = rng.standard_normal((3, 7, 3 * 2 * 4))
    mask = np.zeros((3, 1, 1, 7))
    mask[0, ..., 5:] = -np.inf
    cotangent = rng.standard_normal((3, 7, 8))
    results = []
    for need_weights in (False, True):
        qkv = ag.Tensor(qkv_data.copy(), requires_grad=True)
        out = autograd.ops.packed_self_attention(
            qkv, 2, mask, dropout_p, generator=np.random.default_rng(5), need_weights=need_weights
        )
        context = out[0] if need_weights else out
        (context * ag.Tensor(cotangent)).sum().backward()
        results.append((context.data, qkv.grad))
        if need_weights:
            assert out[1].requires_grad  # the separate ops' weights carry a gradient
    (fused, fused_grad), (separate, separate_grad) = results
    assert_close(fused, separate, rtol=1e-12, atol=1e-12, what="context")
    assert_close(fused_grad, separate_grad, rtol=1e-10, atol=1e-12, what="d qkv")


def test_attention_weights_from_the_fused_op_are_constants():
    q = ag.Tensor(np.ones((1, 1, 2, 3)))
    with ag.no_grad():
        context, weights = autograd.ops.scaled_dot_product_attention(q, q, q, need_weights=True)
    assert not weights.requires_grad and context.shape == (1, 1, 2, 3)
    np.testing.assert_allclose(weights.data, 0.5)


def test_attention_refuses_bad_arguments_with_what_to_do():
    q = ag.Tensor(np.ones((1, 1, 2, 3)))
    with pytest.raises(ValueError, match="dropout_p must be in"):
        autograd.ops.scaled_dot_product_attention(q, q, q, dropout_p=1.0)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        autograd.ops.scaled_dot_product_attention(q, q, q, dropout_p=0.1)
    with pytest.raises(ValueError, match="features per head"):
        k = ag.Tensor(np.ones((1, 1, 2, 4)))
        autograd.ops.scaled_dot_product_attention(q, k, k)
    with pytest.raises(ValueError, match="divisible by num_heads"):
        autograd.ops.packed_self_attention(ag.Tensor(np.ones((1, 2, 9))), 2)
