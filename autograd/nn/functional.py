"""Stateless layer functions, as ``torch.nn.functional``: ``linear`` plus autograd's own ops.

Layers (``autograd.nn.Linear`` ...) hold parameters and call these; use them directly when the
weights come from elsewhere.
"""

from __future__ import annotations

from autograd.ops import (
    add_layer_norm,
    cross_entropy,
    dropout,
    embedding,
    embedding_layer_norm,
    gelu,
    layer_norm,
    log_softmax,
    packed_self_attention,
    relu,
    scaled_dot_product_attention,
    sigmoid,
    softmax,
    tanh,
)
from autograd.ops.linalg import linear as _linear
from autograd.tensor import Tensor


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    r"""The affine map y = x W^T + b, with W stored (out_features, in_features) as in PyTorch.

    Args:
        x: the input; any number of leading axes.
        weight: the matrix W.
        bias: the vector b, or None.

    Returns:
        The output tensor.

    Shapes:
        x (..., in), weight (out, in), bias (out,); returns (..., out).
    """
    if weight.ndim != 2:
        raise ValueError(
            f"linear: weight must be 2-D (out_features, in_features), got {weight.shape}"
        )
    out_features, in_features = weight.shape
    if x.ndim == 0 or x.shape[-1] != in_features:
        raise ValueError(
            f"linear: input of shape {x.shape} has {x.shape[-1] if x.ndim else 0} features on its "
            f"last axis but the weight {weight.shape} expects {in_features}"
        )
    if bias is not None and bias.shape != (out_features,):
        raise ValueError(f"linear: bias has shape {bias.shape}, expected ({out_features},)")
    return _linear(x, weight, bias)  # (..., in) @ (in, out) + (out,) -> (..., out)


__all__ = [
    "add_layer_norm", "cross_entropy", "dropout", "embedding", "embedding_layer_norm", "gelu",
    "layer_norm", "linear", "log_softmax", "packed_self_attention", "relu",
    "scaled_dot_product_attention", "sigmoid", "softmax", "tanh",
]  # fmt: skip
