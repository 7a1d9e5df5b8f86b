"""The CuPy path, proven without a GPU: every op on ``StrictArray``, a device-array stand-in.

A ``StrictArray`` refuses, as CuPy does, to be turned into a NumPy array behind our back or mixed
with one. Each op runs forward and backward on NumPy arrays and on StrictArrays and must give the
same numbers: that proves the op takes its array module from the array and never silently
creates or converts a NumPy array (the bug that would only show on a GPU).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd as ag
from autograd import nn, ops
from autograd.backend import get_xp
from autograd.kernels import backend_for, get_kernel
from autograd.strict_array import StrictArray
from autograd.strict_array import namespace as sx

RNG = np.random.default_rng(1234)


def normal(*shape):
    return RNG.standard_normal(shape)


def positive(*shape):
    return np.abs(RNG.standard_normal(shape)) + 0.5


def host(array) -> np.ndarray:
    """A NumPy view of a result from either backend (``.get()`` is the explicit transfer)."""
    return array.get() if isinstance(array, StrictArray) else array


def run_on(xp, fn, arrays, seed: int = 0):
    """``fn(xp, *tensors)`` on ``xp``-arrays, then backward with a fixed random cotangent.

    Floating inputs require grad. Returns the output array and the inputs' gradients.
    """
    tensors = [ag.Tensor(xp.asarray(a), requires_grad=a.dtype.kind == "f") for a in arrays]
    out = fn(xp, *tensors)
    if out.requires_grad:
        out.backward(xp.asarray(np.random.default_rng(seed).standard_normal(out.shape)))
    return out.data, [t.grad for t in tensors if t.requires_grad]


def assert_same_on_device(fn, *arrays, rtol: float = 1e-10, atol: float = 1e-12) -> None:
    """Forward and backward of ``fn`` on StrictArrays equal those on NumPy arrays."""
    expected_out, expected_grads = run_on(np, fn, arrays)
    out, grads = run_on(sx, fn, arrays)
    assert isinstance(out, StrictArray), f"the output left the device: {type(out).__name__}"
    np.testing.assert_allclose(out.get(), expected_out, rtol=rtol, atol=atol, err_msg="output")
    assert len(grads) == len(expected_grads)
    for i, (grad, expected) in enumerate(zip(grads, expected_grads, strict=True)):
        assert isinstance(grad, StrictArray), f"gradient {i} left the device"
        assert grad.dtype == expected.dtype
        np.testing.assert_allclose(grad.get(), expected, rtol=rtol, atol=atol, err_msg=f"grad {i}")


# ---------------------------------------------------------------------------- every op
TARGETS = np.array([0, 3, 4, 1, 3, 2])
TARGETS_IGNORED = np.array([0, -100, 4, 1, -100, 2])
INDICES = np.array([[1, 4, 1], [0, 4, 2]])
MASK = np.array([[0.0, 0.0, -np.inf, 0.0, -1e9]])
ATTENTION_MASK = np.array(
    [[[[0.0, 0.0, 0.0, -np.inf, -1e9, 0.0]]], [[[0.0] * 5 + [-np.inf]]]]
)  # (2, 1, 1, 6)

# name -> (fn(xp, *tensors), input arrays). ``xp`` moves constants to the inputs' device.
CASES = {
    "add": (lambda xp, a, b: a + b + 2.0, [normal(3, 4), normal(4)]),
    "sub": (lambda xp, a, b: 1.0 - a - b, [normal(2, 3, 4), normal(3, 1)]),
    "mul": (lambda xp, a, b: a * b * 3, [normal(3, 4), normal(3, 4)]),
    "div": (lambda xp, a, b: a / b / 2.0, [normal(3, 4), positive(1, 4)]),
    "neg": (lambda xp, a: -a, [normal(5)]),
    "pow": (lambda xp, a, b: (a**b) ** 2.5, [positive(3, 2), normal(3, 2)]),
    "exp": (lambda xp, a: a.exp(), [normal(3, 4)]),
    "log": (lambda xp, a: a.log(), [positive(3, 4)]),
    "sqrt": (lambda xp, a: a.sqrt(), [positive(3, 4)]),
    "tanh": (lambda xp, a: a.tanh(), [normal(3, 4)]),
    "sigmoid": (lambda xp, a: a.sigmoid(), [normal(3, 4) * 5]),
    "relu": (lambda xp, a: a.relu(), [normal(3, 4)]),
    "gelu": (lambda xp, a: ag.gelu(a) + ag.gelu(a, approximate="tanh"), [normal(4, 5) * 3]),
    "gelu_bias": (lambda xp, a, b: ag.gelu(a, bias=b), [normal(4, 5) * 3, normal(5)]),
    "add_layer_norm_dropout": (
        lambda xp, x, r, w, b: ops.add_layer_norm(
            x, r, w, None, x_bias=b, dropout_p=0.25, generator=np.random.default_rng(2)
        ),
        [normal(3, 6), normal(3, 6), normal(6), normal(6)],
    ),
    "cast": (lambda xp, a: a.astype("float32").astype("float64") * a, [normal(3)]),
    "where": (lambda xp, a, b: ag.where(a.data > 0, a, b), [normal(3, 4), normal(4)]),
    "masked_fill": (lambda xp, a: a.masked_fill(a.data < 0, -1.0) * a, [normal(3, 4)]),
    "embedding": (
        lambda xp, w: ag.embedding(xp.asarray(INDICES), w, padding_idx=2),
        [normal(5, 3)],
    ),
    "embedding_layer_norm": (
        lambda xp, word, kind, w, b: ops.embedding_layer_norm(
            (xp.asarray(INDICES), xp.asarray(INDICES % 2)),
            (word, kind),
            w,
            b,
            padding_idx=(2, None),
        ),
        [normal(5, 3), normal(2, 3), normal(3), normal(3)],
    ),
    "matmul": (lambda xp, a, b: a @ b, [normal(2, 3, 4), normal(4, 5)]),
    "matmul_vectors": (
        lambda xp, a, b, u, w: (u @ a @ b) + (a @ w).sum(),  # (3,) @ (3, 4); (3, 4) @ (4,)
        [normal(3, 4), normal(4, 3), normal(3), normal(4)],
    ),
    "cross_entropy": (
        lambda xp, z: ag.cross_entropy(z, xp.asarray(TARGETS), label_smoothing=0.1),
        [normal(6, 5)],
    ),
    "cross_entropy_ignore": (
        lambda xp, z: ag.cross_entropy(
            z.reshape(2, 3, 5), xp.asarray(TARGETS_IGNORED).reshape(2, 3)
        ),
        [normal(6, 5)],
    ),
    "cross_entropy_sum_none": (
        lambda xp, z: (
            ag.cross_entropy(z, xp.asarray(TARGETS), reduction="sum")
            + ag.cross_entropy(z, xp.asarray(TARGETS_IGNORED), reduction="none").sum()
        ),
        [normal(6, 5)],
    ),
    "layer_norm": (
        lambda xp, x, w, b: ag.layer_norm(x, w, b),
        [normal(2, 3, 6), normal(6), normal(6)],
    ),
    "layer_norm_plain": (lambda xp, x: ag.layer_norm(x, eps=1e-3), [normal(4, 6)]),
    "add_layer_norm": (
        lambda xp, x, r, w, b: ops.add_layer_norm(x, r, w, b),
        [normal(2, 3, 6), normal(2, 3, 6), normal(6), normal(6)],
    ),
    "sum": (lambda xp, a: a.sum(axis=(0, 2)) + a.sum(), [normal(2, 3, 4)]),
    "mean": (lambda xp, a: a.mean(axis=1, keepdims=True), [normal(2, 3, 4)]),
    "max": (lambda xp, a: a.max(axis=-1) + a.max(), [np.round(normal(3, 4))]),  # ties
    "var": (lambda xp, a: a.var(axis=0, ddof=1), [normal(5, 3)]),
    "reshape": (lambda xp, a: a.reshape(4, -1).flatten(), [normal(2, 3, 4)]),
    "permute": (lambda xp, a: a.permute(2, 0, 1).T, [normal(2, 3, 4)]),
    "swapaxes": (lambda xp, a: a.swapaxes(0, 2).mT, [normal(2, 3, 4)]),
    "squeeze_unsqueeze": (lambda xp, a: a.unsqueeze(1).squeeze(0).squeeze(), [normal(1, 3)]),
    "broadcast_to": (lambda xp, a: a.broadcast_to((2, 3, 4)), [normal(3, 1)]),
    "getitem_slices": (lambda xp, a: a[1:, None, ..., ::2], [normal(3, 4, 5)]),
    "getitem_arrays": (
        lambda xp, a: a[xp.asarray([0, 2, 0])] + a[[1, 1, 1]] + a[:, xp.asarray([3, 3])].sum(),
        [normal(3, 4)],
    ),
    "getitem_bool": (lambda xp, a: a[a.data > 0], [normal(3, 4)]),
    "concatenate": (
        lambda xp, a, b: ag.concatenate([a, b, a], axis=1),
        [normal(2, 3), normal(2, 1)],
    ),
    "stack": (lambda xp, a, b: ag.stack([a, b], axis=1), [normal(2, 3), normal(2, 3)]),
    "softmax": (lambda xp, a: ag.softmax(a, axis=0) * ag.softmax(a, scale=0.5), [normal(3, 5)]),
    "softmax_mask": (
        lambda xp, a: ag.softmax(a, scale=0.125, mask=xp.asarray(MASK)),
        [normal(2, 4, 5)],
    ),
    "log_softmax": (lambda xp, a: ag.log_softmax(a) + ag.log_softmax(a, axis=0), [normal(3, 5)]),
    "dropout": (lambda xp, a: ag.dropout(a, 0.4, np.random.default_rng(7)), [normal(6, 7)]),
    "attention": (
        lambda xp, q, k, v: ops.scaled_dot_product_attention(
            q, k, v, xp.asarray(ATTENTION_MASK), 0.2, generator=np.random.default_rng(3)
        ),
        [normal(2, 3, 4, 5), normal(2, 3, 6, 5), normal(2, 3, 6, 5)],
    ),
    "packed_attention": (
        lambda xp, qkv: ops.packed_self_attention(
            qkv, 2, xp.asarray(ATTENTION_MASK), 0.2, generator=np.random.default_rng(3)
        ),
        [normal(2, 6, 12)],
    ),
    "to_device_noop": (lambda xp, a: ops.to_device(a, a.device) * 2, [normal(3)]),
}

# Which ops each case exercises, so a new op without a case here fails the coverage test.
COVERS = {
    "add": "add", "sub": "sub", "mul": "mul", "div": "div", "neg": "neg", "pow": "pow",
    "exp": "exp", "log": "log", "sqrt": "sqrt", "tanh": "tanh", "sigmoid": "sigmoid",
    "relu": "relu", "gelu": "gelu", "cast": "cast", "where": "where", "masked_fill": "masked_fill",
    "embedding": "embedding", "embedding_layer_norm": "embedding_layer_norm", "matmul": "matmul",
    "cross_entropy": "cross_entropy",
    "layer_norm": "layer_norm", "add_layer_norm": "add_layer_norm", "sum": "sum", "mean": "mean",
    "max": "max", "var": "var",
    "reshape": "reshape", "permute": "permute", "swapaxes": "swapaxes",
    "squeeze_unsqueeze": "squeeze unsqueeze", "broadcast_to": "broadcast_to",
    "getitem_slices": "getitem", "concatenate": "concatenate", "stack": "stack",
    "softmax": "softmax", "log_softmax": "log_softmax", "dropout": "dropout",
    "to_device_noop": "to_device", "attention": "scaled_dot_product_attention",
    "packed_attention": "packed_self_attention",
}  # fmt: skip


def test_every_op_has_a_device_case():
    covered = {op for case in COVERS.values() for op in case.split()}
    assert set(COVERS) <= set(CASES)
    assert set(ops.__all__) - covered == set(), "add a StrictArray case for the new op(s)"


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_on_strict_arrays_matches_numpy(name):
    fn, arrays = CASES[name]
    assert_same_on_device(fn, *arrays)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kernels_keep_dtype_on_device(dtype):
    x = ag.Tensor(sx.asarray(normal(2, 3, 8).astype(dtype)), requires_grad=True)
    w = ag.Tensor(sx.asarray(normal(8).astype(dtype)), requires_grad=True)
    y = ag.softmax(ag.layer_norm(x, w).gelu() @ x.mT, scale=0.3)
    loss = ag.cross_entropy(y, sx.asarray(np.zeros((2, 3), dtype=np.int64)))
    loss.backward()
    assert loss.dtype == dtype and x.grad.dtype == dtype and w.grad.dtype == dtype


@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
    seed=st.integers(0, 2**16),
)
def test_broadcasting_arithmetic_on_device(shapes, seed):
    rng = np.random.default_rng(seed)
    a, b = (rng.standard_normal(shape) for shape in shapes.input_shapes)
    b = np.abs(b) + 0.5
    assert_same_on_device(lambda xp, x, y: (x * y - x / y + y) ** 2, a, b)


def test_adamw_kernel_on_device():
    arrays = [normal(4, 3), normal(4, 3), normal(4, 3) * 0.1, positive(4, 3)]
    on_host = [a.copy() for a in arrays]
    on_device = [sx.asarray(a) for a in arrays]
    hyper = dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, step=3)
    get_kernel("adamw_step", on_host[0], backend="reference")(*on_host, **hyper)
    get_kernel("adamw_step", on_device[0])(*on_device, **hyper)
    for device, host_array in zip(on_device, on_host, strict=True):
        np.testing.assert_allclose(device.get(), host_array, rtol=1e-13)


def test_gelu_in_place_writes_over_the_device_array():
    values = normal(4, 5) * 3
    x, bias = ag.Tensor(sx.asarray(values)), ag.Tensor(sx.asarray(normal(5)))
    device_array = x.data
    expected = ag.gelu(ag.Tensor(values), bias=ag.Tensor(bias.data.get())).data
    with ag.no_grad():
        assert ag.gelu(x, bias=bias, inplace=True) is x
    assert x.data is device_array and isinstance(x.data, StrictArray)
    np.testing.assert_allclose(x.data.get(), expected, rtol=1e-10, atol=1e-12)


def test_add_layer_norm_in_place_writes_over_the_device_array():
    x_values, residual_values = normal(4, 5), normal(4, 5)
    x, residual = ag.Tensor(sx.asarray(x_values)), ag.Tensor(sx.asarray(residual_values))
    device_array = x.data
    expected = ops.add_layer_norm(ag.Tensor(x_values), ag.Tensor(residual_values)).data
    with ag.no_grad():
        assert ops.add_layer_norm(x, residual, inplace=True) is x
    assert x.data is device_array and isinstance(x.data, StrictArray)
    np.testing.assert_allclose(x.data.get(), expected, rtol=1e-12, atol=1e-12)


def test_gradcheck_runs_on_device():
    x = ag.Tensor(sx.asarray(normal(2, 5)), requires_grad=True)
    w = ag.Tensor(sx.asarray(normal(5)), requires_grad=True)
    mask = sx.asarray(MASK)
    assert ag.gradcheck(lambda x, w: ag.softmax(ag.layer_norm(x, w), mask=mask, scale=2.0), x, w)


# ------------------------------------------------------------------ the strict array itself
def test_strict_array_refuses_implicit_conversion():
    x = StrictArray(normal(2, 3))
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
        np.asarray(x)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.array([x, x])
    with pytest.raises(TypeError):
        memoryview(x)
    assert not hasattr(x, "__array_interface__") and not hasattr(x, "__array_struct__")
    with pytest.raises(TypeError, match="get_xp"):
        np.sum(x)
    with pytest.raises(TypeError):
        np.exp(x)
    tensor = ag.Tensor(x)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(tensor.data)
    with pytest.raises(TypeError, match="GPU"):
        tensor.numpy()


def test_strict_array_refuses_numpy_operands_indices_and_values():
    x, host_array = StrictArray(normal(2, 3)), normal(2, 3)
    for mix in (
        lambda: x + host_array,
        lambda: host_array * x,
        lambda: x < host_array,
        lambda: x[np.array([0, 1])],
        lambda: x[:, np.array([True, False, True])],
        lambda: x.__setitem__(0, host_array[0]),
        lambda: sx.where(host_array > 0, x, 0.0),
        lambda: sx.concatenate([x, host_array]),
        lambda: sx.add.at(x, np.array([0]), 1.0),
    ):
        with pytest.raises(TypeError, match="NumPy array"):
            mix()
    x += sx.asarray(host_array)  # in place, explicit transfer: fine
    np.testing.assert_allclose(x.get(), x.get())


def test_strict_array_allows_scalars_sync_and_explicit_transfer():
    data = normal(2, 3)
    x = sx.asarray(data)
    assert x.get() is not data and np.array_equal(x.get(), data)  # copied both ways, as CuPy
    assert isinstance(x.sum(), StrictArray) and x.sum().shape == ()  # 0-d, not a NumPy scalar
    assert isinstance(x[0, 1], StrictArray)
    assert float(x.sum()) == pytest.approx(data.sum()) and int(x[1, 2] * 0) == 0
    assert x[0, 0].item() == data[0, 0] and x.tolist() == data.tolist()
    with pytest.raises(TypeError, match="one-element"):
        float(x)
    with pytest.raises(ValueError, match="ambiguous"):
        bool(x > 0)
    scaled = x * x.dtype.type(0.5) + np.float32(1) - 2
    np.testing.assert_allclose(scaled.get(), data * 0.5 + 1 - 2)
    assert "StrictArray(" in repr(x)


def test_namespace_scatter_add_adds_repeated_indices():
    table = sx.zeros((3, 2))
    sx.add.at(table, sx.asarray([0, 2, 0]), sx.ones((3, 2)))
    np.testing.assert_array_equal(table.get(), [[2, 2], [0, 0], [1, 1]])


def test_backend_dispatch():
    x = StrictArray(normal(2))
    assert get_xp(x) is sx
    assert backend_for(x) == "reference"
    assert ag.Tensor(x).data is x  # kept, never copied to NumPy
    assert ag.Tensor(x).device == "cuda"  # to the engine it is a device array
    assert get_xp(np.zeros(2)) is np
    for not_an_array in ([1.0, 2.0], 3.0, "x"):
        with pytest.raises(TypeError, match="expected a NumPy or CuPy array"):
            get_xp(not_an_array)


def test_mixing_devices_in_one_op_names_both_modules():
    on_device = ag.Tensor(sx.asarray(normal(3)))
    on_host = ag.Tensor(normal(3))
    for mix in (lambda: on_device + on_host, lambda: on_host * on_device):
        with pytest.raises(TypeError, match=r"numpy") as error:
            mix()
        assert sx.__name__ in str(error.value)
    x = ag.Tensor(sx.asarray(normal(3)), requires_grad=True)
    with pytest.raises(TypeError, match="numpy"):
        (x * 2).backward(np.ones(3))  # a host cotangent for a device graph
    with pytest.raises(TypeError, match="NumPy array"):
        ag.softmax(x, mask=np.zeros(3))  # a host mask in a device op
    with pytest.raises(TypeError, match="NumPy array"):
        x[np.array([0, 2])]  # a host index array into a device tensor


def test_to_cpu_transfers_and_the_gradient_flows_back_to_the_device():
    x = ag.Tensor(sx.asarray(normal(2, 3)), requires_grad=True)
    on_host = x.to("cpu")
    assert on_host.device == "cpu" and isinstance(on_host.data, np.ndarray)
    (on_host * on_host).sum().backward()
    assert isinstance(x.grad, StrictArray)
    np.testing.assert_allclose(x.grad.get(), 2 * x.data.get())


# ------------------------------------------------------------------------- whole models
def attention_block(xp, params, input_ids, targets, attention_mask):
    """embedding -> linear -> layer_norm -> gelu -> masked attention -> cross-entropy."""
    embed, w_in, b_in, ln_w, ln_b, w_q, w_k, w_v, w_out = params
    hidden = ag.embedding(input_ids, embed)  # (B, T) -> (B, T, H)
    hidden = (hidden @ w_in.T + b_in).gelu()
    hidden = ag.layer_norm(hidden, ln_w, ln_b)
    q, k, v = hidden @ w_q, hidden @ w_k, hidden @ w_v  # (B, T, H) each
    additive = (1.0 - attention_mask[:, None, :].astype(hidden.dtype)) * -1e9  # (B, 1, T)
    probs = ag.softmax(q @ k.mT, scale=1.0 / np.sqrt(q.shape[-1]), mask=additive)  # (B, T, T)
    probs = ag.dropout(probs, 0.1, np.random.default_rng(3))
    logits = (probs @ v) @ w_out  # (B, T, H) -> (B, T, V)
    return ag.cross_entropy(logits, targets)


def test_transformer_like_block_forward_and_backward_match():
    rng = np.random.default_rng(0)
    vocab, hidden, batch, length = 11, 8, 2, 5
    shapes = [(vocab, hidden), (hidden, hidden), (hidden,), (hidden,), (hidden,)]
    shapes += [(hidden, hidden)] * 3 + [(hidden, vocab)]
    params = [rng.standard_normal(s) * 0.5 for s in shapes]
    input_ids = rng.integers(0, vocab, (batch, length))
    targets = np.where(rng.random((batch, length)) < 0.3, -100, input_ids)
    attention_mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    results = {}
    for xp in (np, sx):
        tensors = [ag.Tensor(xp.asarray(p), requires_grad=True) for p in params]
        args = (xp.asarray(input_ids), xp.asarray(targets), xp.asarray(attention_mask))
        loss = attention_block(xp, tensors, *args)
        loss.backward()
        results[xp.__name__] = (host(loss.data), [host(t.grad) for t in tensors])
    (loss_np, grads_np), (loss_sx, grads_sx) = results["numpy"], results[sx.__name__]
    np.testing.assert_allclose(loss_sx, loss_np, rtol=1e-12)
    for grad_sx, grad_np in zip(grads_sx, grads_np, strict=True):
        np.testing.assert_allclose(grad_sx, grad_np, rtol=1e-9, atol=1e-12)


class TinyEncoder(nn.Module):
    """Embedding -> Linear -> GELU -> LayerNorm -> Dropout -> Linear (vocabulary logits)."""

    def __init__(self, vocab: int = 13, hidden: int = 8):
        super().__init__()
        rng = np.random.default_rng(0)
        self.embed = nn.Embedding(vocab, hidden, padding_idx=0, generator=rng)
        self.body = nn.Sequential(
            nn.Linear(hidden, hidden, generator=rng),
            nn.GELU(),
            nn.LayerNorm(hidden),
            nn.Dropout(0.2, generator=np.random.default_rng(1)),
        )
        self.head = nn.Linear(hidden, vocab, generator=rng)

    def forward(self, input_ids):
        return self.head(self.body(self.embed(input_ids)))


def to_strict(model: nn.Module) -> nn.Module:
    """Put every parameter "on the device" (what ``Module.to('cuda')`` does with CuPy)."""
    for param in model.parameters():
        param.data = sx.asarray(param.data)
    return model


def train_steps(model, xp, optimizer_factory=None, steps: int = 2):
    rng = np.random.default_rng(5)
    input_ids = xp.asarray(rng.integers(0, 13, (2, 6)))
    targets = xp.asarray(rng.integers(0, 13, (2, 6)))
    optimizer = optimizer_factory(model.parameters()) if optimizer_factory else None
    losses = []
    for _ in range(steps):
        model.zero_grad()
        loss = ag.cross_entropy(model(input_ids), targets)
        loss.backward()
        losses.append(float(loss.item()))
        if optimizer is None:
            break
        optimizer.step()
    return losses, {name: p for name, p in model.named_parameters()}


def test_nn_model_forward_and_backward_match():
    model = TinyEncoder().double()
    losses_np, params_np = train_steps(model, np)
    grads_np = {name: p.grad.copy() for name, p in params_np.items()}
    strict_model = to_strict(TinyEncoder().double())
    losses_sx, params_sx = train_steps(strict_model, sx)
    assert losses_sx == pytest.approx(losses_np, rel=1e-12)
    for name, param in params_sx.items():
        assert isinstance(param.data, StrictArray) and isinstance(param.grad, StrictArray), name
        np.testing.assert_allclose(param.grad.get(), grads_np[name], rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("name", ["AdamW", "SGD"])
def test_optimizer_steps_on_device(name):
    optim = pytest.importorskip("autograd.optim")
    if not hasattr(optim, name):
        pytest.skip(f"autograd.optim has no {name} yet")
    optimizer_class = getattr(optim, name)

    def factory(params):
        return optimizer_class(params, lr=1e-2, weight_decay=0.01)

    losses_np, params_np = train_steps(TinyEncoder().double(), np, factory, steps=3)
    losses_sx, params_sx = train_steps(to_strict(TinyEncoder().double()), sx, factory, steps=3)
    assert losses_sx == pytest.approx(losses_np, rel=1e-10)
    for key, param in params_sx.items():
        assert isinstance(param.data, StrictArray), f"{name} moved {key} off the device"
        np.testing.assert_allclose(param.data.get(), params_np[key].data, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("norm_type", [2.0, float("inf")])
def test_gradient_clipping_on_device(norm_type):
    from autograd.optim import clip_grad_norm_

    grads = [normal(4, 3) * 10, normal(5) * 10]
    on_host = [ag.Tensor(np.zeros_like(g)) for g in grads]
    on_device = [ag.Tensor(sx.zeros_like(sx.asarray(g))) for g in grads]
    for host_param, device_param, grad in zip(on_host, on_device, grads, strict=True):
        host_param.grad, device_param.grad = grad.copy(), sx.asarray(grad)
    norm_host = clip_grad_norm_(on_host, max_norm=1.0, norm_type=norm_type)
    norm_device = clip_grad_norm_(on_device, max_norm=1.0, norm_type=norm_type)
    assert norm_device == pytest.approx(norm_host, rel=1e-12)
    for host_param, device_param in zip(on_host, on_device, strict=True):
        assert isinstance(device_param.grad, StrictArray)
        np.testing.assert_allclose(device_param.grad.get(), host_param.grad, rtol=1e-12)


def test_malloc_tuning_is_on_under_glibc_and_off_on_request():
    """``autograd.kernels.allocator`` raises glibc's thresholds at import unless told not to."""
    import platform
    import subprocess
    import sys

    code = "import autograd; from autograd.kernels import allocator; print(allocator.tuned())"

    def tuned_in_child(**env):
        environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
        environ.pop("MINIBERT_MALLOC_TUNING", None)
        run = subprocess.run(
            [sys.executable, "-c", code], env={**environ, **env}, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        return run.stdout.strip()

    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert tuned_in_child() == str(glibc)
    assert tuned_in_child(MINIBERT_MALLOC_TUNING="0") == "False"
    assert tuned_in_child(MALLOC_TRIM_THRESHOLD_="1048576") == "False"  # the user's choice wins
