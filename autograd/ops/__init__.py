"""Differentiable operations on tensors, as functions (``Function`` subclasses live beside them)."""

from autograd.ops.attention import packed_self_attention, scaled_dot_product_attention
from autograd.ops.dropout import dropout
from autograd.ops.elementwise import (
    add,
    cast,
    div,
    exp,
    gelu,
    log,
    masked_fill,
    mul,
    neg,
    pow,
    relu,
    sigmoid,
    sqrt,
    sub,
    tanh,
    where,
)
from autograd.ops.embedding import embedding, embedding_layer_norm
from autograd.ops.linalg import matmul
from autograd.ops.loss import cross_entropy
from autograd.ops.normalization import add_layer_norm, layer_norm
from autograd.ops.reduction import max, mean, sum, var
from autograd.ops.shape import (
    broadcast_to,
    concatenate,
    getitem,
    permute,
    reshape,
    squeeze,
    stack,
    swapaxes,
    to_device,
    unsqueeze,
)
from autograd.ops.softmax import log_softmax, softmax

__all__ = [
    "add", "add_layer_norm", "broadcast_to", "cast", "concatenate", "cross_entropy", "div",
    "dropout", "embedding", "embedding_layer_norm", "exp", "gelu", "getitem", "layer_norm", "log",
    "log_softmax", "masked_fill", "matmul", "max", "packed_self_attention",
    "scaled_dot_product_attention", "mean", "mul", "neg", "permute", "pow", "relu", "reshape",
    "sigmoid", "softmax", "sqrt",
    "squeeze", "stack", "sub", "sum", "swapaxes", "tanh", "to_device", "unsqueeze", "var", "where",
]  # fmt: skip
