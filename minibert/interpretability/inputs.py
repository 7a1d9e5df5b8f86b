"""One text (or pair) as model inputs on the model's array module, with its token strings."""

from __future__ import annotations

from autograd import get_xp
from minibert.pipelines import encoder_of


def encode_text(model, tokenizer, text: str, text_pair: str | None = None, max_length=None):
    """Tokenize ``text`` (and ``text_pair``), truncated to the model's positions.

    Returns:
        ``(inputs, tokens)``: ``inputs`` holds ``input_ids``, ``token_type_ids`` and
        ``attention_mask`` as integer arrays of the model's array module, ``tokens`` the token
        strings.

    Shapes:
        every array in ``inputs`` is (1, T); ``tokens`` has T strings.
    """
    if not isinstance(text, str) or (text_pair is not None and not isinstance(text_pair, str)):
        raise TypeError("text (and text_pair) must be strings")
    encoder = encoder_of(model)
    limit = encoder.config.max_position_embeddings
    length = limit if max_length is None else min(max_length, limit)
    encoded = tokenizer(
        text, text_pair, truncation=True, max_length=length, return_tensors="np"
    )  # (1, T) each
    xp = get_xp(encoder.embeddings.word_embeddings.weight.data)
    inputs = {
        key: xp.asarray(encoded[key]) for key in ("input_ids", "token_type_ids", "attention_mask")
    }
    tokens = tokenizer.convert_ids_to_tokens([int(i) for i in encoded["input_ids"][0]])
    return inputs, tokens
