r"""Token saliency by gradient x input, taken with our own autograd.

For one scalar output $f$ (a class logit, or the logit of a token at a [MASK]) and the word
embeddings $x_t \in \mathbb{R}^H$ of the input tokens, token $t$ scores

$$ s_t = \sum_{k=1}^{H} \frac{\partial f}{\partial x_{t,k}} \, x_{t,k}, $$

Captum's "input x gradient". It is the first-order (linear) estimate of how $f$ changes when
token $t$'s embedding is scaled away: $f(x) - f(x \text{ with } x_t = 0) \approx s_t$. The
scores add up to the directional derivative $\frac{d}{d\epsilon} f(x + \epsilon x)|_{\epsilon=0}$,
which the tests check by finite differences.

**Which embedding.** $x$ is the word embedding alone (transformers' ``inputs_embeds``), not the
sum $e_t = x_t + p_t + \tau_t$ (word, position, token type) fed to the embedding LayerNorm. Two
reasons. LayerNorm does not change when its input is scaled, so the derivative along $e_t$
itself is zero: gradient x input on the sum is 0 for every token (up to LayerNorm's epsilon;
tutorial 11 measures it), which explains nothing. And the word embedding is the one part that
says *which* token stands there; position and type are the same for any token at that place.
The same invariance shapes the word-only score: $s_t = g_t \cdot x_t = -g_t \cdot (p_t + \tau_t)$
with $g_t$ the gradient, so it measures the word embedding against the position and type
embeddings, and it is small where LayerNorm's input is dominated by the word embedding. It is
what transformers and Captum compute from ``inputs_embeds``, so the numbers can be compared
(tests/reference does). A token whose word embedding is zero (BERT's [PAD] row starts at zero)
scores zero by construction, whatever its influence through its position.

**Caveats.** It is a local, linear view: it says how $f$ moves for an infinitesimal change
along the embedding itself, not what would happen if the word were removed (GELU, softmax and
LayerNorm are far from linear over that distance), and it can be noisy and saturate
(Integrated Gradients, Sundararajan et al. 2017, averages it along a path to fix that).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from autograd import Tensor, enable_grad, get_xp
from minibert.interpretability.inputs import encode_text
from minibert.pipelines import encoder_of, evaluation_mode
from minibert.scoring import to_host


@dataclass
class Saliency:
    """Gradient x input scores of one output for every token of one text.

    Attributes:
        tokens: the T token strings.
        scores: one signed score per token: positive raises the output, negative lowers it.
        target: the class index or the token id whose logit was explained.
        target_label: its name (label name or token string).
        output: the logit explained, ``f(x)``.
        position: the token position whose prediction was explained (masked LM), or None.

    Shapes:
        scores (T,).
    """

    tokens: list[str]
    scores: np.ndarray
    target: int
    target_label: str
    output: float
    position: int | None = None


def word_embeddings(model, input_ids):
    """The word-embedding rows of ``input_ids``: what ``inputs_embeds`` replaces.

    Shapes:
        input_ids (B, T); returns (B, T, H), a copy on the model's array module.
    """
    weight = encoder_of(model).embeddings.word_embeddings.weight.data
    return weight[get_xp(weight).asarray(input_ids)].copy()  # (B, T) -> (B, T, H)


@contextmanager
def frozen_parameters(model):
    """No parameter records a gradient inside the block (their ``.grad`` stays as it was)."""
    flags = [(param, param.requires_grad) for param in model.parameters()]
    model.requires_grad_(False)
    try:
        yield model
    finally:
        for param, flag in flags:
            param.requires_grad_(flag)


def gradient_x_input(forward: Callable[[Tensor], Tensor], inputs_embeds):
    """Gradient x input of the scalar ``forward(inputs_embeds)``, summed over the hidden axis.

    Args:
        forward: maps a (B, T, H) tensor to a one-element tensor (the output to explain).
        inputs_embeds: the point to take the gradient at.

    Returns:
        ``(scores, gradient, value)``: scores (B, T), the gradient (B, T, H), ``f(x)``.

    Shapes:
        inputs_embeds (B, T, H).
    """
    x = Tensor(inputs_embeds, requires_grad=True)
    with enable_grad():
        value = forward(x)
        if value.size != 1:
            raise ValueError(f"forward must return one number, got shape {value.shape}")
        value.backward()
    gradient = x.grad
    scores = (gradient * x.data).sum(axis=-1)  # (B, T, H) -> (B, T)
    return scores, gradient, float(value.data.reshape(()))


def saliency(
    model,
    tokenizer,
    text: str,
    target: int | str | None = None,
    text_pair: str | None = None,
    position: int | None = None,
) -> Saliency:
    """Which tokens of ``text`` push one output of ``model`` up or down (gradient x input).

    Args:
        model: a ``BertForSequenceClassification`` (explains a class logit; with one label, the
            regression output) or a ``BertForMaskedLM`` / ``BertForPreTraining`` (explains the
            logit of one vocabulary token at one position).
        tokenizer: the model's tokenizer.
        text, text_pair: the input.
        target: classifier: a class index or a label name from ``config.id2label`` (default:
            the predicted class). Masked LM: a token string or id (default: the top prediction
            that is not a special token).
        position: masked LM only: the token position to explain (default: the first [MASK]).

    Returns:
        A ``Saliency`` (see the module docstring for which embedding and the caveats).
    """
    from minibert.modeling import (
        BertForMaskedLM,
        BertForPreTraining,
        BertForSequenceClassification,
    )

    inputs, tokens = encode_text(model, tokenizer, text, text_pair)
    if isinstance(model, BertForSequenceClassification):
        if position is not None:
            raise ValueError("position is for masked-LM models; a classifier explains its class")
        read = _class_logits
    elif isinstance(model, (BertForMaskedLM, BertForPreTraining)):
        position = _mask_position(tokenizer, inputs["input_ids"], position)
        read = _token_logits(position)
    else:
        raise TypeError(
            f"saliency explains a BertForSequenceClassification, BertForMaskedLM or "
            f"BertForPreTraining, not a {type(model).__name__}"
        )

    def logits(x):  # (1, T, H) -> the (K,) logits the target is chosen from
        return read(model(inputs_embeds=x, **_without_ids(inputs)))

    embeds = word_embeddings(model, inputs["input_ids"])  # (1, T, H)
    with evaluation_mode(model), frozen_parameters(model):
        if target is None:
            target = _top_choice(to_host(logits(Tensor(embeds)).data), model, tokenizer)
        target, label = _resolve_target(target, model, tokenizer)
        scores, _, value = gradient_x_input(lambda x: logits(x)[target], embeds)
    return Saliency(tokens, to_host(scores)[0].astype(np.float64), target, label, value, position)


def _without_ids(inputs: dict) -> dict:
    return {key: value for key, value in inputs.items() if key != "input_ids"}


def _class_logits(out) -> Tensor:
    return out.logits[0]  # (1, C) -> (C,)


def _token_logits(position: int):
    def read(out) -> Tensor:
        logits = out.prediction_logits if hasattr(out, "prediction_logits") else out.logits
        return logits[0, position]  # (1, T, V) -> (V,)

    return read


def _mask_position(tokenizer, input_ids, position: int | None) -> int:
    ids = [int(i) for i in to_host(input_ids)[0]]
    if position is None:
        if tokenizer.mask_token_id not in ids:
            raise ValueError(
                f"the text has no {tokenizer.mask_token}: put one where the model should predict "
                "a token, or pass position="
            )
        return ids.index(tokenizer.mask_token_id)
    if not 0 <= position < len(ids):
        raise ValueError(f"position {position} is outside the {len(ids)} tokens of the text")
    return int(position)


def _top_choice(logits: np.ndarray, model, tokenizer) -> int:
    """The predicted class, or the best non-special token (as ``fill_mask`` ranks them)."""
    from minibert.modeling import BertForSequenceClassification

    if isinstance(model, BertForSequenceClassification):
        return int(np.argmax(logits))
    ranked = logits.astype(np.float64).copy()
    ranked[list(tokenizer.all_special_ids)] = -np.inf
    return int(np.argmax(ranked))


def _resolve_target(target, model, tokenizer) -> tuple[int, str]:
    """A target index and its name, checked against the model's classes or vocabulary."""
    from minibert.modeling import BertForSequenceClassification

    if isinstance(model, BertForSequenceClassification):
        names = model.config.id2label or {}
        if isinstance(target, str):
            by_name = {name: index for index, name in names.items()}
            if target not in by_name:
                known = ", ".join(map(repr, by_name)) or "none: config.id2label is not set"
                raise ValueError(f"unknown label {target!r}; the labels are {known}")
            return by_name[target], target
        count = model.config.num_labels
        if not isinstance(target, (int, np.integer)) or not 0 <= target < count:
            raise ValueError(f"class {target!r} does not exist: the model has {count} classes")
        return int(target), names.get(int(target), f"LABEL_{int(target)}")
    if isinstance(target, str):
        token_id = tokenizer.convert_tokens_to_ids(target)
        if token_id == tokenizer.unk_token_id and target != tokenizer.unk_token:
            raise ValueError(
                f"{target!r} is not a token of the vocabulary; pick one of its pieces, e.g. "
                f"{tokenizer.tokenize(target)[:1]}"
            )
        return int(token_id), target
    vocab_size = model.config.vocab_size
    if not isinstance(target, (int, np.integer)) or not 0 <= target < vocab_size:
        raise ValueError(f"token id {target!r} is outside the vocabulary [0, {vocab_size})")
    return int(target), tokenizer.convert_ids_to_tokens(int(target))


def render_saliency_text(result: Saliency, width: int = 24) -> str:
    """One line per token: its score and a bar, ``+`` raising the output and ``-`` lowering it.

    Bars are scaled so the largest |score| fills ``width`` characters.
    """
    if width < 1:
        raise ValueError(f"width must be at least 1, got {width}")
    where = f" at position {result.position}" if result.position is not None else ""
    lines = [
        f"gradient x input for {result.target_label!r}{where} (logit {result.output:.3f}; "
        f"scores sum to {result.scores.sum():+.3f})"
    ]
    largest = float(np.abs(result.scores).max()) if result.scores.size else 0.0
    label_width = max((len(f"{i}:{t}") for i, t in enumerate(result.tokens)), default=0)
    for i, (token, score) in enumerate(zip(result.tokens, result.scores, strict=True)):
        length = round(width * abs(score) / largest) if largest > 0 else 0
        bar = ("+" if score > 0 else "-") * length
        lines.append(f"{f'{i}:{token}':>{label_width}} {score:+9.4f} {bar}")
    return "\n".join(lines)
