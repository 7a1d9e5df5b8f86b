"""The Numba matmul (``autograd/kernels/numba_matmul.py``) equals its reference twin.

Three things are held to the reference ``op(a) @ op(b)`` (``numpy.matmul`` on swapped views):

- the kernel itself, ``numba_matmul``, on hypothesis-drawn shapes (odd sizes at and around the
  micro-tile, batch axes that broadcast, transposes, strided / reversed / broadcast views);
- the registered dispatcher ``matmul``, with its policy as shipped and with every shape class
  forced onto the kernel;
- the gradient of ``a @ b`` through autograd, whose backward calls the kernel transposed.

Accuracy: float64 within 1e-12 of the reference, float32 within 2 sqrt(K) eps, both relative to
the error scale |op(A)| @ |op(B)| (a sum in another order may differ by that much, and no more).
None of these tests times anything: which implementation is faster is the benchmark's business.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd as ag
from autograd.kernels import numba_matmul as nm
from autograd.kernels import reference
from autograd.kernels.registry import NUMBA, available, get_kernel, jit_enabled
from tests.helpers import check_grad

needs_jit = pytest.mark.skipif(
    numba.config.DISABLE_JIT,
    reason="NUMBA_DISABLE_JIT=1: the kernel would run as plain Python (the dispatcher uses BLAS)",
)

SIDES = (1, 2, 3, 4, 5, 6, 7, 33, 65, 130)  # around the 4 x 6 micro-tile, and ragged edges
VIEWS = ("contiguous", "transposed", "strided", "reversed", "broadcast")


# ----------------------------------------------------------------------------------- the checks


def assert_matmul_close(got, a, b, transpose_a=False, transpose_b=False):
    """``got`` equals the reference twin's ``op(a) @ op(b)`` in shape, dtype and value."""
    expected = reference.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
    assert got.shape == expected.shape, f"shape {got.shape} != {expected.shape}"
    assert got.dtype == expected.dtype, f"dtype {got.dtype} != {expected.dtype}"
    k = a.shape[-2] if transpose_a else a.shape[-1]
    scale = reference.matmul(
        np.abs(a).astype(np.float64),
        np.abs(b).astype(np.float64),
        transpose_a=transpose_a,
        transpose_b=transpose_b,
    )  # |op(A)| @ |op(B)|: the scale of any summation-order difference
    if got.dtype == np.float64:
        bound = 1e-12 * scale
    else:
        bound = 2.0 * math.sqrt(max(k, 1)) * np.finfo(got.dtype).eps * scale
    error = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    worst = np.unravel_index(np.argmax(error - bound), error.shape) if error.size else ()
    assert np.all(error <= bound), (
        f"error {error[worst]:.3g} > bound {bound[worst]:.3g} at {worst} "
        f"(a {a.shape} {a.dtype}, b {b.shape}, transposes {transpose_a}, {transpose_b})"
    )


# ----------------------------------------------------------------------------------- the inputs


def make_operand(rng, shape, dtype, view):
    """An array of ``shape`` and ``dtype`` whose memory layout is ``view`` (a view, not a copy)."""
    if view == "transposed" and len(shape) >= 2:  # F-ordered matrices
        swapped = rng.standard_normal(shape[:-2] + shape[-2:][::-1]).astype(dtype)
        return np.swapaxes(swapped, -1, -2)
    if view == "strided":  # every other row and every third column of a larger array
        big = rng.standard_normal(shape[:-2] + (2 * shape[-2], 3 * shape[-1])).astype(dtype)
        return big[..., ::2, ::3]
    if view == "reversed":  # negative strides on both matrix axes
        return rng.standard_normal(shape).astype(dtype)[..., ::-1, ::-1]
    if view == "broadcast" and len(shape) > 2:  # stride 0 on the batch axes
        one = rng.standard_normal((1,) * (len(shape) - 2) + shape[-2:]).astype(dtype)
        return np.broadcast_to(one, shape)
    return rng.standard_normal(shape).astype(dtype)


@st.composite
def matmul_cases(draw):
    """(a, b, transpose_a, transpose_b): any sizes, broadcasting batches, any layouts."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    m, k, n = (draw(st.sampled_from(SIDES)) for _ in range(3))
    batch = draw(st.sampled_from([(), (3,), (2, 3)]))
    transpose_a, transpose_b = draw(st.booleans()), draw(st.booleans())

    def batch_of_one_operand():  # drop leading axes or shrink some to 1: both broadcast
        dims = batch[draw(st.integers(0, len(batch))) :]
        return tuple(draw(st.sampled_from([d, 1])) for d in dims)

    a_shape = batch_of_one_operand() + ((k, m) if transpose_a else (m, k))
    b_shape = batch_of_one_operand() + ((n, k) if transpose_b else (k, n))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    a = make_operand(rng, a_shape, dtype, draw(st.sampled_from(VIEWS)))
    b = make_operand(rng, b_shape, dtype, draw(st.sampled_from(VIEWS)))
    return a, b, transpose_a, transpose_b


# ----------------------------------------------------------------------------------- the kernel


@needs_jit
@given(matmul_cases())
def test_kernel_equals_reference(case):
    a, b, transpose_a, transpose_b = case
    assert_matmul_close(
        nm.numba_matmul(a, b, transpose_a, transpose_b), a, b, transpose_a, transpose_b
    )


@needs_jit
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "a_shape, b_shape, transpose_a, transpose_b",
    [
        ((1, 65), (65, 1), False, False),  # 1xK @ Kx1: one dot product
        ((130, 1), (1, 33), False, False),  # Kx1 @ 1xK: an outer product, K = 1
        ((7, 33), (130, 33), False, True),  # x @ W^T
        ((130, 7), (130, 65), True, False),  # x^T @ G
        ((33, 7), (65, 33), True, True),
        ((5, 1100), (1100, 7), False, False),  # K beyond one K slab: the slabs add up
        ((70, 9), (9, 1030), False, False),  # M past one row block, N past one column block
        ((2, 1, 3, 65, 7), (4, 1, 7, 33), False, False),  # batches broadcast from both sides
        ((3, 65, 7), (7, 130), False, False),  # a 2-D operand against a 3-D one
        ((65, 7), (2, 3, 33, 7), False, True),  # ... and against a 4-D one, transposed
    ],
)
def test_kernel_equals_reference_on_edge_shapes(dtype, a_shape, b_shape, transpose_a, transpose_b):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(a_shape).astype(dtype)
    b = rng.standard_normal(b_shape).astype(dtype)
    assert_matmul_close(
        nm.numba_matmul(a, b, transpose_a, transpose_b), a, b, transpose_a, transpose_b
    )


@needs_jit
@pytest.mark.parametrize(
    "a_shape, b_shape", [((7,), (7,)), ((7,), (2, 7, 5)), ((2, 3, 7), (7,)), ((4, 7), (7,))]
)
def test_kernel_takes_vectors_as_numpy_matmul_does(a_shape, b_shape):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    got = nm.numba_matmul(a, b)
    np.testing.assert_allclose(got, np.matmul(a, b), rtol=1e-12, atol=1e-12)
    assert np.shape(got) == np.shape(np.matmul(a, b))


@needs_jit
def test_kernel_promotes_mixed_dtypes_and_handles_empty_products():
    rng = np.random.default_rng(2)
    a32, b64 = rng.standard_normal((5, 7)).astype(np.float32), rng.standard_normal((7, 3))
    assert nm.numba_matmul(a32, b64).dtype == np.float64
    assert_matmul_close(nm.numba_matmul(a32, b64), a32, b64)
    empty_k = nm.numba_matmul(np.ones((3, 0)), np.ones((0, 4)))
    assert empty_k.shape == (3, 4) and not empty_k.any()
    assert nm.numba_matmul(np.ones((0, 3, 5)), np.ones((5, 2))).shape == (0, 3, 2)


@needs_jit
@pytest.mark.parametrize("transpose_b", [False, True])
def test_kernel_reads_stride_0_matrix_axes(transpose_b):
    rng = np.random.default_rng(7)
    a = np.broadcast_to(rng.standard_normal(65), (33, 65))  # every row the same, stride 0
    b = np.broadcast_to(rng.standard_normal((1, 7)), (65, 7))  # every row of B the same
    b = b.T if transpose_b else b  # (7, 65): strides (8, 0)
    assert_matmul_close(nm.numba_matmul(a, b, False, transpose_b), a, b, False, transpose_b)


@needs_jit
def test_kernel_reads_read_only_arrays_and_leaves_them_read_only():
    rng = np.random.default_rng(8)
    a = np.broadcast_to(rng.standard_normal((1, 33, 7)), (3, 33, 7))  # read-only view
    b = rng.standard_normal((7, 65))
    b.flags.writeable = False  # read-only memory
    assert_matmul_close(nm.numba_matmul(a, b), a, b)
    assert not a.flags.writeable and not b.flags.writeable


@needs_jit
def test_kernel_is_deterministic_bit_for_bit():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((3, 130, 65)).astype(np.float32)
    b = rng.standard_normal((65, 33)).astype(np.float32)
    first = nm.numba_matmul(a, b)
    assert all(np.array_equal(first, nm.numba_matmul(a, b)) for _ in range(3))


def test_kernel_rejects_what_it_does_not_compute():
    with pytest.raises(TypeError, match="float32 or float64"):
        nm.numba_matmul(np.ones((2, 3), dtype=np.int64), np.ones((3, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="2x3 but op\\(b\\) is 4x2"):
        nm.numba_matmul(np.ones((2, 3)), np.ones((4, 2)))


# ------------------------------------------------------------------------------- the dispatcher


@pytest.fixture
def every_class_on_numba(monkeypatch):
    """The dispatcher with every shape class sent to the Numba kernel."""
    monkeypatch.setattr(nm, "POLICY", {key: "numba" for key in nm.POLICY})


@given(matmul_cases())
def test_dispatcher_equals_reference(case):
    a, b, transpose_a, transpose_b = case
    assert_matmul_close(nm.matmul(a, b, transpose_a, transpose_b), a, b, transpose_a, transpose_b)


@needs_jit
def test_dispatcher_runs_the_kernel_where_the_policy_says(every_class_on_numba):
    rng = np.random.default_rng(4)
    a = rng.standard_normal((2, 33, 7)).astype(np.float32)
    b = rng.standard_normal((65, 7)).astype(np.float32)
    assert nm.matmul_choice(a.shape, b.shape, a.dtype, False, True) == "numba"
    assert_matmul_close(nm.matmul(a, b, transpose_b=True), a, b, False, True)


def test_policy_covers_every_class_and_names_an_implementation():
    for dtype in ("float32", "float64"):
        for shape_class in nm.SHAPE_CLASSES:
            assert nm.POLICY[(dtype, shape_class)] in nm.IMPLEMENTATIONS
    assert len(nm.POLICY) == 2 * len(nm.SHAPE_CLASSES)


@pytest.mark.parametrize(
    "a_shape, b_shape, transpose_a, transpose_b, expected",
    [
        ((8, 8), (8, 8), False, False, "small"),
        ((64, 128, 64), (64, 64, 128), False, False, "batched"),
        ((4096, 128), (128, 512), False, False, "short_k"),
        ((4096, 128), (4096, 512), True, False, "large"),
        ((1, 4096), (4096, 4096), False, False, "skinny"),
        ((1024, 1024), (1024, 1024), False, False, "large"),
    ],
)
def test_shape_classes(a_shape, b_shape, transpose_a, transpose_b, expected):
    assert nm.shape_class(a_shape, b_shape, transpose_a, transpose_b) == expected


def test_choice_falls_back_to_blas_where_the_kernel_cannot_run(monkeypatch, every_class_on_numba):
    big = (512, 512)
    assert nm.matmul_choice(big, big, np.int64) == "blas"
    assert nm.matmul_choice(big, big, np.float16) == "blas"
    assert nm.matmul_choice((512,), big, np.float32) == "blas"  # a vector: BLAS's gemv
    assert nm.matmul_choice((512, 0), (0, 512), np.float32) == "blas"
    monkeypatch.setattr(nm, "JIT_DISABLED", True)
    assert nm.matmul_choice(big, big, np.float32) == "blas"


def test_dispatcher_works_on_what_the_kernel_does_not_compute():
    a, b = np.arange(6).reshape(2, 3), np.arange(6).reshape(3, 2)
    np.testing.assert_array_equal(nm.matmul(a, b), a @ b)
    np.testing.assert_array_equal(nm.matmul(np.arange(3.0), np.arange(3.0)), 5.0)


def test_registered_as_the_numba_matmul():
    assert NUMBA in available("matmul")
    expected = nm.matmul if jit_enabled() else reference.matmul
    assert get_kernel("matmul", np.ones((2, 2))) is expected


# ---------------------------------------------------------------------------------- gradients


@needs_jit
@pytest.mark.parametrize(
    "a_shape, b_shape",
    [((2, 3, 4, 5), (5, 6)), ((4, 5), (3, 5, 6)), ((7,), (2, 7, 3)), ((33, 7), (7,))],
)
def test_gradcheck_through_the_kernel(a_shape, b_shape, every_class_on_numba):
    rng = np.random.default_rng(5)
    check_grad(lambda a, b: a @ b, rng.standard_normal(a_shape), rng.standard_normal(b_shape))


def test_gradcheck_through_the_shipped_policy():
    rng = np.random.default_rng(6)
    check_grad(
        lambda a, b: ag.matmul(a, b), rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    )
