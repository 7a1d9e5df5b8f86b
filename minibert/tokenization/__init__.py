"""Tokenization: BERT's basic tokenizer, WordPiece, and a WordPiece trainer.

- ``basic.py``: clean, lowercase, strip accents, split off punctuation and CJK characters;
- ``wordpiece.py``: greedy longest-match-first WordPiece, and ``WordPieceTokenizer`` with the API
  of transformers' ``BertTokenizer`` (``tok(text, pair, truncation=True)``, ``decode``,
  ``save_pretrained``/``from_pretrained``, ``train``);
- ``trainer.py``: learning a vocabulary from text, by pair count (what the tokenizers library
  calls WordPiece) or by the likelihood score of the WordPiece papers;
- ``vocab.py``: ``vocab.txt`` files; ``encoding.py``: truncation, padding, ``BatchEncoding``
  (with ``word_ids()`` and ``sequence_ids()``);
- ``inputs.py``: reading a call's texts, pairs and pre-split word lists as transformers does;
- ``windows.py``: overlapping windows of a long input (``stride``,
  ``return_overflowing_tokens``), by the tokenizers library's rules;
- ``sample_text.py``: text to practise on, from the Python standard library's own docs.
"""

from minibert.tokenization.basic import BasicTokenizer
from minibert.tokenization.encoding import BatchEncoding
from minibert.tokenization.trainer import MergeStep, TrainingResult, train_wordpiece
from minibert.tokenization.vocab import load_vocab, save_vocab
from minibert.tokenization.wordpiece import WordPieceTokenizer, wordpiece

__all__ = [
    "BasicTokenizer",
    "BatchEncoding",
    "MergeStep",
    "TrainingResult",
    "WordPieceTokenizer",
    "load_vocab",
    "save_vocab",
    "train_wordpiece",
    "wordpiece",
]
