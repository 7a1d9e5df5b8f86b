"""autograd.nn: Module registration and state, the layers (gradient-checked in float64), init."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd as ag
from autograd import nn
from autograd.nn import functional as F
from autograd.nn import init
from tests.helpers import assert_close


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def float64_tensor(shape, seed: int = 0, requires_grad: bool = True) -> ag.Tensor:
    return ag.Tensor(rng(seed).standard_normal(shape), requires_grad=requires_grad)


# --------------------------------------------------------------------------------- Parameter


def test_parameter_is_a_leaf_tensor_that_requires_grad():
    p = nn.Parameter(np.zeros((2, 3), dtype=np.float32))
    assert isinstance(p, ag.Tensor) and p.is_leaf and p.requires_grad
    assert not nn.Parameter(np.zeros(2), requires_grad=False).requires_grad
    assert repr(p).startswith("Parameter containing:\nTensor(")


def test_parameter_shares_the_array_of_a_tensor():
    t = ag.Tensor(np.ones(3))
    assert nn.Parameter(t).data is t.data


def test_parameter_refuses_integers():
    with pytest.raises(TypeError, match="floating"):
        nn.Parameter(np.arange(3))


def test_ops_on_parameters_return_plain_tensors():
    p = nn.Parameter(np.ones(3))
    assert type(p * 2.0) is ag.Tensor


# ------------------------------------------------------------------------------ registration


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.self = nn.Module()  # HF's name: attention.self.query
        self.self.query = nn.Linear(4, 4)
        self.self.key = nn.Linear(4, 4)
        self.output = nn.Linear(4, 4)


class Encoder(nn.Module):
    def __init__(self, n_layers: int = 2):
        super().__init__()
        self.layer = nn.ModuleList()
        for _ in range(n_layers):
            block = nn.Module()
            block.attention = Attention()
            block.LayerNorm = nn.LayerNorm(4)
            self.layer.append(block)


class Tiny(nn.Module):
    def __init__(self, seed: int = 0):
        super().__init__()
        generator = rng(seed)
        self.embeddings = nn.Embedding(10, 4, padding_idx=0, generator=generator)
        self.encoder = Encoder()
        self.head = nn.Linear(4, 3, generator=generator)
        self.register_buffer("position_ids", np.arange(6)[None, :])
        self.register_buffer("cache", np.zeros(2), persistent=False)

    def forward(self, ids):
        return self.head(self.embeddings(ids))


def test_named_parameters_use_dotted_hf_style_names():
    names = [name for name, _ in Tiny().named_parameters()]
    assert names[0] == "embeddings.weight"
    assert "encoder.layer.0.attention.self.query.weight" in names
    assert "encoder.layer.1.LayerNorm.bias" in names
    assert names[-2:] == ["head.weight", "head.bias"]
    assert len(names) == 1 + 2 * 8 + 2


def test_registration_keeps_insertion_order_and_position_on_reassignment():
    m = nn.Module()
    m.b = nn.Parameter(np.zeros(1))
    m.a = nn.Parameter(np.zeros(2))
    m.b = nn.Parameter(np.zeros(3))  # same slot, new object
    assert [(n, p.shape) for n, p in m.named_parameters()] == [("b", (3,)), ("a", (2,))]


def test_plain_tensors_and_arrays_are_not_registered():
    m = nn.Module()
    m.t = ag.Tensor(np.zeros(2), requires_grad=True)
    m.x = np.zeros(2)
    assert list(m.parameters()) == [] and list(m.buffers()) == []
    assert m.t.shape == (2,)


def test_attribute_switches_registry_when_reassigned():
    m = nn.Module()
    m.thing = nn.Linear(2, 2)
    m.thing = nn.Parameter(np.zeros(2))
    assert list(m.children()) == [] and [n for n, _ in m.named_parameters()] == ["thing"]
    del m.thing
    assert list(m.parameters()) == []
    with pytest.raises(AttributeError, match="no attribute 'thing'"):
        m.thing  # noqa: B018


def test_parameter_slot_takes_only_parameters_or_none():
    lin = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="Parameter"):
        lin.weight = ag.Tensor(np.zeros((2, 2), dtype=np.float32))
    lin.bias = None
    assert [n for n, _ in lin.named_parameters()] == ["weight"]


def test_assignment_before_init_is_explained():
    class Forgetful(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Forgetful()


def test_registration_rejects_dotted_and_existing_names():
    m = nn.Module()
    with pytest.raises(KeyError, match="can't contain"):
        m.register_parameter("a.b", nn.Parameter(np.zeros(1)))
    m.plain = 3
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("plain", np.zeros(1))


def test_shared_parameter_appears_once_in_parameters_but_under_each_name_in_state_dict():
    m = Tiny()
    m.tied = nn.Linear(4, 10, bias=False)
    m.tied.weight = m.embeddings.weight
    params = list(m.parameters())
    assert sum(p is m.embeddings.weight for p in params) == 1
    assert "tied.weight" not in dict(m.named_parameters())
    sd = m.state_dict()
    assert sd["tied.weight"] is sd["embeddings.weight"]  # torch's state_dict does the same
    assert m.num_parameters() == sum(p.size for p in params)


def test_modules_and_children():
    m = Tiny()
    assert [n for n, _ in m.named_children()] == ["embeddings", "encoder", "head"]
    names = [n for n, _ in m.named_modules()]
    assert names[:4] == ["", "embeddings", "encoder", "encoder.layer"]
    assert "encoder.layer.1.attention.self.key" in names
    assert len(list(m.modules())) == len(names)
    shared = nn.Linear(2, 2)
    seq = nn.Sequential(shared, shared)
    assert len(list(seq.modules())) == 2 and len(list(seq.parameters())) == 2


def test_buffers_persistent_and_not():
    m = Tiny()
    assert [n for n, _ in m.named_buffers()] == ["position_ids", "cache"]
    sd = m.state_dict()
    assert "position_ids" in sd and "cache" not in sd
    assert m.position_ids is sd["position_ids"]
    m.position_ids = np.arange(6)[None, :] + 1  # a buffer slot takes a new array
    assert m.state_dict()["position_ids"][0, 0] == 1
    with pytest.raises(TypeError, match="not a Tensor"):
        m.register_buffer("bad", ag.Tensor(np.zeros(2)))


def test_forward_must_be_defined():
    with pytest.raises(NotImplementedError, match='"forward"'):
        nn.Module()(1)


# ------------------------------------------------------------------------------- state dicts


def test_state_dict_holds_the_arrays_themselves_in_torch_order():
    m = Tiny()
    sd = m.state_dict()
    assert sd["head.weight"] is m.head.weight.data
    keys = list(sd)
    # a module's own entries (parameters, then buffers) come before its children's
    assert keys[0] == "position_ids" and keys[1] == "embeddings.weight"
    assert keys[-2:] == ["head.weight", "head.bias"]


def test_state_dict_round_trip_copies_in_place_and_casts():
    source, target = Tiny(seed=1), Tiny(seed=2)
    arrays_before = {name: array for name, array in target.state_dict().items()}
    checkpoint = {k: v.astype(np.float64) if v.dtype.kind == "f" else v.copy()
                  for k, v in source.state_dict().items()}  # fmt: skip
    result = target.load_state_dict(checkpoint)
    assert result == nn.IncompatibleKeys([], [])
    for name, array in target.state_dict().items():
        assert array is arrays_before[name]  # copied into, not replaced
        assert array.dtype == arrays_before[name].dtype
        assert_close(array, source.state_dict()[name], what=name)
    ids = np.array([[1, 2, 3]])
    assert_close(target(ids), source(ids))


def test_load_state_dict_accepts_tensors_and_lists():
    lin = nn.Linear(2, 1)
    lin.load_state_dict({"weight": ag.Tensor(np.ones((1, 2))), "bias": [0.5]})
    assert_close(lin.weight, np.ones((1, 2), dtype=np.float32))
    assert_close(lin.bias, np.array([0.5], dtype=np.float32))


def test_load_state_dict_lists_every_problem_and_loads_nothing():
    model = Tiny(seed=1)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    checkpoint = {k: v + 1 for k, v in Tiny(seed=2).state_dict().items()}
    del checkpoint["head.bias"], checkpoint["encoder.layer.0.LayerNorm.weight"]
    checkpoint["pooler.dense.weight"] = np.zeros((4, 4))
    checkpoint["head.weight"] = np.zeros((4, 3))
    with pytest.raises(ValueError) as error:
        model.load_state_dict(checkpoint)
    message = str(error.value)
    for name in ("head.bias", "encoder.layer.0.LayerNorm.weight", "pooler.dense.weight"):
        assert name in message
    assert "head.weight: checkpoint (4, 3) vs model (3, 4)" in message
    assert "nothing was loaded" in message
    for name, array in model.state_dict().items():
        np.testing.assert_array_equal(array, before[name], err_msg=name)


def test_load_state_dict_non_strict_reports_keys_but_still_refuses_bad_shapes():
    model = Tiny(seed=1)
    checkpoint = dict(Tiny(seed=2).state_dict())
    del checkpoint["head.bias"]
    checkpoint["extra"] = np.zeros(1)
    result = model.load_state_dict(checkpoint, strict=False)
    assert result.missing_keys == ["head.bias"] and result.unexpected_keys == ["extra"]
    assert_close(model.head.weight, checkpoint["head.weight"])
    checkpoint["head.weight"] = np.zeros((3, 5))
    with pytest.raises(ValueError, match=r"head.weight: checkpoint \(3, 5\) vs model \(3, 4\)"):
        model.load_state_dict(checkpoint, strict=False)


def test_deepcopy_and_pickle_keep_structure_and_tying():
    m = Tiny()
    m.tied = nn.Linear(4, 10, bias=False)
    m.tied.weight = m.embeddings.weight
    for clone in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert clone.tied.weight is clone.embeddings.weight
        assert clone.tied.weight is not m.embeddings.weight
        assert list(clone.state_dict()) == list(m.state_dict())


# ----------------------------------------------------------------------- modes, dtype, device


def test_train_and_eval_propagate_and_return_self():
    m = Tiny()
    assert m.eval() is m
    assert all(not sub.training for sub in m.modules())
    assert m.train() is m and all(sub.training for sub in m.modules())
    m.encoder.train(False)
    assert m.training and not m.encoder.layer[1].attention.self.training
    with pytest.raises(ValueError, match="bool"):
        m.train("no")


def test_zero_grad_and_requires_grad_():
    lin = nn.Linear(3, 2)
    lin(ag.Tensor(np.ones((1, 3), dtype=np.float32))).sum().backward()
    assert lin.weight.grad is not None
    lin.zero_grad(set_to_none=False)
    assert not lin.weight.grad.any()
    lin.zero_grad()
    assert lin.weight.grad is None and lin.bias.grad is None
    assert lin.requires_grad_(False) is lin
    assert lin.num_parameters(only_trainable=True) == 0 and lin.num_parameters() == 8


def test_astype_converts_parameters_and_floating_buffers_in_place():
    m = Tiny()
    m.register_buffer("scale", np.ones(2, dtype=np.float32))
    weight = m.head.weight
    weight.grad = np.zeros(weight.shape, dtype=np.float32)
    assert m.double() is m
    assert m.head.weight is weight  # the same Parameter object: optimizers still hold it
    assert {p.dtype for p in m.parameters()} == {np.dtype(np.float64)}
    assert weight.grad.dtype == np.float64 and m.scale.dtype == np.float64
    assert m.position_ids.dtype == np.int64  # integer buffers are left alone
    assert m.float().head.weight.dtype == np.float32
    assert m.to(np.float64).head.bias.dtype == np.float64
    with pytest.raises(TypeError, match="floating"):
        m.astype(np.int32)


def test_to_cpu_is_a_no_op_and_unknown_devices_are_refused():
    m = Tiny()
    array = m.head.weight.data
    assert m.to("cpu") is m and m.head.weight.data is array
    with pytest.raises(ValueError, match="'cpu', 'cuda'"):
        m.to("tpu")


def test_apply_visits_children_first():
    seen = []
    nn.Sequential(nn.Linear(1, 1), nn.ReLU()).apply(lambda mod: seen.append(type(mod).__name__))
    assert seen == ["Linear", "ReLU", "Sequential"]


def test_repr_prints_the_tree_like_torch():
    model = nn.Sequential(
        nn.Linear(4, 8),
        nn.GELU(),
        nn.ModuleList([nn.LayerNorm(8, eps=1e-12) for _ in range(3)] + [nn.Dropout(0.1)]),
        nn.Embedding(10, 4, padding_idx=0),
        nn.Sequential(),
    )
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=4, out_features=8, bias=True)\n"
        "  (1): GELU(approximate='none')\n"
        "  (2): ModuleList(\n"
        "    (0-2): 3 x LayerNorm((8,), eps=1e-12, elementwise_affine=True, bias=True)\n"
        "    (3): Dropout(p=0.1)\n"
        "  )\n"
        "  (3): Embedding(10, 4, padding_idx=0)\n"
        "  (4): Sequential()\n"
        ")"
    )
    assert repr(nn.ReLU()) == "ReLU()" and repr(nn.ModuleList()) == "ModuleList()"


# ---------------------------------------------------------------------------------- Linear

shapes = st.tuples(
    st.lists(st.integers(1, 3), max_size=2).map(tuple), st.integers(1, 4), st.integers(1, 4)
)


@given(shapes, st.booleans())
def test_linear_forward_is_x_wt_plus_b(shape, bias):
    batch, n_in, n_out = shape
    layer = nn.Linear(n_in, n_out, bias=bias, generator=rng(1))
    x = rng(2).standard_normal((*batch, n_in)).astype(np.float32)
    expected = x @ layer.weight.data.T + (layer.bias.data if bias else 0)
    out = layer(ag.Tensor(x))
    assert out.dtype == np.float32
    assert_close(out, expected, rtol=1e-5, atol=1e-6)


@given(shapes, st.booleans())
def test_linear_gradcheck_over_input_weight_and_bias(shape, bias):
    batch, n_in, n_out = shape
    layer = nn.Linear(n_in, n_out, bias=bias, generator=rng(3)).double()
    x = float64_tensor((*batch, n_in), seed=4)
    params = [layer.weight] + ([layer.bias] if bias else [])
    assert ag.gradcheck(lambda x, *_: layer(x), x, *params)


def test_linear_init_is_torch_default_and_reproducible():
    layer = nn.Linear(16, 64, generator=rng(0))
    bound = 1 / 4
    for p in (layer.weight, layer.bias):
        assert p.dtype == np.float32 and np.abs(p.data).max() <= bound
    # uniform on [-1/4, 1/4]: the largest of 1024 draws lies close to the bound
    assert np.abs(layer.weight.data).max() > 0.24
    again = nn.Linear(16, 64, generator=rng(0))
    np.testing.assert_array_equal(layer.weight.data, again.weight.data)
    np.testing.assert_array_equal(layer.bias.data, again.bias.data)
    assert nn.Linear(3, 2, dtype=np.float64).weight.dtype == np.float64


def test_linear_rejects_wrong_feature_count():
    with pytest.raises(ValueError, match="expects 3"):
        nn.Linear(3, 2)(ag.Tensor(np.ones((4, 5), dtype=np.float32)))
    with pytest.raises(ValueError, match="2-D"):
        F.linear(ag.Tensor(np.ones(3)), ag.Tensor(np.ones(3)))


# ------------------------------------------------------------------------------- Embedding


@given(
    st.lists(st.integers(0, 5), min_size=1, max_size=8),
    st.one_of(st.none(), st.integers(0, 5)),
)
def test_embedding_gradients_with_repeated_indices_and_padding(indices, padding_idx):
    ids = np.array(indices).reshape(1, -1)
    plain = nn.Embedding(6, 3, generator=rng(0)).double()
    assert ag.gradcheck(lambda w: plain(ids), plain.weight)
    # The padding row is used by the forward but gets no gradient by design (as in PyTorch), so
    # it cannot pass a numerical check: its gradient is stated exactly instead.
    layer = nn.Embedding(6, 3, padding_idx=padding_idx, generator=rng(0)).double()
    cotangent = rng(1).standard_normal((1, len(indices), 3))
    layer(ids).backward(cotangent)
    expected = np.zeros((6, 3))
    for position, index in enumerate(indices):
        expected[index] += cotangent[0, position]  # a repeated id adds up its uses
    if padding_idx is not None:
        expected[padding_idx] = 0
    assert_close(layer.weight.grad, expected, rtol=1e-12)


def test_embedding_init_and_forward():
    layer = nn.Embedding(50, 8, padding_idx=-1, generator=rng(0))
    assert layer.padding_idx == 49 and not layer.weight.data[49].any()
    assert abs(layer.weight.data[:49].std() - 1) < 0.1
    ids = np.array([[3, 49, 3]])
    assert_close(layer(ids), layer.weight.data[ids])
    assert_close(layer(ag.Tensor(ids)), layer.weight.data[ids])
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(4, 2, padding_idx=4)


# ------------------------------------------------------------------------------- LayerNorm


@given(
    st.lists(st.integers(1, 3), min_size=1, max_size=2).map(tuple),
    st.integers(2, 5),
    st.sampled_from([(True, True), (True, False), (False, False)]),
)
def test_layer_norm_gradcheck(batch, hidden, affine_bias):
    affine, bias = affine_bias
    layer = nn.LayerNorm(hidden, eps=1e-5, elementwise_affine=affine, bias=bias).double()
    params = list(layer.parameters())
    for p in params:  # away from the ones/zeros init, so a swapped gradient would show
        p.data[...] = rng(5).standard_normal(p.shape)
    x = float64_tensor((*batch, hidden), seed=6)
    assert ag.gradcheck(lambda x, *_: layer(x), x, *params)


def test_layer_norm_forward_and_parameters():
    layer = nn.LayerNorm(4, eps=1e-12)
    assert layer.normalized_shape == (4,)
    assert_close(layer.weight, np.ones(4, dtype=np.float32))
    assert_close(layer.bias, np.zeros(4, dtype=np.float32))
    layer.weight.data[...] = [1.0, 2.0, 3.0, 4.0]
    layer.bias.data[...] = 0.5
    x = rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    normalized = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-12)
    assert_close(layer(ag.Tensor(x)), normalized * layer.weight.data + 0.5, rtol=1e-5, atol=1e-6)
    assert list(nn.LayerNorm(4, elementwise_affine=False).parameters()) == []
    assert [n for n, _ in nn.LayerNorm((4,), bias=False).named_parameters()] == ["weight"]
    with pytest.raises(ValueError, match="last axis"):
        layer(ag.Tensor(np.ones((2, 5), dtype=np.float32)))
    with pytest.raises(ValueError, match="1-tuple"):
        nn.LayerNorm((2, 4))


# --------------------------------------------------------------------------------- Dropout


def test_dropout_mask_statistics_are_binomial():
    p, n = 0.3, 40_000
    layer = nn.Dropout(p, generator=rng(0))
    x = np.full(n, 2.0, dtype=np.float32)
    out = layer(ag.Tensor(x)).data
    dropped = int((out == 0).sum())
    sigma = np.sqrt(n * p * (1 - p))
    assert abs(dropped - n * p) < 5 * sigma  # binomial(n, p) count, 5-sigma bound
    np.testing.assert_allclose(out[out != 0], 2.0 / (1 - p), rtol=1e-6)  # kept and rescaled
    assert abs(out.mean() - 2.0) < 5 * 2.0 / (1 - p) * np.sqrt(p * (1 - p) / n)


def test_dropout_is_identity_in_eval_and_at_p_zero():
    x = ag.Tensor(rng(0).standard_normal((3, 4)))
    layer = nn.Dropout(0.5, generator=rng(0)).eval()
    assert_close(layer(x), x)
    assert_close(nn.Dropout(0.0)(x), x)
    assert not nn.Dropout(1.0)(x).data.any()
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_dropout_same_seed_same_mask():
    x = ag.Tensor(np.ones((8, 8), dtype=np.float32))
    a = nn.Dropout(0.5, generator=rng(7))(x).data
    b = nn.Dropout(0.5, generator=rng(7))(x).data
    c = nn.Dropout(0.5, generator=rng(8))(x).data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_dropout_backward_uses_the_forward_mask():
    layer = nn.Dropout(0.4, generator=rng(3))
    x = float64_tensor((5, 6), seed=1)
    out = layer(x)
    mask = out.data / x.data
    cotangent = rng(2).standard_normal(out.shape)
    out.backward(cotangent)
    assert_close(x.grad, cotangent * mask, rtol=1e-12)

    def reseeded(x):  # gradcheck calls fn many times: each call must draw the same mask
        layer.generator = rng(3)
        return layer(x)

    assert ag.gradcheck(reseeded, float64_tensor((5, 6), seed=1))


def test_dropout_without_generator_follows_manual_seed():
    layer = nn.Dropout(0.5)
    x = ag.Tensor(np.ones(64, dtype=np.float32))
    try:
        ag.manual_seed(123)
        first = layer(x).data
        ag.manual_seed(123)
        np.testing.assert_array_equal(layer(x).data, first)
    finally:
        ag.manual_seed(0)
    with pytest.raises(TypeError, match="Generator"):
        nn.Dropout(0.5, generator=42)


# ------------------------------------------------------------------------------ activations


@pytest.mark.parametrize(
    ("layer", "function"),
    [
        (nn.GELU(), lambda x: ag.gelu(x)),
        (nn.GELU("tanh"), lambda x: ag.gelu(x, approximate="tanh")),
        (nn.ReLU(), ag.relu),
        (nn.Tanh(), ag.tanh),
    ],
)
def test_activation_layers_match_their_ops_and_gradcheck(layer, function):
    x = float64_tensor((3, 4), seed=9)
    assert_close(layer(x), function(x))
    assert ag.gradcheck(layer, x)


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("fast")


# ------------------------------------------------------------------------------ containers


def test_sequential_chains_and_names_children():
    a, b = nn.Linear(3, 4, generator=rng(0)), nn.Linear(4, 2, generator=rng(1))
    seq = nn.Sequential(a, nn.ReLU(), b)
    x = ag.Tensor(rng(2).standard_normal((5, 3)).astype(np.float32))
    assert_close(seq(x), b(a(x).relu()))
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert seq[0] is a and seq[-1] is b and len(seq) == 3 and list(seq)[1] is seq[1]
    assert [n for n, _ in seq[1:].named_children()] == ["1", "2"]  # slices keep the names
    named = nn.Sequential({"dense": a, "act": nn.ReLU()})
    assert [n for n, _ in named.named_parameters()] == ["dense.weight", "dense.bias"]
    with pytest.raises(IndexError):
        seq[3]


def test_module_list_indexing_and_renumbering():
    layers = [nn.Linear(1, 1) for _ in range(4)]
    ml = nn.ModuleList(layers[:2])
    ml.append(layers[2]).extend([layers[3]])
    assert len(ml) == 4 and list(ml) == layers and ml[-1] is layers[3]
    del ml[1]
    assert [n for n, _ in ml.named_children()] == ["0", "1", "2"]
    assert list(ml) == [layers[0], layers[2], layers[3]]
    ml.insert(0, layers[1])
    assert list(ml) == [layers[1], layers[0], layers[2], layers[3]]
    ml[0] = nn.ReLU()
    assert isinstance(ml[0], nn.ReLU) and isinstance(ml[1:], nn.ModuleList)
    with pytest.raises(IndexError):
        ml[4]


def test_module_dict():
    md = nn.ModuleDict({"a": nn.Linear(1, 2), "b": nn.ReLU()})
    md["c"] = nn.Tanh()
    assert list(md) == ["a", "b", "c"] and "b" in md and len(md) == 3
    assert [n for n, _ in md.named_parameters()] == ["a.weight", "a.bias"]
    del md["a"]
    assert list(md.keys()) == ["b", "c"] and list(md.parameters()) == []


def test_whole_model_gradcheck_in_float64():
    model = nn.Sequential(
        nn.Linear(3, 4, generator=rng(0)),
        nn.GELU(),
        nn.LayerNorm(4),
        nn.Linear(4, 2, generator=rng(1)),
        nn.Tanh(),
    ).double()
    x = float64_tensor((2, 3), seed=3)
    assert ag.gradcheck(lambda x, *_: model(x), x, *model.parameters())


# ------------------------------------------------------------------------------------ init


def test_init_functions_work_in_place_keep_dtype_and_return_the_tensor():
    p = nn.Parameter(np.zeros((200, 50), dtype=np.float32))
    array = p.data
    assert init.normal_(p, mean=1.0, std=0.5, generator=rng(0)) is p
    assert p.data is array and p.dtype == np.float32
    assert abs(p.data.mean() - 1.0) < 0.01 and abs(p.data.std() - 0.5) < 0.01
    init.uniform_(p, -0.1, 0.3, generator=rng(0))
    assert p.data.min() >= -0.1 and p.data.max() <= 0.3 and abs(p.data.mean() - 0.1) < 0.01
    assert not init.zeros_(p).data.any()
    assert (init.ones_(p).data == 1).all()
    assert (init.constant_(p, 0.25).data == 0.25).all()
    assert p.data is array


def test_init_is_reproducible_from_a_generator():
    a, b = nn.Parameter(np.zeros(5)), nn.Parameter(np.zeros(5))
    init.normal_(a, generator=rng(4))
    init.normal_(b, generator=rng(4))
    np.testing.assert_array_equal(a.data, b.data)


# ------------------------------------------------------------------------- device safety


def test_layers_init_and_state_dicts_work_on_device_arrays():
    # StrictArray refuses every implicit NumPy conversion, as CuPy does on a GPU.
    strict = pytest.importorskip("autograd.strict_array")
    model = nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.LayerNorm(4), nn.Dropout(0.2))
    emb = nn.Embedding(5, 3, padding_idx=0)
    host = copy.deepcopy(model)
    for p in [*model.parameters(), *emb.parameters()]:
        p.data = strict.StrictArray(p.data.copy())
    model.eval()
    host.eval()
    x = rng(0).standard_normal((2, 3)).astype(np.float32)
    out = model(ag.Tensor(strict.namespace.asarray(x)))
    out.sum().backward()
    emb(strict.namespace.asarray(np.array([[1, 0, 1]]))).sum().backward()
    assert_close(out.data.get(), host(ag.Tensor(x)), rtol=1e-6)
    assert not emb.weight.grad.get()[0].any()
    init.normal_(model[0].weight, generator=rng(1))
    init.zeros_(model[0].bias)
    assert isinstance(model[0].weight.data, strict.StrictArray)
    model.load_state_dict(host.state_dict())  # host to device
    host.load_state_dict({k: v.copy() * 2 for k, v in host.state_dict().items()})
    host.load_state_dict(model.state_dict())  # device to host
    np.testing.assert_array_equal(host[0].weight.data, model[0].weight.data.get())
    assert isinstance(model.to("cpu")[0].weight.data, np.ndarray)
