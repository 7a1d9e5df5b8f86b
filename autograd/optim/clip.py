"""Gradient clipping by total norm, as ``torch.nn.utils.clip_grad_norm_``."""

from __future__ import annotations

import math

import numpy as np

from autograd.backend import get_xp
from autograd.tensor import Tensor


def clip_grad_norm_(
    parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False
) -> float:
    r"""Scale all gradients together so that their joint norm is at most ``max_norm``, in place.

    The total norm is the ``norm_type``-norm of all gradients as one vector, computed as the norm
    of the per-parameter norms (equal for p-norms and for inf, the largest absolute entry). When
    it exceeds ``max_norm`` every gradient is multiplied by the same

    .. math:: c = \text{max\_norm} / (\text{total\_norm} + 10^{-6}),

    which keeps the update's direction and bounds its size (BERT clips at 1.0). Parameters
    whose ``grad`` is None are ignored.

    Args:
        parameters: a tensor or an iterable of tensors (``model.parameters()``).
        max_norm: the largest allowed total norm.
        norm_type: p of the p-norm; ``float("inf")`` for the max-norm.
        error_if_nonfinite: raise if the total norm is NaN or infinite (otherwise the gradients
            become NaN, as in PyTorch).

    Returns:
        The total norm before clipping, as a Python float.
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    norm_type = float(norm_type)
    # Each norm in its gradient's dtype and on its device; only the scalars come to the host.
    norms = [float(get_xp(g).linalg.norm(g.reshape(-1), ord=norm_type)) for g in grads]
    total_norm = float(np.linalg.norm(np.asarray(norms), ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total_norm):
        raise RuntimeError(
            f"the total norm of order {norm_type} of the gradients is {total_norm}, so they "
            "cannot be clipped; pass error_if_nonfinite=False to clip anyway"
        )
    clip_coef = max_norm / (total_norm + 1e-6)
    # NaN must propagate (as torch.clamp does), which min(1.0, nan) would not: compare explicitly.
    clip_coef_clamped = clip_coef if not clip_coef >= 1.0 else 1.0
    if clip_coef_clamped != 1.0:
        # An infinite gradient entry times 0 is NaN, as in PyTorch; that is the documented
        # outcome, not a warning to raise.
        with np.errstate(invalid="ignore"):
            for g in grads:
                g *= g.dtype.type(clip_coef_clamped)
    return total_norm
