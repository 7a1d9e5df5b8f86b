"""The decoder block and MiniGPT against a PyTorch implementation on the same weights.

The torch model below is written here from torch.nn modules (Linear, LayerNorm, Embedding)
and hand-written scaled dot-product attention, with our parameter names, so our state_dict
loads into it unchanged. Both run the same float64 inputs (padding, a causal mask, encoder
states with padding); outputs, the label-smoothed loss and every gradient are compared.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import autograd as ag
from minibert.modeling.decoder import DecoderLayer, causal_attention_mask
from minibert.modeling.inputs import additive_attention_mask
from tests.minibert.decoder_helpers import decoder_config, minigpt, random_ids
from tests.reference.torch_helpers import assert_arrays_match, torch  # skips without torch

nn, F = torch.nn, torch.nn.functional
TOLERANCE = dict(atol=1e-10, rtol=1e-10)


class TorchAttention(nn.Module):
    """``attention.self.{query,key,value}`` then ``attention.output.{dense,LayerNorm}``."""

    def __init__(self, H, nh, source, eps):
        super().__init__()
        inner = nn.Module()
        inner.query, inner.key, inner.value = (
            nn.Linear(H, H),
            nn.Linear(source, H),
            nn.Linear(source, H),
        )
        self.add_module("self", inner)  # the name transformers (and we) give it
        self.output = nn.Module()
        self.output.dense, self.output.LayerNorm = nn.Linear(H, H), nn.LayerNorm(H, eps=eps)
        self.nh = nh

    def forward(module, x, source, mask):
        inner, (B, T, H), S = module._modules["self"], x.shape, source.shape[1]
        hs = H // module.nh

        def heads(y, length):
            return y.view(B, length, module.nh, hs).transpose(1, 2)  # (B, nh, L, hs)

        q, k, v = (
            heads(inner.query(x), T),
            heads(inner.key(source), S),
            heads(inner.value(source), S),
        )
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hs) + mask, dim=-1)
        context = (probs @ v).transpose(1, 2).reshape(B, T, H)
        return module.output.LayerNorm(module.output.dense(context) + x)


class TorchDecoderLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        H, nh, eps = config.hidden_size, config.num_attention_heads, config.layer_norm_eps
        self.attention = TorchAttention(H, nh, H, eps)
        if config.add_cross_attention:
            self.crossattention = TorchAttention(H, nh, config.encoder_hidden_size or H, eps)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(H, config.intermediate_size)
        self.output = nn.Module()
        self.output.dense = nn.Linear(config.intermediate_size, H)
        self.output.LayerNorm = nn.LayerNorm(H, eps=eps)

    def forward(self, x, self_mask, encoder_states=None, cross_mask=None):
        x = self.attention(x, x, self_mask)
        if encoder_states is not None:
            x = self.crossattention(x, encoder_states, cross_mask)
        return self.output.LayerNorm(self.output.dense(F.gelu(self.intermediate.dense(x))) + x)


class TorchMiniGPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        H = config.hidden_size
        self.embeddings = nn.Module()
        self.embeddings.word_embeddings = nn.Embedding(config.vocab_size, H)
        self.embeddings.position_embeddings = nn.Embedding(config.max_position_embeddings, H)
        self.embeddings.LayerNorm = nn.LayerNorm(H, eps=config.layer_norm_eps)
        self.layer = nn.ModuleList(
            TorchDecoderLayer(config) for _ in range(config.num_hidden_layers)
        )

    def forward(self, ids, mask, labels, label_smoothing):
        T = ids.shape[1]
        e = self.embeddings
        h = e.LayerNorm(e.word_embeddings(ids) + e.position_embeddings(torch.arange(T)[None]))
        for layer in self.layer:
            h = layer(h, mask)
        logits = h @ e.word_embeddings.weight.T  # tied
        V = logits.shape[-1]
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1),
                               ignore_index=-100, label_smoothing=label_smoothing)  # fmt: skip
        return logits, loss


def load_ours_into(torch_model, ours):
    torch_model.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    return torch_model.double()


def compare_parameter_gradients(ours, theirs):
    grads = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        assert_arrays_match(param.grad, grads[name].grad.numpy(), what=f"grad of {name}",
                            kind="param", **TOLERANCE)  # fmt: skip


@pytest.mark.parametrize("cross", [False, True], ids=["self-only", "with-cross-attention"])
def test_decoder_layer_matches_torch(cross):
    width = 10 if cross else None  # the encoder's states may be narrower than the decoder's
    config = decoder_config(hidden_size=12, num_attention_heads=3, intermediate_size=20,
                            add_cross_attention=cross, encoder_hidden_size=width)  # fmt: skip
    rng = np.random.default_rng(0)
    ours = DecoderLayer(config, rng, rng).double().eval()
    theirs = load_ours_into(TorchDecoderLayer(config), ours)
    B, T, S = 3, 5, 4
    target_mask = np.ones((B, T), dtype=np.int64)
    target_mask[1, 3:] = 0
    source_mask = np.ones((B, S), dtype=np.int64)
    source_mask[2, 2:] = 0
    self_mask = causal_attention_mask(target_mask, T, 0, np.float64, np)
    cross_mask = additive_attention_mask(source_mask, S, False, np.float64, np)
    x, states = rng.standard_normal((B, T, 12)), rng.standard_normal((B, S, 10))

    x_ours, states_ours = ag.Tensor(x, requires_grad=True), ag.Tensor(states, requires_grad=True)
    out = ours(x_ours, self_mask, states_ours if cross else None, cross_mask)[0]
    x_torch = torch.tensor(x, requires_grad=True)
    states_torch = torch.tensor(states, requires_grad=True)
    expected = theirs(x_torch, torch.tensor(self_mask), states_torch if cross else None,
                      torch.tensor(cross_mask))  # fmt: skip
    assert_arrays_match(out.data, expected.detach().numpy(), what="layer output", kind="forward",
                        **TOLERANCE)  # fmt: skip

    cotangent = rng.standard_normal(out.shape)
    out.backward(cotangent)
    expected.backward(torch.tensor(cotangent))
    assert_arrays_match(x_ours.grad, x_torch.grad.numpy(), what="grad of the input", kind="grad",
                        **TOLERANCE)  # fmt: skip
    if cross:
        assert_arrays_match(states_ours.grad, states_torch.grad.numpy(), kind="grad",
                            what="grad of the encoder states", **TOLERANCE)  # fmt: skip
    compare_parameter_gradients(ours, theirs)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_minigpt_matches_torch_with_padding_and_label_smoothing(label_smoothing):
    config = dict(hidden_size=12, num_attention_heads=3, intermediate_size=20)
    ours = minigpt(1, **config).train()  # dropout is 0: train mode changes nothing else
    theirs = load_ours_into(TorchMiniGPT(ours.config), ours)
    rng = np.random.default_rng(1)
    ids = random_ids(rng, 3, 7)
    mask = np.ones_like(ids)
    mask[2, 5:] = 0
    labels = np.where(mask == 1, ids, -100)
    out = ours(ids, mask, labels=labels, label_smoothing=label_smoothing)
    torch_mask = torch.tensor(causal_attention_mask(mask, 7, 0, np.float64, np))
    logits, loss = theirs(torch.tensor(ids), torch_mask, torch.tensor(labels), label_smoothing)
    assert_arrays_match(out.logits.data, logits.detach().numpy(), what="logits", kind="forward",
                        **TOLERANCE)  # fmt: skip
    assert_arrays_match(out.loss.data, loss.detach().numpy(), what="loss", kind="forward",
                        **TOLERANCE)  # fmt: skip
    out.loss.backward()
    loss.backward()
    compare_parameter_gradients(ours, theirs)


def test_cached_generation_logits_match_torchs_full_forward():
    ours = minigpt(2, hidden_size=12, num_attention_heads=3, intermediate_size=20)
    theirs = load_ours_into(TorchMiniGPT(ours.config), ours)
    ids = random_ids(np.random.default_rng(2), 2, 6)
    past, pieces = None, []
    for t in range(6):
        step = ours(ids[:, t : t + 1], past_key_values=past, use_cache=True)
        past = step.past_key_values
        pieces.append(step.logits.data)
    mask = torch.tensor(causal_attention_mask(None, 6, 0, np.float64, np))
    with torch.no_grad():
        logits, _ = theirs(torch.tensor(ids), mask, torch.tensor(ids), 0.0)
    assert_arrays_match(np.concatenate(pieces, axis=1), logits.numpy(), kind="forward",
                        what="cached step-by-step logits", **TOLERANCE)  # fmt: skip
