"""Next-token prediction data for ``MiniGPT``: a corpus as one token stream, cut into blocks.

Each document becomes ``[CLS] its sentences [SEP]`` and the documents are concatenated, so the
model learns where documents start and end (a prompt begins with [CLS]; writing [SEP] ends a
generation). The stream is cut into blocks of ``block_size`` tokens, as nanoGPT and
transformers' ``run_clm`` do: no padding is needed, and every position carries a label (the
model shifts the labels itself, so ``labels`` is ``input_ids``).
"""

from __future__ import annotations

import numpy as np

from minibert.data.corpus import read_documents
from minibert.seq2seq.data import resumable_batches


class LanguageModelingData:
    """Shuffled batches of fixed-length blocks of a tokenized corpus.

    Args:
        paths: corpus files (Google format: a sentence a line, a blank line between documents).
        tokenizer: a ``WordPieceTokenizer``.
        block_size: tokens per block (at most the model's ``max_position_embeddings``).
        batch_size, seed: as in ``Seq2SeqData`` (epoch e is ordered by
            ``default_rng([seed, e])``, so a resumed run continues exactly).

    Shapes:
        a batch: input_ids, attention_mask, labels (B, block_size).
    """

    def __init__(self, paths, tokenizer, block_size=64, batch_size=32, seed=0):
        stream: list[int] = []
        for document in read_documents(paths):
            stream += [tokenizer.cls_token_id]
            for sentence in document:
                stream += tokenizer.encode(sentence, add_special_tokens=False)
            stream += [tokenizer.sep_token_id]
        n_blocks = len(stream) // block_size
        if n_blocks == 0:
            raise ValueError(
                f"the corpus has {len(stream)} tokens, fewer than one block of {block_size}; "
                "use a longer corpus or a smaller block_size"
            )
        tokens = np.asarray(stream[: n_blocks * block_size], dtype=np.int64)
        self.blocks = tokens.reshape(n_blocks, block_size)  # (N * T,) -> (N, T)
        self.batch_size, self.seed = batch_size, seed

    def __len__(self) -> int:
        return len(self.blocks)

    def epoch_batches(self, epoch: int):
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self))
        for start in range(0, len(order), self.batch_size):
            ids = self.blocks[order[start : start + self.batch_size]]  # (B, T)
            yield {"input_ids": ids, "attention_mask": np.ones_like(ids), "labels": ids}

    def batches(self, start_epoch: int = 0, start_batch: int = 0):
        return resumable_batches(self.epoch_batches, start_epoch, start_batch)
