"""Attention maps: what every head of every layer attends to, as arrays and as text.

An attention map is the softmax of one head's scaled scores: row i (a query token) is a
probability distribution over the keys j it reads from. Reading them tells you where
information *could* flow, not why the model decided anything: a head that puts 0.9 on [SEP]
may be doing nothing at all (a "no-op" sink, Clark et al. 2019, "What Does BERT Look At?"),
and the values it mixes matter as much as the weights (Kobayashi et al. 2020). Jain and
Wallace (2019) show attention weights can be changed a lot without changing a prediction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autograd import no_grad
from minibert.interpretability.inputs import encode_text
from minibert.pipelines import evaluation_mode
from minibert.scoring import to_host

# The patterns ``attention_summary`` measures, in the order its table prints them.
PATTERNS = ("cls", "sep", "self", "previous", "next")


@dataclass
class AttentionMaps:
    """Every layer's and head's attention probabilities for one sequence.

    Attributes:
        tokens: the T token strings.
        attentions: probabilities, ``attentions[layer, head, query, key]``; each row sums to 1
            over the real keys, and padding keys get exactly 0.
        attention_mask: 1 for real tokens, 0 for padding.
        sep_token: the separator token's string (``attention_summary`` looks for it).

    Shapes:
        attentions (L, nh, T, T); attention_mask (T,).
    """

    tokens: list[str]
    attentions: np.ndarray
    attention_mask: np.ndarray
    sep_token: str = "[SEP]"

    @property
    def num_layers(self) -> int:
        return self.attentions.shape[0]

    @property
    def num_heads(self) -> int:
        return self.attentions.shape[1]

    @property
    def length(self) -> int:
        """Real (unpadded) tokens."""
        return int(self.attention_mask.sum())

    @classmethod
    def from_output(cls, attentions, tokens, attention_mask, index: int = 0, sep_token="[SEP]"):
        """Row ``index`` of a batch from a model output's ``attentions`` tuple.

        Shapes:
            attentions: L tensors or arrays of (B, nh, T, T); attention_mask (B, T);
            returns maps with attentions (L, nh, T, T).
        """
        arrays = [to_host(getattr(a, "data", a))[index] for a in attentions]  # L x (nh, T, T)
        stacked = np.stack(arrays).astype(np.float64)  # (L, nh, T, T)
        mask = np.asarray(to_host(attention_mask))[index].astype(np.int64)  # (T,)
        if len(tokens) != stacked.shape[-1] or mask.shape != (stacked.shape[-1],):
            raise ValueError(
                f"{len(tokens)} tokens and an attention mask of shape {mask.shape} for "
                f"attention maps over {stacked.shape[-1]} positions"
            )
        return cls(list(tokens), stacked, mask, sep_token)

    def head(self, layer: int, head: int) -> np.ndarray:
        """One head's map, ``[query, key]``; negative indices count from the end.

        Shapes:
            returns (T, T).
        """
        layer = check_index(layer, self.num_layers, "layer")
        head = check_index(head, self.num_heads, "head")
        return self.attentions[layer, head]


def check_index(index: int, size: int, name: str) -> int:
    if not isinstance(index, (int, np.integer)) or not -size <= index < size:
        raise ValueError(
            f"{name} {index!r} does not exist: this model has {size} {name}s "
            f"(0 to {size - 1}, or -1 for the last)"
        )
    return int(index) % size


def attention_maps(
    model, tokenizer, text: str, text_pair: str | None = None, max_length: int | None = None
) -> AttentionMaps:
    """Run ``model`` on one text (or pair) in eval mode and collect its attention maps.

    Args:
        model: a ``BertModel`` or any task model.
        tokenizer: the model's tokenizer.
        text, text_pair: the input; longer inputs are truncated to the model's positions
            (or ``max_length``).

    Returns:
        ``AttentionMaps`` with attentions of shape (L, nh, T, T).
    """
    inputs, tokens = encode_text(model, tokenizer, text, text_pair, max_length)
    with no_grad(), evaluation_mode(model):
        out = model(**inputs, output_attentions=True)
    return AttentionMaps.from_output(
        out.attentions, tokens, inputs["attention_mask"], sep_token=tokenizer.sep_token
    )


def attention_summary(maps: AttentionMaps) -> dict[str, np.ndarray]:
    """How much attention each head gives to a few positions, averaged over the real queries.

    ``"cls"``: to the first token; ``"sep"``: to every separator together; ``"self"``: a
    token to itself; ``"previous"`` / ``"next"``: to the token just before / after (averaged
    over the queries that have one). These are the patterns Clark et al. (2019) found in
    BERT-base: many heads park their weight on [SEP] or [CLS], others read a neighbour.

    Shapes:
        returns one (L, nh) array per pattern, in ``PATTERNS`` order.
    """
    n = maps.length
    probs = maps.attentions[:, :, :n, :n]  # (L, nh, T, T) -> (L, nh, n, n): real tokens only
    sep = np.array([token == maps.sep_token for token in maps.tokens[:n]])  # (n,)
    positions = np.arange(n)
    diagonal = probs[:, :, positions, positions]  # (L, nh, n)
    summary = {
        "cls": probs[:, :, :, 0].mean(axis=-1),
        "sep": probs[:, :, :, sep].sum(axis=-1).mean(axis=-1),
        "self": diagonal.mean(axis=-1),
        "previous": _mean_or_zero(probs[:, :, positions[1:], positions[1:] - 1]),
        "next": _mean_or_zero(probs[:, :, positions[:-1], positions[:-1] + 1]),
    }
    return {name: summary[name] for name in PATTERNS}


def _mean_or_zero(values: np.ndarray) -> np.ndarray:
    """Mean over the last axis; 0 for a one-token text, which has no neighbours."""
    return values.mean(axis=-1) if values.shape[-1] else np.zeros(values.shape[:-1])


def render_attention_summary(maps: AttentionMaps) -> str:
    """``attention_summary`` as a table: one row per head, the largest pattern named."""
    summary = attention_summary(maps)
    header = f"{'layer':>5} {'head':>4} " + " ".join(f"{name:>8}" for name in PATTERNS)
    lines = [header + "  mostly"]
    for layer in range(maps.num_layers):
        for head in range(maps.num_heads):
            values = [summary[name][layer, head] for name in PATTERNS]
            best = int(np.argmax(values))
            cells = " ".join(f"{value:8.2f}" for value in values)
            lines.append(f"{layer:>5} {head:>4} {cells}  {PATTERNS[best]} ({values[best]:.2f})")
    return "\n".join(lines)


def render_attention_text(
    maps: AttentionMaps,
    layer: int,
    head: int,
    style: str = "top",
    top_k: int = 3,
    include_padding: bool = False,
) -> str:
    """One head's map as plain text for a terminal.

    Args:
        style: ``"top"``: a line per query token with the ``top_k`` keys it attends to most
            and their probabilities (readable at any length); ``"grid"``: the whole (T, T)
            matrix in percent, rows = queries, columns = keys, ``.`` below 0.5%.
        include_padding: show padding tokens too (their columns are 0; their rows are read by
            nobody).

    Returns:
        The text, starting with a title line.
    """
    if style not in ("top", "grid"):
        raise ValueError(f"unknown style {style!r}; choose 'top' or 'grid'")
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    layer = check_index(layer, maps.num_layers, "layer")
    head = check_index(head, maps.num_heads, "head")
    probs = maps.attentions[layer, head]  # (T, T)
    n = len(maps.tokens) if include_padding else maps.length
    probs, tokens = probs[:n, :n], maps.tokens[:n]
    labels = [f"{i}:{token}" for i, token in enumerate(tokens)]  # positions tell repeats apart
    title = f"layer {layer}, head {head}"
    if style == "grid":
        grid = _grid(probs, tokens, labels)
        return "\n".join([f"{title} (percent; rows attend to columns)", *grid])
    width = max(len(label) for label in labels)
    lines = [f"{title} (each token: the {top_k} tokens it attends to most)"]
    for label, row in zip(labels, probs, strict=True):
        best = np.argsort(-row, kind="stable")[:top_k]
        cells = "  ".join(f"{labels[j]} {row[j]:.2f}" for j in best)
        lines.append(f"{label:>{width}} -> {cells}")
    return "\n".join(lines)


def _grid(probs: np.ndarray, tokens: list[str], labels: list[str]) -> list[str]:
    """Rows labelled with position and token; columns with the token's first 5 characters."""
    width = max(len(label) for label in labels)
    lines = [" " * (width + 1) + " ".join(f"{token[:5]:>5}" for token in tokens)]
    for label, row in zip(labels, probs, strict=True):
        cells = " ".join(f"{round(100 * p):5d}" if p >= 0.005 else "    ." for p in row)
        lines.append(f"{label:>{width}} {cells}")
    return lines
