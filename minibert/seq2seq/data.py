"""Translation pairs: reading them, a vocabulary for them, and teacher-forcing batches.

A task file is UTF-8 text, one pair a line, ``source<TAB>target``, under a header line
``source<TAB>target`` (the format of ``minibert/data/tasks/translation/``). Both sides share one
tokenizer: the encoder reads ``[CLS] source [SEP]`` and the decoder writes ``target [SEP]``,
starting from ``[CLS]`` (the decoder start token of transformers' BERT2BERT models).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from minibert.finetuning.task import DatasetError
from minibert.modeling.models import IGNORE_INDEX
from minibert.tokenization import BasicTokenizer, WordPieceTokenizer

HEADER = ("source", "target")
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@dataclass(frozen=True)
class TranslationPair:
    source: str
    target: str


def embedded_task(split: str) -> Path:
    """A split (``"train"`` or ``"validation"``) of the toy translation task that ships with
    minibert: English number words to digits (see its README.md)."""
    return Path(str(resources.files("minibert.data") / "tasks" / "translation" / f"{split}.tsv"))


def read_pairs(path: str | os.PathLike) -> list[TranslationPair]:
    """The pairs of a ``source<TAB>target`` file; a malformed line is an error naming the file
    and the line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no translation file at {path}")
    pairs = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.rstrip("\n").split("\t")
            if number == 1:
                if tuple(fields) != HEADER:
                    raise DatasetError(
                        path, 1, "the first line must be the header source<TAB>target"
                    )
                continue
            if not line.strip():
                continue
            if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
                raise DatasetError(
                    path, number, f"expected 'source<TAB>target', got {len(fields)} field(s): "
                    f"{line.strip()[:60]!r}"
                )  # fmt: skip
            pairs.append(TranslationPair(fields[0], fields[1]))
    if not pairs:
        raise DatasetError(path, None, "holds no pairs")
    return pairs


def build_tokenizer(
    pairs: list[TranslationPair], model_max_length: int = 128
) -> WordPieceTokenizer:
    """A whole-word vocabulary of every word on either side (BERT's basic tokenization), after
    BERT's five special tokens; sorted, so the same pairs always give the same ids.

    A WordPiece vocabulary would be learned the same way on a real corpus (``minibert
    train-tokenizer``); a toy language of a few dozen words needs no pieces.
    """
    basic = BasicTokenizer(do_lower_case=True)
    words = sorted(
        {w for p in pairs for text in (p.source, p.target) for w in basic.tokenize(text)}
    )
    return WordPieceTokenizer(SPECIAL_TOKENS + words, model_max_length=model_max_length)


def encode_target(tokenizer, text: str) -> list[int]:
    """The decoder's labels: the target's ids and the end token, [SEP]."""
    return tokenizer.encode(text, add_special_tokens=False) + [tokenizer.sep_token_id]


class Seq2SeqData:
    """Shuffled batches of encoded pairs, for the shared training loop.

    Args:
        pairs: the examples.
        tokenizer: encodes both sides.
        batch_size: pairs per batch (the last batch of an epoch may be smaller).
        seed: the order of epoch e is a permutation drawn from ``default_rng([seed, e])``, so a
            resumed run sees the same batches as an uninterrupted one.
        label_smoothing: passed to the model's loss with every batch (the loop calls
            ``model(**batch)`` and knows nothing of it).
        max_length: longer sources or targets are an error rather than silently cut.

    Shapes:
        a batch: input_ids, attention_mask (B, S); labels (B, T) with -100 at padding.
    """

    def __init__(self, pairs, tokenizer, batch_size=64, seed=0, label_smoothing=0.0, max_length=64):
        if not pairs:
            raise ValueError("Seq2SeqData needs at least one pair")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.tokenizer, self.batch_size, self.seed = tokenizer, batch_size, seed
        self.label_smoothing = label_smoothing
        self.sources = [tokenizer.encode(p.source) for p in pairs]
        self.targets = [encode_target(tokenizer, p.target) for p in pairs]
        for index, ids in enumerate(self.sources + self.targets):
            if len(ids) > max_length:
                side = "source" if index < len(pairs) else "target"
                pair = pairs[index % len(pairs)]
                raise ValueError(
                    f"the {side} of pair {index % len(pairs)} ({pair.source[:40]!r}) has "
                    f"{len(ids)} tokens, more than max_length={max_length}; raise it (and the "
                    "model's max_position_embeddings) or drop the pair"
                )

    def __len__(self) -> int:
        return len(self.sources)

    def epoch_batches(self, epoch: int):
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self))
        for start in range(0, len(order), self.batch_size):
            yield self.collate(order[start : start + self.batch_size])

    def batches(self, start_epoch: int = 0, start_batch: int = 0):
        return resumable_batches(self.epoch_batches, start_epoch, start_batch)

    def collate(self, indices) -> dict:
        sources = [self.sources[i] for i in indices]
        targets = [self.targets[i] for i in indices]
        input_ids = pad(sources, self.tokenizer.pad_token_id)  # (B, S)
        return {
            "input_ids": input_ids,
            "attention_mask": pad([[1] * len(s) for s in sources], 0),  # (B, S)
            "labels": pad(targets, IGNORE_INDEX),  # (B, T)
            "label_smoothing": self.label_smoothing,
        }


def resumable_batches(epoch_batches, start_epoch: int = 0, start_batch: int = 0):
    """``(epoch, batch_index, batch)`` forever, from a saved data position: what the training
    loop (``minibert.training.pretrain``) reads, given ``epoch_batches(epoch)``."""
    for epoch in itertools.count(start_epoch):
        for index, batch in enumerate(epoch_batches(epoch)):
            if epoch > start_epoch or index >= start_batch:
                yield epoch, index, batch


def pad(rows: list[list[int]], value: int) -> np.ndarray:
    """Right-pad ``rows`` to the longest.

    Shapes:
        N rows of lengths T_i -> (N, max T_i).
    """
    out = np.full((len(rows), max(len(r) for r in rows)), value, dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out
