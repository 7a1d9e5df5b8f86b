"""``autograd.testing``: the strategies deliver what their docstrings promise."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd as ag
from autograd import testing as agt
from autograd.function import Function


@given(agt.shapes(min_dims=2, max_dims=3, min_side=2, max_side=4))
def test_shapes_respect_their_bounds(shape):
    assert 2 <= len(shape) <= 3 and all(2 <= n <= 4 for n in shape)


@given(agt.broadcastable_shapes(3))
def test_broadcastable_shapes_broadcast(shapes):
    assert len(shapes) == 3
    np.broadcast_shapes(*shapes)  # raises if they do not


@given(data=st.data())
def test_axes_are_valid_and_distinct_for_numpy(data):
    x = np.zeros(data.draw(agt.shapes()))
    axis = data.draw(agt.axes(x.ndim))
    np.sum(x, axis=axis)  # NumPy raises on an invalid or repeated axis
    if isinstance(axis, tuple):
        assert len({ax % x.ndim for ax in axis}) == len(axis)


@given(agt.safe_floats(-2.0, 2.0, avoid=(0.0, 1.0), margin=0.25))
def test_safe_floats_keep_their_margin(value):
    assert -2.0 <= value <= 2.0
    assert abs(value) >= 0.25 and abs(value - 1.0) >= 0.25


def test_safe_floats_with_no_room_left_is_an_error():
    with pytest.raises(ValueError, match="nothing in"):
        agt.safe_floats(-0.1, 0.1, avoid=(0.0,), margin=0.5)


@given(agt.arrays(agt.shapes(), contiguous=False))
def test_non_contiguous_arrays_are_views_with_the_requested_shape(x):
    assert np.all(np.isfinite(x))  # the NaN filler of the larger array stays outside the view
    if x.size > 1:
        assert not x.flags.c_contiguous and not x.flags.f_contiguous
        assert x.base is not None and np.isnan(x.base).any()


@given(agt.arrays((3, 4), dtype=np.float32, contiguous=True))
def test_contiguous_arrays_and_dtype(x):
    assert x.shape == (3, 4) and x.dtype == np.float32 and x.flags.c_contiguous


@given(agt.arrays(agt.shapes(), unique=True, min_gap=1e-3))
def test_unique_arrays_keep_entries_apart(x):
    ordered = np.sort(x, axis=None)
    assert np.all(np.diff(ordered) >= 1e-3)


@given(agt.positive_arrays(agt.shapes(), min_value=0.5, unique=True))
def test_positive_arrays(x):
    assert np.all(x >= 0.5) and np.all(x <= 3.0)


@given(agt.tensors(agt.shapes(), contiguous=False))
def test_tensors_require_grad_and_keep_the_view(t):
    assert isinstance(t, ag.Tensor) and t.requires_grad and t.dtype == np.float64
    assert t.size == 1 or not t.data.flags.c_contiguous


@given(agt.integer_arrays((5, 2), -3, 4))
def test_integer_arrays_are_int64_in_the_half_open_range(a):
    assert a.dtype == np.int64 and a.min() >= -3 and a.max() <= 3


def test_integer_arrays_with_an_empty_range_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        agt.integer_arrays((2,), 3, 3)


# --------------------------------------------------------------------------- check_layer_gradients


class ScaleBySavedThenMutate(Function):
    """2 * x, with a backward that (wrongly) doubles the array it saved each time it runs."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(np.full_like(x, 2.0))
        return 2.0 * x

    @staticmethod
    def backward(ctx, grad_out):
        (factor,) = ctx.saved_arrays
        grad = grad_out * factor
        factor *= 2.0
        return grad


class WrongSlope(Function):
    @staticmethod
    def forward(ctx, x):
        return 2.0 * x

    @staticmethod
    def backward(ctx, grad_out):
        return 3.0 * grad_out


@given(agt.tensors(agt.shapes(max_dims=2), elements=agt.safe_floats(avoid=(0.0,))))
def test_check_layer_gradients_passes_a_correct_layer(x):
    assert agt.check_layer_gradients(lambda t: t * ag.sigmoid(t) + ag.relu(t), x)


def test_check_layer_gradients_catches_a_wrong_gradient():
    with pytest.raises(ag.GradcheckError):
        agt.check_layer_gradients(WrongSlope.apply, ag.Tensor(np.ones(3), requires_grad=True))


def test_check_layer_gradients_catches_a_backward_that_mutates_what_it_saved():
    # gradcheck runs backward once per graph, so only the second backward shows the bug.
    x = ag.Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(AssertionError, match="input 0: a second backward"):
        agt.check_layer_gradients(ScaleBySavedThenMutate.apply, x)
