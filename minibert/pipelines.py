"""Ready-made uses of a trained model, named as transformers' pipelines.

``fill_mask`` and ``embed`` live here; the fine-tuned tasks' pipelines live beside their task
(they share its encoding and decoding) and are re-exported here so that one import gives all:

- ``classify(model, tokenizer, texts, text_pairs=None, top_k=1)``: text classification;
- ``tag(model, tokenizer, text, aggregation="first")``: named entities with character offsets;
- ``answer(model, tokenizer, question, context)``: an extractive answer span.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

import numpy as np

from autograd import get_xp, no_grad
from minibert.finetuning.classification import classify
from minibert.finetuning.question_answering import answer
from minibert.finetuning.token_classification import tag
from minibert.scoring import softmax


@no_grad()
def fill_mask(model, tokenizer, text: str, top_k: int = 5) -> list[list[dict]]:
    """The ``top_k`` most likely tokens for every [MASK] in ``text``.

    Args:
        model: a ``BertForMaskedLM`` or ``BertForPreTraining``.
        tokenizer: the model's ``WordPieceTokenizer``.

    Returns:
        One list per [MASK] (in order) of ``{"token", "token_str", "score", "sequence"}``
        dicts, best first; ``score`` is the softmax probability, ``sequence`` the text with that
        token filled in.
    """
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    mask_token = tokenizer.mask_token
    encoded = tokenizer(text, truncation=True, max_length=model.config.max_position_embeddings)
    ids = list(encoded["input_ids"])
    positions = [i for i, token in enumerate(ids) if token == tokenizer.mask_token_id]
    if not positions:
        raise ValueError(f"the text has no {mask_token} token to fill: {text!r}")
    was_training = model.training
    model.eval()
    out = model([ids], masked_only=False)
    model.train(was_training)
    logits = getattr(out, "prediction_logits", None)
    logits = (logits if logits is not None else out.logits).data[0]  # (T, V)
    special = set(tokenizer.all_special_ids)
    results = []
    for position, probabilities in zip(positions, softmax(logits[positions]), strict=True):
        ranked = [int(i) for i in np.argsort(-probabilities) if int(i) not in special][:top_k]
        candidates = []
        for token_id in ranked:
            filled = list(ids)
            filled[position] = token_id
            candidates.append(
                {
                    "token": token_id,
                    "token_str": tokenizer.convert_ids_to_tokens(token_id),
                    "score": float(probabilities[token_id]),
                    "sequence": tokenizer.decode(filled, skip_special_tokens=True),
                }
            )
        results.append(candidates)
    return results


@contextmanager
def evaluation_mode(model):
    """Run the block with ``model`` in eval mode (no dropout), then restore its previous mode."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def encoder_of(model):
    """The ``BertModel`` inside ``model``: the model itself, or a task model's ``.bert``."""
    from minibert.modeling import BertModel

    if isinstance(model, BertModel):
        return model
    encoder = getattr(model, "bert", None)
    if not isinstance(encoder, BertModel):
        raise TypeError(
            f"expected a BertModel or a task model with a .bert encoder, got {type(model).__name__}"
        )
    return encoder


def embed(
    model,
    tokenizer,
    texts: str | Sequence[str],
    pooling: str = "mean",
    normalize: bool = True,
    batch_size: int = 32,
    max_length: int | None = None,
):
    r"""Sentence embeddings, computed as sentence-transformers computes them for a BERT.

    Each batch is padded to its longest text; the encoder's last hidden states are pooled over
    the real tokens only (``minibert.modeling.pooling.pool``: ``"mean"`` divides the masked sum
    by the number of real tokens, ``"cls"`` takes the [CLS] state, ``"max"`` the elementwise
    maximum), then, with ``normalize``, divided by their L2 norm as
    ``torch.nn.functional.normalize`` does: $e / \max(\lVert e \rVert_2, 10^{-12})$. So a
    sentence-embedding checkpoint with a BERT architecture (and mean pooling) gives the vectors
    its sentence-transformers model gives (tests/reference checks it to 1e-5).

    Args:
        model: a ``BertModel`` or any task model (its ``.bert`` encoder is used; heads are not).
        tokenizer: the model's tokenizer.
        texts: a list of texts, or one text.
        pooling: ``"mean"``, ``"cls"`` or ``"max"``.
        normalize: scale every embedding to unit length, so a dot product is a cosine.
        batch_size: texts encoded at once; the result does not depend on it.
        max_length: truncate longer texts to this many tokens, special tokens included
            (default: the model's ``max_position_embeddings``).

    Returns:
        An array of the model's dtype and array module (float32 NumPy for a loaded checkpoint):
        (N, H) for a list, (H,) for one text (as sentence-transformers' ``encode``).

    Shapes:
        texts (N,) -> (N, H); each batch: input_ids (b, T) -> last_hidden_state (b, T, H)
        -> pooled (b, H).
    """
    from minibert.modeling.pooling import POOLING_STRATEGIES, pool

    if pooling not in POOLING_STRATEGIES:
        raise ValueError(f"unknown pooling {pooling!r}; choose one of {POOLING_STRATEGIES}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    single = isinstance(texts, str)
    texts = [texts] if single else list(texts)
    bad = [i for i, text in enumerate(texts) if not isinstance(text, str)]
    if bad:
        raise TypeError(f"texts must be strings; item {bad[0]} is a {type(texts[bad[0]]).__name__}")
    encoder = encoder_of(model)
    limit = encoder.config.max_position_embeddings
    max_length = limit if max_length is None else max_length
    if not 2 <= max_length <= limit:
        raise ValueError(
            f"max_length must be in [2, {limit}] (the model's max_position_embeddings), got "
            f"{max_length}"
        )
    weight = encoder.embeddings.word_embeddings.weight.data
    xp = get_xp(weight)
    batches = []
    with no_grad(), evaluation_mode(model):
        for start in range(0, len(texts), batch_size):
            encoded = tokenizer(
                texts[start : start + batch_size], padding=True, truncation=True,
                max_length=max_length, return_tensors="np",
            )  # fmt: skip
            mask = xp.asarray(encoded["attention_mask"])  # (b, T)
            out = encoder(
                xp.asarray(encoded["input_ids"]), mask, xp.asarray(encoded["token_type_ids"])
            )
            pooled = pool(out.last_hidden_state, mask, pooling).data  # (b, T, H) -> (b, H)
            if normalize:
                norms = xp.sqrt((pooled * pooled).sum(axis=1, keepdims=True))  # (b, 1)
                pooled = pooled / xp.maximum(norms, 1e-12)
            batches.append(pooled)
    if not batches:
        return xp.zeros((0, encoder.config.hidden_size), dtype=weight.dtype)
    embeddings = xp.concatenate(batches, axis=0)  # (N, H)
    return embeddings[0] if single else embeddings


def similarity(embeddings, others=None):
    """Cosine similarities between the rows of ``embeddings`` and those of ``others``.

    Rows are normalized here, so unnormalized embeddings work too; a zero row gives 0.

    Shapes:
        embeddings (N, H), others (M, H) (default: ``embeddings``); returns (N, M).
    """
    embeddings = _unit_rows(embeddings, "embeddings")
    others = embeddings if others is None else _unit_rows(others, "others")
    if others.shape[1] != embeddings.shape[1]:
        raise ValueError(
            f"embeddings have {embeddings.shape[1]} dimensions but others {others.shape[1]}; "
            "compare embeddings of the same model"
        )
    return embeddings @ others.T  # (N, H) @ (H, M) -> (N, M)


def _unit_rows(array, name: str):
    xp = get_xp(array)
    array = xp.asarray(array)
    if array.ndim == 1:
        array = array[None, :]  # (H,) -> (1, H)
    if array.ndim != 2:
        raise ValueError(f"{name} must be (N, H) or (H,), got shape {tuple(array.shape)}")
    norms = xp.sqrt((array * array).sum(axis=1, keepdims=True))  # (N, 1)
    return array / xp.maximum(norms, 1e-12)


__all__ = ["answer", "classify", "embed", "fill_mask", "similarity", "tag"]
