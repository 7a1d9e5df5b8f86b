"""The fused Numba kernels equal their reference twins, and the ops built on them differentiate.

Every comparison calls both twins explicitly (``get_kernel(name, x, backend="numba")`` against
``backend="reference"``), so it tests the Numba code even under ``MINIBERT_DISABLE_JIT=1``. Under
``NUMBA_DISABLE_JIT=1`` Numba's functions run as plain Python, far too slowly for hypothesis:
the comparisons are skipped then, and one tiny-shape test runs the Python twins in a subprocess
instead. Tolerances: 2e-6 (float32) and 1e-14 (float64), relative and times the scale of the
values (1e-6 and 5e-15 pass too: the margin is for summation orders hypothesis has not found);
the AdamW step, the embedding scatter-add and the dropout mask agree bit for bit.
"""

from __future__ import annotations

import inspect
import math
import os
import runpy
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import autograd as ag
from autograd.kernels import (  # noqa: F401  (the numba_* imports register the Numba twins)
    dropout_seed,
    get_kernel,
    jit_enabled,
    numba_accumulate,
    numba_adamw,
    numba_attention,
    numba_common,
    numba_cross_entropy,
    numba_dropout,
    numba_embedding,
    numba_gelu,
    numba_layernorm,
    numba_linear,
    numba_softmax,
    registry,
)
from tests.helpers import assert_close, check_grad

NUMBA_KERNELS = [
    "softmax_forward", "softmax_backward", "log_softmax_forward", "log_softmax_backward",
    "layer_norm_forward", "layer_norm_backward", "add_layer_norm_forward", "gelu_forward",
    "gelu_forward_", "gelu_backward", "gelu_bias_backward",
    "cross_entropy_forward", "cross_entropy_backward", "embedding_backward", "adamw_step",
    "dropout_mask", "dropout_apply", "add_bias_", "bias_grad", "attention_forward",
    "attention_backward", "accumulate", "add_layer_norm_backward", "embedding_layer_norm_forward",
]  # fmt: skip

compiled = pytest.mark.skipif(
    numba_common.JIT_DISABLED,
    reason="NUMBA_DISABLE_JIT=1 runs Numba kernels as slow Python; "
    "test_python_twins_match_the_reference covers that mode",
)

# Relative tolerance per dtype; absolute tolerances are this times the scale of the values.
TOL = {np.float32: 2e-6, np.float64: 1e-14}
TINY = {np.float32: 1e-37, np.float64: 1e-300}  # below this, denormal rounding may differ


def twins(name, *args, **kwargs):
    """(numba result, reference result) of kernel ``name``, each on its own copy of the inputs."""
    results = []
    for backend in ("numba", "reference"):
        copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        results.append(get_kernel(name, args[0], backend=backend)(*copies, **kwargs))
    return results


def assert_twin(actual, expected, dtype, scale=None, what=""):
    """``actual`` equals ``expected`` to ``TOL[dtype]``, relative and times ``scale`` absolute."""
    expected = np.asarray(expected)
    if scale is None:
        finite = expected[np.isfinite(expected)]
        scale = float(np.max(np.abs(finite))) if finite.size else 1.0
    assert np.asarray(actual).dtype == expected.dtype, what
    assert_close(
        actual, expected, rtol=TOL[dtype], atol=TOL[dtype] * scale + TINY[dtype], what=what
    )


# ------------------------------------------------------------------------------------ inputs

dtypes = st.sampled_from([np.float32, np.float64])
layouts = st.sampled_from(["contiguous", "transposed", "strided", "reversed"])
seeds = st.integers(0, 2**32 - 1)


@st.composite
def row_shapes(draw, min_dims=1, max_dims=4, max_last=70):
    """(..., N): a few small leading dims (0 included) and an odd-sized last axis."""
    lead = draw(st.lists(st.integers(0, 5), min_size=min_dims - 1, max_size=max_dims - 1))
    return (*lead, draw(st.integers(1, max_last)))


def make(values: np.ndarray, layout: str) -> np.ndarray:
    """``values`` as a view of the given memory layout (the same numbers, not contiguous)."""
    if layout == "transposed" and values.ndim >= 2:
        return np.ascontiguousarray(np.swapaxes(values, -1, -2)).swapaxes(-1, -2)
    if layout == "strided":
        wide = np.zeros(values.shape[:-1] + (2 * values.shape[-1],), dtype=values.dtype)
        wide[..., ::2] = values
        return wide[..., ::2]
    if layout == "reversed":
        return np.ascontiguousarray(values[..., ::-1])[..., ::-1]
    return values


def normal(rng, shape, dtype, scale=1.0, layout="contiguous"):
    return make((rng.standard_normal(shape) * scale).astype(dtype), layout)


# ----------------------------------------------------------------------------- the registry


@pytest.mark.parametrize("name", NUMBA_KERNELS)
def test_each_numba_kernel_is_registered_with_its_twins_signature(name):
    numba_twin = get_kernel(name, None, backend="numba")
    reference_twin = get_kernel(name, None, backend="reference")
    assert numba_twin is not reference_twin
    assert inspect.signature(numba_twin) == inspect.signature(reference_twin)


def test_ops_pick_the_numba_kernels_for_numpy_arrays_unless_jit_is_disabled():
    expected = "numba" if jit_enabled() else "reference"
    assert registry.backend_for(np.zeros(1)) == expected
    kernel = get_kernel("softmax_forward", np.zeros(1))
    assert kernel is get_kernel("softmax_forward", None, backend=expected)


# ------------------------------------------------------------------------------ vector exp


@compiled
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_exp_is_within_two_ulp_everywhere_with_ieee_special_values(dtype):
    @numba.njit
    def exp_all(v, out):
        for i in range(v.shape[0]):
            out[i] = numba_common.fast_exp(v[i])

    info = np.finfo(dtype)
    lo, hi = math.log(float(info.smallest_subnormal)) - 1, math.log(float(info.max)) + 1
    v = np.concatenate([np.linspace(lo, hi, 200_001), np.linspace(-1, 1, 10_001)]).astype(dtype)
    v = np.concatenate([v, np.array([-np.inf, np.inf, np.nan, 0.0, -0.0], dtype=dtype)])
    out = np.empty_like(v)
    exp_all(v, out)
    with np.errstate(over="ignore", under="ignore"):
        exact = np.exp(v.astype(np.longdouble))
        expected = exact.astype(dtype)
    finite = np.isfinite(expected)  # zeros included: their ulp is the smallest subnormal
    ulps = np.abs(out[finite] - exact[finite]) / np.spacing(expected[finite]).astype(np.longdouble)
    assert ulps.max() <= 2.0
    overflow = np.isinf(expected)
    np.testing.assert_array_equal(out[overflow], expected[overflow])
    assert np.isnan(out[np.isnan(v)]).all()


def exps_in_a_kernel(exp, v):
    """(exp(v), fast_exp(v)) elementwise, both evaluated inside one compiled loop."""

    @numba.njit
    def both(v, out, guarded):
        for i in range(v.shape[0]):
            out[i] = exp(v[i])
            guarded[i] = numba_common.fast_exp(v[i])

    out, guarded = np.empty_like(v), np.empty_like(v)
    both(v, out, guarded)
    return out, guarded


@compiled
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_normal_equals_fast_exp_bit_for_bit_over_its_whole_range(dtype):
    # Its one-factor 2**k against fast_exp's two factors: any slip in the exponent bits (an
    # off-by-one bias, a k past the exponent field at either end) changes the result there.
    lo, hi = numba_common.NORMAL_EXP_RANGE[np.dtype(dtype)]
    v = np.concatenate([np.linspace(lo, hi, 400_001), np.linspace(-1, 1, 10_001)]).astype(dtype)
    v = np.concatenate([v, np.array([lo, hi, 0.0, -0.0, np.nan], dtype=dtype)])
    normal, guarded = exps_in_a_kernel(numba_common.exp_normal, v)
    finite = np.isfinite(v)
    np.testing.assert_array_equal(normal[finite].view(np.uint8), guarded[finite].view(np.uint8))
    assert (normal[finite] >= np.finfo(dtype).tiny).all() and np.isfinite(normal[finite]).all()
    assert np.isnan(normal[~finite]).all()


@compiled
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_flushed_is_fast_exp_with_denormal_results_flushed_to_zero(dtype):
    info = np.finfo(dtype)
    lo, hi = numba_common.NORMAL_EXP_RANGE[np.dtype(dtype)]
    below = math.log(float(info.smallest_subnormal)) - 1
    v = np.concatenate([np.linspace(below, hi, 400_001), np.linspace(-1, 1, 10_001)]).astype(dtype)
    v = np.concatenate([v, np.array([-np.inf, np.inf, np.nan, 0.0, -0.0], dtype=dtype)])
    flushed, guarded = exps_in_a_kernel(numba_common.exp_flushed, v)
    kept = (v >= lo) & (v <= hi)
    np.testing.assert_array_equal(flushed[kept].view(np.uint8), guarded[kept].view(np.uint8))
    assert (flushed[v < lo] == 0).all()  # denormals, and -inf's 0
    assert (guarded[v < lo] < 1.01 * info.tiny).all()  # only the denormal range is flushed
    assert np.isnan(flushed[np.isnan(v)]).all()
    far = np.array([hi + 0.5, 1e4, np.inf], dtype=dtype)
    assert np.isposinf(exps_in_a_kernel(numba_common.exp_flushed, far)[0]).all()


# --------------------------------------------------------------------------------- softmax


@st.composite
def masks_for(draw, shape, dtype, rng):
    """An additive mask broadcasting against ``shape``: some axes 1, maybe fewer dims."""
    ndim = draw(st.integers(1, len(shape)))
    mask_shape = tuple(1 if draw(st.booleans()) else side for side in shape[len(shape) - ndim :])
    kind = draw(st.sampled_from(["-inf", "-1e4"]))
    drop = rng.random(mask_shape) < 0.3
    mask = np.where(drop, -np.inf if kind == "-inf" else -1e4, 0.0).astype(dtype)
    if mask.ndim >= 2 and mask.shape[-2] > 0 and draw(st.booleans()):
        mask[..., 0, :] = -np.inf  # fully masked rows: zeros, as the reference gives
    return mask


@compiled
@given(row_shapes(), dtypes, layouts, seeds, st.sampled_from([1.0, 0.125]), st.data())
def test_softmax_forward_matches_reference(shape, dtype, layout, seed, scale, data):
    rng = np.random.default_rng(seed)
    x = normal(rng, shape, dtype, scale=data.draw(st.sampled_from([1.0, 30.0])), layout=layout)
    mask = data.draw(st.none() | masks_for(shape, dtype, rng))
    actual, expected = twins("softmax_forward", x, scale, mask)
    assert_twin(actual, expected, dtype, scale=1.0)


@compiled
def test_attention_mask_broadcasts_per_batch_and_fully_masked_rows_give_zeros():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((3, 2, 5, 5)).astype(np.float32)  # (B, nh, T, T)
    mask = np.zeros((3, 1, 1, 5), dtype=np.float32)  # (B, 1, 1, T)
    mask[0, ..., 3:] = -np.inf
    mask[2] = -np.inf  # every key of batch 2 masked
    actual, expected = twins("softmax_forward", scores, 0.5, mask)
    assert_twin(actual, expected, np.float32, scale=1.0)
    assert (actual[2] == 0).all() and (actual[0, ..., 3:] == 0).all()


@compiled
@given(row_shapes(), dtypes, layouts, seeds, st.sampled_from([1.0, 0.125]))
def test_softmax_backward_matches_reference(shape, dtype, layout, seed, scale):
    rng = np.random.default_rng(seed)
    y = get_kernel("softmax_forward", None, backend="reference")(normal(rng, shape, dtype))
    y = make(y, layout)
    grad_out = normal(rng, shape, dtype, layout=layout)
    actual, expected = twins("softmax_backward", y, grad_out, scale)
    assert_twin(actual, expected, dtype, scale=float(np.abs(grad_out).max(initial=1.0)))


@compiled
@given(row_shapes(), dtypes, layouts, seeds, st.sampled_from([1.0, 30.0]))
def test_log_softmax_forward_and_backward_match_reference(shape, dtype, layout, seed, spread):
    rng = np.random.default_rng(seed)
    x = normal(rng, shape, dtype, scale=spread, layout=layout)
    actual, expected = twins("log_softmax_forward", x)
    assert_twin(actual, expected, dtype)
    grad_out = normal(rng, shape, dtype, layout=layout)
    actual, expected = twins("log_softmax_backward", make(expected, layout), grad_out)
    scale = float(np.abs(grad_out).sum(axis=-1).max(initial=1.0))  # |sum(g)| bounds the terms
    assert_twin(actual, expected, dtype, scale=scale)


# ------------------------------------------------------------------------------ layer norm


@compiled
@given(row_shapes(max_last=200), dtypes, layouts, seeds, st.booleans(), st.booleans())
def test_layer_norm_forward_and_backward_match_reference(
    shape, dtype, layout, seed, has_weight, has_bias
):
    rng = np.random.default_rng(seed)
    x = normal(rng, shape, dtype, scale=3.0, layout=layout) + dtype(1.5)
    weight = normal(rng, shape[-1:], dtype) if has_weight else None
    bias = normal(rng, shape[-1:], dtype) if has_bias else None
    (y, mean, rstd), (y_ref, mean_ref, rstd_ref) = twins(
        "layer_norm_forward", x, weight, bias, 1e-5
    )
    assert_twin(y, y_ref, dtype)
    assert_twin(mean, mean_ref, dtype)
    assert_twin(rstd, rstd_ref, dtype)
    assert mean.shape == rstd.shape == shape[:-1] + (1,)

    grad_out = normal(rng, shape, dtype, layout=layout)
    actual = twins("layer_norm_backward", grad_out, x, weight, mean_ref, rstd_ref, has_bias)
    (grad_x, grad_w, grad_b), (grad_x_ref, grad_w_ref, grad_b_ref) = actual
    w_abs = 1.0 if weight is None else float(np.abs(weight).max())
    scale = float(np.abs(rstd_ref).max(initial=0)) * float(np.abs(grad_out).max(initial=0)) * w_abs
    assert_twin(grad_x, grad_x_ref, dtype, scale=scale)
    # Sums over every row, added in a different order: the bound is the sum of |terms|.
    lead = tuple(range(len(shape) - 1))
    xhat = (x - mean_ref) * rstd_ref
    for got, want, terms in ((grad_w, grad_w_ref, grad_out * xhat), (grad_b, grad_b_ref, grad_out)):
        assert (got is None) == (want is None)
        if got is not None:
            assert_twin(got, want, dtype, scale=float(np.abs(terms).sum(axis=lead).max(initial=0)))


@compiled
@given(row_shapes(max_last=200), dtypes, layouts, seeds, st.booleans(), st.booleans())
def test_add_layer_norm_forward_matches_reference(shape, dtype, layout, seed, has_weight, has_bias):
    rng = np.random.default_rng(seed)
    x = normal(rng, shape, dtype, scale=3.0, layout=layout) + dtype(1.5)
    residual = normal(rng, shape, dtype, layout=layout)
    weight = normal(rng, shape[-1:], dtype) if has_weight else None
    bias = normal(rng, shape[-1:], dtype) if has_bias else None
    (y, s, mean, rstd), (y_ref, s_ref, mean_ref, rstd_ref) = twins(
        "add_layer_norm_forward", x, residual, weight, bias, 1e-5
    )
    np.testing.assert_array_equal(s, s_ref)  # one rounding, in both
    assert_twin(y, y_ref, dtype)
    assert_twin(mean, mean_ref, dtype)
    assert_twin(rstd, rstd_ref, dtype)
    assert mean.shape == rstd.shape == shape[:-1] + (1,)
    # The fused kernel computes LayerNorm's arithmetic on s: the same bits as the LayerNorm kernel.
    y_ln, mean_ln, rstd_ln = get_kernel("layer_norm_forward", s, backend="numba")(
        s, weight, bias, 1e-5
    )
    np.testing.assert_array_equal(y, y_ln)
    np.testing.assert_array_equal(mean, mean_ln)
    np.testing.assert_array_equal(rstd, rstd_ln)
    y_only, no_sum, _, _ = get_kernel("add_layer_norm_forward", x, backend="numba")(
        x, residual, weight, bias, 1e-5, False
    )
    assert no_sum is None
    np.testing.assert_array_equal(y_only, y)  # the sums in scratch rows, never in memory
    # y written over x itself (inference's residual blocks): the same bits again; and into an
    # array the kernel cannot take (not C-contiguous), through the reference twin.
    strided = np.repeat(x[..., None], 2, axis=-1)[..., 0]  # x's values, every other element
    for out in (np.array(x, order="C"), strided):
        y_out, _, _, _ = get_kernel("add_layer_norm_forward", x, backend="numba")(
            out, residual, weight, bias, 1e-5, False, out=out
        )
        assert np.shares_memory(y_out, out) or out.size == 0
        if out.flags.c_contiguous:
            np.testing.assert_array_equal(y_out, y)
        else:
            assert_twin(y_out, y_ref, dtype)


@compiled
@given(row_shapes(max_last=200), dtypes, seeds, st.booleans(), st.sampled_from([0.0, 0.3]))
def test_add_layer_norm_with_bias_and_dropout_matches_reference(shape, dtype, seed, has_x_bias, p):
    # LayerNorm(dropout(x + x_bias) + residual): a linear layer's bias and its branch's dropout
    # in the residual block's one pass, forward and backward.
    rng = np.random.default_rng(seed)
    x, residual = normal(rng, shape, dtype, scale=3.0), normal(rng, shape, dtype)
    weight, bias = normal(rng, shape[-1:], dtype), normal(rng, shape[-1:], dtype)
    x_bias = normal(rng, shape[-1:], dtype) if has_x_bias else None
    args = (x, residual, weight, bias, 1e-5, True, x_bias, p, seed)
    (y, s, mean, rstd), (y_ref, s_ref, _, _) = twins("add_layer_norm_forward", *args)
    assert_twin(s, s_ref, dtype, scale=float(np.abs(s_ref).max(initial=1.0)))
    assert_twin(y, y_ref, dtype, scale=float(np.abs(y_ref).max(initial=1.0)) * 10)
    grad_out = normal(rng, shape, dtype)
    grads = twins("add_layer_norm_backward", grad_out, s, weight, mean, rstd, True, has_x_bias,
                  p, seed)  # fmt: skip
    size = float(np.abs(grad_out).max(initial=1.0) * np.abs(weight).max(initial=1.0) + 1.0)
    rows = max(1, math.prod(shape[:-1]))
    for actual, expected in zip(*grads, strict=True):
        if expected is None:
            assert actual is None
            continue
        assert_twin(actual, expected, dtype, scale=size * rows * 10)


@compiled
@given(st.integers(1, 40), st.integers(1, 90), dtypes, seeds, st.booleans())
def test_add_layer_norm_rows_drop_what_the_whole_tensor_drops(n_rows, n, dtype, seed, keep_sum):
    # Some rows alone, with rows= their indices in the whole tensor (repeats, any order): each
    # row's dropout mask, so its y and gradients, are that row's in the whole tensor, bit for bit,
    # in both twins (the counters of row r start at r * n).
    rng = np.random.default_rng(seed)
    x, residual = normal(rng, (n_rows, n), dtype, scale=3.0), normal(rng, (n_rows, n), dtype)
    weight, bias, x_bias = (normal(rng, (n,), dtype) for _ in range(3))
    rows = rng.integers(0, n_rows, rng.integers(1, 2 * n_rows + 1))
    grad_out = normal(rng, (n_rows, n), dtype)
    for backend in ("numba", "reference"):
        forward = get_kernel("add_layer_norm_forward", x, backend=backend)
        backward = get_kernel("add_layer_norm_backward", x, backend=backend)
        y, s, mean, rstd = forward(x, residual, weight, bias, 1e-5, True, x_bias, 0.3, seed)
        y_rows, s_rows, mean_rows, rstd_rows = forward(
            x[rows], residual[rows], weight, bias, 1e-5, True, x_bias, 0.3, seed, rows=rows
        )
        np.testing.assert_array_equal(y_rows, y[rows], err_msg=backend)
        np.testing.assert_array_equal(s_rows, s[rows], err_msg=backend)
        whole = backward(grad_out, s, weight, mean, rstd, True, True, 0.3, seed)
        alone = backward(grad_out[rows], s_rows, weight, mean_rows, rstd_rows, True, True, 0.3,
                         seed, rows=rows)  # fmt: skip
        np.testing.assert_array_equal(alone[0], whole[0][rows], err_msg=backend)  # grad_x
        if not keep_sum:  # in place over x, as inference runs it: the same rows again
            out = x[rows]
            forward(out, residual[rows], weight, bias, 1e-5, False, x_bias, 0.3, seed, out=out,
                    rows=rows)  # fmt: skip
            np.testing.assert_array_equal(out, y[rows], err_msg=backend)
    # Without rows, the counters are the rows' own: rows = 0, 1, ... changes nothing.
    identity = np.arange(n_rows)
    plain = get_kernel("add_layer_norm_forward", x, backend="numba")(
        x, residual, weight, bias, 1e-5, True, x_bias, 0.3, seed
    )
    counted = get_kernel("add_layer_norm_forward", x, backend="numba")(
        x, residual, weight, bias, 1e-5, True, x_bias, 0.3, seed, rows=identity
    )
    np.testing.assert_array_equal(plain[0], counted[0])


@compiled
@given(row_shapes(min_dims=2, max_last=80), dtypes, layouts, seeds, st.integers(1, 3),
       st.booleans())  # fmt: skip
def test_embedding_layer_norm_forward_matches_reference(
    shape, dtype, layout, seed, n_tables, keep_sum
):
    # The rows gathered and summed in the kernel are the reference's sums, bit for bit (the same
    # additions in the same order), and their LayerNorm is the LayerNorm kernel's.
    rng = np.random.default_rng(seed)
    lead, dim = shape[:-1], shape[-1]
    sizes = rng.integers(1, 30, n_tables)
    tables = [normal(rng, (int(rows), dim), dtype, scale=2.0, layout=layout) for rows in sizes]
    indices = [rng.integers(0, table.shape[0], lead) for table in tables]
    weight, bias = normal(rng, (dim,), dtype), normal(rng, (dim,), dtype)
    numba_twin = get_kernel("embedding_layer_norm_forward", tables[0], backend="numba")
    reference_twin = get_kernel("embedding_layer_norm_forward", tables[0], backend="reference")
    y, s, mean, rstd = numba_twin(tables, indices, weight, bias, 1e-5, keep_sum)
    y_ref, s_ref, mean_ref, rstd_ref = reference_twin(tables, indices, weight, bias, 1e-5)
    assert y.shape == shape and mean.shape == rstd.shape == lead + (1,)
    if keep_sum:
        np.testing.assert_array_equal(s, s_ref)
    else:
        assert s is None
    # The mean's rounding error is relative to the summed values, not to the mean (which may be
    # near 0); y's error is that times rstd.
    assert_twin(mean, mean_ref, dtype, scale=float(np.abs(s_ref).max(initial=1.0)))
    assert_twin(rstd, rstd_ref, dtype)
    assert_twin(y, y_ref, dtype, scale=float(np.abs(y_ref).max(initial=1.0)) * 10)
    y_ln, mean_ln, rstd_ln = get_kernel("layer_norm_forward", s_ref, backend="numba")(
        s_ref, weight, bias, 1e-5
    )
    np.testing.assert_array_equal(y, y_ln)
    np.testing.assert_array_equal(mean, mean_ln)
    np.testing.assert_array_equal(rstd, rstd_ln)


def test_embedding_layer_norm_forward_leaves_out_of_range_rows_to_the_reference():
    # The compiled gather does not check bounds: out-of-range rows must never reach it. The
    # reference wraps a negative row (as NumPy's take) and raises on one past the end.
    table = np.arange(12.0).reshape(4, 3)
    kernel = get_kernel("embedding_layer_norm_forward", table, backend="numba")
    wrapped, *_ = kernel((table,), (np.array([[-1, 0]]),), None, None, 1e-5)
    expected, *_ = kernel((table,), (np.array([[3, 0]]),), None, None, 1e-5)
    np.testing.assert_array_equal(wrapped, expected)
    with pytest.raises(IndexError):
        kernel((table,), (np.array([[4, 0]]),), None, None, 1e-5)


@compiled
def test_layer_norm_parameter_gradients_do_not_depend_on_the_thread_count():
    rng = np.random.default_rng(0)
    x, grad_out = rng.standard_normal((2, 333, 48)), rng.standard_normal((2, 333, 48))
    weight = rng.standard_normal(48)
    _, mean, rstd = get_kernel("layer_norm_forward", x, backend="numba")(x, weight, None, 1e-5)
    backward = get_kernel("layer_norm_backward", x, backend="numba")
    results = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        try:
            results.append(backward(grad_out, x, weight, mean, rstd, True))
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------- attention


@st.composite
def attention_inputs(draw):
    """q, k, v as a model makes them (head views of (B, T, nh, hs) projections) or contiguous,
    an additive mask of one of the shapes models use (or none), a dropout probability."""
    B, nh = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    tq, tk, hs = draw(st.integers(1, 9)), draw(st.integers(1, 9)), draw(st.integers(1, 8))
    dtype = draw(dtypes)
    rng = np.random.default_rng(draw(seeds))
    heads = draw(st.booleans())

    def operand(t):
        if heads:  # (B, T, nh, hs) -> (B, nh, T, hs), a strided view
            return normal(rng, (B, t, nh, hs), dtype).transpose(0, 2, 1, 3)
        return normal(rng, (B, nh, t, hs), dtype)

    q, k, v = operand(tq), operand(tk), operand(tk)
    kind = draw(st.sampled_from(["none", "padding", "causal", "full"]))
    mask = None
    if kind == "padding":  # (B, 1, 1, Tk): the last keys of some rows dropped
        mask = np.zeros((B, 1, 1, tk), dtype=dtype)
        mask[rng.random(B) < 0.5, ..., tk - 1 :] = -np.inf if draw(st.booleans()) else -1e4
        mask[..., 0] = 0
    elif kind == "causal":  # (1, 1, Tq, Tk)
        mask = np.triu(np.full((tq, tk), -np.inf, dtype=dtype), k=1 + tk - tq)[None, None]
        mask[..., 0] = 0
    elif kind == "full":
        mask = normal(rng, (B, nh, tq, tk), dtype)
    p = draw(st.sampled_from([0.0, 0.3]))
    return q, k, v, mask, p, dtype, rng


@compiled
@given(attention_inputs(), seeds, st.booleans())
def test_attention_forward_and_backward_match_reference(inputs, seed, need_probs):
    q, k, v, mask, p, dtype, rng = inputs
    scale = 1.0 / math.sqrt(q.shape[-1])
    (context, probs), (context_ref, probs_ref) = twins(
        "attention_forward", q, k, v, mask, scale, p, seed, need_probs
    )
    assert context.shape == context_ref.shape == q.shape
    assert_twin(context, context_ref, dtype, scale=float(np.abs(v).max()) + 1.0)
    if need_probs:
        assert_twin(probs, probs_ref, dtype, scale=1.0)
    else:
        assert probs is None and probs_ref is None
    grad = normal(rng, q.shape, dtype)
    probs_ref = twins("attention_forward", q, k, v, mask, scale, p, seed, True)[1][1]
    grads = twins("attention_backward", q, k, v, probs_ref, grad, scale, p, seed)
    size = float(np.abs(q).max() + np.abs(k).max() + np.abs(v).max() + 1.0)
    for actual, expected in zip(*grads, strict=True):
        assert_twin(actual, expected, dtype, scale=size * float(np.abs(grad).max() + 1.0) * 4)


@compiled
def test_attention_dropout_uses_the_mask_of_dropout_apply_on_the_probabilities():
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((3, 2, 16, 8)) for _ in range(3))
    context, probs = get_kernel("attention_forward", q, backend="numba")(
        q, k, v, None, 0.5, 0.4, 99
    )
    dropped = get_kernel("dropout_apply", probs, backend="reference")(probs, 0.4, 99)
    np.testing.assert_allclose(context, dropped @ v, rtol=1e-12, atol=1e-12)
    assert not np.allclose(context, probs @ v)  # the dropout did something


@compiled
def test_attention_writes_context_and_gradients_in_the_merged_heads_layout():
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((2, 3, 5, 4)).astype(np.float32) for _ in range(3))
    context, _ = get_kernel("attention_forward", q, backend="numba")(q, k, v)
    assert context.transpose(0, 2, 1, 3).flags.c_contiguous  # (B, T, nh, hs): merging is free
    probs = get_kernel("attention_forward", q, backend="reference")(q, k, v)[1]
    for g in get_kernel("attention_backward", q, backend="numba")(q, k, v, probs, q):
        assert g.transpose(0, 2, 1, 3).flags.c_contiguous


@compiled
@given(row_shapes(), dtypes, layouts, seeds)
def test_accumulate_equals_reference_bit_for_bit(shape, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    a, b = normal(rng, shape, dtype), normal(rng, shape, dtype, layout=layout)
    actual, expected = twins("accumulate", a, b)
    assert actual.dtype == expected.dtype and actual is not a
    np.testing.assert_array_equal(actual, expected)  # one addition per element


# ---------------------------------------------------------------------------------- linear


@compiled
@given(row_shapes(), dtypes, layouts, seeds)
def test_bias_add_and_bias_gradient_match_reference(shape, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    product = normal(rng, shape, dtype)  # add_bias_ gets a fresh product: contiguous
    bias = normal(rng, shape[-1:], dtype, layout=layout)
    actual, expected = twins("add_bias_", product, bias)
    np.testing.assert_array_equal(actual, expected)  # one addition per element: exact
    grad = normal(rng, shape, dtype, layout=layout)
    actual, expected = twins("bias_grad", grad)
    assert actual.shape == expected.shape == shape[-1:]
    scale = float(np.abs(grad).sum(axis=tuple(range(grad.ndim - 1))).max(initial=1.0))
    assert_twin(actual, expected, dtype, scale=scale)


@compiled
def test_add_bias_works_in_place_and_the_bias_gradient_ignores_the_thread_count():
    rng = np.random.default_rng(0)
    product, bias = rng.standard_normal((300, 70)), rng.standard_normal(70)
    out = get_kernel("add_bias_", product, backend="numba")(product, bias)
    assert out is product
    grad = rng.standard_normal((3, 9_000, 70))  # above launch's one-thread cut-off
    bias_grad = get_kernel("bias_grad", grad, backend="numba")
    sums = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        try:
            sums.append(bias_grad(grad))
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    np.testing.assert_array_equal(sums[0], sums[1])
    np.testing.assert_allclose(sums[0], grad.sum(axis=(0, 1)), rtol=1e-12)


# ------------------------------------------------------------------------------------ GELU


@compiled
@given(row_shapes(), dtypes, layouts, seeds, st.sampled_from(["none", "tanh"]))
def test_gelu_forward_and_backward_match_reference(shape, dtype, layout, seed, approximate):
    rng = np.random.default_rng(seed)
    x = normal(rng, shape, dtype, scale=4.0, layout=layout)
    if x.size == 0:  # the reference's series erf cannot take an empty array (its max is undefined)
        assert get_kernel("gelu_forward", x, backend="numba")(x, approximate).shape == shape
        return
    x.flat[0] = -9.0  # a far tail, where 1 + erf cancels in the reference
    grad_out = normal(rng, shape, dtype, layout=layout)
    # The reference's 0.5 x (1 + erf) and 0.5 x (1 + tanh) lose relative precision for negative
    # x (the sum cancels), so compare on the scale of x, where both are accurate.
    actual, expected = twins("gelu_forward", x, approximate)
    assert_twin(actual, expected, dtype, scale=float(np.abs(x).max(initial=1.0)))
    actual, expected = twins("gelu_backward", x, grad_out, approximate)
    scale = float((np.abs(grad_out) * (1 + np.abs(x))).max(initial=1.0))
    assert_twin(actual, expected, dtype, scale=scale)
    bias = normal(rng, shape[-1:], dtype)  # a linear layer's bias, added inside the kernels
    biased = x + bias
    actual, expected = twins("gelu_forward", x, approximate, bias)
    assert_twin(actual, expected, dtype, scale=float(np.abs(biased).max(initial=1.0)))
    actual, expected = twins("gelu_backward", x, grad_out, approximate, bias)
    scale = float((np.abs(grad_out) * (1 + np.abs(biased))).max(initial=1.0))
    assert_twin(actual, expected, dtype, scale=scale)


@compiled
@given(row_shapes(), dtypes, layouts, seeds, st.sampled_from(["none", "tanh"]))
@example(shape=(1000, 37), dtype=np.float32, layout="contiguous", seed=0, approximate="none")
def test_gelu_bias_backward_is_gelu_backward_and_bias_grad_bit_for_bit(
    shape, dtype, layout, seed, approximate
):
    # One pass for both must give the bits of the two kernels it replaces (the same chunks of
    # rows, summed in the same order), and stay close to the reference twin's composition.
    rng = np.random.default_rng(seed)
    x = normal(rng, shape, dtype, scale=4.0, layout=layout)
    if x.size == 0:  # the reference's series erf cannot take an empty array
        return
    grad_out = normal(rng, shape, dtype, layout=layout)
    bias = normal(rng, shape[-1:], dtype)
    grad, grad_bias = get_kernel("gelu_bias_backward", x, backend="numba")(
        x, grad_out, approximate, bias
    )
    expected = get_kernel("gelu_backward", x, backend="numba")(x, grad_out, approximate, bias)
    np.testing.assert_array_equal(grad, expected)
    np.testing.assert_array_equal(grad_bias, get_kernel("bias_grad", x, backend="numba")(expected))
    assert grad.shape == shape and grad_bias.shape == shape[-1:] and grad_bias.dtype == dtype
    reference_grad, reference_bias = get_kernel("gelu_bias_backward", x, backend="reference")(
        x, grad_out, approximate, bias
    )
    rows = max(1, x.size // shape[-1])
    scale = float((np.abs(grad_out) * (1 + np.abs(x + bias))).max(initial=1.0))
    assert_twin(grad, reference_grad, dtype, scale=scale)
    assert_twin(grad_bias, reference_bias, dtype, scale=scale * rows)


@compiled
@given(row_shapes(), dtypes, layouts, seeds, st.sampled_from(["none", "tanh"]), st.booleans())
def test_gelu_in_place_writes_the_out_of_place_kernels_bits_over_x(
    shape, dtype, layout, seed, approximate, has_bias
):
    rng = np.random.default_rng(seed)
    x = normal(rng, shape, dtype, scale=4.0, layout=layout)
    if x.size == 0:  # the reference's series erf cannot take an empty array
        return
    bias = normal(rng, shape[-1:], dtype) if has_bias else None
    expected = get_kernel("gelu_forward", x, backend="numba")(x, approximate, bias)
    scale = float(np.abs(x if bias is None else x + bias).max())  # before x is overwritten
    returned = get_kernel("gelu_forward_", x, backend="numba")(x, approximate, bias)
    assert returned is x
    if x.flags.c_contiguous:
        # The in-place kernels are separate ones (see numba_gelu); elementwise, with no sums to
        # reorder, they must give the out-of-place kernels' bits exactly.
        np.testing.assert_array_equal(x, expected)
    else:  # a view of another layout: the reference twin computed it and wrote it over x
        assert_twin(x, expected, dtype, scale=max(scale, 1.0))


@compiled
def test_gelu_in_place_leaves_read_only_arrays_alone_with_numpys_error():
    x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    x.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        get_kernel("gelu_forward_", x, backend="numba")(x)
    np.testing.assert_array_equal(x, np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4))


@compiled
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_never_computes_denormals_far_in_the_tails(dtype, approximate):
    # Arithmetic on denormals takes ~100x longer on x86 (numba_gelu's docstring), so where the
    # normal tail or e^(-2|u|) would fall below the smallest normal number it is flushed to 0.
    x = np.concatenate([np.linspace(-60, -5, 20_001), np.linspace(5, 60, 20_001)]).astype(dtype)
    forward = get_kernel("gelu_forward", x, backend="numba")
    backward = get_kernel("gelu_backward", x, backend="numba")
    tiny = np.finfo(dtype).tiny
    y, dy = forward(x, approximate), backward(x, np.ones_like(x), approximate)
    for out in (y, dy):
        assert not np.any((out != 0) & (np.abs(out) < tiny))
    # Where the tail is 0, GELU is x or 0 and its slope 1 or 0, exactly.
    far = np.abs(x) > 40
    np.testing.assert_array_equal(y[far], np.where(x[far] > 0, x[far], 0))
    np.testing.assert_array_equal(dy[far], np.where(x[far] > 0, 1, 0))


@compiled
def test_exact_gelu_is_accurate_to_float64_precision_far_into_both_tails():
    # x * Phi(x) against Phi to 21 digits (mpmath.ncdf at 30-digit precision).
    x = np.array([-1.0, -5.0, -10.0, 2.0])
    phi = np.array([0.158655253931457051415, 2.86651571879193911674e-7, 7.61985302416052606597e-24,
                    0.9772498680518207928])  # fmt: skip
    actual = get_kernel("gelu_forward", x, backend="numba")(x, "none")
    assert_close(actual, x * phi, rtol=2e-15)


@compiled
def test_float32_exact_gelu_agrees_with_the_float64_kernel_on_a_dense_grid():
    # The float32 path runs in float32 arithmetic: the forward a rational function for Phi, the
    # backward a degree-10 polynomial with an exponential; the float64 path (accurate to 2e-15,
    # test above) is the yardstick. Both tails and zero included.
    x = np.concatenate([np.linspace(-20, 20, 400_001), [0.0, -0.0, 1e-30, -1e-30]])
    x32 = x.astype(np.float32)
    x64 = x32.astype(np.float64)
    g = np.ones_like(x32)
    forward = get_kernel("gelu_forward", x32, backend="numba")
    backward = get_kernel("gelu_backward", x32, backend="numba")
    # The forward is x times Phi known to a few float32 ulps of 1 (as PyTorch's 1 + erf is):
    # its error scales with |x|, and it never has the wrong sign.
    y32, y64 = forward(x32, "none"), forward(x64, "none")
    assert np.all(np.abs(y32 - y64) <= 2e-7 * np.maximum(np.abs(x64), 1.0))
    assert not np.any(y32 * x32 < 0)
    # The derivative is at most 1.13 in size: a few float32 ulps of 1 suffice.
    assert_close(backward(x32, g, "none"), backward(x64, g.astype(np.float64), "none"),
                 rtol=4e-7, atol=4e-7)  # fmt: skip


def test_the_float32_normal_cdf_constants_are_those_the_fit_script_finds():
    # The rational function's constants in numba_gelu come from scripts/fit_normal_cdf.py; rerun
    # the fit (0.2 s) and hold them to it, and to its error bound, so neither drifts alone.
    script = runpy.run_path(str(Path(__file__).parents[2] / "scripts" / "fit_normal_cdf.py"))
    p32, q32, erf_error, phi_error = script["normal_cdf_coefficients"]()
    assert erf_error < 3e-9 and phi_error < 2e-8  # well below float32's 6e-8 at 1/2
    np.testing.assert_allclose(numba_gelu._CDF_P_F32, p32, rtol=1e-6)
    np.testing.assert_allclose(numba_gelu._CDF_Q_F32, q32, rtol=1e-6)


# ---------------------------------------------------------------------------- cross-entropy


@compiled
@given(
    st.integers(0, 40),
    st.integers(1, 300),
    dtypes,
    st.sampled_from(["contiguous", "transposed", "strided"]),
    seeds,
    st.sampled_from([0.0, 0.1]),
)
def test_cross_entropy_forward_and_backward_match_reference(
    n_rows, n_classes, dtype, layout, seed, label_smoothing
):
    rng = np.random.default_rng(seed)
    logits = normal(rng, (n_rows, n_classes), dtype, scale=5.0, layout=layout)
    targets = rng.integers(0, n_classes, n_rows)
    targets[rng.random(n_rows) < 0.3] = -100  # rows without a label
    (losses, lse), (losses_ref, lse_ref) = twins(
        "cross_entropy_forward", logits, targets, -100, label_smoothing
    )
    assert lse.shape == lse_ref.shape == (n_rows, 1)
    assert_twin(lse, lse_ref, dtype, scale=float(np.abs(logits).max(initial=1.0)))
    log_probs_scale = float(np.abs(logits - lse_ref).max(initial=1.0))
    assert_twin(losses, losses_ref, dtype, scale=log_probs_scale)
    assert (losses[targets == -100] == 0).all()

    grad_losses = normal(rng, (n_rows,), dtype)
    actual, expected = twins(
        "cross_entropy_backward", logits, lse_ref, targets, grad_losses, -100, label_smoothing
    )
    assert_twin(actual, expected, dtype, scale=float(np.abs(grad_losses).max(initial=1.0)))


# -------------------------------------------------------------------------------- embedding


@compiled
@given(
    row_shapes(min_dims=1, max_dims=3, max_last=12),
    st.integers(1, 200),
    st.integers(1, 30),
    dtypes,
    seeds,
    st.sampled_from([None, 0, -1]),
)
def test_embedding_backward_equals_add_at_bit_for_bit(
    index_shape, dim, num_embeddings, dtype, seed, padding_idx
):
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, num_embeddings, index_shape)  # repeats are likely: they must add
    grad_out = normal(rng, index_shape + (dim,), dtype, layout="strided")
    actual, expected = twins("embedding_backward", indices, grad_out, num_embeddings, padding_idx)
    np.testing.assert_array_equal(actual, expected)  # same additions, in the same order


@compiled
def test_embedding_backward_is_deterministic_across_runs_and_thread_counts():
    rng = np.random.default_rng(0)
    indices = rng.integers(0, 50, 4096)  # heavy repetition: many additions per table row
    grad_out = rng.standard_normal((4096, 200)).astype(np.float32)
    kernel = get_kernel("embedding_backward", grad_out, backend="numba")
    first = kernel(indices, grad_out, 50, None)
    numba.set_num_threads(1)
    try:
        single = kernel(indices, grad_out, 50, None)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    np.testing.assert_array_equal(first, kernel(indices, grad_out, 50, None))
    np.testing.assert_array_equal(first, single)


def test_embedding_backward_refuses_an_index_outside_the_table():
    kernel = get_kernel("embedding_backward", None, backend="numba")
    with pytest.raises(IndexError):
        kernel(np.array([0, 7]), np.ones((2, 3)), 5, None)


# ------------------------------------------------------------------------------------ AdamW


@compiled
@given(
    row_shapes(max_dims=3, max_last=300),
    dtypes,
    st.sampled_from(["C", "F", "strided"]),
    seeds,
    st.integers(1, 1000),
    st.sampled_from([0.0, 0.01]),
)
def test_adamw_step_equals_reference_bit_for_bit(shape, dtype, order, seed, step, weight_decay):
    rng = np.random.default_rng(seed)

    def state(values):
        values = values.astype(dtype)
        if order == "strided":  # not contiguous: falls back to the reference, still in place
            return make(values, "strided")
        return np.asarray(values, order=order)

    param, exp_avg = state(rng.standard_normal(shape)), state(rng.standard_normal(shape) * 0.1)
    exp_avg_sq = state(rng.random(shape) * 0.01)
    grad = normal(rng, shape, dtype, layout="transposed")
    hyper = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=weight_decay, step=step)
    arrays = {}
    for backend in ("numba", "reference"):
        copies = [a.copy(order="K") if order != "strided" else make(a.copy(), "strided")
                  for a in (param, exp_avg, exp_avg_sq)]  # fmt: skip
        assert (
            get_kernel("adamw_step", param, backend=backend)(
                copies[0], grad, copies[1], copies[2], **hyper
            )
            is None
        )
        arrays[backend] = copies
    for a, b in zip(arrays["numba"], arrays["reference"], strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(arrays["numba"][0], param) or param.size == 0  # it moved


# ---------------------------------------------------------------------------------- dropout


@compiled
@given(
    row_shapes(min_dims=1, max_dims=4, max_last=40),
    dtypes,
    seeds,
    st.sampled_from([0.0, 0.1, 0.5, 0.9]),
)
def test_dropout_mask_equals_reference_bit_for_bit(shape, dtype, seed, p):
    like = np.zeros(shape, dtype=dtype)
    actual = get_kernel("dropout_mask", like, backend="numba")(like, p, np.random.default_rng(seed))
    expected = get_kernel("dropout_mask", like, backend="reference")(
        like, p, np.random.default_rng(seed)
    )
    assert actual.dtype == expected.dtype == dtype
    np.testing.assert_array_equal(actual, expected)


@compiled
@given(
    row_shapes(min_dims=1, max_dims=4, max_last=40),
    dtypes,
    layouts,
    seeds,
    st.sampled_from([0.0, 0.1, 0.5, 0.9]),
)
def test_dropout_apply_is_the_input_times_the_mask_of_its_seed_bit_for_bit(
    shape, dtype, layout, seed, p
):
    rng = np.random.default_rng(seed)
    x = normal(rng, shape, dtype, layout=layout)
    mask = get_kernel("dropout_mask", x, backend="reference")(x, p, np.random.default_rng(seed))
    draw = dropout_seed(np.random.default_rng(seed))  # the same one draw the mask took
    actual, expected = twins("dropout_apply", x, p, draw)
    assert actual.dtype == expected.dtype == dtype and actual.shape == shape
    np.testing.assert_array_equal(actual, expected)
    np.testing.assert_array_equal(actual, x * mask)


def _binomial_bound(n, p, sigmas=5.0):
    return sigmas * math.sqrt(n * p * (1 - p))


@pytest.mark.parametrize("backend", ["numba", "reference"])
@pytest.mark.parametrize("p", [0.1, 0.5])
def test_dropout_mask_statistics(backend, p):
    if backend == "numba" and numba_common.JIT_DISABLED:
        pytest.skip("NUMBA_DISABLE_JIT=1: too slow as Python")
    kernel = get_kernel("dropout_mask", None, backend=backend)
    generator = np.random.default_rng(123)
    like = np.zeros((64, 1000), dtype=np.float32)
    first, second = kernel(like, p, generator) == 0, kernel(like, p, generator) == 0
    n = first.size
    # Each element is dropped with probability p: the count is binomial(n, p).
    for dropped in (first, second):
        assert abs(int(dropped.sum()) - n * p) < _binomial_bound(n, p)
    # Two calls draw fresh masks, independent of each other: both drop with probability p^2.
    assert abs(int((first & second).sum()) - n * p * p) < _binomial_bound(n, p * p)
    # Neighbours (the counter hash's weakest spot) are independent too.
    flat = first.reshape(-1)
    assert abs(int((flat[1:] & flat[:-1]).sum()) - (n - 1) * p * p) < _binomial_bound(n, p * p)
    # Every column keeps about the same share (no position-dependent bias).
    rows = first.shape[0]
    assert np.abs(first.mean(axis=0) - p).max() < 6 * math.sqrt(p * (1 - p) / rows)
    # The same seed gives the same mask; another seed another one.
    again = kernel(like, p, np.random.default_rng(123)) == 0
    np.testing.assert_array_equal(again, first)
    assert not np.array_equal(kernel(like, p, np.random.default_rng(124)) == 0, first)


def test_dropout_mask_values_are_zero_or_the_inverse_keep_probability():
    like = np.zeros((10, 10), dtype=np.float64)
    mask = get_kernel("dropout_mask", like, backend="reference")(
        like, 0.25, np.random.default_rng(0)
    )
    assert set(np.unique(mask)) <= {0.0, 1.0 / 0.75}


# ------------------------------------------------------------------- gradients, JIT on
# The ops pick the Numba kernels for NumPy arrays (the reference under MINIBERT_DISABLE_JIT):
# whichever runs must differentiate correctly.


def test_softmax_with_scale_and_mask_gradcheck():
    rng = np.random.default_rng(0)
    mask = np.where(rng.random((2, 1, 1, 5)) < 0.3, -np.inf, 0.0)
    check_grad(lambda x: ag.softmax(x, scale=0.7, mask=mask), rng.standard_normal((2, 2, 3, 5)))


def test_log_softmax_gradcheck():
    check_grad(lambda x: ag.log_softmax(x), np.random.default_rng(1).standard_normal((4, 7)))


@pytest.mark.parametrize("with_params", [True, False])
def test_add_layer_norm_gradcheck(with_params):
    """float64, a random cotangent (check_grad): through x, the residual, weight and bias."""
    rng = np.random.default_rng(3)
    x, r = rng.standard_normal((3, 4, 6)), rng.standard_normal((3, 4, 6))
    w, b = rng.standard_normal(6), rng.standard_normal(6)
    if with_params:
        check_grad(lambda x, r, w, b: ag.ops.add_layer_norm(x, r, w, b, eps=1e-5), x, r, w, b)
    else:
        check_grad(lambda x, r: ag.ops.add_layer_norm(x, r, eps=1e-5), x, r)


def test_add_layer_norm_is_layer_norm_of_the_sum():
    rng = np.random.default_rng(4)
    x, r = ag.Tensor(rng.standard_normal((2, 5, 8))), ag.Tensor(rng.standard_normal((2, 5, 8)))
    w, b = ag.Tensor(rng.standard_normal(8)), ag.Tensor(rng.standard_normal(8))
    fused = ag.ops.add_layer_norm(x, r, w, b, eps=1e-5)
    assert_close(fused, ag.layer_norm(x + r, w, b, eps=1e-5).data, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="differ"):
        ag.ops.add_layer_norm(x, ag.Tensor(np.ones((2, 5, 1))), w, b)
    for rows in (np.arange(5), np.zeros(10), [0] * 10):  # 5 rows, float indices, a list
        with pytest.raises(
            ValueError, match=r"dropout_rows must be an integer array of shape \(10,\)"
        ):
            ag.ops.add_layer_norm(x, r, w, b, dropout_rows=rows)


@pytest.mark.parametrize("with_params", [True, False])
def test_layer_norm_gradcheck(with_params):
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((3, 4, 6)), rng.standard_normal(6), rng.standard_normal(6)
    if with_params:
        check_grad(lambda x, w, b: ag.layer_norm(x, w, b, eps=1e-5), x, w, b)
    else:
        check_grad(lambda x: ag.layer_norm(x, eps=1e-5), x)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_gradcheck(approximate):
    x = np.random.default_rng(3).standard_normal((5, 7)) * 3
    check_grad(lambda x: ag.gelu(x, approximate=approximate), x)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_cross_entropy_gradcheck(label_smoothing):
    rng = np.random.default_rng(4)
    targets = np.array([1, -100, 4, 0, 2])
    check_grad(
        lambda z: ag.cross_entropy(z, targets, label_smoothing=label_smoothing),
        rng.standard_normal((5, 6)),
    )


def test_embedding_gradcheck():
    indices = np.array([[1, 3, 1], [0, 3, 3]])
    weight = np.random.default_rng(5).standard_normal((5, 4))
    check_grad(lambda w: ag.embedding(indices, w), weight)  # (padding rows get no gradient)


# ------------------------------------------------------------------------ the Python twins


PYTHON_TWINS_SCRIPT = """
import numpy as np
from autograd.kernels import get_kernel
from autograd.kernels import numba_common
from tests.autograd import test_kernels_numba as t

assert numba_common.JIT_DISABLED
rng = np.random.default_rng(0)
for dtype in (np.float32, np.float64):
    x = rng.standard_normal((2, 3, 5)).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    w = rng.standard_normal(5).astype(dtype)
    mask = np.where(rng.random((2, 1, 5)) < 0.3, -np.inf, 0.0).astype(dtype)
    y = t.twins("softmax_forward", x, 0.5, mask)
    t.assert_twin(*y, dtype)
    t.assert_twin(*t.twins("softmax_backward", y[1], g, 0.5), dtype)
    lp = t.twins("log_softmax_forward", x)
    t.assert_twin(*lp, dtype)
    t.assert_twin(*t.twins("log_softmax_backward", lp[1], g), dtype, scale=10.0)
    (y1, m1, r1), (y0, m0, r0) = t.twins("layer_norm_forward", x, w, w, 1e-5)
    t.assert_twin(y1, y0, dtype)
    for a, b in zip(*t.twins("layer_norm_backward", g, x, w, m0, r0, True)):
        t.assert_twin(a, b, dtype, scale=10.0)
    (y1, s1, m1, r1), (y0, s0, m0, r0) = t.twins(
        "add_layer_norm_forward", x, g, w, w, 1e-5, True, w, 0.3, 7
    )
    t.assert_twin(y1, y0, dtype, scale=10.0)
    for a, b in zip(*t.twins("add_layer_norm_backward", g, s0, w, m0, r0, True, True, 0.3, 7)):
        t.assert_twin(a, b, dtype, scale=50.0)
    q4 = x.reshape(2, 1, 3, 5)
    (c1, p1), (c0, p0) = t.twins("attention_forward", q4, q4, q4, None, 0.5, 0.2, 3)
    t.assert_twin(c1, c0, dtype, scale=5.0)
    for a, b in zip(*t.twins("attention_backward", q4, q4, q4, p0, q4, 0.5, 0.2, 3)):
        t.assert_twin(a, b, dtype, scale=20.0)
    t.assert_twin(*t.twins("add_bias_", x, w), dtype, scale=5.0)
    t.assert_twin(*t.twins("bias_grad", g), dtype, scale=10.0)
    for approximate in ("none", "tanh"):
        t.assert_twin(*t.twins("gelu_forward", x * 3, approximate), dtype, scale=5.0)
        t.assert_twin(*t.twins("gelu_backward", x * 3, g, approximate), dtype, scale=10.0)
        t.assert_twin(*t.twins("gelu_forward_", x * 3, approximate, w), dtype, scale=10.0)
    targets = np.array([1, -100, 4, 0, 2, 3])
    logits = x.reshape(6, 5)
    (l1, n1), (l0, n0) = t.twins("cross_entropy_forward", logits, targets, -100, 0.1)
    t.assert_twin(l1, l0, dtype, scale=5.0)
    t.assert_twin(n1, n0, dtype, scale=5.0)
    grad_losses = np.ones(6, dtype=dtype)
    t.assert_twin(
        *t.twins("cross_entropy_backward", logits, n0, targets, grad_losses, -100, 0.1), dtype
    )
    indices = np.array([[1, 3, 1], [0, 3, 3]])
    e1, e0 = t.twins("embedding_backward", indices, x[:, :, :4].reshape(2, 3, 4), 5, 0)
    np.testing.assert_array_equal(e1, e0)
    tables, rows = (x.reshape(6, 5), x[1][:2]), (indices, indices % 2)
    for a, b in zip(*t.twins("embedding_layer_norm_forward", tables, rows, w, w, 1e-5)):
        t.assert_twin(a, b, dtype, scale=10.0)
    with np.errstate(over="ignore"):  # uint64 scalars wrap, as the hash means them to
        d1, d0 = (
            get_kernel("dropout_mask", x, backend=b)(x, 0.3, np.random.default_rng(1))
            for b in ("numba", "reference")
        )
    np.testing.assert_array_equal(d1, d0)
    states = [(x.copy(), x.copy() * 0.1, x.copy() ** 2) for _ in range(2)]
    for backend, (p, m, v) in zip(("numba", "reference"), states):
        get_kernel("adamw_step", x, backend=backend)(
            p, g, m, v, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, step=3
        )
    for a, b in zip(*states):
        np.testing.assert_array_equal(a, b)
print("ok")
"""


def test_python_twins_match_the_reference():
    """Under NUMBA_DISABLE_JIT=1 the kernels run as Python, the intrinsics through their twins."""
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1", "MINIBERT_DISABLE_JIT": "0"}
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", PYTHON_TWINS_SCRIPT],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr
