"""Cross-entropy from logits, fused with its log-softmax."""

from __future__ import annotations

from autograd.backend import get_xp
from autograd.function import Function
from autograd.kernels import get_kernel
from autograd.tensor import Tensor


class CrossEntropy(Function):
    """Mean (or sum, or per-row) negative log-likelihood of integer targets under softmax(logits).

    The gradient w.r.t. the logits is softmax(logits) - one_hot(target), scaled per row by the
    reduction; the kernel computes it in one pass from the logits and the per-row log-sum-exp the
    forward saved (not an (N, C) array of log-probabilities).
    """

    @staticmethod
    def forward(ctx, logits, targets, ignore_index, reduction, label_smoothing):
        n_classes = logits.shape[-1]
        logits2d = logits.reshape(-1, n_classes)  # (..., C) -> (N, C)
        flat_targets = targets.reshape(-1)  # (...) -> (N,)
        losses, log_normalizer = get_kernel("cross_entropy_forward", logits2d)(
            logits2d, flat_targets, ignore_index, label_smoothing
        )
        xp = get_xp(logits)
        ctx.save_for_backward(logits2d, log_normalizer, flat_targets)
        ctx.logits_shape, ctx.targets_shape = logits.shape, targets.shape
        ctx.ignore_index, ctx.reduction = ignore_index, reduction
        ctx.label_smoothing = label_smoothing
        if reduction == "none":
            return losses.reshape(targets.shape)
        if reduction == "sum":
            return xp.sum(losses)
        # The mean is over the rows that count; with none left it is NaN, as in PyTorch.
        ctx.n_valid = int(xp.sum(flat_targets != ignore_index))
        total = xp.sum(losses)
        return total / total.dtype.type(ctx.n_valid) if ctx.n_valid else total * xp.nan

    @staticmethod
    def backward(ctx, grad_out):
        logits, log_normalizer, targets = ctx.saved_arrays
        xp = get_xp(logits)
        if ctx.reduction == "none":
            grad_losses = grad_out.reshape(-1)  # (...) -> (N,)
        else:
            scale = 1.0 / ctx.n_valid if ctx.reduction == "mean" and ctx.n_valid else 1.0
            grad_losses = xp.broadcast_to(grad_out * grad_out.dtype.type(scale), targets.shape)
        grad = get_kernel("cross_entropy_backward", logits)(
            logits, log_normalizer, targets, grad_losses, ctx.ignore_index, ctx.label_smoothing
        )
        return grad.reshape(ctx.logits_shape)  # (N, C) -> (..., C)


def cross_entropy(
    logits: Tensor,
    targets,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy between ``logits`` (..., C) and integer class ``targets`` (...).

    Args:
        ignore_index: targets equal to this contribute nothing (BERT's unmasked positions, -100).
        reduction: ``"mean"`` over the targets that count, ``"sum"``, or ``"none"`` (per target).
        label_smoothing: eps in [0, 1): the target becomes (1 - eps) one_hot + eps / C.

    Shapes:
        logits (..., C), targets (...) integers in [0, C) or ``ignore_index``;
        returns () for mean/sum, (...) for none.
    """
    targets = targets.data if isinstance(targets, Tensor) else targets
    xp = get_xp(logits.data)
    targets = xp.asarray(targets)
    if targets.dtype.kind not in "iu":
        raise TypeError(
            f"cross_entropy: targets must be integer class indices, got {targets.dtype}"
        )
    if tuple(targets.shape) != logits.shape[:-1]:
        raise ValueError(
            f"cross_entropy: logits of shape {logits.shape} need targets of shape "
            f"{logits.shape[:-1]}, got {tuple(targets.shape)}"
        )
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(
            f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}"
        )
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1), got {label_smoothing}")
    n_classes = logits.shape[-1]
    counted = targets[targets != ignore_index]
    if counted.size and (int(counted.min()) < 0 or int(counted.max()) >= n_classes):
        bad = int(counted.max()) if int(counted.max()) >= n_classes else int(counted.min())
        raise ValueError(
            f"cross_entropy: target {bad} is outside [0, {n_classes}) classes "
            f"(use ignore_index={ignore_index} for positions without a label)"
        )
    return CrossEntropy.apply(
        logits,
        targets=targets,
        ignore_index=ignore_index,
        reduction=reduction,
        label_smoothing=label_smoothing,
    )
