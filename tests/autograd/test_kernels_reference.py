"""The kernel registry, ``special.erf``, and properties the plain reference kernels must have.

The reference twins are the definitions the fused kernels are held to, so they are checked here
against facts that do not depend on how they are written: softmax rows sum to 1, a normalized
row has mean 0, erf matches ``math.erf``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd import testing as agt
from autograd.kernels import reference, registry
from autograd.kernels.special import erf
from tests.helpers import assert_close

# ------------------------------------------------------------------------------------ registry

# Every kernel an op or an optimizer asks for must have a reference twin to fall back on.
KERNELS = [
    "matmul", "softmax_forward", "softmax_backward", "log_softmax_forward",
    "log_softmax_backward", "cross_entropy_forward", "cross_entropy_backward",
    "layer_norm_forward", "layer_norm_backward", "gelu_forward", "gelu_backward",
    "gelu_bias_backward", "embedding_backward", "adamw_step", "dropout_mask", "dropout_apply",
]  # fmt: skip


def reference_twin(*args):
    return "reference"


def numba_twin(*args):
    return "numba"


@pytest.fixture
def scratch_kernel(monkeypatch):
    """A kernel name of the test's own, removed from the registry afterwards."""
    name = "scratch_kernel_for_a_test"
    monkeypatch.setitem(registry._kernels, name, {})
    for var in ("MINIBERT_DISABLE_JIT", "NUMBA_DISABLE_JIT"):
        monkeypatch.delenv(var, raising=False)
    return name


@pytest.mark.parametrize("name", KERNELS)
def test_every_kernel_has_a_reference_twin(name):
    assert registry.REFERENCE in registry.available(name)
    assert name in registry.names()


def test_an_unknown_kernel_name_is_a_key_error_listing_the_known_ones():
    with pytest.raises(KeyError, match="no kernel named 'softmax_fwd'.*softmax_forward"):
        registry.get_kernel("softmax_fwd", np.zeros(1))


def test_an_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="unknown kernel backend 'tpu'"):
        registry.register("matmul", "tpu")


def test_a_kernel_without_a_numba_twin_falls_back_to_the_reference(scratch_kernel):
    registry.register(scratch_kernel)(reference_twin)
    assert registry.backend_for(np.zeros(1)) == registry.NUMBA
    assert registry.get_kernel(scratch_kernel, np.zeros(1)) is reference_twin


def test_an_explicit_backend_without_an_implementation_is_a_key_error(scratch_kernel):
    registry.register(scratch_kernel)(reference_twin)
    assert registry.get_kernel(scratch_kernel, np.zeros(1), backend="reference") is reference_twin
    with pytest.raises(KeyError, match="no 'cupy' implementation"):
        registry.get_kernel(scratch_kernel, np.zeros(1), backend="cupy")


@pytest.mark.parametrize(
    "var, value, jit",
    [
        (None, None, True),
        ("MINIBERT_DISABLE_JIT", "1", False),
        ("NUMBA_DISABLE_JIT", "1", False),
        ("MINIBERT_DISABLE_JIT", "true", False),
        ("MINIBERT_DISABLE_JIT", "0", True),
        ("MINIBERT_DISABLE_JIT", "false", True),
        ("NUMBA_DISABLE_JIT", "no", True),
        ("NUMBA_DISABLE_JIT", "", True),
    ],
)
def test_the_jit_switches(scratch_kernel, monkeypatch, var, value, jit):
    registry.register(scratch_kernel)(reference_twin)
    registry.register(scratch_kernel, registry.NUMBA)(numba_twin)
    if var is not None:
        monkeypatch.setenv(var, value)
    assert registry.jit_enabled() is jit
    assert registry.backend_for(np.zeros(1)) == (registry.NUMBA if jit else registry.REFERENCE)
    expected = numba_twin if jit else reference_twin
    assert registry.get_kernel(scratch_kernel, np.zeros(1)) is expected


# ------------------------------------------------------------------------------------------ erf


def test_erf_matches_math_erf_on_minus_8_to_8():
    x = np.linspace(-8.0, 8.0, 20_001)
    expected = np.array([math.erf(v) for v in x])
    assert np.max(np.abs(erf(x) - expected)) <= 1e-14


def test_erf_keeps_full_relative_precision_near_zero():
    x = np.concatenate([np.logspace(-300, -1, 600), -np.logspace(-300, -1, 600), [0.0]])
    expected = np.array([math.erf(v) for v in x])
    relative = np.abs(erf(x) - expected) / np.maximum(np.abs(expected), 1e-300)
    assert np.max(relative) <= 1e-14
    assert erf(np.array([0.0]))[0] == 0.0


def test_erf_is_odd_and_saturates():
    x = np.linspace(0.0, 10.0, 1001)
    np.testing.assert_array_equal(erf(-x), -erf(x))
    np.testing.assert_array_equal(erf(np.array([6.5, 50.0, -1e300])), [1.0, 1.0, -1.0])


def test_erf_keeps_float32():
    x = np.linspace(-3, 3, 101, dtype=np.float32)
    out = erf(x)
    assert out.dtype == np.float32
    assert_close(out, [math.erf(v) for v in x.astype(np.float64)], rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------------------- softmax

ROWS = agt.arrays(agt.shapes(min_dims=1, max_dims=3), elements=agt.safe_floats(-20.0, 20.0))


@given(x=ROWS, scale=st.sampled_from([1.0, 0.125, 3.0]))
def test_softmax_rows_are_probability_distributions(x, scale):
    y = reference.softmax_forward(x, scale)
    assert np.all(y >= 0)
    assert_close(y.sum(axis=-1), np.ones(x.shape[:-1]), rtol=1e-12)


@given(x=ROWS, shift=agt.safe_floats())
def test_softmax_ignores_a_constant_added_to_a_row(x, shift):
    assert_close(reference.softmax_forward(x + shift), reference.softmax_forward(x), rtol=1e-9)


def test_softmax_of_a_fully_masked_row_is_zeros_not_nan():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    mask = np.array([[0.0, -np.inf], [-np.inf, -np.inf]])
    y = reference.softmax_forward(x, 1.0, mask)  # a NaN or a RuntimeWarning fails the test
    np.testing.assert_array_equal(y, [[1.0, 0.0], [0.0, 0.0]])


@given(x=ROWS)
def test_log_softmax_is_the_log_of_softmax(x):
    log_p = reference.log_softmax_forward(x)
    assert_close(np.exp(log_p).sum(axis=-1), np.ones(x.shape[:-1]), rtol=1e-12)
    assert_close(log_p, np.log(reference.softmax_forward(x)), rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------------- cross-entropy


@given(data=st.data())
def test_cross_entropy_gradient_rows_sum_to_zero_and_ignored_rows_are_zero(data):
    rows, classes = data.draw(st.integers(1, 6)), data.draw(st.integers(2, 5))
    logits = data.draw(agt.arrays((rows, classes)))
    targets = data.draw(agt.integer_arrays((rows,), -1, classes))  # -1: ignored
    smoothing = data.draw(st.sampled_from([0.0, 0.2]))
    losses, lse = reference.cross_entropy_forward(logits, targets, -1, smoothing)
    grad = reference.cross_entropy_backward(logits, lse, targets, np.ones(rows), -1, smoothing)
    ignored = targets == -1
    assert np.all(losses[ignored] == 0) and np.all(losses[~ignored] > 0)
    np.testing.assert_array_equal(grad[ignored], 0.0)
    # softmax and the target distribution both sum to 1, so their difference sums to 0
    assert_close(grad.sum(axis=1), np.zeros(rows), atol=1e-12)


# ------------------------------------------------------------------------------------- layer norm


@given(x=agt.arrays(agt.shapes(min_dims=1, max_dims=3)), eps=st.sampled_from([1e-5, 1e-12]))
def test_layer_norm_rows_have_mean_zero_and_variance_var_over_var_plus_eps(x, eps):
    y, mean, rstd = reference.layer_norm_forward(x, None, None, eps)
    var = x.var(axis=-1, keepdims=True)
    assert mean.shape == rstd.shape == x.shape[:-1] + (1,)
    # x - mean carries the rounding of the mean (an ulp of |x|), and rstd magnifies it: up to
    # 1/sqrt(eps) = 1e6 for a row of equal values.
    rounding = 1e-14 * np.abs(x).max(axis=-1, keepdims=True) * rstd
    assert np.all(np.abs(y.mean(axis=-1, keepdims=True)) <= rounding + 1e-15)
    # (x - mean) / sqrt(var + eps) has variance var / (var + eps): 1 unless var is tiny
    assert_close(y.var(axis=-1, keepdims=True), var / (var + eps), rtol=1e-8, atol=1e-12)


def test_layer_norm_scales_and_shifts_after_normalizing():
    x = np.array([[1.0, 2.0, 3.0, 6.0]])
    weight, bias = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.5, 0.0, -0.5, 1.0])
    plain, _, _ = reference.layer_norm_forward(x, None, None, 1e-5)
    y, _, _ = reference.layer_norm_forward(x, weight, bias, 1e-5)
    assert_close(y, plain * weight + bias, rtol=1e-14)


# ------------------------------------------------------------------------------------------ GELU


@given(x=agt.arrays(agt.shapes(), elements=agt.safe_floats(-10.0, 10.0)))
def test_gelu_of_x_minus_gelu_of_minus_x_is_x(x):
    # x Phi(x) - (-x) Phi(-x) = x (Phi(x) + Phi(-x)) = x
    assert_close(reference.gelu_forward(x) - reference.gelu_forward(-x), x, rtol=1e-12, atol=1e-15)


def test_gelu_tanh_approximation_is_within_5e_4_of_the_erf_form():
    x = np.linspace(-8, 8, 10_001)
    assert np.max(np.abs(reference.gelu_forward(x, "tanh") - reference.gelu_forward(x))) < 5e-4
    assert_close(reference.gelu_forward(np.array([0.0, 10.0, -10.0])), [0.0, 10.0, 0.0], atol=1e-15)


# ------------------------------------------------------------------- embedding, dropout, AdamW


def test_embedding_backward_adds_repeated_rows_and_zeroes_padding():
    indices = np.array([2, 0, 2, 2])
    grad_out = np.array([[1.0], [10.0], [100.0], [1000.0]])
    table = reference.embedding_backward(indices, grad_out, 3)
    assert_close(table, [[10.0], [0.0], [1101.0]])
    assert_close(
        reference.embedding_backward(indices, grad_out, 3, padding_idx=2), [[10.0], [0.0], [0.0]]
    )


def test_dropout_mask_holds_zeros_and_the_scale_and_is_reproducible():
    like, p = np.zeros((200, 500), dtype=np.float32), 0.25
    mask = reference.dropout_mask(like, p, np.random.default_rng(5))
    assert mask.dtype == np.float32
    assert set(np.unique(mask)) == {np.float32(0.0), np.float32(1.0 / (1.0 - p))}
    np.testing.assert_array_equal(mask, reference.dropout_mask(like, p, np.random.default_rng(5)))
    n = like.size
    assert abs(np.count_nonzero(mask == 0) - n * p) < 5 * math.sqrt(n * p * (1 - p))  # 5 sigma


def test_adamw_first_step_moves_each_parameter_by_about_lr_against_its_gradient():
    # Step 1: m = (1 - b1) g and v = (1 - b2) g^2, so after bias correction m / sqrt(v) = sign(g):
    # p1 = p0 (1 - lr wd) - lr g / (|g| + eps).
    param, grad = np.array([1.0, -2.0, 0.5]), np.array([0.3, -4.0, 1e-3])
    exp_avg, exp_avg_sq = np.zeros(3), np.zeros(3)
    lr, wd, eps = 0.01, 0.1, 1e-8
    expected = param * (1 - lr * wd) - lr * grad / (np.abs(grad) + eps)
    reference.adamw_step(
        param, grad, exp_avg, exp_avg_sq, lr=lr, beta1=0.9, beta2=0.999, eps=eps,
        weight_decay=wd, step=1,
    )  # fmt: skip
    assert_close(param, expected, rtol=1e-12)
    assert_close(exp_avg, 0.1 * grad, rtol=1e-12)
    assert_close(exp_avg_sq, 0.001 * grad**2, rtol=1e-12)


def test_matmul_transposes_on_request():
    a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(4, 3)
    assert_close(reference.matmul(a, b, transpose_b=True), a @ b.T)
    assert_close(reference.matmul(b, b, transpose_a=True), b.T @ b)


def test_erf_of_an_empty_array_is_empty():
    from autograd.kernels.special import erf

    for dtype in (np.float32, np.float64):
        out = erf(np.zeros((0, 3), dtype=dtype))
        assert out.shape == (0, 3) and out.dtype == dtype
