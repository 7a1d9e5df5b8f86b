"""Ready-made uses of a trained model, named as transformers' pipelines."""

from __future__ import annotations

import numpy as np

from autograd import no_grad


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
    logits = (logits if logits is not None else out.logits).data[0].astype(np.float64)  # (T, V)
    special = set(tokenizer.all_special_ids)
    results = []
    for position in positions:
        scores = logits[position]
        probabilities = np.exp(scores - scores.max())
        probabilities /= probabilities.sum()
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
