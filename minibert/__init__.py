"""minibert: BERT written by hand on the ``autograd`` engine.

The model, tokenizer, pretraining and fine-tuning arrive issue by issue (see the README's
roadmap); today the package holds the command-line entry point.
"""

__version__ = "0.1.0"
