"""The engine: the backward pass, grad mode, and the rules a Tensor enforces (dtypes, shapes)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

import autograd as ag
from autograd import testing as agt
from autograd.engine import unbroadcast
from autograd.function import Function
from tests.helpers import assert_close

# ---------------------------------------------------------------------------- the backward pass


def test_a_10000_deep_chain_backpropagates_without_recursion_error():
    # y_0 = x, y_{k+1} = a * y_k + x, so y_n = x * sum_{k<=n} a^k and
    # dy_n/dx = sum_{k<=n} a^k = (1 - a^(n+1)) / (1 - a). x feeds all 10,001 nodes.
    a, n = 0.9999, 10_000
    x = ag.Tensor(np.array(0.5), requires_grad=True)
    y = x
    for _ in range(n):
        y = y * a + x
    y.backward()
    geometric_sum = (1 - a ** (n + 1)) / (1 - a)
    assert_close(y, 0.5 * geometric_sum, rtol=1e-10)
    assert_close(x.grad, geometric_sum, rtol=1e-10)


def test_gradients_accumulate_across_backward_calls_until_zeroed():
    # Documented in engine.py: leaf.grad += contribution, as in PyTorch.
    x = ag.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    assert x.grad is None
    (x * 3.0).sum().backward()
    (x * x).sum().backward()
    assert_close(x.grad, [3.0 + 2.0, 3.0 + 4.0])
    x.zero_grad()
    assert x.grad is None
    (x * 3.0).sum().backward()
    assert_close(x.grad, [3.0, 3.0])


def test_backward_twice_through_one_graph_doubles_the_gradient():
    x = ag.Tensor(np.array([1.0, -2.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward()
    y.backward()
    assert_close(x.grad, 2 * (2 * x.numpy()))


def test_a_tensor_used_on_two_paths_gets_the_sum_of_both():
    # z = (2x) * (3x) + x: the diamond's two branches meet again at z, then x is used once more.
    x = ag.Tensor(np.array([1.0, 2.0, -1.5]), requires_grad=True)
    a, b = x * 2.0, x * 3.0
    z = a * b + x
    z.backward(np.ones(3))
    assert_close(x.grad, 12.0 * x.numpy() + 1.0)


def test_no_two_gradients_share_memory_with_each_other_or_the_cotangent():
    # The engine keeps a fresh gradient array as .grad without copying it, so it must notice
    # every way an array can be shared: Add hands one array to both inputs, reshape and
    # concatenate hand out views, and a leaf root's gradient is the caller's cotangent itself.
    a, b, c = (ag.Tensor(np.arange(6.0).reshape(2, 3) + k, requires_grad=True) for k in range(3))
    d = ag.Tensor(np.arange(3.0), requires_grad=True)
    flat = ag.Tensor(np.arange(6.0), requires_grad=True)
    e, f = (ag.Tensor(np.ones((4, 3)), requires_grad=True) for _ in range(2))
    joined = ag.concatenate([a, b])  # (4, 3): a and b get views of one gradient
    out = joined + ag.concatenate([c, flat.reshape(2, 3)]) + d
    out = out + (e + f) * 2.0  # Add hands one fresh array to both e and f
    cotangent = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(cotangent)
    leaves = (a, b, c, d, flat, e, f)
    arrays = [t.grad for t in leaves] + [cotangent]
    for i, first in enumerate(arrays):
        for second in arrays[i + 1 :]:
            assert not np.shares_memory(first, second)
    before = [t.grad.copy() for t in leaves]
    a.grad += 100.0  # in place, as accumulation and optimizers write: no one else changes
    for t, old in zip(leaves[1:], before[1:], strict=True):
        np.testing.assert_array_equal(t.grad, old)
    leaf = ag.Tensor(np.ones(3), requires_grad=True)
    leaf.backward(cotangent[0, :3])
    assert not np.shares_memory(leaf.grad, cotangent)


def test_x_times_x_differentiates_to_2x():
    x = ag.Tensor(np.array([3.0]), requires_grad=True)
    (x * x).backward(np.ones(1))
    assert_close(x.grad, [6.0])


def test_only_tensors_on_a_path_to_the_output_receive_gradients():
    x = ag.Tensor(np.array([1.0]), requires_grad=True)
    unused = ag.Tensor(np.array([1.0]), requires_grad=True)
    _ = unused * 2.0  # recorded, but not part of the output's graph
    (x * 2.0).backward(np.ones(1))
    assert unused.grad is None


def test_constants_get_no_gradient():
    x = ag.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    c = ag.Tensor(np.array([5.0, 7.0]))
    (x * c).sum().backward()
    assert c.grad is None and not c.requires_grad
    assert_close(x.grad, [5.0, 7.0])


def test_backward_of_a_non_scalar_needs_a_gradient():
    y = ag.Tensor(np.ones((2, 3)), requires_grad=True) * 2.0
    with pytest.raises(RuntimeError, match=r"shape \(2, 3\) needs a gradient argument"):
        y.backward()


def test_backward_with_a_gradient_of_the_wrong_shape_raises():
    y = ag.Tensor(np.ones((2, 3)), requires_grad=True) * 2.0
    with pytest.raises(ValueError, match=r"grad has shape \(3, 2\) but the tensor has \(2, 3\)"):
        y.backward(np.ones((3, 2)))


def test_backward_on_a_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (ag.tensor([1.0]) * 2.0).sum().backward()


def test_retain_grad_keeps_the_gradient_of_an_intermediate():
    x = ag.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    kept = (x * 3.0).retain_grad()
    dropped = x * 3.0
    (kept * kept + dropped).sum().backward()
    assert_close(kept.grad, 2 * kept.numpy())
    assert dropped.grad is None
    assert not kept.is_leaf and x.is_leaf


def test_detach_shares_the_data_and_cuts_the_graph():
    x = ag.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * 2.0
    d = y.detach()
    assert d.data is y.data
    assert not d.requires_grad and d.is_leaf
    (x * d).sum().backward()  # d is a constant: no gradient flows through it into x twice
    assert_close(x.grad, d.numpy())


# ------------------------------------------------------------------------------------ grad mode


def test_no_grad_records_no_graph():
    x = ag.Tensor(np.array([1.0]), requires_grad=True)
    with ag.no_grad():
        assert not ag.is_grad_enabled()
        y = x * 2.0
    assert ag.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    with pytest.raises(RuntimeError):
        y.backward(np.ones(1))


def test_will_record_is_the_test_ops_make_before_recording_a_node():
    leaf = ag.Tensor(np.array([1.0]), requires_grad=True)
    constant = ag.Tensor(np.array([1.0]))
    assert ag.will_record(constant, leaf) and ag.will_record(None, leaf)
    assert not ag.will_record(constant, None) and not ag.will_record()
    assert (constant * leaf).requires_grad and not (constant * constant).requires_grad
    with ag.no_grad():
        assert not ag.will_record(leaf)
        assert not (leaf * 2.0).requires_grad


def test_enable_grad_inside_no_grad_records_again():
    x = ag.Tensor(np.array([1.0]), requires_grad=True)
    with ag.no_grad():
        with ag.enable_grad():
            y = x * 2.0
        z = x * 2.0
    assert y.requires_grad and not z.requires_grad


def test_grad_modes_work_as_decorators_and_nest():
    @ag.no_grad()
    def inference(t):
        assert not ag.is_grad_enabled()
        return t * 2.0

    @ag.enable_grad()
    def training_step(t):
        assert ag.is_grad_enabled()
        return t * 2.0

    x = ag.Tensor(np.array([1.0]), requires_grad=True)
    assert not inference(x).requires_grad
    with ag.no_grad():
        assert training_step(x).requires_grad
        assert not ag.is_grad_enabled()  # restored after the decorated call
        with ag.no_grad(), ag.enable_grad(), ag.no_grad():
            assert not ag.is_grad_enabled()
        assert not ag.is_grad_enabled()
    assert ag.is_grad_enabled()


def test_grad_mode_is_restored_after_an_exception():
    with pytest.raises(KeyError), ag.no_grad():
        raise KeyError
    assert ag.is_grad_enabled()


# ------------------------------------------------------------------------ dtypes and conversion


def test_python_floats_default_to_float32_and_ints_to_int64():
    assert ag.tensor(1.5).dtype == np.float32
    assert ag.tensor([[1.0, 2.0]]).dtype == np.float32
    assert ag.tensor([1, 2]).dtype == np.int64
    assert ag.tensor(np.array([1.0])).dtype == np.float64  # arrays keep their dtype


@pytest.mark.parametrize(
    "expression",
    [
        lambda x: x * 2.5,
        lambda x: 2.5 * x,
        lambda x: x + 1,
        lambda x: 1.0 - x,
        lambda x: x / 3.0,
        lambda x: 3.0 / x,
        lambda x: x**2.0,
        lambda x: 2.0**x,
        lambda x: x * np.float64(2.5),
        lambda x: x.masked_fill(np.array([True, False]), -1e9),
        lambda x: ag.where(np.array([True, False]), x, 0.0),
    ],
)
def test_python_scalars_keep_a_float32_tensor_float32(expression):
    x = ag.Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    y = expression(x)
    assert y.dtype == np.float32
    y.backward(np.ones(2, dtype=np.float32))
    assert x.grad.dtype == np.float32


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="only floating tensors can require grad.*int64"):
        ag.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError):
        ag.tensor([1, 2]).requires_grad_()


def test_mixing_float32_and_float64_is_refused_naming_both():
    a = ag.Tensor(np.ones(2, dtype=np.float32))
    b = ag.Tensor(np.ones(2, dtype=np.float64))
    with pytest.raises(TypeError, match="float32 and float64"):
        a + b
    with pytest.raises(TypeError, match="float32 and float64"):
        a * np.ones(2)  # a float64 array operand is not quietly promoted either


def test_shapes_that_do_not_broadcast_are_named():
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\) do not broadcast"):
        ag.zeros(2, 3) + ag.zeros(4)


def test_comparisons_return_plain_boolean_arrays():
    x = ag.tensor([1.0, 2.0, 3.0])
    for result in (x < 2.0, x <= 2.0, x > 2.0, x >= 2.0, x == 2.0, x != ag.tensor([2.0])):
        assert type(result) is np.ndarray and result.dtype == np.bool_
    np.testing.assert_array_equal(x > 1.5, [False, True, True])
    assert len({x, x}) == 1  # tensors hash by identity


def test_item_and_numpy():
    x = ag.tensor(np.array([[2.5]]))
    assert x.item() == 2.5 and type(x.item()) is float
    assert type(x.numpy()) is np.ndarray and x.numpy() is x.data
    with pytest.raises(ValueError, match="one element"):
        ag.zeros(2).item()


# ----------------------------------------------------------------------- a user-defined Function


class Cube(Function):
    """y = x ** 3 * k, with a static argument and a saved array."""

    @staticmethod
    def forward(ctx, x, k):
        ctx.save_for_backward(x)
        ctx.k = k
        return x**3 * k

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_arrays
        return grad_out * 3 * x**2 * ctx.k


class ScaledAdd(Function):
    """a + k * b (b broadcast); skips b's gradient when it is not needed."""

    @staticmethod
    def forward(ctx, a, b, k):
        ctx.k = k
        return a + k * b

    @staticmethod
    def backward(ctx, grad_out):
        grad_b = ctx.k * grad_out if ctx.needs_input_grad[1] else None
        return grad_out, grad_b


def test_a_user_defined_function_works_like_a_built_in_op():
    x = ag.Tensor(np.array([1.0, -2.0]), requires_grad=True)
    y = Cube.apply(x, k=2.0)
    assert_close(y, [2.0, -16.0])
    y.backward(np.ones(2))
    assert_close(x.grad, [6.0, 24.0])
    assert ag.gradcheck(
        lambda t: Cube.apply(t, k=0.5), ag.Tensor(np.array([0.3, -1.2]), requires_grad=True)
    )


def test_a_user_function_gets_needs_input_grad_and_broadcasting_for_free():
    a = ag.Tensor(np.zeros((2, 3)), requires_grad=True)
    b = ag.Tensor(np.ones(3), requires_grad=True)
    ScaledAdd.apply(a, b, k=2.0).backward(np.ones((2, 3)))
    assert_close(b.grad, [4.0, 4.0, 4.0])  # summed over the broadcast axis by the engine
    constant = ag.Tensor(np.ones(3))
    ScaledAdd.apply(a, constant, k=2.0).backward(np.ones((2, 3)))
    assert constant.grad is None


def test_a_backward_returning_the_wrong_number_of_gradients_is_reported():
    class Broken(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, grad_out):
            return (grad_out,)

    a, b = (ag.Tensor(np.ones(2), requires_grad=True) for _ in range(2))
    with pytest.raises(RuntimeError, match="Broken.backward returned 1 gradients for 2 inputs"):
        Broken.apply(a, b).sum().backward()


# ------------------------------------------------------------------------------- unbroadcast


@pytest.mark.parametrize(
    "shape, expected",
    [
        ((2, 3, 4), np.ones((2, 3, 4))),
        ((3, 4), np.full((3, 4), 2.0)),
        ((3, 1), np.full((3, 1), 8.0)),
        ((1, 3, 1), np.full((1, 3, 1), 8.0)),
        ((4,), np.full(4, 6.0)),
        ((), np.array(24.0)),
    ],
)
def test_unbroadcast_sums_over_the_broadcast_axes(shape, expected):
    assert_close(unbroadcast(np.ones((2, 3, 4)), shape), expected)


def test_unbroadcast_refuses_shapes_that_were_never_broadcast():
    with pytest.raises(RuntimeError, match=r"cannot be reduced to shape \(2,\)"):
        unbroadcast(np.ones((2, 3)), (2,))


@given(agt.broadcastable_shapes(2))
def test_the_gradient_of_a_broadcast_add_has_each_input_shape(shapes):
    a = ag.Tensor(np.zeros(shapes[0]), requires_grad=True)
    b = ag.Tensor(np.zeros(shapes[1]), requires_grad=True)
    out = a + b
    out.backward(np.ones(out.shape))
    for t in (a, b):
        # each element of an input was used (size of output / size of input) times
        assert_close(t.grad, np.full(t.shape, out.size / t.size))


def test_reducing_a_scalar_over_axis_0_keeps_it_and_other_axes_are_refused():
    x = ag.tensor(np.float64(3.0), requires_grad=True)
    y = x.sum(axis=0) * 2.0
    y.backward()
    assert y.item() == 6.0 and x.grad == 2.0
    with pytest.raises(ValueError, match="out of range for a 0-dimensional tensor"):
        x.sum(axis=1)
