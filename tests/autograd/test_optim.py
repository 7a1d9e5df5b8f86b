"""autograd.optim: the update rules against hand-written NumPy, state, clipping, schedules."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd as ag
from autograd import nn, optim
from autograd.optim import adamw as adamw_module
from tests.helpers import assert_close

# A tiny quadratic: loss = sum(c * (theta - target)^2) / 2, so grad = c * (theta - target).
C = np.array([0.5, 1.0, 2.0, 4.0])
TARGET = np.array([1.0, -2.0, 0.5, 3.0])
THETA0 = np.array([0.3, 0.1, -1.0, 2.0])


def quadratic_grad(theta: np.ndarray) -> np.ndarray:
    return C * (theta - TARGET)


def run(optimizer_factory, steps: int, theta0=THETA0):
    """Run an optimizer from ``theta0`` on the quadratic; returns the parameter and optimizer."""
    param = nn.Parameter(np.array(theta0, dtype=np.float64))
    optimizer = optimizer_factory([param])
    for _ in range(steps):
        optimizer.zero_grad()
        loss = (ag.Tensor(C) * (param - ag.Tensor(TARGET)) ** 2).sum() * 0.5
        loss.backward()
        optimizer.step()
    return param, optimizer


def sgd_by_hand(steps, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    """torch.optim.SGD's documented algorithm, written out in NumPy."""
    theta, buf = THETA0.copy(), None
    for _ in range(steps):
        g = quadratic_grad(theta) + weight_decay * theta
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        theta = theta - lr * g
    return theta


def adamw_by_hand(steps, lr, beta1, beta2, eps, weight_decay, theta0=THETA0, grad=quadratic_grad):
    """The AdamW paper's algorithm with bias-corrected moments, written out in NumPy."""
    theta, m, v = np.array(theta0, dtype=np.float64), 0.0, 0.0
    for t in range(1, steps + 1):
        g = grad(theta)
        theta = theta * (1 - lr * weight_decay)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
    return theta


# ----------------------------------------------------------------------------- the base class


def test_param_groups_take_defaults_and_overrides():
    a, b = nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(3))
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5, "tag": "head"}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[1]["params"] == [b] and opt.param_groups[1]["tag"] == "head"
    assert opt.param_groups[0]["momentum"] == 0.0
    c = nn.Parameter(np.zeros(1))
    opt.add_param_group({"params": [c], "momentum": 0.9})
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[2]["momentum"] == 0.9


def test_bad_parameter_lists_are_refused_clearly():
    p = nn.Parameter(np.zeros(2))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="appears twice"):
        optim.SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="appears twice"):
        optim.AdamW([{"params": [p]}, {"params": [p]}])
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="not a set"):
        optim.SGD([{"params": {p}}], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2.0], lr=0.1)


def test_hyperparameters_are_validated():
    p = [nn.Parameter(np.zeros(1))]
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="learning rate"):
        optim.SGD(p, lr=-1.0)
    with pytest.raises(ValueError, match="beta parameter at index 1"):
        optim.AdamW(p, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="weight_decay"):
        optim.AdamW(p, weight_decay=-0.1)


def test_zero_grad_sets_none_or_zeros():
    p = nn.Parameter(np.ones(3))
    opt = optim.SGD([p], lr=0.1)
    p.grad = np.ones(3)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad, np.zeros(3))
    opt.zero_grad()
    assert p.grad is None


def test_parameters_without_grad_are_skipped():
    used, unused = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    for opt in (optim.SGD([used, unused], lr=0.1, momentum=0.9), optim.AdamW([used, unused])):
        used.grad = np.ones(2)
        opt.step()
        np.testing.assert_array_equal(unused.data, np.ones(2))
        assert unused not in opt.state and used in opt.state
    assert optim.AdamW([used]).state == {}


def test_step_calls_the_closure_with_grad_enabled():
    p = nn.Parameter(np.array([2.0]))
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with ag.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 4.0 and p.data[0] == 2.0 - 0.25 * 4.0


# -------------------------------------------------------------------------------------- SGD


@given(
    lr=st.sampled_from([0.01, 0.1]),
    momentum=st.sampled_from([0.0, 0.5, 0.9]),
    dampening=st.sampled_from([0.0, 0.3]),
    weight_decay=st.sampled_from([0.0, 0.1]),
    nesterov=st.booleans(),
)
def test_sgd_matches_the_torch_update_rule_by_hand(lr, momentum, dampening, weight_decay, nesterov):
    if nesterov and (momentum == 0 or dampening != 0):
        return
    kwargs = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                  nesterov=nesterov)  # fmt: skip
    param, opt = run(lambda p: optim.SGD(p, **kwargs), steps=6)
    assert_close(param, sgd_by_hand(6, **kwargs), rtol=1e-12, atol=1e-14)
    assert ("momentum_buffer" in opt.state[param]) == (momentum != 0)


def test_sgd_leaves_the_gradient_and_array_identity_alone():
    p = nn.Parameter(np.ones(3))
    array, grad = p.data, np.full(3, 2.0)
    p.grad = grad
    optim.SGD([p], lr=0.1, weight_decay=0.5).step()
    assert p.data is array  # updated in place: a model's state_dict still sees it
    np.testing.assert_array_equal(p.grad, np.full(3, 2.0))
    assert_close(p, np.ones(3) - 0.1 * (2.0 + 0.5))


# ------------------------------------------------------------------------------------ AdamW


@given(
    lr=st.sampled_from([1e-3, 0.05]),
    betas=st.sampled_from([(0.9, 0.999), (0.5, 0.9)]),
    eps=st.sampled_from([1e-8, 1e-3]),
    weight_decay=st.sampled_from([0.0, 0.01, 0.3]),
)
def test_adamw_matches_the_paper_by_hand(lr, betas, eps, weight_decay):
    param, opt = run(
        lambda p: optim.AdamW(p, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay), steps=10
    )
    expected = adamw_by_hand(10, lr, *betas, eps, weight_decay)
    assert_close(param, expected, rtol=1e-12, atol=1e-15)
    state = opt.state[param]
    assert state["step"] == 10 and isinstance(state["step"], int)
    assert state["exp_avg"].shape == state["exp_avg_sq"].shape == param.shape


def test_adamw_goes_through_the_kernel_registry(monkeypatch):
    calls = []
    real = adamw_module.get_kernel

    def spy(name, array, *args, **kwargs):
        calls.append(name)
        return real(name, array, *args, **kwargs)

    monkeypatch.setattr(adamw_module, "get_kernel", spy)
    run(lambda p: optim.AdamW(p), steps=3)
    assert calls == ["adamw_step"] * 3


def test_adamw_float32_stays_float32():
    p = nn.Parameter(np.ones(4, dtype=np.float32))
    p.grad = np.full(4, 0.5, dtype=np.float32)
    opt = optim.AdamW([p], lr=0.1)
    opt.step()
    assert p.dtype == opt.state[p]["exp_avg"].dtype == np.float32


def test_adamw_param_groups_skip_decay():
    decayed, exempt = nn.Parameter(np.full(3, 2.0)), nn.Parameter(np.full(3, 2.0))
    groups = [{"params": [decayed]}, {"params": [exempt], "weight_decay": 0.0}]
    opt = optim.AdamW(groups, lr=0.1, weight_decay=0.5)
    for _ in range(3):  # zero gradients: only the decoupled decay moves a parameter
        decayed.grad, exempt.grad = np.zeros(3), np.zeros(3)
        opt.step()
    assert_close(decayed, np.full(3, 2.0 * (1 - 0.1 * 0.5) ** 3), rtol=1e-14)
    np.testing.assert_array_equal(exempt.data, np.full(3, 2.0))


def test_weight_decay_groups_split_by_name_patterns_only():
    named = [
        ("encoder.layer.0.attention.self.query.weight", nn.Parameter(np.zeros((2, 2)))),
        ("encoder.layer.0.attention.self.query.bias", nn.Parameter(np.zeros(2))),
        ("encoder.layer.0.output.LayerNorm.weight", nn.Parameter(np.zeros(2))),
        ("encoder.layer.0.output.LayerNorm.bias", nn.Parameter(np.zeros(2))),
        ("decoder.layer_norm.weight", nn.Parameter(np.zeros(2))),
        ("pooler.scale", nn.Parameter(np.zeros(2))),  # 1-D but no pattern matches: decays
    ]
    decayed, exempt = optim.weight_decay_groups(named, weight_decay=0.01)
    params = dict(named)
    assert decayed["weight_decay"] == 0.01 and exempt["weight_decay"] == 0.0
    assert decayed["params"] == [
        params["encoder.layer.0.attention.self.query.weight"],
        params["pooler.scale"],
    ]
    assert len(exempt["params"]) == 4
    custom = optim.weight_decay_groups(named, 0.1, no_decay=("scale",))
    assert custom[1]["params"] == [params["pooler.scale"]]


def test_weight_decay_groups_feed_adamw_from_a_model():
    model = nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3))
    groups = optim.weight_decay_groups(model.named_parameters(), 0.01, no_decay=("bias", "1."))
    opt = optim.AdamW(groups, lr=1e-3)
    assert [len(g["params"]) for g in opt.param_groups] == [1, 3]


# ------------------------------------------------------------------------------ state dicts


def make_optimizer(kind: str, params):
    if kind == "sgd":
        return optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True)
    return optim.AdamW(
        [{"params": params[:1]}, {"params": params[1:], "weight_decay": 0.0}], lr=0.05
    )


def quadratic_steps(params, opt, steps: int) -> None:
    for _ in range(steps):
        opt.zero_grad()
        loss = sum(((p - 1.0) ** 2 * (i + 1.0)).sum() for i, p in enumerate(params))
        loss.backward()
        opt.step()


@pytest.mark.parametrize("kind", ["sgd", "adamw"])
def test_state_dict_round_trip_continues_identically(kind):
    params = [nn.Parameter(np.linspace(-1, 1, 6).reshape(2, 3)), nn.Parameter(np.zeros(3))]
    opt = make_optimizer(kind, params)
    quadratic_steps(params, opt, 3)
    saved_params = [p.data.copy() for p in params]
    saved = copy.deepcopy(opt.state_dict())
    quadratic_steps(params, opt, 4)

    resumed = [nn.Parameter(a.copy()) for a in saved_params]
    opt2 = make_optimizer(kind, resumed)
    opt2.load_state_dict(saved)
    quadratic_steps(resumed, opt2, 4)
    for p, q in zip(params, resumed, strict=True):
        np.testing.assert_array_equal(p.data, q.data)
    # loading copies: the saved dict does not alias the live state
    key = "momentum_buffer" if kind == "sgd" else "exp_avg"
    assert opt2.state[resumed[0]][key] is not saved["state"][0][key]


def test_state_dict_format_indexes_parameters_across_groups():
    a, b, c = (nn.Parameter(np.zeros(n)) for n in (1, 2, 3))
    opt = optim.AdamW([{"params": [a, b]}, {"params": [c], "lr": 0.5}], lr=0.1)
    a.grad, c.grad = np.ones(1), np.ones(3)
    opt.step()
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["param_groups"][0]["betas"] == (0.9, 0.999)
    assert sorted(sd["state"]) == [0, 2] and sd["state"][2]["step"] == 1
    assert sd["state"][2]["exp_avg"] is opt.state[c]["exp_avg"]  # live arrays, as torch


def test_load_state_dict_accepts_string_indices_and_restores_hyperparameters():
    p = nn.Parameter(np.ones(2))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = np.ones(2)
    opt.step()
    sd = opt.state_dict()
    sd = {"state": {str(k): v for k, v in sd["state"].items()}, "param_groups": sd["param_groups"]}
    sd["param_groups"][0]["lr"] = 0.01
    q = nn.Parameter(np.ones(2))
    opt2 = optim.SGD([q], lr=0.1, momentum=0.9)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == 0.01 and opt2.param_groups[0]["params"] == [q]
    np.testing.assert_array_equal(opt2.state[q]["momentum_buffer"], np.ones(2))


def test_load_state_dict_errors_leave_the_optimizer_unchanged():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(3))
    opt = optim.AdamW([a, b])
    a.grad, b.grad = np.ones(2), np.ones(3)
    opt.step()
    good = copy.deepcopy(opt.state_dict())

    with pytest.raises(ValueError, match="1 parameter groups but this optimizer has 2"):
        optim.AdamW([{"params": [a]}, {"params": [b]}]).load_state_dict(good)
    with pytest.raises(ValueError, match="2 parameters in the state_dict but 1"):
        optim.AdamW([a]).load_state_dict(good)

    bad = copy.deepcopy(good)
    bad["state"][1]["exp_avg"] = np.zeros(4)
    fresh = optim.AdamW([a, b], lr=0.5)
    with pytest.raises(ValueError, match=r"'exp_avg' of parameter 1 has shape \(4,\)"):
        fresh.load_state_dict(bad)
    assert fresh.state == {} and fresh.param_groups[0]["lr"] == 0.5
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        fresh.load_state_dict({"state": {}})


# ---------------------------------------------------------------------------------- clipping


grad_lists = st.lists(
    st.tuples(st.integers(1, 4), st.integers(1, 3)).flatmap(
        lambda shape: st.builds(
            lambda seed, scale: np.random.default_rng(seed).standard_normal(shape) * scale,
            st.integers(0, 1000),
            st.sampled_from([0.01, 1.0, 10.0]),
        )
    ),
    min_size=1,
    max_size=3,
)


@given(grad_lists, st.sampled_from([1.0, 2.0, 3.0, math.inf]), st.sampled_from([0.1, 1.0, 5.0]))
def test_clip_grad_norm_scales_to_max_norm(grads, norm_type, max_norm):
    params = [nn.Parameter(np.zeros(g.shape)) for g in grads]
    for p, g in zip(params, grads, strict=True):
        p.grad = g.copy()
    params.append(nn.Parameter(np.zeros(2)))  # no grad: ignored
    flat = np.concatenate([g.ravel() for g in grads])
    expected_norm = np.linalg.norm(flat, ord=norm_type)
    total = optim.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    assert isinstance(total, float)
    assert total == pytest.approx(expected_norm, rel=1e-12)
    coef = max_norm / (expected_norm + 1e-6)
    for p, g in zip(params, grads, strict=False):
        assert_close(p.grad, g * min(coef, 1.0), rtol=1e-12)
    clipped = np.linalg.norm(np.concatenate([p.grad.ravel() for p in params[:-1]]), ord=norm_type)
    assert clipped <= max_norm * (1 + 1e-9)


def test_clip_grad_norm_edge_cases():
    p = nn.Parameter(np.zeros(2))
    assert optim.clip_grad_norm_([p], 1.0) == 0.0  # no gradients at all
    p.grad = np.array([3.0, 4.0])
    assert optim.clip_grad_norm_(p, 10.0) == 5.0  # a single tensor; below the max: unchanged
    np.testing.assert_array_equal(p.grad, [3.0, 4.0])
    p.grad = np.array([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="non|inf"):
        optim.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


# --------------------------------------------------------------------------------- schedules


def lrs_over(scheduler, steps: int) -> list[float]:
    values = []
    for _ in range(steps):
        values.append(scheduler.get_last_lr()[0])
        scheduler.optimizer.step()
        scheduler.step()
    return values


def sgd_at(lr: float = 1.0) -> optim.SGD:
    return optim.SGD([nn.Parameter(np.zeros(1))], lr=lr)


def test_linear_schedule_with_warmup_values():
    opt = sgd_at(0.1)
    lrs = lrs_over(optim.get_linear_schedule_with_warmup(opt, 4, 10), 13)
    assert lrs[0] == 0.0 and lrs[2] == pytest.approx(0.05) and lrs[4] == pytest.approx(0.1)
    assert lrs[7] == pytest.approx(0.1 * 3 / 6)
    assert lrs[10:] == [0.0, 0.0, 0.0]
    assert max(lrs) == lrs[4]
    assert opt.param_groups[0]["initial_lr"] == 0.1


def test_cosine_schedule_with_warmup_values():
    lrs = lrs_over(optim.get_cosine_schedule_with_warmup(sgd_at(2.0), 2, 12), 14)
    assert lrs[:3] == [0.0, 1.0, 2.0]
    assert lrs[7] == pytest.approx(1.0)  # halfway through the decay: half the peak
    assert lrs[12] == pytest.approx(0.0, abs=1e-15) and lrs[13] >= 0.0
    full_cycle = lrs_over(optim.get_cosine_schedule_with_warmup(sgd_at(), 0, 4, num_cycles=1.0), 5)
    assert full_cycle == pytest.approx([1.0, 0.5, 0.0, 0.5, 1.0], abs=1e-15)


def test_lambda_lr_per_group_lambdas():
    a, b = nn.Parameter(np.zeros(1)), nn.Parameter(np.zeros(1))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=1.0)
    scheduler = optim.LambdaLR(opt, [lambda s: 0.5**s, lambda s: s + 1.0])
    assert scheduler.get_last_lr() == [1.0, 0.5]
    scheduler.step()
    scheduler.step()
    assert scheduler.get_last_lr() == [0.25, 1.5] == [g["lr"] for g in opt.param_groups]
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas"):
        optim.LambdaLR(opt, [lambda s: 1.0])


def test_scheduler_state_dict_is_json_and_resumes():
    opt = sgd_at(0.1)
    scheduler = optim.get_linear_schedule_with_warmup(opt, 3, 10)
    lrs_over(scheduler, 5)
    saved = json.loads(json.dumps(scheduler.state_dict()))
    rest = lrs_over(scheduler, 4)

    opt2 = sgd_at(0.1)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    resumed = optim.get_linear_schedule_with_warmup(opt2, 3, 10)
    resumed.load_state_dict(saved)
    opt2.param_groups[0]["lr"] = saved["_last_lr"][0]  # the optimizer's own checkpoint holds it
    assert resumed.last_epoch == 5
    assert lrs_over(resumed, 4) == pytest.approx(rest)


def test_resuming_a_scheduler_needs_initial_lr():
    with pytest.raises(KeyError, match="initial_lr"):
        optim.LambdaLR(sgd_at(), lambda s: 1.0, last_epoch=3)
    with pytest.raises(TypeError, match="not an Optimizer"):
        optim.lr_scheduler.LRScheduler(object())


# -------------------------------------------------------------------------------- training


def regression_data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = x @ np.array([[1.5], [-2.0], [0.5]], dtype=np.float32) + np.float32(0.3)
    return ag.Tensor(x), ag.Tensor(y)


@pytest.mark.parametrize(
    ("make", "steps", "tolerance"),
    [
        (lambda p: optim.SGD(p, lr=0.1, momentum=0.9), 150, 1e-6),
        (lambda p: optim.AdamW(p, lr=0.05, weight_decay=0.0), 300, 1e-4),
    ],
)
def test_training_a_linear_regression_reaches_low_loss(make, steps, tolerance):
    x, y = regression_data()
    model = nn.Linear(3, 1, generator=np.random.default_rng(1))
    optimizer = make(model.parameters())
    first = None
    for _ in range(steps):
        optimizer.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        first = loss.item() if first is None else first
        loss.backward()
        optimizer.step()
    assert first > 1.0 and loss.item() < tolerance
    assert_close(model.bias, np.array([0.3], dtype=np.float32), rtol=1e-2)


def test_optimizers_and_clipping_work_on_device_arrays():
    # StrictArray refuses every implicit NumPy conversion, as CuPy does on a GPU.
    strict = pytest.importorskip("autograd.strict_array")
    for make in (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.1), optim.AdamW):
        host = [nn.Parameter(np.linspace(0, 1, 4)), nn.Parameter(np.ones(2))]
        device = [nn.Parameter(strict.namespace.asarray(p.data)) for p in host]
        for params in (host, device):
            opt = make(params)
            for step in range(3):
                for p in params:
                    p.grad = p.data * 2.0 - 1.0
                optim.clip_grad_norm_(params, 0.5)
                opt.step()
                if step == 1:
                    opt.load_state_dict(copy.deepcopy(opt.state_dict()))
        for h, d in zip(host, device, strict=True):
            assert_close(d.data.get(), h.data, rtol=1e-12)
