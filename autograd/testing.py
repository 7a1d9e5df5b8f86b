"""Hypothesis strategies for testing differentiable code the way autograd's own tests do.

Gradient checks go wrong in a few predictable ways, and these strategies steer around them:

- a value lands on a kink (relu at 0) or a pole (1/x at 0), where finite differences lie:
  ``safe_floats(avoid=(0.0,))`` keeps a margin around such points;
- two entries tie for a maximum and the finite difference straddles the tie:
  ``arrays(..., unique=True)`` keeps every pair of entries at least ``min_gap`` apart;
- an op only ever sees fresh, contiguous arrays and a stride bug stays hidden:
  ``arrays(..., contiguous=False)`` hands out strided, transposed views instead.

A test of your own layer then reads::

    from hypothesis import given
    from autograd import testing as agt

    @given(agt.tensors(agt.shapes(min_dims=2), elements=agt.safe_floats(avoid=(0.0,))))
    def test_my_layer_gradients(x):
        agt.check_layer_gradients(my_layer, x)

Values are float64 unless you ask otherwise, because ``gradcheck`` needs float64. This module
needs hypothesis (the ``dev`` extra); the rest of autograd does not.
"""

from __future__ import annotations

import functools
import math

import numpy as np

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as error:  # pragma: no cover - only without the dev extra
    raise ImportError(
        "autograd.testing needs hypothesis; install it with `pip install -e '.[dev]'`"
    ) from error

from autograd.backend import get_xp
from autograd.gradcheck import gradcheck
from autograd.tensor import Tensor

__all__ = [
    "arrays", "axes", "broadcastable_shapes", "check_layer_gradients", "integer_arrays",
    "positive_arrays", "safe_floats", "shapes", "tensors",
]  # fmt: skip


# --------------------------------------------------------------------------------------- shapes


def shapes(min_dims: int = 1, max_dims: int = 4, min_side: int = 1, max_side: int = 5):
    """Array shapes, such as ``(3,)`` or ``(2, 1, 5)``.

    Small sides keep gradient checks fast: ``gradcheck`` runs the function twice per element.

    Example::

        @given(shapes(min_dims=2, max_dims=3))
        def test_something(shape): ...   # shape is e.g. (4, 1) or (2, 5, 3)
    """
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


def broadcastable_shapes(
    num_shapes: int = 2, min_dims: int = 0, max_dims: int = 4, min_side: int = 1, max_side: int = 5
):
    """Tuples of ``num_shapes`` shapes that broadcast together, as NumPy's rules allow.

    Sides of 1 and missing leading axes both occur, so the gradient of a broadcast (summed back
    by the engine) gets exercised.

    Example::

        @given(broadcastable_shapes(2))
        def test_add(shapes):
            a_shape, b_shape = shapes      # e.g. (3, 1) and (2, 1, 4)
            out_shape = np.broadcast_shapes(a_shape, b_shape)
    """
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes,
        min_dims=min_dims,
        max_dims=max_dims,
        min_side=min_side,
        max_side=max_side,
    ).map(lambda drawn: drawn.input_shapes)


@st.composite
def axes(draw, ndim: int, allow_none: bool = True):
    """An ``axis`` argument for a reduction over ``ndim`` axes: None, an int, or a tuple of ints.

    Ints may be negative (``-1`` is the last axis); tuples hold distinct axes, possibly mixing
    both spellings, and may be empty.

    Example::

        @given(st.data())
        def test_sum(data):
            x = data.draw(arrays((2, 3, 4)))
            axis = data.draw(axes(x.ndim))   # e.g. None, -1, (0, 2) or (2, -3)
    """
    choices = ["int", "tuple"] if ndim else ["tuple"]
    kind = draw(st.sampled_from((["none"] if allow_none else []) + choices))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    chosen = draw(st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim))
    return tuple(ax - ndim if draw(st.booleans()) else ax for ax in chosen)


# --------------------------------------------------------------------------------------- values


def _allowed_intervals(min_value, max_value, avoid, margin) -> list[tuple[float, float]]:
    """[min_value, max_value] minus an open ball of radius ``margin`` around each avoided point."""
    intervals = []
    low = min_value
    for point in sorted(avoid):
        if point - margin > low:
            intervals.append((low, min(point - margin, max_value)))
        low = max(low, point + margin)
    if low <= max_value:
        intervals.append((low, max_value))
    return [(lo, hi) for lo, hi in intervals if lo <= hi]


def safe_floats(
    min_value: float = -3.0,
    max_value: float = 3.0,
    avoid=(),
    margin: float = 0.1,
    spacing: float | None = None,
):
    """Finite floats in [min_value, max_value], at least ``margin`` from every point in ``avoid``.

    Put the kinks and poles of your function in ``avoid``: relu's 0, 1/x's 0, |x|'s 0. The margin
    (0.1) dwarfs gradcheck's finite-difference step (1e-6), so no check straddles a kink.

    Args:
        spacing: draw only multiples of ``spacing`` (how ``arrays(unique=True)`` keeps
            distinct values apart).

    Example::

        safe_floats(avoid=(0.0,))                # in [-3, -0.1] or [0.1, 3]
        safe_floats(min_value=0.1)               # in [0.1, 3]: a domain for log and sqrt
    """
    return _safe_floats(min_value, max_value, tuple(avoid), margin, spacing)


@functools.lru_cache(maxsize=256)  # strategies are immutable; building one per draw is slow
def _safe_floats(min_value, max_value, avoid, margin, spacing):
    if not min_value <= max_value:
        raise ValueError(f"safe_floats: min_value {min_value} exceeds max_value {max_value}")
    intervals = _allowed_intervals(min_value, max_value, avoid, margin)
    if spacing is not None:
        grids = [(math.ceil(lo / spacing), math.floor(hi / spacing)) for lo, hi in intervals]
        parts = [
            st.integers(k_lo, k_hi).map(lambda k: k * spacing)
            for k_lo, k_hi in grids
            if k_lo <= k_hi
        ]
    else:
        parts = [st.floats(lo, hi, allow_nan=False, allow_infinity=False) for lo, hi in intervals]
    if not parts:
        raise ValueError(
            f"safe_floats: nothing in [{min_value}, {max_value}] is {margin} away from {avoid}"
        )
    return st.one_of(parts)


def _well_separated(min_gap: float):
    def check(array: np.ndarray) -> bool:
        ordered = np.sort(array, axis=None)
        return bool(np.all(np.diff(ordered) >= min_gap))

    return check


@functools.lru_cache(maxsize=1024)
def _float64_arrays(shape, elements, unique, min_gap):
    strategy = hnp.arrays(np.float64, shape, elements=elements, unique=unique)
    return strategy.filter(_well_separated(min_gap)) if unique else strategy


def _as_strided_view(values: np.ndarray, order: tuple[int, ...], offsets: tuple[int, ...]):
    """A view equal to ``values``: every other element of a larger array, with axes permuted.

    The larger array is NaN outside the view, so an op that reads past its input's strides
    produces NaN instead of a plausible number.
    """
    permuted = values.transpose(order)  # axes in storage order
    base = np.full([2 * n for n in permuted.shape], np.nan, dtype=values.dtype)
    window = tuple(slice(o, o + 2 * n, 2) for o, n in zip(offsets, permuted.shape, strict=True))
    base[window] = permuted
    view = base[window].transpose(tuple(np.argsort(order)))  # back to the requested axis order
    return view


@st.composite
def arrays(
    draw,
    shape,
    dtype=np.float64,
    elements=None,
    contiguous: bool | None = None,
    unique: bool = False,
    min_gap: float = 1e-3,
):
    """Float arrays of ``shape`` (a tuple, or a strategy such as ``shapes()``).

    Args:
        dtype: the array's dtype; values are drawn as float64 and cast.
        elements: a strategy for the values; ``safe_floats()`` (in [-3, 3]) by default.
        contiguous: True gives a C-contiguous array; False a non-contiguous view (a strided
            slice of a larger array, with its axes permuted) of the requested shape; None
            (the default) lets hypothesis choose. An array with at most one element is always
            contiguous, so False cannot apply to it.
        unique: every two entries differ by at least ``min_gap``, so the finite differences of
            a max (or a sort) never cross a tie. With your own ``elements``, draws that are too
            close are rejected, so give them room (or a grid, as ``safe_floats(spacing=...)``).

    Example::

        @given(arrays(shapes(min_dims=2), contiguous=False, unique=True))
        def test_max(x): ...   # x.flags.c_contiguous is False whenever x.size > 1
    """
    shape = draw(shape) if isinstance(shape, st.SearchStrategy) else tuple(shape)
    if elements is None:
        elements = safe_floats(spacing=min_gap if unique else None)
    values = draw(_float64_arrays(shape, elements, unique, min_gap)).astype(dtype)
    if contiguous is None:
        contiguous = draw(st.booleans())
    if contiguous or values.size <= 1:
        return np.ascontiguousarray(values)
    order = draw(st.permutations(range(values.ndim)))
    offsets = draw(st.tuples(*[st.integers(0, 1)] * values.ndim))
    return _as_strided_view(values, tuple(order), offsets)


def positive_arrays(shape, min_value: float = 0.1, max_value: float = 3.0, **kwargs):
    """``arrays`` with values in [min_value, max_value]: a domain for log, sqrt and ``x ** p``.

    Takes the other arguments of ``arrays`` (dtype, contiguous, unique, min_gap).

    Example::

        @given(positive_arrays(shapes()))
        def test_log(x): assert np.all(x >= 0.1)
    """
    spacing = kwargs.get("min_gap", 1e-3) if kwargs.get("unique") else None
    elements = safe_floats(min_value, max_value, spacing=spacing)
    return arrays(shape, elements=elements, **kwargs)


def tensors(shape, dtype=np.float64, requires_grad: bool = True, **kwargs):
    """``Tensor``s wrapping ``arrays(shape, dtype, **kwargs)``, requiring grad by default.

    The array is wrapped as it is, so a non-contiguous view stays non-contiguous.

    Example::

        @given(tensors(shapes(), elements=safe_floats(avoid=(0.0,))))
        def test_relu(x): assert ag.gradcheck(ag.relu, x)
    """
    return arrays(shape, dtype=dtype, **kwargs).map(
        lambda a: Tensor(a, requires_grad=requires_grad)
    )


def integer_arrays(shape, low: int, high: int):
    """int64 arrays of ``shape`` with values in [low, high): token ids, class targets, indices.

    Values repeat freely, which is what a scatter-add backward (embedding) must handle.

    Example::

        integer_arrays((2, 7), 0, vocab_size)      # input_ids
    """
    if high <= low:
        raise ValueError(f"integer_arrays: the range [{low}, {high}) is empty")
    return hnp.arrays(np.int64, shape, elements=st.integers(low, high - 1))


# ------------------------------------------------------------------------------------- checking


def check_layer_gradients(fn, *inputs: Tensor, seed: int = 0, **gradcheck_kwargs) -> bool:
    """Gradient-check ``fn`` (a function or a module) at ``inputs``, then backward twice.

    1. ``gradcheck(fn, *inputs, seed=seed, **gradcheck_kwargs)``: the analytic gradient of
       a random projection of the output against central finite differences.
    2. Two ``backward`` calls through one graph must leave exactly twice the gradient of one
       (gradients accumulate); anything else means a backward mutates what it saved.

    Raises ``GradcheckError`` or ``AssertionError`` naming the input; returns True otherwise.
    Inputs are float64 tensors; those with ``requires_grad=True`` are checked.

    Example::

        def swish(x):
            return x * ag.sigmoid(x)

        check_layer_gradients(swish, ag.tensor(np.linspace(-2, 2, 6), requires_grad=True))
    """
    gradcheck(fn, *inputs, seed=seed, **gradcheck_kwargs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    for i in checked:
        inputs[i].grad = None
    output = fn(*inputs)
    if not output.requires_grad:
        return True
    xp = get_xp(output.data)
    cotangent = xp.asarray(np.random.default_rng(seed).standard_normal(output.shape))
    output.backward(cotangent)
    once = {i: None if inputs[i].grad is None else inputs[i].grad.copy() for i in checked}
    output.backward(cotangent)
    for i, first in once.items():
        if first is not None and not bool(xp.all(inputs[i].grad == 2 * first)):
            worst = float(xp.max(xp.abs(inputs[i].grad - 2 * first)))
            raise AssertionError(
                f"input {i}: a second backward through the same graph did not double its "
                f"gradient (largest difference {worst:.3g}); does a backward modify an array "
                "it saved?"
            )
    return True
