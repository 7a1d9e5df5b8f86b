"""Reading a pretraining corpus as a stream of documents, each a list of sentences.

Two formats:

- ``"google"`` (the original BERT's): one sentence per line, a blank line between documents.
- ``"plain"``: ordinary text; a blank line separates documents (paragraphs), and sentences are
  found with a regular expression (``split_sentences``).

Files are read line by line, so a corpus larger than memory streams through. A byte sequence
that is not UTF-8 is reported with the file and its byte offset.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import regex

CORPUS_FORMATS = ("google", "plain")

# Abbreviations whose final period does not end a sentence (lower-cased, without the period).
_ABBREVIATIONS = {
    "e.g", "i.e", "etc", "esp", "usu", "poss", "cf", "vs", "viz", "approx", "n", "v", "adj",
    "adv", "pl", "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "no", "vol", "fig", "ca",
    "inc", "ltd", "co", "corp", "dept", "ed", "eds", "al", "u.s", "u.k", "a.k.a", "orig",
    "var", "abbrev", "obs", "prob", "ibid", "op",
}  # fmt: skip
# A candidate boundary: sentence-final punctuation, optional closing quotes or brackets, space,
# then something that can start a sentence (an upper-case letter, a digit, or an opening quote).
_BOUNDARY = regex.compile(r"(?<=[.!?][\"'”’)\]]*)\s+(?=[\p{Lu}\p{N}\"“‘(\[])")
_LAST_WORD = regex.compile(r"([\p{L}.]+)\.[\"'”’)\]]*$")


def split_sentences(text: str) -> list[str]:
    """Split running text into sentences, keeping abbreviations like "e.g." inside sentences.

    A heuristic, as every rule-based splitter is: it is right on ordinary prose and errs
    towards longer sentences, which costs BERT's NSP task nothing.
    """
    text = " ".join(text.split())
    if not text:
        return []
    sentences, start = [], 0
    for match in _BOUNDARY.finditer(text):
        candidate = text[start : match.start()]
        last = _LAST_WORD.search(candidate)
        if last and (last.group(1).lower() in _ABBREVIATIONS or len(last.group(1)) == 1):
            continue  # "esp. in" or an initial such as "J. Random"
        sentences.append(candidate)
        start = match.end()
    sentences.append(text[start:])
    return [s for s in sentences if s]


def read_lines(path: Path) -> Iterator[str]:
    """The lines of a UTF-8 file, with a clear error naming the byte offset of bad bytes."""
    offset = 0
    with open(path, "rb") as handle:
        for raw in handle:
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"{path} is not UTF-8: invalid byte 0x{raw[error.start]:02x} at byte offset "
                    f"{offset + error.start}; convert the file to UTF-8 first"
                ) from None
            offset += len(raw)
            yield line.rstrip("\r\n")


def read_documents(
    paths: str | os.PathLike | Iterable, corpus_format: str = "google"
) -> Iterator[list[str]]:
    """Stream the documents of one or more corpus files.

    Yields:
        Each document as a list of sentences (non-empty strings). Empty documents are skipped.
    """
    if corpus_format not in CORPUS_FORMATS:
        raise ValueError(f"unknown corpus format {corpus_format!r}; use one of {CORPUS_FORMATS}")
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    for path in map(Path, paths):
        if not path.is_file():
            raise FileNotFoundError(f"corpus file {path} does not exist")
        block: list[str] = []
        for line in read_lines(path):
            if line.strip():
                block.append(line.strip())
                continue
            yield from _document(block, corpus_format)
            block = []
        yield from _document(block, corpus_format)


def _document(block: list[str], corpus_format: str) -> Iterator[list[str]]:
    if not block:
        return
    if corpus_format == "google":
        yield block
    else:
        sentences = split_sentences(" ".join(block))
        if sentences:
            yield sentences
