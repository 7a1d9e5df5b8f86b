"""Vocabulary files: ``vocab.txt`` holds one token per line, and a token's id is its line number.

That is the whole format of every BERT checkpoint's vocabulary, from google-research/bert to the
Hugging Face hub, so a ``vocab.txt`` written here loads in transformers and the other way round.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from minibert.io import atomic_write_text


def load_vocab(path: str | os.PathLike) -> dict[str, int]:
    """Read a ``vocab.txt``: token -> id (the line number, from 0).

    Lines are split the way transformers splits them (universal newlines, the trailing newline
    removed). A token listed twice keeps its last line number, as in transformers.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not UTF-8, or holds no token.
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path}: a vocab.txt must be UTF-8; byte offset {error.start} is not"
        ) from None
    vocab = {line.rstrip("\n"): index for index, line in enumerate(lines)}
    if not vocab:
        raise ValueError(f"{path}: the vocabulary file is empty")
    return vocab


def tokens_by_id(vocab: Mapping[str, int]) -> list[str]:
    """The tokens in id order; the ids must be exactly 0, 1, ..., len(vocab) - 1."""
    tokens = sorted(vocab, key=vocab.__getitem__)
    for expected, token in enumerate(tokens):
        if vocab[token] != expected:
            raise ValueError(
                f"vocab.txt stores an id as a line number, so ids must be 0..{len(vocab) - 1} "
                f"without gaps or repeats; token {token!r} has id {vocab[token]}, expected "
                f"{expected}"
            )
    return tokens


def save_vocab(vocab: Mapping[str, int], path: str | os.PathLike) -> Path:
    """Write ``vocab`` as a ``vocab.txt`` (one token per line, in id order), atomically."""
    tokens = tokens_by_id(vocab)
    bad = [t for t in tokens if "\n" in t or "\r" in t]
    if bad:
        raise ValueError(f"a token cannot contain a line break in vocab.txt: {bad[0]!r}")
    atomic_write_text(path, "".join(f"{token}\n" for token in tokens))
    return Path(path)
