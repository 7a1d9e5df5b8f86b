"""Build minibert's default pretraining corpus from the Jargon File 4.4.7 (public domain).

The source is the dictd database of Debian's ``dict-jargon`` package (upstream:
catb.org/jargon). Run once by a maintainer; the output is committed, so nothing is fetched when
minibert runs:

    apt-get download dict-jargon && dpkg -x dict-jargon_*.deb pkg
    python scripts/build_jargon_corpus.py pkg/usr/share/dictd/jargon.dict.dz

Each entry becomes one document (its definition, split into sentences); every 20th entry goes
to the held-out split. The tiny test corpus is the first entries of the training split.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import regex

from minibert.data.corpus import split_sentences

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "minibert" / "data" / "corpora" / "jargon"
TINY = ROOT / "tests" / "data" / "tiny_corpus.txt"
HELD_OUT_EVERY = 20
TINY_DOCUMENTS = 120


def entries(text: str):
    """(headword, body) pairs: a headword starts at column 0, its body lines are indented."""
    headword, body = None, []
    for line in text.splitlines():
        if line and not line[0].isspace():
            if headword is not None:
                yield headword, body
            headword, body = line.strip(), []
        elif line.startswith("    "):
            body.append(line.strip())
        elif not line.strip():
            body.append("")
        # a line indented by one space holds pronunciation and part of speech: not prose
    if headword is not None:
        yield headword, body


def clean(paragraph: str) -> str:
    paragraph = paragraph.strip()
    paragraph = regex.sub(r"\{\s*([^{}]*?)\s*\}", r"\1", paragraph)  # {cross reference} -> words
    # Sense numbers ("2. Anything that...") start a paragraph or follow its [etymology] tag.
    paragraph = regex.sub(r"(^|(?<=\])\s)\d{1,2}\.(\s+|$)", r"\1", paragraph)
    return " ".join(paragraph.split())


FIRST_ENTRY = "(TM)"  # everything before it is the dictd database's header and notice


def documents(text: str):
    started = False
    for headword, body in entries(text):
        started = started or headword == FIRST_ENTRY
        if not started:
            continue
        paragraphs = " ".join(line if line else "\n" for line in body).split("\n")
        sentences = [s for p in map(clean, paragraphs) if p for s in split_sentences(p)]
        words = sum(len(regex.findall(r"\p{L}+", s)) for s in sentences)
        if words >= 8:  # a few entries are only a cross reference ("See foo.")
            yield sentences


def write(path: Path, docs) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join("\n".join(doc) for doc in docs) + "\n", encoding="utf-8")
    return path.stat().st_size


def main(source: str) -> None:
    text = gzip.open(source, "rt", encoding="utf-8").read()
    docs = list(documents(text))
    train = [d for i, d in enumerate(docs) if i % HELD_OUT_EVERY != HELD_OUT_EVERY - 1]
    held_out = [d for i, d in enumerate(docs) if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1]
    sizes = (write(OUT / "train.txt", train), write(OUT / "heldout.txt", held_out))
    write(TINY, train[:TINY_DOCUMENTS])
    sentences = sum(len(d) for d in docs)
    print(f"{len(docs)} documents, {sentences} sentences; train {sizes[0]} bytes "
          f"({len(train)} docs), held-out {sizes[1]} bytes ({len(held_out)} docs)")  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
