"""minibert: BERT written by hand on the ``autograd`` engine.

``modeling`` (the encoder, its heads, a decoder), ``tokenization`` (WordPiece and its trainer),
``data`` and ``training`` (MLM/NSP pretraining), ``finetuning`` and ``pipelines``,
``checkpoint`` (transformers-compatible directories) and ``cli`` (the ``minibert`` command).
"""

import autograd  # noqa: F401  (first: it tunes OpenBLAS before anything else loads NumPy)

__version__ = "0.1.0"
