"""What a tokenizer call accepts: a text, a pair, a batch, or the same as lists of words.

Both functions normalize the call's ``text`` and ``text_pair`` to ``(is_batched, firsts,
seconds)``: one entry per example, ``seconds[i]`` None where the example is a single text.

As in transformers, an empty ``text_pair`` (``""`` or ``[]``) of a single example means no pair
at all (``[CLS] A [SEP]``, not ``[CLS] A [SEP] [SEP]``), while in a batch it is an empty second
text.
"""

from __future__ import annotations

Words = tuple[str, ...]


def as_batch(text, text_pair) -> tuple[bool, list[str], list[str | None]]:
    """Texts (``is_split_into_words=False``): a str, a list of str, or of (text, pair) tuples."""
    if isinstance(text, str):
        if text_pair is not None and not isinstance(text_pair, str):
            raise TypeError("text is one str, so text_pair must be one str too")
        return False, [text], [text_pair or None]
    if not isinstance(text, (list, tuple)):
        raise TypeError(
            "text must be a str, a list of str, or a list of (text, text_pair) tuples; "
            f"got {type(text).__name__}"
        )
    if text_pair is None:
        firsts, seconds = [], []
        for item in text:
            if isinstance(item, str):
                firsts.append(item)
                seconds.append(None)
            elif isinstance(item, (list, tuple)) and len(item) == 2:
                firsts.append(item[0])
                seconds.append(item[1])
            else:
                raise TypeError(
                    f"a batch holds str or (text, text_pair) tuples, not {type(item).__name__}"
                )
        return True, firsts, seconds
    if not isinstance(text_pair, (list, tuple)) or len(text_pair) != len(text):
        raise ValueError("text_pair must be a list as long as text")
    return True, list(text), list(text_pair)


def _words(item, what: str) -> Words:
    """One pre-split text: a list of str, kept as a tuple (later edits to the list do not count)."""
    if isinstance(item, str) or not isinstance(item, (list, tuple)):
        raise TypeError(
            f"is_split_into_words=True: {what} must be a list of words (str), got "
            f"{type(item).__name__}; pass is_split_into_words=False for plain text"
        )
    for word in item:
        if not isinstance(word, str):
            raise TypeError(
                f"is_split_into_words=True: {what} holds a {type(word).__name__}; "
                "every word must be a str"
            )
    return tuple(item)


def as_word_batch(text, text_pair) -> tuple[bool, list[Words], list[Words | None]]:
    """Pre-split words (``is_split_into_words=True``), as transformers reads them.

    One example is a list of words; a batch is a list of such lists (or of ``(words, words)``
    pairs). As in transformers, the input is a batch when its first item is itself a list, so
    ``[]`` is one example with no words.
    """
    is_batched = isinstance(text, (list, tuple)) and bool(text) and not isinstance(text[0], str)
    if not is_batched:
        pair = None if text_pair is None else _words(text_pair, "text_pair")
        return False, [_words(text, "text")], [pair or None]
    if text_pair is not None:
        if not isinstance(text_pair, (list, tuple)) or len(text_pair) != len(text):
            raise ValueError("text_pair must be a list (of word lists) as long as text")
        firsts = [_words(item, f"text[{i}]") for i, item in enumerate(text)]
        seconds = [_words(item, f"text_pair[{i}]") for i, item in enumerate(text_pair)]
        return True, firsts, seconds
    firsts, seconds = [], []
    for i, item in enumerate(text):
        # A pair of word lists, as the tokenizers library tells them apart: its items are lists.
        if isinstance(item, (list, tuple)) and item and not isinstance(item[0], str):
            if len(item) != 2:
                raise TypeError(
                    f"is_split_into_words=True: text[{i}] holds lists, so it must be a pair "
                    f"(words, words), but it holds {len(item)}"
                )
            firsts.append(_words(item[0], f"text[{i}][0]"))
            seconds.append(_words(item[1], f"text[{i}][1]"))
        else:
            firsts.append(_words(item, f"text[{i}]"))
            seconds.append(None)
    return True, firsts, seconds
