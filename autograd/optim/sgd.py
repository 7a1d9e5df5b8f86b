"""``SGD``: stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from autograd.optim.optimizer import Optimizer, params_with_grad


class SGD(Optimizer):
    r"""Stochastic gradient descent, with exactly ``torch.optim.SGD``'s update rule.

    With g the gradient, \lambda the weight decay, \mu the momentum, \tau the dampening:

    .. math::
        g \leftarrow g + \lambda \theta;\quad
        b \leftarrow \begin{cases} g & \text{first step} \\ \mu b + (1 - \tau) g & \text{after}
        \end{cases};\quad
        \theta \leftarrow \theta - \text{lr} \cdot (g + \mu b \text{ if nesterov else } b)

    Without momentum the update is plain \theta \leftarrow \theta - \text{lr} \cdot g. Parameters
    whose ``grad`` is None are skipped.

    Args:
        params: parameters or parameter groups (see ``Optimizer``).
        lr: learning rate.
        momentum: \mu; 0 disables the momentum buffer.
        dampening: \tau, how much of the new gradient is damped in the buffer.
        weight_decay: \lambda, L2 penalty added to the gradient (coupled, unlike AdamW).
        nesterov: use Nesterov momentum (needs momentum > 0 and dampening 0).

    State per parameter: ``"momentum_buffer"`` (only when momentum is not 0).
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
            nesterov=nesterov,
        )  # fmt: skip
        super().__init__(params, defaults)

    def _step(self) -> None:
        for group in self.param_groups:
            lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
            weight_decay, nesterov = group["weight_decay"], group["nesterov"]
            for param in params_with_grad(group):
                grad = param.grad
                if weight_decay != 0:
                    grad = grad + weight_decay * param.data  # a new array: p.grad stays as is
                if momentum != 0:
                    state = self.state[param]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = grad.copy()
                    else:
                        buf *= momentum
                        buf += (1 - dampening) * grad
                    grad = grad + momentum * buf if nesterov else buf
                # In place, so every reference to the array (state_dict, tied weights) sees it.
                param.data += -lr * grad
