"""Attention maps and saliency as matplotlib pictures (the optional ``plot`` extra).

Figures are bare ``matplotlib.figure.Figure`` objects on the Agg canvas, never pyplot's: drawing
one leaves the caller's backend (a notebook's inline one, say) as it was. Pass ``path`` to save
the picture (written atomically, as every file minibert writes), or save the returned figure.
"""

from __future__ import annotations

from pathlib import Path

from minibert.interpretability.attention import AttentionMaps, check_index
from minibert.interpretability.saliency import Saliency
from minibert.io import atomic_write


def _new_figure(width: float, height: float):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            "drawing pictures needs matplotlib: pip install 'minibert[plot]' (or pip install "
            "matplotlib); the text renderings need nothing"
        ) from error
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path) -> None:
    if path is not None:
        path = Path(path)
        file_format = path.suffix.lstrip(".").lower() or "png"
        atomic_write(path, lambda temporary: figure.savefig(temporary, format=file_format, dpi=110))


def plot_attention(
    maps: AttentionMaps,
    layer: int | None = None,
    head: int | None = None,
    path=None,
    include_padding: bool = False,
):
    """Heat maps of attention probabilities, tokens as tick labels (rows: queries, columns: keys).

    Args:
        layer, head: both given: that one head; ``layer`` alone: every head of that layer in a
            row; neither: every layer (rows) and head (columns).
        path: save the picture there (``.png``, ``.svg``, ``.pdf``...).
        include_padding: draw padding tokens too.

    Returns:
        The ``matplotlib.figure.Figure``.
    """
    if head is not None and layer is None:
        raise ValueError("head needs a layer: pass layer= too, or neither for every head")
    layers = (
        range(maps.num_layers) if layer is None else [check_index(layer, maps.num_layers, "layer")]
    )
    heads = range(maps.num_heads) if head is None else [check_index(head, maps.num_heads, "head")]
    n = len(maps.tokens) if include_padding else maps.length
    tokens = maps.tokens[:n]
    size = 1.2 + 0.22 * n  # inches per panel: room for one tick label per token
    figure = _new_figure(size * len(heads) + 0.8, size * len(layers))
    axes = figure.subplots(len(layers), len(heads), squeeze=False)  # (rows, cols)
    image = None
    for row, layer_index in enumerate(layers):
        for column, head_index in enumerate(heads):
            axis = axes[row, column]
            probs = maps.attentions[layer_index, head_index, :n, :n]  # (n, n)
            image = axis.imshow(probs, cmap="Blues", vmin=0.0, vmax=1.0)
            axis.set_title(f"layer {layer_index}, head {head_index}", fontsize=9)
            axis.set_xticks(range(n), tokens, rotation=90, fontsize=7)
            axis.set_yticks(range(n), tokens if column == 0 else [], fontsize=7)
    for axis in axes[-1]:
        axis.set_xlabel("key (read from)", fontsize=8)
    for axis in axes[:, 0]:
        axis.set_ylabel("query (reading)", fontsize=8)
    figure.colorbar(image, ax=axes, shrink=0.8, label="attention probability")
    _save(figure, path)
    return figure


def plot_saliency(result: Saliency, path=None):
    """A bar per token: gradient x input, red where it raises the output, blue where it lowers it.

    Returns:
        The ``matplotlib.figure.Figure``.
    """
    n = len(result.tokens)
    figure = _new_figure(1.5 + 0.35 * n, 3.2)
    axis = figure.subplots()
    colours = ["tab:red" if score > 0 else "tab:blue" for score in result.scores]
    axis.bar(range(n), result.scores, color=colours)
    axis.axhline(0.0, color="black", linewidth=0.8)
    axis.set_xticks(range(n), result.tokens, rotation=90)
    axis.set_ylabel("gradient x input")
    where = f" at position {result.position}" if result.position is not None else ""
    axis.set_title(f"what moves the logit of {result.target_label!r}{where}")
    _save(figure, path)
    return figure
