"""Pretraining: the loop, evaluation, and resumable checkpoints."""

from minibert.training.evaluation import evaluate
from minibert.training.pretrain import TrainingArguments, TrainingDiverged, pretrain

__all__ = ["TrainingArguments", "TrainingDiverged", "evaluate", "pretrain"]
