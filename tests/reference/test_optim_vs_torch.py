"""autograd.optim against torch.optim (and transformers' schedules), step by step in float64.

Both optimizers get the same parameters and, at every step, the same gradients (drawn from one
seeded generator); after each step the parameters must agree to 1e-12.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import autograd as ag
from autograd import nn, optim
from tests.reference.torch_helpers import assert_arrays_match, torch

transformers = pytest.importorskip(
    "transformers", reason="the optim parity tests need transformers: `make test-ref`"
)

TOLERANCE = dict(atol=1e-12, rtol=1e-12)
SHAPES = [(4, 3), (2, 3, 2), (3,), (1,)]


def twin_parameters(seed: int = 0):
    """The same starting values as autograd Parameters and as torch Parameters."""
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(shape) for shape in SHAPES]
    ours = [nn.Parameter(a.copy()) for a in arrays]
    theirs = [torch.nn.Parameter(torch.tensor(a.copy())) for a in arrays]
    return ours, theirs


def two_groups(params, **second_group_overrides):
    """Matrices in the first group (the defaults), vectors in the second with overrides."""
    return [
        {"params": params[:2]},
        {"params": params[2:], **second_group_overrides},
    ]


def set_gradients(ours, theirs, rng, skip=()):
    """The same fresh random gradient on both sides; parameters in ``skip`` get none."""
    for i, (mine, reference) in enumerate(zip(ours, theirs, strict=True)):
        if i in skip:
            mine.grad, reference.grad = None, None
            continue
        grad = rng.standard_normal(mine.shape)
        mine.grad = grad.copy()
        reference.grad = torch.tensor(grad.copy())


def assert_parameters_match(ours, theirs, what: str):
    for i, (mine, reference) in enumerate(zip(ours, theirs, strict=True)):
        assert_arrays_match(
            mine.data,
            reference.detach().numpy(),
            **TOLERANCE,
            what=f"{what}: parameter {i} {mine.shape}",
            kind="param",
        )


def run_in_lockstep(our_optimizer, torch_optimizer, ours, theirs, steps=10, seed=1, skip=None):
    """``steps`` steps on the same gradients, comparing the parameters after each."""
    rng = np.random.default_rng(seed)
    for step in range(1, steps + 1):
        our_optimizer.zero_grad()
        torch_optimizer.zero_grad()
        set_gradients(ours, theirs, rng, skip=skip(step) if skip else ())
        our_optimizer.step()
        torch_optimizer.step()
        assert_parameters_match(ours, theirs, f"after step {step}")


# ------------------------------------------------------------------------------------ AdamW


@pytest.mark.parametrize(
    "hyperparameters",
    [
        dict(lr=1e-2, weight_decay=0.1),
        dict(lr=3e-2, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.05),
        dict(),  # the defaults, which must be torch's too
    ],
    ids=["bert_like", "custom_betas_eps", "defaults"],
)
def test_adamw_matches_torch_over_10_steps(hyperparameters):
    ours, theirs = twin_parameters()
    our_adamw = optim.AdamW(two_groups(ours, weight_decay=0.0), **hyperparameters)
    torch_adamw = torch.optim.AdamW(two_groups(theirs, weight_decay=0.0), **hyperparameters)
    run_in_lockstep(our_adamw, torch_adamw, ours, theirs)
    for i, (mine, reference) in enumerate(zip(ours, theirs, strict=True)):
        our_state, torch_state = our_adamw.state[mine], torch_adamw.state[reference]
        assert our_state["step"] == int(torch_state["step"]) == 10
        for name in ("exp_avg", "exp_avg_sq"):
            assert_arrays_match(
                our_state[name],
                torch_state[name].numpy(),
                **TOLERANCE,
                what=f"AdamW state {name} of parameter {i}",
                kind="state",
            )


def test_adamw_group_with_its_own_lr_matches_torch():
    ours, theirs = twin_parameters(seed=2)
    overrides = dict(lr=5e-3, weight_decay=0.0)
    our_adamw = optim.AdamW(two_groups(ours, **overrides), lr=1e-2, weight_decay=0.1)
    torch_adamw = torch.optim.AdamW(two_groups(theirs, **overrides), lr=1e-2, weight_decay=0.1)
    run_in_lockstep(our_adamw, torch_adamw, ours, theirs)


def test_adamw_skips_parameters_without_gradient_like_torch():
    # Parameter 1 gets a gradient on even steps only: its step count (so its bias correction)
    # must lag as torch's does, and its weight decay must not apply on the steps it skips.
    ours, theirs = twin_parameters(seed=3)
    our_adamw = optim.AdamW(ours, lr=1e-2, weight_decay=0.1)
    torch_adamw = torch.optim.AdamW(theirs, lr=1e-2, weight_decay=0.1)
    run_in_lockstep(our_adamw, torch_adamw, ours, theirs, skip=lambda step: {1} if step % 2 else ())


# -------------------------------------------------------------------------------------- SGD


@pytest.mark.parametrize(
    "hyperparameters",
    [
        dict(lr=0.1),
        dict(lr=0.1, momentum=0.9),
        dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
        dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
        dict(lr=0.05, weight_decay=0.1),
    ],
    ids=["plain", "momentum", "dampening_weight_decay", "nesterov_weight_decay", "weight_decay"],
)
def test_sgd_matches_torch_over_10_steps(hyperparameters):
    ours, theirs = twin_parameters(seed=4)
    our_sgd = optim.SGD(two_groups(ours, weight_decay=0.0), **hyperparameters)
    torch_sgd = torch.optim.SGD(two_groups(theirs, weight_decay=0.0), **hyperparameters)
    run_in_lockstep(our_sgd, torch_sgd, ours, theirs)


def test_sgd_with_momentum_skips_parameters_without_gradient_like_torch():
    ours, theirs = twin_parameters(seed=5)
    our_sgd = optim.SGD(ours, lr=0.1, momentum=0.9, weight_decay=0.01)
    torch_sgd = torch.optim.SGD(theirs, lr=0.1, momentum=0.9, weight_decay=0.01)
    run_in_lockstep(our_sgd, torch_sgd, ours, theirs, skip=lambda step: {0} if step < 3 else ())


# --------------------------------------------------------------------------- clip_grad_norm_


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3], ids=["clips", "leaves_alone"])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ours, theirs = twin_parameters()
    set_gradients(ours, theirs, np.random.default_rng(6), skip={2})  # one without a gradient
    our_norm = optim.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    torch_norm = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert isinstance(our_norm, float)
    assert_arrays_match(our_norm, torch_norm.item(), **TOLERANCE, what="total norm", kind="norm")
    for i, (mine, reference) in enumerate(zip(ours, theirs, strict=True)):
        if reference.grad is None:
            assert mine.grad is None, f"parameter {i} had no gradient but has one after clipping"
            continue
        assert_arrays_match(
            mine.grad,
            reference.grad.numpy(),
            **TOLERANCE,
            what=f"clipped gradient of parameter {i}",
            kind="grad",
        )


def test_clip_grad_norm_of_a_single_tensor_matches_torch():
    ours, theirs = twin_parameters()
    set_gradients(ours, theirs, np.random.default_rng(7))
    our_norm = optim.clip_grad_norm_(ours[0], 0.1)
    torch_norm = torch.nn.utils.clip_grad_norm_(theirs[0], 0.1)
    assert_arrays_match(our_norm, torch_norm.item(), **TOLERANCE, what="total norm", kind="norm")
    assert_arrays_match(
        ours[0].grad, theirs[0].grad.numpy(), **TOLERANCE, what="clipped gradient", kind="grad"
    )


# ------------------------------------------------------------------------------- schedules

SCHEDULES = {
    "linear": (optim.get_linear_schedule_with_warmup, transformers.get_linear_schedule_with_warmup),
    "cosine": (optim.get_cosine_schedule_with_warmup, transformers.get_cosine_schedule_with_warmup),
}


def learning_rates(make_optimizer, make_schedule, params, steps, *schedule_args, **schedule_kwargs):
    """The lr of every group at creation and after each of ``steps`` (optimizer, schedule) steps."""
    optimizer = make_optimizer([{"params": params[:2]}, {"params": params[2:], "lr": 0.03}], lr=0.1)
    schedule = make_schedule(optimizer, *schedule_args, **schedule_kwargs)
    history = [list(schedule.get_last_lr())]
    for _ in range(steps):
        optimizer.step()  # no gradients: changes nothing, but torch wants it before the schedule
        schedule.step()
        history.append(list(schedule.get_last_lr()))
        assert history[-1] == [group["lr"] for group in optimizer.param_groups]
    return np.array(history)


@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize(
    "num_warmup_steps, num_training_steps",
    [(0, 10), (3, 10), (4, 13), (10, 10), (3, 7)],
    ids=["no_warmup", "warmup_3_of_10", "warmup_4_of_13", "all_warmup", "past_the_end"],
)
def test_warmup_schedules_match_transformers(name, num_warmup_steps, num_training_steps):
    ours, theirs = twin_parameters()
    our_schedule, their_schedule = SCHEDULES[name]
    steps = num_training_steps + 3  # a few past the end, where the lr must stay at 0
    args = (num_warmup_steps, num_training_steps)
    our_lrs = learning_rates(optim.SGD, our_schedule, ours, steps, *args)
    torch_lrs = learning_rates(torch.optim.SGD, their_schedule, theirs, steps, *args)
    assert_arrays_match(our_lrs, torch_lrs, atol=1e-15, rtol=1e-15, what=f"{name} lrs", kind="lr")


@pytest.mark.parametrize("num_cycles", [0.5, 1.0, 2.5])
def test_cosine_schedule_cycles_match_transformers(num_cycles):
    ours, theirs = twin_parameters()
    args = (2, 12)
    our_lrs = learning_rates(
        optim.SGD, optim.get_cosine_schedule_with_warmup, ours, 15, *args, num_cycles=num_cycles
    )
    torch_lrs = learning_rates(
        torch.optim.SGD,
        transformers.get_cosine_schedule_with_warmup,
        theirs,
        15,
        *args,
        num_cycles=num_cycles,
    )
    assert_arrays_match(our_lrs, torch_lrs, atol=1e-15, rtol=1e-15, what="cosine lrs", kind="lr")


# ------------------------------------------------------- a whole training loop, end to end


def test_bert_recipe_training_loop_matches_torch():
    """Real gradients of a small regression through both autograds; clip, AdamW, warmup."""
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((16, 4)), rng.standard_normal((16, 3))
    ours, theirs = twin_parameters(seed=9)  # W (4, 3) and b (3,) are parameters 0 and 2
    weight, bias = ours[0], ours[2]
    torch_weight, torch_bias = theirs[0], theirs[2]
    groups = lambda p: [{"params": [p[0]]}, {"params": [p[2]], "weight_decay": 0.0}]
    our_adamw = optim.AdamW(groups(ours), lr=1e-2, weight_decay=0.01)
    torch_adamw = torch.optim.AdamW(groups(theirs), lr=1e-2, weight_decay=0.01)
    our_schedule = optim.get_linear_schedule_with_warmup(our_adamw, 3, 10)
    torch_schedule = transformers.get_linear_schedule_with_warmup(torch_adamw, 3, 10)
    for step in range(10):
        our_loss = ((ag.Tensor(x) @ weight + bias - ag.Tensor(y)) ** 2).mean()
        our_loss.backward()
        torch_loss = ((torch.tensor(x) @ torch_weight + torch_bias - torch.tensor(y)) ** 2).mean()
        torch_loss.backward()
        assert_arrays_match(
            our_loss.item(), torch_loss.item(), **TOLERANCE, what=f"loss {step}", kind="loss"
        )
        our_norm = optim.clip_grad_norm_([weight, bias], 1.0)
        torch_norm = torch.nn.utils.clip_grad_norm_([torch_weight, torch_bias], 1.0)
        assert_arrays_match(our_norm, torch_norm.item(), **TOLERANCE, what="norm", kind="norm")
        our_adamw.step()
        torch_adamw.step()
        our_schedule.step()
        torch_schedule.step()
        our_adamw.zero_grad()
        torch_adamw.zero_grad()
        assert_parameters_match([weight, bias], [torch_weight, torch_bias], f"after step {step}")
