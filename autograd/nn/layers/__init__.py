"""The layers, one kind per module: linear, embedding, normalization, dropout, activation,
container."""

from autograd.nn.layers.activation import GELU, ReLU, Tanh
from autograd.nn.layers.container import ModuleDict, ModuleList, Sequential
from autograd.nn.layers.dropout import Dropout
from autograd.nn.layers.embedding import Embedding
from autograd.nn.layers.linear import Linear
from autograd.nn.layers.normalization import LayerNorm

__all__ = [
    "GELU", "Dropout", "Embedding", "LayerNorm", "Linear", "ModuleDict", "ModuleList", "ReLU",
    "Sequential", "Tanh",
]  # fmt: skip
