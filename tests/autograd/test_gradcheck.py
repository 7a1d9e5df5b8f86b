"""``gradcheck`` itself: it must reject wrong backwards, say where they are wrong, and not be
fooled the way a plain ``.sum()`` projection is."""

from __future__ import annotations

import re

import numpy as np
import pytest

import autograd as ag
from autograd.function import Function
from autograd.kernels import reference, registry

MISMATCH = re.compile(r"input (\d+) at \(([\d, ]*)\): analytic ([^,]+), numeric ([^,]+),")


def mismatches(error: ag.GradcheckError) -> list[tuple[int, tuple[int, ...], float, float]]:
    """(input index, element, analytic, numeric) for every mismatch the message lists."""
    return [
        (int(i), tuple(int(e) for e in element.split(",") if e.strip()), float(a), float(n))
        for i, element, a, n in MISMATCH.findall(str(error))
    ]


def leaf(array) -> ag.Tensor:
    return ag.Tensor(np.array(array, dtype=np.float64), requires_grad=True)


RNG = np.random.default_rng(42)
X = RNG.uniform(0.5, 2.0, size=(3, 4))
Y = RNG.uniform(0.5, 2.0, size=(3, 4))


# ----------------------------------------------------------------------- planted wrong backwards


class SquareTwiceTooSteep(Function):
    """x ** 2 with a backward off by a factor of 2 (4x instead of 2x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_arrays
        return grad_out * 4 * x


class MulWrongForSecond(Function):
    """a * b whose gradient for b forgets a factor: correct for input 0, wrong for input 1."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad_out):
        a, b = ctx.saved_arrays
        return grad_out * b, grad_out


class IdentityWrongAtOneElement(Function):
    """The identity, with a backward that is wrong at element (1, 2) only."""

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad_out):
        grad = grad_out.copy()
        grad[1, 2] += 1.0
        return grad


class MatMulForgotTranspose(Function):
    """a @ b with dL/da = g @ b instead of g @ b^T."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(b)
        return a @ b

    @staticmethod
    def backward(ctx, grad_out):
        (b,) = ctx.saved_arrays
        return grad_out @ b, None


def test_a_backward_off_by_a_factor_is_caught_with_its_values():
    with pytest.raises(ag.GradcheckError) as caught:
        ag.gradcheck(SquareTwiceTooSteep.apply, leaf(X))
    assert isinstance(caught.value, AssertionError)  # so pytest reports it as a failed check
    assert "12 elements differ" in str(caught.value)
    listed = mismatches(caught.value)
    assert len(listed) == 10  # the worst ten
    for index, element, analytic, numeric in listed:
        assert index == 0 and len(element) == 2
        assert analytic == pytest.approx(2 * numeric, rel=1e-6)


def test_the_message_names_the_input_that_is_wrong():
    with pytest.raises(ag.GradcheckError) as caught:
        ag.gradcheck(MulWrongForSecond.apply, leaf(X), leaf(Y))
    assert {index for index, *_ in mismatches(caught.value)} == {1}


def test_the_message_names_the_element_that_is_wrong():
    with pytest.raises(ag.GradcheckError) as caught:
        ag.gradcheck(IdentityWrongAtOneElement.apply, leaf(X))
    ((index, element, analytic, numeric),) = mismatches(caught.value)
    assert (index, element) == (0, (1, 2))
    assert analytic - numeric == pytest.approx(1.0, abs=1e-6)


def test_a_missing_transpose_is_caught():
    b = np.array([[1.0, 2.0, 0.0], [0.5, -1.0, 3.0], [2.0, 0.0, 1.0]])  # not symmetric
    fn = lambda a: MatMulForgotTranspose.apply(a, ag.Tensor(b))
    with pytest.raises(ag.GradcheckError):
        ag.gradcheck(fn, leaf(X[:, :3]))
    assert ag.gradcheck(lambda a: a @ ag.Tensor(b), leaf(X[:, :3]))  # the real op passes


def test_raise_exception_false_returns_false_instead():
    assert ag.gradcheck(SquareTwiceTooSteep.apply, leaf(X), raise_exception=False) is False
    assert ag.gradcheck(lambda x: x * x, leaf(X), raise_exception=False) is True


def test_a_nan_gradient_fails():
    class NaNBackward(Function):
        @staticmethod
        def forward(ctx, x):
            return x.copy()

        @staticmethod
        def backward(ctx, grad_out):
            return grad_out * np.nan

    assert not ag.gradcheck(NaNBackward.apply, leaf(X), raise_exception=False)


# --------------------------------------------------- not vacuous where a plain .sum() would be


@pytest.fixture
def broken_kernel(monkeypatch):
    """Replace kernel ``name`` by ``fn`` for every backend, for the length of one test."""

    def install(name, fn):
        monkeypatch.setitem(registry._kernels, name, {})  # restored by monkeypatch afterwards
        registry.register(name)(fn)

    return install


def softmax_backward_sign_flipped(y, grad_out, scale=1.0):
    return -reference.softmax_backward(y, grad_out, scale)


def softmax_backward_zero(y, grad_out, scale=1.0):
    return np.zeros_like(y)


def layer_norm_backward_sign_flipped(grad_out, x, weight, mean, rstd, has_bias=True):
    grad_x, grad_weight, grad_bias = reference.layer_norm_backward(
        grad_out, x, weight, mean, rstd, has_bias
    )
    return -grad_x, grad_weight, grad_bias


@pytest.mark.parametrize("broken", [softmax_backward_sign_flipped, softmax_backward_zero])
def test_a_broken_softmax_backward_passes_a_sum_check_but_not_gradcheck(broken_kernel, broken):
    broken_kernel("softmax_backward", broken)
    # softmax rows always sum to 1, so d/dx sum(softmax(x)) = 0: a wrong backward that is also
    # zero for a constant grad_out slips through.
    assert ag.gradcheck(lambda x: ag.softmax(x).sum(), leaf(X))
    with pytest.raises(ag.GradcheckError):
        ag.gradcheck(ag.softmax, leaf(X))


def test_a_broken_layer_norm_backward_passes_a_sum_check_but_not_gradcheck(broken_kernel):
    broken_kernel("layer_norm_backward", layer_norm_backward_sign_flipped)
    # Without weight and bias each normalized row sums to 0 whatever x is.
    assert ag.gradcheck(lambda x: ag.layer_norm(x).sum(), leaf(X))
    with pytest.raises(ag.GradcheckError):
        ag.gradcheck(ag.layer_norm, leaf(X))


def test_the_real_softmax_and_layer_norm_pass_both():
    for fn in (ag.softmax, ag.layer_norm):
        assert ag.gradcheck(fn, leaf(X))
        assert ag.gradcheck(lambda x, fn=fn: fn(x).sum(), leaf(X))


# -------------------------------------------------------------------------- what it refuses


def test_float32_inputs_are_refused():
    x = ag.Tensor(X.astype(np.float32), requires_grad=True)
    with pytest.raises(TypeError, match="input 0 is float32; finite differences need float64"):
        ag.gradcheck(ag.exp, x)


def test_without_an_input_that_requires_grad_there_is_nothing_to_check():
    with pytest.raises(ValueError, match="no input has requires_grad=True"):
        ag.gradcheck(ag.exp, ag.Tensor(X))


def test_fn_must_return_a_tensor():
    with pytest.raises(TypeError, match="must return a Tensor"):
        ag.gradcheck(lambda x: x.numpy(), leaf(X))


def test_the_inputs_are_left_as_they_were():
    x = leaf(X)
    ag.gradcheck(ag.tanh, x)
    np.testing.assert_array_equal(x.numpy(), X)


def test_an_output_independent_of_the_input_has_zero_gradient():
    assert ag.gradcheck(lambda x: ag.Tensor(np.ones(3)), leaf(X))


# ------------------------------------------------------------------------------- sampling


def test_sampling_still_catches_an_error_present_everywhere():
    big = np.random.default_rng(1).uniform(0.5, 2.0, size=(60, 50))  # 3,000 elements
    with pytest.raises(ag.GradcheckError, match="50 elements differ"):
        ag.gradcheck(SquareTwiceTooSteep.apply, leaf(big), max_elements=50)
    assert ag.gradcheck(lambda x: x * x, leaf(big), max_elements=50)
