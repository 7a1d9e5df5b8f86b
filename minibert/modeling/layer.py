"""One encoder layer: attention, then the position-wise feed-forward network."""

from __future__ import annotations

import autograd as ag
from autograd import nn
from autograd.nn import functional as F
from minibert.config import BertConfig
from minibert.modeling.attention import BertAttention, draws_own_masks, residual_block


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
        With ``rows`` (R,) (see ``residual_block``): (R, intermediate_size), (R, H) -> (R, H).
    """

    def __init__(self, config: BertConfig, generator, dropout_generator):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size, generator=generator)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob, generator=dropout_generator)

    def forward(self, hidden_states, input_tensor, rows=None):
        dense, dropout, norm = self.dense, self.dropout, self.LayerNorm
        return residual_block(dense, dropout, norm, hidden_states, input_tensor, rows)


class BertLayer(nn.Module):
    """Attention block then feed-forward block, each wrapped in a post-LN residual.

    With ``rows`` (flat indices into the B * T positions), every block after the
    self-attention runs on those positions only (see ``BertAttention``), and drops out exactly
    what it would drop there in the whole batch: only the work changes.

    Shapes:
        hidden_states (B, T, H), mask broadcasting to (B, nh, T, T), rows (R,) or None;
        returns (B, T, H), or (R, H) with rows, and the attention probabilities (B, nh, T, T),
        or None when ``output_attentions`` is False.
    """

    def __init__(self, config: BertConfig, generator, dropout_generator):
        super().__init__()
        self.attention = BertAttention(config, generator, dropout_generator)
        self.intermediate = BertIntermediate(config, generator)
        self.output = BertOutput(config, generator, dropout_generator)

    def forward(self, hidden_states, mask=None, output_attentions=True, rows=None):
        attended, probs = self.attention(hidden_states, mask, output_attentions, rows)
        return self.output(self.intermediate(attended), attended, rows), probs


class BertEncoder(nn.Module):
    """A stack of ``num_hidden_layers`` ``BertLayer``s.

    ``output_rows`` (flat indices into the B * T positions) asks for those positions' last
    hidden states only: the last layer computes just them after its self-attention. (Unless one
    of its dropouts draws its own masks for the whole batch, as data parallelism's
    ``RowShardedDropout`` does: that layer then runs whole and the rows are taken after.)

    Shapes:
        hidden_states (B, T, H), output_rows (R,) or None; returns the last hidden states
        (B, T, H), or (R, H) with output_rows, every layer's input and output (num_hidden_layers
        + 1 tensors, the last one the returned states) and every layer's attention
        probabilities (num_hidden_layers tensors of (B, nh, T, T), or of None when
        ``output_attentions`` is False).
    """

    def __init__(self, config: BertConfig, generator, dropout_generator):
        super().__init__()
        self.layer = nn.ModuleList(
            BertLayer(config, generator, dropout_generator) for _ in range(config.num_hidden_layers)
        )

    def forward(self, hidden_states, mask=None, output_attentions=True, output_rows=None):
        all_hidden_states, all_attentions = [hidden_states], []
        last = len(self.layer) - 1
        for i, layer in enumerate(self.layer):
            rows = output_rows if i == last and computes_rows_alone(layer) else None
            hidden_states, probs = layer(hidden_states, mask, output_attentions, rows)
            if i == last and output_rows is not None and rows is None:
                H = hidden_states.shape[-1]
                hidden_states = hidden_states.reshape(-1, H)[output_rows]  # (B*T, H) -> (R, H)
            all_hidden_states.append(hidden_states)
            all_attentions.append(probs)
        return hidden_states, tuple(all_hidden_states), tuple(all_attentions)


def computes_rows_alone(layer: BertLayer) -> bool:
    """Whether ``layer`` can compute some positions alone: not when one of its dropouts draws
    its own masks (``draws_own_masks``), which hold for the whole (B, T, H) tensor."""
    return not any(isinstance(m, nn.Dropout) and draws_own_masks(m) for m in layer.modules())
