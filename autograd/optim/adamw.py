"""``AdamW``: Adam with decoupled weight decay, the optimizer BERT is trained with."""

from __future__ import annotations

from autograd.backend import get_xp
from autograd.kernels import get_kernel
from autograd.optim.optimizer import Optimizer, params_with_grad


class AdamW(Optimizer):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter), as ``torch.optim.AdamW``.

    At step t, with gradient g:

    .. math::
        \theta \leftarrow \theta (1 - \text{lr}\,\lambda);\quad
        m \leftarrow \beta_1 m + (1 - \beta_1) g;\quad
        v \leftarrow \beta_2 v + (1 - \beta_2) g^2

    .. math::
        \theta \leftarrow \theta - \frac{\text{lr}}{1 - \beta_1^t}
        \frac{m}{\sqrt{v} / \sqrt{1 - \beta_2^t} + \epsilon}

    The decay shrinks the weights directly instead of entering the gradient, so it is not
    rescaled by the adaptive denominator (which is what distinguishes AdamW from Adam + L2).
    The arithmetic is the ``adamw_step`` kernel's, picked per array by the kernel registry.
    Parameters whose ``grad`` is None are skipped (and their step count does not advance).

    Args:
        params: parameters or parameter groups (see ``Optimizer``); BERT gives biases and
            LayerNorm weights their own group with weight_decay 0 (``weight_decay_groups``).
        lr: learning rate.
        betas: (\beta_1, \beta_2), the decay rates of the moment estimates.
        eps: \epsilon, added to the denominator for stability.
        weight_decay: \lambda, the decoupled decay rate.

    State per parameter: ``"step"`` (int), ``"exp_avg"`` (m), ``"exp_avg_sq"`` (v).
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if eps < 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _step(self) -> None:
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for param in params_with_grad(group):
                state = self.state[param]
                if not state:
                    xp = get_xp(param.data)
                    state["step"] = 0
                    state["exp_avg"] = xp.zeros_like(param.data)
                    state["exp_avg_sq"] = xp.zeros_like(param.data)
                state["step"] += 1
                get_kernel("adamw_step", param.data)(
                    param.data,
                    param.grad,
                    state["exp_avg"],
                    state["exp_avg_sq"],
                    lr=group["lr"],
                    beta1=beta1,
                    beta2=beta2,
                    eps=group["eps"],
                    weight_decay=group["weight_decay"],
                    step=state["step"],
                )
