"""Sequence to sequence: the toy translation task, its batches, BLEU, training and decoding.

- ``data.py``: reading ``source<TAB>target`` files, a vocabulary for them, teacher-forcing
  batches;
- ``metrics.py``: corpus BLEU and exact match;
- ``train.py``: training with the pretraining loop, translating, and the scores against the
  copy baseline.
"""

from minibert.seq2seq.data import Seq2SeqData, TranslationPair, build_tokenizer, read_pairs
from minibert.seq2seq.metrics import corpus_bleu, exact_match
from minibert.seq2seq.train import evaluate_translation, train_seq2seq, translate

__all__ = [
    "Seq2SeqData", "TranslationPair", "build_tokenizer", "corpus_bleu", "evaluate_translation",
    "exact_match", "read_pairs", "train_seq2seq", "translate",
]  # fmt: skip
