"""Looking inside a BERT: attention maps and gradient x input saliency.

- ``attention``: every layer's and head's attention probabilities for a text, as arrays, as a
  terminal table and as a per-head summary (how much goes to [CLS], [SEP], the previous token...).
- ``saliency``: how much each input token's embedding moves one output (a class logit, the logit
  of a token at a [MASK]), by gradient x input taken with our own autograd.
- ``plotting``: the same as matplotlib pictures (the optional ``plot`` extra).

Both are views, not explanations: see the caveats in each module and in tutorial 11.
"""

from minibert.interpretability.attention import (
    AttentionMaps,
    attention_maps,
    attention_summary,
    render_attention_summary,
    render_attention_text,
)
from minibert.interpretability.plotting import plot_attention, plot_saliency
from minibert.interpretability.saliency import (
    Saliency,
    gradient_x_input,
    render_saliency_text,
    saliency,
)

__all__ = [
    "AttentionMaps", "Saliency", "attention_maps", "attention_summary", "gradient_x_input",
    "plot_attention", "plot_saliency", "render_attention_summary", "render_attention_text",
    "render_saliency_text", "saliency",
]  # fmt: skip
