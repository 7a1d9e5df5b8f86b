"""Optimizers and learning-rate schedules, named as in ``torch.optim`` (and transformers).

from autograd import optim
groups = optim.weight_decay_groups(model.named_parameters(), weight_decay=0.01)
optimizer = optim.AdamW(groups, lr=1e-4)
scheduler = optim.get_linear_schedule_with_warmup(optimizer, 100, 10_000)
for batch in batches:
    loss = model(batch).backward()
    optim.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step(); scheduler.step(); optimizer.zero_grad()
"""

from autograd.optim import lr_scheduler
from autograd.optim.adamw import AdamW
from autograd.optim.clip import clip_grad_norm_
from autograd.optim.lr_scheduler import (
    LambdaLR,
    LRScheduler,
    get_cosine_schedule_with_warmup,
    get_linear_schedule_with_warmup,
)
from autograd.optim.optimizer import Optimizer
from autograd.optim.param_groups import weight_decay_groups
from autograd.optim.sgd import SGD

__all__ = [
    "SGD", "AdamW", "LRScheduler", "LambdaLR", "Optimizer", "clip_grad_norm_",
    "get_cosine_schedule_with_warmup", "get_linear_schedule_with_warmup", "lr_scheduler",
    "weight_decay_groups",
]  # fmt: skip
