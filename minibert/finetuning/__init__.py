"""Fine-tuning a pretrained minibert (or transformers) BERT on a task, and using the result.

Every task implements ``Task`` (``minibert.finetuning.task``); ``get_task(name)`` builds one by
its ``--task`` name. The registry names modules rather than importing them, so that using one
task never pays for importing the others.
"""

from __future__ import annotations

from importlib import import_module

from minibert.finetuning.task import DatasetError, Features, Task

TASKS = {
    "classification": "minibert.finetuning.classification:ClassificationTask",
    "regression": "minibert.finetuning.classification:RegressionTask",
    "token-classification": "minibert.finetuning.token_classification:TokenClassificationTask",
    "qa": "minibert.finetuning.question_answering:QuestionAnsweringTask",
}


def get_task(name: str, **options) -> Task:
    """The task called ``name`` (one of ``TASKS``), built with its ``options``."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    module, attribute = TASKS[name].split(":")
    return getattr(import_module(module), attribute)(**options)


__all__ = ["TASKS", "DatasetError", "Features", "Task", "get_task"]
