r"""The ``inference`` section: ``BertModel`` forward against transformers', batch 32 x 128.

Two shapes: the tiny training config (V 8192 H 128 L 2 nh 2 F 512) and MiniLM's (V 30522 H 384
L 6 nh 12 F 1536). minibert runs under ``autograd.no_grad()``, transformers under
``torch.no_grad()``, both in eval mode, each in its own worker process with the same thread count,
measured in turns (see ``model_workers``); ``minibert-blas1`` is minibert with OpenBLAS on one
thread (see ``train_step``). Printed: the median forward time, tokens/s, GFLOP/s
against the BLAS ceiling of the run, peak memory, and the ratio minibert / torch.

FLOPs counted (matmuls only, forward):

.. math:: F = 2 \big[ L (4H^2 + 2HF) \cdot BT + H^2 B \big] + L \cdot 2 \cdot 2 \cdot B \cdot nh
    \cdot T^2 \cdot hs

(the encoder's six matrices on every token, the pooler on the [CLS] rows, attention's Q K^T and
P V per layer).
"""

from __future__ import annotations

from benchmarks import model_workers as mw
from benchmarks.train_step import measure

CONFIG_NAMES = ("tiny", "minilm")


def forward_flops(config_name: str, impl: str = "") -> float:
    """Matmul FLOPs of one encoder forward (the formula in the module docstring)."""
    c = mw.CONFIGS[config_name]
    H, F = c["hidden_size"], c["intermediate_size"]
    L, nh = c["num_hidden_layers"], c["num_attention_heads"]
    B, T, hs = mw.BATCH, mw.SEQ_LEN, H // nh
    return 2.0 * (L * (4 * H * H + 2 * H * F) * B * T + H * H * B) + L * 2 * 2 * B * nh * T * T * hs


def run(ctx) -> list[dict]:
    impls = ["minibert", "minibert-blas1"]
    if mw.torch_available():
        impls.append("torch")
    else:
        print("inference: torch/transformers not installed (the ref extra): minibert only")
    return measure("infer", CONFIG_NAMES, impls, ctx, forward_flops)
