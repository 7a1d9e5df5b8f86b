"""One encoder layer: attention, then the position-wise feed-forward network."""

from __future__ import annotations

import autograd as ag
from autograd import nn
from autograd.nn import functional as F
from minibert.config import BertConfig
from minibert.modeling.attention import BertAttention, residual_block


def activation(name: str) -> nn.Module:
    """The module for a config's ``hidden_act``."""
    if name == "gelu":
        return nn.GELU(approximate="none")
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return nn.GELU(approximate="tanh")
    if name == "relu":
        return nn.ReLU()
    raise ValueError(f"unsupported activation {name!r}")


class BertIntermediate(nn.Module):
    """The feed-forward expansion: act(W x + b) from H to the intermediate size.

    Shapes:
        hidden_states (B, T, H); returns (B, T, intermediate_size).
    """

    def __init__(self, config: BertConfig, generator):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size, generator=generator)
        self.intermediate_act_fn = activation(config.hidden_act)

    def forward(self, hidden_states):
        act = self.intermediate_act_fn
        if isinstance(act, nn.GELU):
            # The product without its bias, then GELU(h + b) in one kernel: a pass over the
            # (B, T, intermediate_size) activations less, each way.
            h = F.linear(hidden_states, self.dense.weight)  # (B, T, H) -> (B, T, F)
            # h is a fresh array that only this layer holds. When no graph keeps it for the
            # backward (inference), GELU writes over it instead of filling a second one: 2-3%
            # of a forward pass at batch 32 x 128, where h is the largest activation.
            bias = self.dense.bias
            return F.gelu(h, act.approximate, bias=bias, inplace=not ag.will_record(h, bias))
        return act(self.dense(hidden_states))


class BertOutput(nn.Module):
    """The feed-forward contraction and its residual: LayerNorm(x + dropout(W h + b)).

    Shapes:
        hidden_states (B, T, intermediate_size), input_tensor (B, T, H); returns (B, T, H).
    """

    def __init__(self, config: BertConfig, generator, dropout_generator):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size, generator=generator)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob, generator=dropout_generator)

    def forward(self, hidden_states, input_tensor):
        return residual_block(self.dense, self.dropout, self.LayerNorm, hidden_states, input_tensor)


class BertLayer(nn.Module):
    """Attention block then feed-forward block, each wrapped in a post-LN residual.

    Shapes:
        hidden_states (B, T, H), mask broadcasting to (B, nh, T, T);
        returns (B, T, H) and the attention probabilities (B, nh, T, T), or None when
        ``output_attentions`` is False.
    """

    def __init__(self, config: BertConfig, generator, dropout_generator):
        super().__init__()
        self.attention = BertAttention(config, generator, dropout_generator)
        self.intermediate = BertIntermediate(config, generator)
        self.output = BertOutput(config, generator, dropout_generator)

    def forward(self, hidden_states, mask=None, output_attentions=True):
        attended, probs = self.attention(hidden_states, mask, output_attentions)
        return self.output(self.intermediate(attended), attended), probs


class BertEncoder(nn.Module):
    """A stack of ``num_hidden_layers`` ``BertLayer``s.

    Shapes:
        hidden_states (B, T, H); returns the last hidden states (B, T, H), every layer's input
        and output (num_hidden_layers + 1 tensors of (B, T, H)) and every layer's attention
        probabilities (num_hidden_layers tensors of (B, nh, T, T), or of None when
        ``output_attentions`` is False).
    """

    def __init__(self, config: BertConfig, generator, dropout_generator):
        super().__init__()
        self.layer = nn.ModuleList(
            BertLayer(config, generator, dropout_generator) for _ in range(config.num_hidden_layers)
        )

    def forward(self, hidden_states, mask=None, output_attentions=True):
        all_hidden_states, all_attentions = [hidden_states], []
        for layer in self.layer:
            hidden_states, probs = layer(hidden_states, mask, output_attentions)
            all_hidden_states.append(hidden_states)
            all_attentions.append(probs)
        return hidden_states, tuple(all_hidden_states), tuple(all_attentions)
