"""autograd.nn layers against torch.nn, with the weights copied across by ``state_dict``.

The copy itself is part of the claim: our parameter names and shapes are torch's, so a state
dict moves between the two unchanged. Then the same float64 input through both must give the
same output, input gradient and parameter gradients, within 1e-10.
"""

from __future__ import annotations

import numpy as np
import pytest

import autograd as ag
from autograd import nn
from tests.reference.torch_helpers import assert_arrays_match, torch

TOLERANCE = dict(atol=1e-10, rtol=1e-10)


def copy_ours_to_torch(ours: nn.Module, theirs: torch.nn.Module) -> None:
    """Load our state dict into the torch module (strict: the names must be the same)."""
    state = {name: torch.tensor(np.array(value)) for name, value in ours.state_dict().items()}
    theirs.load_state_dict(state)


def assert_module_matches_torch(ours: nn.Module, theirs: torch.nn.Module, *arrays, seed=0):
    """Forward, input gradients and parameter gradients of ``ours`` equal ``theirs``'.

    Floating arrays become float64 inputs that require grad; integer arrays are passed as they
    are (indices). The random cotangent R is the same on both sides.
    """
    our_names = [name for name, _ in ours.named_parameters()]
    torch_names = [name for name, _ in theirs.named_parameters()]
    assert our_names == torch_names, f"parameter names {our_names} != torch's {torch_names}"
    our_inputs, torch_inputs = [], []
    for array in arrays:
        floating = array.dtype.kind == "f"
        our_inputs.append(ag.Tensor(array.copy(), requires_grad=floating))
        torch_inputs.append(torch.tensor(array.copy(), requires_grad=floating))
    ours.zero_grad()
    theirs.zero_grad()
    our_out = ours(*our_inputs)
    torch_out = theirs(*torch_inputs)
    assert our_out.dtype == np.float64
    assert_arrays_match(
        our_out.data, torch_out.detach().numpy(), **TOLERANCE, what="output", kind="forward"
    )
    cotangent = np.random.default_rng(seed).standard_normal(our_out.shape)
    our_out.backward(cotangent)
    torch_out.backward(torch.tensor(cotangent))
    for i, (mine, reference) in enumerate(zip(our_inputs, torch_inputs, strict=True)):
        if reference.requires_grad:
            what = f"gradient of input {i}"
            assert_arrays_match(
                mine.grad, reference.grad.numpy(), **TOLERANCE, what=what, kind="grad"
            )
    torch_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        assert_arrays_match(
            param.grad,
            torch_params[name].grad.numpy(),
            **TOLERANCE,
            what=f"gradient of parameter {name}",
            kind="param grad",
        )


def normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ----------------------------------------------------------------------------------- Linear


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("input_shape", [(5,), (3, 5), (2, 4, 5)])
def test_linear_matches_torch(bias, input_shape):
    ours = nn.Linear(5, 3, bias=bias, generator=np.random.default_rng(0)).double()
    theirs = torch.nn.Linear(5, 3, bias=bias)
    copy_ours_to_torch(ours, theirs)
    assert_module_matches_torch(ours, theirs, normal(input_shape))


def test_linear_loads_torch_weights_and_matches():
    theirs = torch.nn.Linear(6, 2)
    ours = nn.Linear(6, 2, dtype=np.float64)
    ours.load_state_dict({name: value.numpy() for name, value in theirs.state_dict().items()})
    assert_module_matches_torch(ours, theirs, normal((4, 6)))


def test_linear_weight_is_out_by_in_like_torch():
    ours, theirs = nn.Linear(7, 2), torch.nn.Linear(7, 2)
    assert ours.weight.shape == tuple(theirs.weight.shape) == (2, 7)
    assert ours.bias.shape == tuple(theirs.bias.shape) == (2,)


# -------------------------------------------------------------------------------- LayerNorm


@pytest.mark.parametrize("eps", [1e-5, 1e-12])
def test_layer_norm_matches_torch(eps):
    ours = nn.LayerNorm(8, eps=eps).double()
    theirs = torch.nn.LayerNorm(8, eps=eps)
    # Both start at weight 1, bias 0; give them other values so the affine part is exercised.
    assert_arrays_match(
        ours.weight.data, np.ones(8), atol=0, rtol=0, what="initial weight", kind="init"
    )
    assert_arrays_match(
        ours.bias.data, np.zeros(8), atol=0, rtol=0, what="initial bias", kind="init"
    )
    ours.load_state_dict({"weight": 1.0 + 0.1 * normal(8, seed=1), "bias": 0.1 * normal(8, seed=2)})
    copy_ours_to_torch(ours, theirs)
    assert_module_matches_torch(ours, theirs, 3.0 * normal((2, 5, 8)) + 1.0)


# -------------------------------------------------------------------------------- Embedding


@pytest.mark.parametrize("padding_idx", [None, 0, -1])
def test_embedding_matches_torch(padding_idx):
    ours = nn.Embedding(10, 4, padding_idx=padding_idx, generator=np.random.default_rng(0))
    ours.double()
    theirs = torch.nn.Embedding(10, 4, padding_idx=padding_idx)
    assert ours.padding_idx == theirs.padding_idx
    if padding_idx is not None:  # the padding row starts at zero, as torch's does
        row = ours.weight.data[padding_idx]
        assert_arrays_match(row, np.zeros(4), atol=0, rtol=0, what="padding row", kind="init")
    copy_ours_to_torch(ours, theirs)
    indices = np.array([[1, 0, 9, 3, 3], [0, 0, 9, 2, 1]])  # repeats, and both padding rows
    assert_module_matches_torch(ours, theirs, indices)


# ------------------------------------------------------------------------ a small stack of them


def test_sequential_stack_matches_torch_with_the_same_names():
    ours = nn.Sequential(
        nn.Linear(6, 8, generator=np.random.default_rng(1)),
        nn.GELU(),
        nn.Linear(8, 6, generator=np.random.default_rng(2)),
        nn.LayerNorm(6, eps=1e-12),
        nn.Tanh(),
    ).double()
    theirs = torch.nn.Sequential(
        torch.nn.Linear(6, 8),
        torch.nn.GELU(),
        torch.nn.Linear(8, 6),
        torch.nn.LayerNorm(6, eps=1e-12),
        torch.nn.Tanh(),
    )
    copy_ours_to_torch(ours, theirs)
    assert_module_matches_torch(ours, theirs, normal((2, 3, 6)))
