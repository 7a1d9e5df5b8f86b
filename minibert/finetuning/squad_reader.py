"""Reading SQuAD v1.1 JSON files into question-answering examples, with errors that say where.

The format (https://rajpurkar.github.io/SQuAD-explorer/)::

    {"version": "1.1", "data": [{"title": "...", "paragraphs": [{"context": "...", "qas": [
        {"id": "q1", "question": "...", "answers": [{"text": "...", "answer_start": 12}]}]}]}]}

JSON has no record per line, so an error names the file, the line where the question's ``"id"``
is written (found by searching the raw text, which costs one pass), the question id, and the
article and paragraph indices. Each answer must occur in its context at ``answer_start``: a
wrong offset would train the model on the wrong tokens without any other sign.

SQuAD v2.0's unanswerable questions (``"is_impossible": true``) are rejected with a clear error:
this task, like SQuAD v1.1, assumes that every question has its answer in the context.
Questions without an ``"answers"`` key at all are read as unlabelled (they can be predicted,
not trained on or scored).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from minibert.finetuning.task import DatasetError


@dataclass
class QAExample:
    """One question about one context.

    Args:
        id: the question id (predictions are keyed by it).
        question, context: the texts.
        answers: ``[{"text", "answer_start"}]``, character offsets into ``context``; empty for
            unlabelled questions.
        where: ``"file:line"`` (or the file and the record) for error messages.
    """

    id: str
    question: str
    context: str
    answers: list[dict] = field(default_factory=list)
    where: str = "<memory>"


_ID_KEY = re.compile(r'"id"\s*:\s*("(?:[^"\\]|\\.)*")')


def _id_lines(raw: str) -> dict[str, int]:
    """Question id -> the line where it is written; one regex pass over the file's text."""
    lines = {}
    newlines = [m.start() for m in re.finditer("\n", raw)]
    line, seen = 1, 0
    for match in _ID_KEY.finditer(raw):
        while seen < len(newlines) and newlines[seen] < match.start():
            seen, line = seen + 1, line + 1
        try:
            lines.setdefault(str(json.loads(match.group(1))), line)
        except json.JSONDecodeError:
            continue
    return lines


def _require(record: dict, key: str, kind: type, path, line, what: str):
    """``record[key]``, checked to be a ``kind``; a DatasetError naming the record otherwise."""
    if not isinstance(record, dict):
        raise DatasetError(
            path, line, f"{what} should be a JSON object, got {type(record).__name__}"
        )
    if key not in record:
        raise DatasetError(path, line, f'{what} has no "{key}" key (keys: {sorted(record)})')
    value = record[key]
    if not isinstance(value, kind):
        raise DatasetError(
            path, line, f'{what}: "{key}" should be a {kind.__name__}, got {type(value).__name__}'
        )
    return value


def _check_answer(answer: dict, context: str, path, line, what: str) -> dict:
    """An answer that occurs in its context at ``answer_start``, or a DatasetError."""
    text = _require(answer, "text", str, path, line, what)
    start = _require(answer, "answer_start", int, path, line, what)
    if not text.strip():
        raise DatasetError(path, line, f"{what}: the answer text is empty")
    if context[start : start + len(text)] == text and start >= 0:
        return {"text": text, "answer_start": start}
    found = context[max(start, 0) : max(start, 0) + len(text)]
    problem = (
        f"{what}: the answer {text!r} does not occur at answer_start {start} of its context "
        f"(the context has {found!r} there)"
    )
    positions = [m.start() for m in re.finditer(re.escape(text), context)]
    if positions:
        nearest = min(positions, key=lambda p: abs(p - start))
        problem += f"; it occurs at {nearest}: fix answer_start"
    else:
        problem += "; it does not occur anywhere in the context: fix the answer or the context"
    raise DatasetError(path, line, problem)


def read_squad(path: str | os.PathLike) -> list[QAExample]:
    """The questions of a SQuAD v1.1 JSON file, in file order.

    Raises:
        DatasetError: naming the file, and the line and question id where it can, for invalid
            JSON, a missing or mistyped key, an answer that does not occur at its
            ``answer_start``, an unanswerable (v2.0) question, a repeated id, or no questions.
    """
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DatasetError(path, None, f"not UTF-8 text ({error.reason})") from None
    try:
        dataset = json.loads(raw)
    except json.JSONDecodeError as error:
        raise DatasetError(
            path, error.lineno, f"not valid JSON: {error.msg} (column {error.colno})"
        ) from None
    articles = _require(dataset, "data", list, path, None, "the top level")
    lines = _id_lines(raw)
    examples, seen = [], {}
    for a, article in enumerate(articles):
        paragraphs = _require(article, "paragraphs", list, path, None, f"article {a}")
        for p, paragraph in enumerate(paragraphs):
            what = f"article {a}, paragraph {p}"
            context = _require(paragraph, "context", str, path, None, what)
            for q, qa in enumerate(_require(paragraph, "qas", list, path, None, what)):
                question_id = _require(qa, "id", str, path, None, f"{what}, question {q}")
                line = lines.get(question_id)
                what_q = f"question {question_id!r} ({what})"
                if question_id in seen:
                    raise DatasetError(
                        path, line, f"{what_q}: the id is used twice (first on line "
                        f"{seen[question_id]}); question ids must be unique"
                    )  # fmt: skip
                seen[question_id] = line
                question = _require(qa, "question", str, path, line, what_q)
                if qa.get("is_impossible"):
                    raise DatasetError(
                        path, line, f"{what_q} is marked is_impossible (SQuAD v2.0): this task "
                        "reads SQuAD v1.1, where every question has an answer in its context; "
                        "remove unanswerable questions"
                    )  # fmt: skip
                answers = []
                if "answers" in qa:
                    given = _require(qa, "answers", list, path, line, what_q)
                    if not given:
                        raise DatasetError(
                            path, line, f'{what_q} has an empty "answers" list; give at least one '
                            'answer, or leave the key out for an unlabelled question'
                        )  # fmt: skip
                    answers = [_check_answer(x, context, path, line, what_q) for x in given]
                where = f"{path}:{line}" if line is not None else f"{path} ({what_q})"
                examples.append(QAExample(question_id, question, context, answers, where))
    if not examples:
        raise DatasetError(path, None, "no questions: the file's data holds no paragraphs with qas")
    return examples
