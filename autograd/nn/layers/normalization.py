"""``LayerNorm``: normalization over the hidden axis, with a learned scale and shift."""

from __future__ import annotations

import numpy as np

from autograd.nn.functional import layer_norm
from autograd.nn.module import Module
from autograd.nn.parameter import Parameter


class LayerNorm(Module):
    r"""y = (x - \mu) / \sqrt{\sigma^2 + \epsilon} \cdot \gamma + \beta over the last axis.

    \mu and \sigma^2 (the biased variance) are taken per position over the last axis only, so
    the layer behaves the same in training and evaluation and for any batch size.

    Args:
        normalized_shape: the size H of the last axis (an int, or a 1-tuple as in PyTorch;
            normalizing over several trailing axes is not supported).
        eps: added to the variance; BERT uses 1e-12.
        elementwise_affine: learn \gamma (``weight``, ones) and \beta (``bias``, zeros).
        bias: learn \beta (only with ``elementwise_affine``).
        dtype: the parameters' dtype.

    Returns:
        ``forward(x)``: the normalized tensor.

    Shapes:
        x (..., H) -> (..., H); weight and bias (H,).
    """

    def __init__(
        self,
        normalized_shape: int | tuple[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        *,
        dtype=np.float32,
    ):
        super().__init__()
        if isinstance(normalized_shape, (tuple, list)):
            if len(normalized_shape) != 1:
                raise ValueError(
                    f"LayerNorm normalizes over the last axis only, so normalized_shape must be "
                    f"an int or a 1-tuple, got {tuple(normalized_shape)}"
                )
            (normalized_shape,) = normalized_shape
        self.normalized_shape = (int(normalized_shape),)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype))
        else:
            self.register_parameter("weight", None)
        if elementwise_affine and bias:
            self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dtype))
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        if x.ndim == 0 or x.shape[-1] != self.normalized_shape[0]:
            raise ValueError(
                f"LayerNorm({self.normalized_shape[0]}) got an input of shape {x.shape}: its "
                f"last axis must have size {self.normalized_shape[0]}"
            )
        return layer_norm(x, self.weight, self.bias, eps=self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )
