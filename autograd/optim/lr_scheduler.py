"""Learning-rate schedules: ``LRScheduler``, ``LambdaLR`` and BERT's warmup schedules.

As ``torch.optim.lr_scheduler``: a scheduler rewrites ``group["lr"]`` of its optimizer's
parameter groups each time ``step()`` is called (once per optimizer step, after it). The warmup
schedules are Hugging Face's (``transformers.get_linear_schedule_with_warmup`` ...), with their
exact formulas, so a recipe ported from transformers trains the same.
"""

from __future__ import annotations

import math
import types
from functools import partial

from autograd.optim.optimizer import Optimizer


class LRScheduler:
    """Base class: sets each group's ``lr`` to ``get_lr()`` at every ``step()``.

    Construction records each group's starting ``lr`` as ``group["initial_lr"]`` (kept in
    ``base_lrs``) and makes the first step, so the optimizer starts at the schedule's value for
    step 0.

    Args:
        optimizer: the optimizer whose learning rates are scheduled.
        last_epoch: the index of the last step taken; -1 (default) for a fresh start. To resume,
            load ``state_dict`` instead.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param 'initial_lr' is not specified in param_groups[{i}] when resuming "
                        "a scheduler with last_epoch >= 0; load the optimizer's state_dict first"
                    )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self.step()

    def get_lr(self) -> list[float]:
        """The learning rate of each group at step ``last_epoch`` (subclasses define it)."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance one step and write the new learning rates into the optimizer."""
        self._step_count += 1
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rates the last ``step()`` set, one per group."""
        return self._last_lr

    def state_dict(self) -> dict:
        """Everything but the optimizer (numbers and lists: JSON-serializable)."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore ``state_dict()`` (does not touch the optimizer: load its state too)."""
        base_lrs = state_dict.get("base_lrs", self.base_lrs)
        if len(base_lrs) != len(self.optimizer.param_groups):
            raise ValueError(
                f"the scheduler state has {len(base_lrs)} base learning rates but the optimizer "
                f"has {len(self.optimizer.param_groups)} parameter groups"
            )
        self.__dict__.update(state_dict)


class LambdaLR(LRScheduler):
    """lr = initial_lr * lr_lambda(step), for each group.

    Args:
        optimizer: the optimizer whose learning rates are scheduled.
        lr_lambda: a function of the step index returning a multiplier, or a list of them,
            one per parameter group.
        last_epoch: see ``LRScheduler``.

    ``state_dict`` saves the attributes of callable objects among the lambdas (as PyTorch), not
    plain functions, which cannot be serialized.
    """

    def __init__(self, optimizer: Optimizer, lr_lambda, last_epoch: int = -1):
        self.optimizer = optimizer
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != len(optimizer.param_groups):
                raise ValueError(
                    f"Expected {len(optimizer.param_groups)} lr_lambdas, but got {len(lr_lambda)}"
                )
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * len(optimizer.param_groups)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [
            base_lr * lmbda(self.last_epoch)
            for lmbda, base_lr in zip(self.lr_lambdas, self.base_lrs, strict=True)
        ]

    def state_dict(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [
            None if isinstance(fn, types.FunctionType) else dict(fn.__dict__)
            for fn in self.lr_lambdas
        ]
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        lr_lambdas = state_dict.pop("lr_lambdas", [None] * len(self.lr_lambdas))
        super().load_state_dict(state_dict)
        for fn, saved in zip(self.lr_lambdas, lr_lambdas, strict=True):
            if saved is not None:
                fn.__dict__.update(saved)


# ------------------------------------------------------------ Hugging Face's warmup schedules
# Module-level functions bound with functools.partial (as transformers does), so the schedule
# can be pickled and its LambdaLR state_dict stays serializable.


def _linear_with_warmup(current_step: int, *, num_warmup_steps: int, num_training_steps: int):
    if current_step < num_warmup_steps:
        return float(current_step) / float(max(1, num_warmup_steps))
    return max(
        0.0,
        float(num_training_steps - current_step)
        / float(max(1, num_training_steps - num_warmup_steps)),
    )


def _cosine_with_warmup(
    current_step: int, *, num_warmup_steps: int, num_training_steps: int, num_cycles: float
):
    if current_step < num_warmup_steps:
        return float(current_step) / float(max(1, num_warmup_steps))
    progress = float(current_step - num_warmup_steps) / float(
        max(1, num_training_steps - num_warmup_steps)
    )
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress)))


def get_linear_schedule_with_warmup(
    optimizer: Optimizer, num_warmup_steps: int, num_training_steps: int, last_epoch: int = -1
) -> LambdaLR:
    r"""Linear warmup from 0 to the optimizer's lr, then linear decay to 0 (BERT's schedule).

    .. math::
        f(s) = \begin{cases} s / \max(1, w) & s < w \\
        \max(0, (n - s) / \max(1, n - w)) & s \ge w \end{cases}

    with w = ``num_warmup_steps`` and n = ``num_training_steps``: 0 at step 0, the full lr at
    step w, 0 at step n and after.
    """
    lr_lambda = partial(
        _linear_with_warmup,
        num_warmup_steps=num_warmup_steps,
        num_training_steps=num_training_steps,
    )
    return LambdaLR(optimizer, lr_lambda, last_epoch)


def get_cosine_schedule_with_warmup(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    num_cycles: float = 0.5,
    last_epoch: int = -1,
) -> LambdaLR:
    r"""Linear warmup from 0, then a cosine from the optimizer's lr down to 0.

    .. math::
        f(s) = \begin{cases} s / \max(1, w) & s < w \\
        \max(0, \tfrac12 (1 + \cos(2 \pi c \cdot p))) & s \ge w \end{cases},\quad
        p = (s - w) / \max(1, n - w)

    with c = ``num_cycles``; the default 0.5 is half a cosine wave, ending at 0 at step n.
    """
    lr_lambda = partial(
        _cosine_with_warmup,
        num_warmup_steps=num_warmup_steps,
        num_training_steps=num_training_steps,
        num_cycles=num_cycles,
    )
    return LambdaLR(optimizer, lr_lambda, last_epoch)
