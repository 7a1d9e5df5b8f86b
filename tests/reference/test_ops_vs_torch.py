"""Every op of autograd against PyTorch: forward and gradients equal within 1e-10 in float64.

hypothesis draws the shapes (and a seed for the values) where the shapes are the point:
broadcasting pairs, reductions over random axes, batched matmul. The other ops run on a few
hand-picked cases each.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd as ag
from tests.reference.torch_helpers import assert_arrays_match, assert_matches_torch, torch

F = torch.nn.functional

seeds = st.integers(0, 2**32 - 1)


def normal(shape, seed=0, scale=1.0):
    return scale * np.random.default_rng(seed).standard_normal(shape)


def positive(shape, seed=0):
    return np.random.default_rng(seed).uniform(0.5, 2.0, shape)


def nonzero(shape, seed=0):
    """Values in +-[0.5, 2]: safe denominators, and away from ReLU's kink."""
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 2.0, shape)


def distinct(shape, seed=0):
    """Values with no ties (a shuffled, jittered grid), so max has one winner per reduction."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    return (rng.permutation(size) + rng.uniform(0.0, 0.5, size)).reshape(shape) / size


def torch_index(index):
    """The same index for torch: NumPy arrays in it become torch tensors."""
    parts = index if isinstance(index, tuple) else (index,)
    parts = tuple(torch.from_numpy(p) if isinstance(p, np.ndarray) else p for p in parts)
    return parts if isinstance(index, tuple) else parts[0]


# ------------------------------------------------------------------------------ elementwise

BINARY = {
    # name: (ours, torch, sampler of a, sampler of b)
    "add": (lambda a, b: a + b, torch.add, normal, normal),
    "sub": (lambda a, b: a - b, torch.sub, normal, normal),
    "mul": (lambda a, b: a * b, torch.mul, normal, normal),
    "div": (lambda a, b: a / b, torch.div, normal, nonzero),
    "pow": (lambda a, b: a**b, torch.pow, positive, normal),
}


@pytest.mark.parametrize("name", BINARY)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4), seed=seeds)
def test_binary_ops_broadcast_like_torch(name, shapes, seed):
    ours, theirs, sample_a, sample_b = BINARY[name]
    shape_a, shape_b = shapes.input_shapes
    assert_matches_torch(ours, theirs, sample_a(shape_a, seed), sample_b(shape_b, seed + 1))


UNARY = {
    # name: (ours, torch, sampler)
    "neg": (lambda x: -x, torch.neg, normal),
    "exp": (ag.exp, torch.exp, normal),
    "log": (ag.log, torch.log, positive),
    "sqrt": (ag.sqrt, torch.sqrt, positive),
    "tanh": (ag.tanh, torch.tanh, normal),
    "sigmoid": (ag.sigmoid, torch.sigmoid, normal),
    "sigmoid_saturated": (ag.sigmoid, torch.sigmoid, lambda s, seed: normal(s, seed, 40.0)),
    "relu": (ag.relu, torch.relu, nonzero),
    "gelu_erf": (ag.gelu, F.gelu, lambda s, seed: normal(s, seed, 3.0)),
    "gelu_tanh": (
        lambda x: ag.gelu(x, approximate="tanh"),
        lambda x: F.gelu(x, approximate="tanh"),
        lambda s, seed: normal(s, seed, 3.0),
    ),
    "pow_2": (lambda x: x**2, lambda x: x**2, normal),
    "pow_3": (lambda x: x**3, lambda x: x**3, normal),
    "pow_0": (lambda x: x**0, lambda x: x**0, nonzero),
    "pow_minus_2": (lambda x: x**-2, lambda x: x**-2, nonzero),
    "pow_half": (lambda x: x**0.5, lambda x: x**0.5, positive),
    "pow_minus_1.5": (lambda x: x**-1.5, lambda x: x**-1.5, positive),
    "scalar_base_pow": (lambda x: 2.0**x, lambda x: 2.0**x, normal),
    "scalar_add": (lambda x: 2.5 + x, lambda x: 2.5 + x, normal),
    "scalar_sub": (lambda x: 3.0 - x, lambda x: 3.0 - x, normal),
    "scalar_mul": (lambda x: x * 0.5, lambda x: x * 0.5, normal),
    "scalar_div": (lambda x: 2.0 / x, lambda x: 2.0 / x, nonzero),
    "tensor_div_scalar": (lambda x: x / 3.0, lambda x: x / 3.0, normal),
}


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("shape", [(), (5,), (3, 4), (2, 3, 4)])
def test_unary_and_scalar_operand_ops_match_torch(name, shape):
    ours, theirs, sample = UNARY[name]
    assert_matches_torch(ours, theirs, sample(shape, seed=len(shape)))


def test_relu_gradient_at_zero_is_zero_like_torch():
    assert_matches_torch(ag.relu, torch.relu, np.array([-1.0, 0.0, 2.0, -0.0, 0.5]))


# ------------------------------------------------------------------------------- reductions


@st.composite
def shape_and_axis(draw):
    """A shape and a reduction axis for it: None, one (maybe negative) axis, or a tuple."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=4))
    ndim = len(shape)
    one_axis = st.integers(-ndim, ndim - 1)
    axis = draw(
        st.one_of(
            st.none(),
            one_axis,
            st.lists(one_axis, min_size=1, unique_by=lambda a: a % ndim).map(tuple),
        )
    )
    return shape, axis


def torch_dims(axis, ndim):
    return tuple(range(ndim)) if axis is None else axis


REDUCTIONS = {
    # name: (ours(x, axis, keepdims), torch(x, dims, keepdim), sampler)
    "sum": (ag.sum, lambda x, d, k: torch.sum(x, dim=d, keepdim=k), normal),
    "mean": (ag.mean, lambda x, d, k: torch.mean(x, dim=d, keepdim=k), normal),
    "max": (ag.max, lambda x, d, k: torch.amax(x, dim=d, keepdim=k), distinct),
    "var": (ag.var, lambda x, d, k: torch.var(x, dim=d, keepdim=k, correction=0), normal),
}


@pytest.mark.parametrize("name", REDUCTIONS)
@given(case=shape_and_axis(), keepdims=st.booleans(), seed=seeds)
def test_reductions_over_random_axes_match_torch(name, case, keepdims, seed):
    ours, theirs, sample = REDUCTIONS[name]
    shape, axis = case
    dims = torch_dims(axis, len(shape))
    assert_matches_torch(
        lambda x: ours(x, axis=axis, keepdims=keepdims),
        lambda x: theirs(x, dims, keepdims),
        sample(shape, seed),
    )


@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_max_shares_the_gradient_among_ties_like_amax(axis, keepdims):
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [3.0, 0.0, -1.0]])
    assert_matches_torch(
        lambda t: t.max(axis=axis, keepdims=keepdims),
        lambda t: torch.amax(t, dim=torch_dims(axis, 2), keepdim=keepdims),
        x,
    )


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)])
def test_var_with_ddof_1_matches_torch_correction_1(axis):
    assert_matches_torch(
        lambda t: t.var(axis=axis, ddof=1),
        lambda t: torch.var(t, dim=torch_dims(axis, 3), correction=1),
        normal((3, 4, 2)),
    )


# ------------------------------------------------------------------------------ shape ops

SHAPE_OPS = {
    "reshape": (lambda x: x.reshape(6, 4), lambda x: x.reshape(6, 4)),
    "reshape_inferred": (lambda x: x.reshape(4, -1, 2), lambda x: x.reshape(4, -1, 2)),
    "reshape_flat": (lambda x: x.reshape(-1), lambda x: x.reshape(-1)),
    "view": (lambda x: x.view(3, 8), lambda x: x.view(3, 8)),
    "flatten": (lambda x: x.flatten(1), lambda x: torch.flatten(x, 1)),
    "permute": (lambda x: x.permute(2, 0, 1), lambda x: x.permute(2, 0, 1)),
    "permute_negative": (lambda x: ag.permute(x, -1, 0, 1), lambda x: x.permute(-1, 0, 1)),
    "swapaxes": (lambda x: ag.swapaxes(x, 0, 2), lambda x: torch.swapaxes(x, 0, 2)),
    "swapaxes_negative": (lambda x: x.swapaxes(-1, -2), lambda x: x.swapaxes(-1, -2)),
    "transpose": (lambda x: x.transpose(0, 1), lambda x: x.transpose(0, 1)),
    "transpose_all": (lambda x: x.transpose(), lambda x: x.permute(2, 1, 0)),
    "T": (lambda x: x.T, lambda x: x.permute(2, 1, 0)),
    "mT": (lambda x: x.mT, lambda x: x.mT),
    "unsqueeze_0": (lambda x: x.unsqueeze(0), lambda x: x.unsqueeze(0)),
    "unsqueeze_2": (lambda x: x.unsqueeze(2), lambda x: x.unsqueeze(2)),
    "unsqueeze_last": (lambda x: x.unsqueeze(-1), lambda x: x.unsqueeze(-1)),
    "broadcast_to": (lambda x: ag.broadcast_to(x, (5, 2, 3, 4)), lambda x: x.expand(5, 2, 3, 4)),
    "expand": (lambda x: x.expand(2, 2, 3, 4), lambda x: x.expand(2, 2, 3, 4)),
    "expand_tuple": (lambda x: x.expand((3, 2, 3, 4)), lambda x: x.expand((3, 2, 3, 4))),
}


@pytest.mark.parametrize("name", SHAPE_OPS)
def test_shape_ops_match_torch(name):
    ours, theirs = SHAPE_OPS[name]
    assert_matches_torch(ours, theirs, normal((2, 3, 4)))


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (lambda x: x.squeeze(1), lambda x: x.squeeze(1)),
        (lambda x: x.squeeze(-1), lambda x: x.squeeze(-1)),
        (lambda x: x.squeeze(), lambda x: x.squeeze()),
        (lambda x: ag.broadcast_to(x, (2, 2, 3, 4)), lambda x: torch.broadcast_to(x, (2, 2, 3, 4))),
        (lambda x: x.expand(5, 2, 4, 3, 2), lambda x: x.expand(5, 2, 4, 3, 2)),
    ],
    ids=["squeeze_1", "squeeze_last", "squeeze_all", "broadcast_size_1_axes", "expand_size_1"],
)
def test_squeeze_and_broadcast_of_size_1_axes_match_torch(ours, theirs):
    assert_matches_torch(ours, theirs, normal((2, 1, 3, 1)))


rows_mask = np.array([True, False, True, True])
grid_mask = np.random.default_rng(7).random((4, 5)) < 0.5
INDICES = {
    "slice": np.s_[1:3],
    "strided_slices": np.s_[1:, -4::2],
    "integers": np.s_[1, :, 0],
    "negative_integer": np.s_[-1],
    "ellipsis": np.s_[..., 1],
    "new_axis": np.s_[None, 2, 1:],
    "integer_array_with_repeats": np.array([0, 2, 0, 3, 2, 2]),
    "integer_array_2d": np.array([[0, 1], [1, 0], [3, 3]]),
    "two_integer_arrays": (np.array([0, 1, 1, 3]), np.array([2, 2, 4, 2])),
    "slice_then_integer_array": np.s_[:, np.array([4, 0, 4, 1])],
    "boolean_rows": rows_mask,
    "boolean_grid": grid_mask,
    "boolean_after_slice": np.s_[:, np.array([True, False, False, True, True])],
}


@pytest.mark.parametrize("name", INDICES)
def test_getitem_matches_torch(name):
    index = INDICES[name]
    assert_matches_torch(lambda x: x[index], lambda x: x[torch_index(index)], normal((4, 5, 3)))


def test_getitem_with_a_list_matches_torch():
    assert_matches_torch(lambda x: x[[0, 0, 3, 1]], lambda x: x[[0, 0, 3, 1]], normal((4, 5)))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_matches_torch(axis):
    shapes = [[2, 3, 4], [2, 3, 4], [2, 3, 4]]
    for shape, size in zip(shapes, (1, 2, 3), strict=True):
        shape[axis] = size
    arrays = [normal(shape, seed=i) for i, shape in enumerate(shapes)]
    assert_matches_torch(
        lambda *ts: ag.concatenate(ts, axis=axis),
        lambda *ts: torch.cat(ts, dim=axis),
        *arrays,
    )


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_stack_matches_torch(axis):
    arrays = [normal((2, 3), seed=i) for i in range(3)]
    assert_matches_torch(
        lambda *ts: ag.stack(ts, axis=axis), lambda *ts: torch.stack(ts, dim=axis), *arrays
    )


# ------------------------------------------------------------------------------- selection


def test_where_broadcasts_like_torch():
    condition = np.array([[True], [False], [True]])  # (3, 1) against (3, 4) and (4,)
    assert_matches_torch(
        lambda c, a, b: ag.where(c, a, b),
        lambda c, a, b: torch.where(c, a, b),
        condition,
        normal((3, 4)),
        normal((4,), seed=1),
    )


def test_where_with_a_scalar_branch_matches_torch():
    condition = np.random.default_rng(3).random((3, 4)) < 0.5
    assert_matches_torch(
        lambda c, a: ag.where(c, a, 0.5),
        lambda c, a: torch.where(c, a, 0.5),
        condition,
        normal((3, 4)),
    )


@pytest.mark.parametrize("value", [-1e4, 0.0, float("-inf")])
def test_masked_fill_of_an_attention_mask_matches_torch(value):
    keep = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], dtype=bool)  # (B, T)
    mask = ~keep[:, None, None, :]  # (B, 1, 1, T) against scores (B, nh, T, T)
    assert_matches_torch(
        lambda x, m: x.masked_fill(m, value),
        lambda x, m: x.masked_fill(m, value),
        normal((2, 2, 4, 4)),
        mask,
    )


# ---------------------------------------------------------------------------------- matmul


@given(
    batch=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
    m=st.integers(1, 4),
    k=st.integers(1, 4),
    n=st.integers(1, 4),
    seed=seeds,
)
def test_batched_matmul_matches_torch(batch, m, k, n, seed):
    batch_a, batch_b = batch.input_shapes
    assert_matches_torch(
        lambda a, b: a @ b,
        torch.matmul,
        normal(batch_a + (m, k), seed),
        normal(batch_b + (k, n), seed + 1),
    )


@pytest.mark.parametrize(
    "shape_a, shape_b",
    [((4,), (4,)), ((4,), (4, 3)), ((2, 4), (4,)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,))],
    ids=["vector_vector", "vector_matrix", "matrix_vector", "vector_batch", "batch_vector"],
)
def test_matmul_of_1d_operands_matches_torch(shape_a, shape_b):
    assert_matches_torch(ag.matmul, torch.matmul, normal(shape_a), normal(shape_b, seed=1))


# -------------------------------------------------------------------- softmax, log-softmax


@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_softmax_matches_torch(axis, scale):
    assert_matches_torch(
        lambda x: ag.softmax(x, axis=axis),
        lambda x: torch.softmax(x, dim=axis),
        normal((2, 3, 5), scale=scale),
    )


@pytest.mark.parametrize("masked", [-1e4, float("-inf")])
def test_softmax_with_scale_and_additive_mask_matches_torch(masked):
    B, nh, T, hs = 2, 3, 5, 8
    keep = np.ones((B, T), dtype=bool)
    keep[0, 3:] = keep[1, 1] = False  # every row keeps at least one position
    mask = np.where(keep, 0.0, masked)[:, None, None, :]  # (B, 1, 1, T)
    scale = 1.0 / np.sqrt(hs)
    assert_matches_torch(
        lambda x: ag.softmax(x, scale=scale, mask=mask),
        lambda x: torch.softmax(x * scale + torch.from_numpy(mask), dim=-1),
        normal((B, nh, T, T), scale=4.0),
    )


@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize("scale", [1.0, 50.0])
def test_log_softmax_matches_torch(axis, scale):
    assert_matches_torch(
        lambda x: ag.log_softmax(x, axis=axis),
        lambda x: torch.log_softmax(x, dim=axis),
        normal((2, 3, 5), scale=scale),
    )


# --------------------------------------------------------------------------- cross-entropy


def labels(shape, n_classes, ignored=0.0, ignore_index=-100, seed=0):
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, n_classes, shape)
    return np.where(rng.random(shape) < ignored, ignore_index, targets)


def torch_cross_entropy(logits, targets, **kwargs):
    """F.cross_entropy on (..., C) logits: torch wants classes on axis 1, so flatten to (N, C)."""
    n_classes = logits.shape[-1]
    losses = F.cross_entropy(logits.reshape(-1, n_classes), targets.reshape(-1), **kwargs)
    return losses.reshape(targets.shape) if kwargs.get("reduction") == "none" else losses


@pytest.mark.parametrize("shape", [(6,), (2, 4)], ids=["rows", "batch_by_sequence"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("ignored", [0.0, 0.4], ids=["all_counted", "some_ignored"])
def test_cross_entropy_matches_torch(shape, reduction, label_smoothing, ignored):
    targets = labels(shape, 5, ignored=ignored, seed=len(shape))
    kwargs = dict(reduction=reduction, label_smoothing=label_smoothing)
    assert_matches_torch(
        lambda x: ag.cross_entropy(x, targets, **kwargs),
        lambda x: torch_cross_entropy(x, torch.from_numpy(targets), **kwargs),
        normal(shape + (5,), scale=2.0),
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_with_another_ignore_index_matches_torch(reduction):
    targets = np.array([0, 1, 2, 1, 3, 1])
    kwargs = dict(ignore_index=1, reduction=reduction, label_smoothing=0.2)
    assert_matches_torch(
        lambda x: ag.cross_entropy(x, targets, **kwargs),
        lambda x: torch_cross_entropy(x, torch.from_numpy(targets), **kwargs),
        normal((6, 4)),
    )


def test_cross_entropy_with_every_target_ignored_is_nan_with_zero_gradient_like_torch():
    targets = np.full((3,), -100)
    assert_matches_torch(
        lambda x: ag.cross_entropy(x, targets),
        lambda x: F.cross_entropy(x, torch.from_numpy(targets)),
        normal((3, 4)),
    )


# ------------------------------------------------------------------ layer norm, embedding


@pytest.mark.parametrize("eps", [1e-5, 1e-12])
@pytest.mark.parametrize("offset", [0.0, 100.0], ids=["centered", "offset_100"])
def test_layer_norm_matches_torch(eps, offset):
    H = 8
    assert_matches_torch(
        lambda x, w, b: ag.layer_norm(x, w, b, eps=eps),
        lambda x, w, b: F.layer_norm(x, (H,), w, b, eps=eps),
        normal((2, 3, H)) + offset,
        1.0 + normal((H,), seed=1, scale=0.1),
        normal((H,), seed=2, scale=0.1),
    )


def test_layer_norm_without_affine_matches_torch():
    assert_matches_torch(
        lambda x: ag.layer_norm(x), lambda x: F.layer_norm(x, (6,)), normal((4, 6), scale=3.0)
    )


def test_layer_norm_with_weight_only_matches_torch():
    assert_matches_torch(
        lambda x, w: ag.layer_norm(x, w),
        lambda x, w: F.layer_norm(x, (6,), w),
        normal((4, 6)),
        normal((6,), seed=1),
    )


@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_matches_torch(padding_idx):
    indices = np.array([[0, 2, 5, 2, 6], [2, 2, 1, 0, 0]])  # repeats, and the padding row
    assert_matches_torch(
        lambda w: ag.embedding(indices, w, padding_idx=padding_idx),
        lambda w: F.embedding(torch.from_numpy(indices), w, padding_idx=padding_idx),
        normal((7, 4)),
    )


# -------------------------------------------------------------------------------- dropout


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_matches_torch_under_the_same_mask(p):
    shape, seed = (4, 6, 5), 11
    # Our mask, read off by dropping out ones with the same seed; torch applies it by multiplying.
    mask = ag.dropout(ag.Tensor(np.ones(shape)), p, np.random.default_rng(seed)).data
    scaled = torch.nn.functional.dropout(torch.ones(1000), p).unique()
    assert_arrays_match(  # kept elements are scaled by 1 / (1 - p) exactly as torch scales them
        np.unique(mask), scaled.numpy(), atol=0.0, rtol=1e-15, what="mask values", kind="forward"
    )
    assert_matches_torch(
        lambda x: ag.dropout(x, p, np.random.default_rng(seed)),
        lambda x: x * torch.from_numpy(mask),
        normal(shape),
    )


@pytest.mark.parametrize("p, training", [(0.5, False), (0.0, True), (1.0, True)])
def test_dropout_edge_cases_match_torch(p, training):
    assert_matches_torch(
        lambda x: ag.dropout(x, p, np.random.default_rng(0), training=training),
        lambda x: F.dropout(x, p, training=training),
        normal((3, 4)),
    )


def test_tensor_exponent_gradient_at_base_zero_matches_torch():
    """d(a^b)/db = a^b log a is 0 * -inf at a = 0; PyTorch (and we) return its limit, 0."""
    base = np.array([0.0, 0.5, 2.0])
    exponent = np.array([2.0, 3.0, 1.5])
    assert_matches_torch(lambda a, b: a**b, lambda a, b: a**b, base, exponent)
