"""Batches of pretraining examples, reproducible from ``(seed, epoch, batch index)`` alone.

Every epoch draws new NSP pairs and new masks (dynamic masking) from a generator seeded with
``(seed, epoch, shard)``, so a resumed run regenerates exactly the batches it would have seen:
the data position is two integers, not a saved random state.

Documents are read in shards of ``buffer_documents``: random NSP segments come from the same
shard. A corpus smaller than one shard (the embedded one) is tokenized once and kept; a larger
one streams from disk, shard by shard, every epoch.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from minibert.data.corpus import read_documents
from minibert.data.pretraining import (
    IGNORE_INDEX,
    Instance,
    mask_tokens,
    nsp_instances,
    single_segment_instances,
)


@dataclass
class DataConfig:
    """How examples are made. Defaults are the original BERT's, except the sequence length."""

    max_seq_length: int = 128
    batch_size: int = 32
    nsp: bool = True
    short_seq_prob: float = 0.1
    masked_lm_prob: float = 0.15
    max_predictions_per_seq: int = 20
    whole_word_mask: bool = False
    corpus_format: str = "google"
    buffer_documents: int = 100_000
    pad_to_max_length: bool = False

    def validate(self) -> None:
        if self.max_seq_length < 8:
            raise ValueError(f"max_seq_length must be at least 8, got {self.max_seq_length}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")
        if not 0 < self.masked_lm_prob < 1:
            raise ValueError(f"masked_lm_prob must be in (0, 1), got {self.masked_lm_prob}")


class PretrainingData:
    """MLM (+ NSP) batches from corpus files.

    Args:
        files: corpus files (see ``minibert.data.corpus``).
        tokenizer: a ``WordPieceTokenizer`` (anything with its ``tokenize`` /
            ``convert_tokens_to_ids`` and special-token ids).
        config: a ``DataConfig``.
        seed: with the epoch, determines every pair and mask.
    """

    def __init__(
        self,
        files: Sequence[str | os.PathLike],
        tokenizer,
        config: DataConfig | None = None,
        seed: int = 0,
    ):
        self.files = [files] if isinstance(files, (str, os.PathLike)) else list(files)
        self.tokenizer = tokenizer
        self.config = config or DataConfig()
        self.config.validate()
        self.seed = seed
        vocab = tokenizer.get_vocab()
        self.special = {"cls": tokenizer.cls_token_id, "sep": tokenizer.sep_token_id}
        self.mask_id = tokenizer.mask_token_id
        self.pad_id = tokenizer.pad_token_id
        self.special_ids = frozenset(tokenizer.all_special_ids)
        self.replacement_ids = np.array(sorted(set(vocab.values()) - self.special_ids))
        self.continuation = frozenset(i for t, i in vocab.items() if t.startswith("##"))
        self._cached_shards: list | None = None
        if next(read_documents(self.files, self.config.corpus_format), None) is None:
            raise ValueError(f"the corpus {', '.join(map(str, self.files))} has no documents")

    # ------------------------------------------------------------------------ documents
    def _tokenize(self, document: list[str]) -> list[list[int]]:
        sentences = (
            self.tokenizer.convert_tokens_to_ids(self.tokenizer.tokenize(s)) for s in document
        )
        return [ids for ids in sentences if ids]

    def _shards(self) -> Iterator[list[list[list[int]]]]:
        """Tokenized documents in shards of ``buffer_documents``; cached if there is one."""
        if self._cached_shards is not None:
            yield from self._cached_shards
            return
        shards, shard = [], []
        for document in read_documents(self.files, self.config.corpus_format):
            tokenized = self._tokenize(document)
            if tokenized:
                shard.append(tokenized)
            if len(shard) == self.config.buffer_documents:
                shards.append(shard)
                yield shard
                shard = []
                if len(shards) > 1:
                    shards = None  # more than one shard: stream instead of keeping them
        if shard:
            if shards is not None:
                shards.append(shard)
            yield shard
        if shards is not None and len(shards) <= 1:
            self._cached_shards = shards

    # -------------------------------------------------------------------------- batches
    def epoch_batches(self, epoch: int) -> Iterator[dict[str, np.ndarray]]:
        """Every batch of one epoch, in order; the same for the same (seed, epoch)."""
        pending: list[tuple[list[int], list[int], Instance]] = []
        for shard_index, documents in enumerate(self._shards()):
            rng = np.random.default_rng([self.seed, epoch, shard_index])
            instances: list[Instance] = []
            for doc_index in rng.permutation(len(documents)):
                document = documents[doc_index]
                if self.config.nsp:
                    instances += nsp_instances(
                        document, int(doc_index), documents, self.special,
                        self.config.max_seq_length, self.config.short_seq_prob, rng,
                        self.continuation,
                    )  # fmt: skip
                else:
                    instances += single_segment_instances(
                        document, self.special, self.config.max_seq_length, self.continuation
                    )
            for index in rng.permutation(len(instances)):
                instance = instances[index]
                input_ids, labels = mask_tokens(
                    instance, rng, mask_id=self.mask_id, special_ids=self.special_ids,
                    replacement_ids=self.replacement_ids,
                    masked_lm_prob=self.config.masked_lm_prob,
                    max_predictions_per_seq=self.config.max_predictions_per_seq,
                    whole_word=self.config.whole_word_mask,
                )  # fmt: skip
                pending.append((input_ids, labels, instance))
                if len(pending) == self.config.batch_size:
                    yield self.collate(pending)
                    pending = []
        if pending:
            yield self.collate(pending)

    def batches(
        self, start_epoch: int = 0, start_batch: int = 0
    ) -> Iterator[tuple[int, int, dict]]:
        """``(epoch, batch_index, batch)`` forever, starting at a saved data position."""
        epoch, skip = start_epoch, start_batch
        while True:
            produced = False
            for index, batch in enumerate(self.epoch_batches(epoch)):
                produced = True
                if index >= skip:
                    yield epoch, index, batch
            if not produced:
                raise ValueError("the corpus yields no training examples; is it too short?")
            epoch, skip = epoch + 1, 0

    def collate(self, rows: list[tuple[list[int], list[int], Instance]]) -> dict[str, np.ndarray]:
        """Pad to the longest row (or to max_seq_length) and stack into arrays.

        Returns:
            ``input_ids``, ``attention_mask``, ``token_type_ids``, ``labels`` of shape (B, T),
            and (with NSP) ``next_sentence_label`` of shape (B,).
        """
        length = (
            self.config.max_seq_length
            if self.config.pad_to_max_length
            else max(len(r[0]) for r in rows)
        )
        B = len(rows)
        batch = {
            "input_ids": np.full((B, length), self.pad_id, dtype=np.int64),
            "attention_mask": np.zeros((B, length), dtype=np.int64),
            "token_type_ids": np.zeros((B, length), dtype=np.int64),
            "labels": np.full((B, length), IGNORE_INDEX, dtype=np.int64),
        }
        if self.config.nsp:  # MLM-only batches have no NSP labels, so the model skips NSP
            batch["next_sentence_label"] = np.array(
                [r[2].next_sentence_label for r in rows], dtype=np.int64
            )
        for row, (input_ids, labels, instance) in enumerate(rows):
            n = len(input_ids)
            batch["input_ids"][row, :n] = input_ids
            batch["attention_mask"][row, :n] = 1
            batch["token_type_ids"][row, :n] = instance.token_type_ids
            batch["labels"][row, :n] = labels
        return batch
