"""Extractive question answering (SQuAD v1.1): the answer is a span of the context.

The model (``BertForQuestionAnswering``) reads ``[CLS] question [SEP] context [SEP]`` and gives
every token a start score and an end score. Three steps turn that into answers, as transformers'
``run_qa.py`` example does them:

1. windows: a context longer than ``max_seq_length`` is read in overlapping windows, each
   repeating the last ``doc_stride`` tokens of the one before, so that an answer cut by one
   window's edge is whole in the next;
2. labels: the answer's characters are mapped to a start and an end token through each token's
   character offsets; a window that does not hold the whole answer is labelled with the [CLS]
   index 0 for both (the model learns "not here" for it);
3. spans: for each question, over all its windows, the best (start, end) with start <= end,
   at most ``max_answer_length`` tokens, both inside the context, by start logit + end logit
   among the ``n_best_size`` best of each; its offsets give the answer's characters.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from autograd import no_grad
from minibert.finetuning.metrics_squad import squad_evaluate
from minibert.finetuning.squad_reader import QAExample, read_squad
from minibert.finetuning.task import DatasetError, Features, Task
from minibert.modeling import BertForQuestionAnswering
from minibert.scoring import softmax

CLS_INDEX = 0  # the label of a window that does not hold the answer
LEXICAL_FIT_SAMPLE = 300  # training questions that choose the lexical baseline's window


def default_doc_stride(max_seq_length: int) -> int:
    """The overlap when none is given: a quarter of the window, at most 128 (run_qa's value)."""
    return min(128, max_seq_length // 4)


def token_span(
    offsets: Sequence[tuple[int, int]],
    sequence_ids: Sequence[int | None],
    start_char: int,
    end_char: int,
) -> tuple[int, int]:
    """The first and last token of the answer ``[start_char, end_char)`` in one window.

    Returns ``(CLS_INDEX, CLS_INDEX)`` when the window's context does not hold the whole answer.

    Shapes:
        offsets and sequence_ids: one entry per token of the window (T,).
    """
    context = [i for i, s in enumerate(sequence_ids) if s == 1]
    first, last = context[0], context[-1]
    if offsets[first][0] > start_char or offsets[last][1] < end_char:
        return CLS_INDEX, CLS_INDEX
    start = first
    while start <= last and offsets[start][0] <= start_char:
        start += 1
    end = last
    while end >= first and offsets[end][1] >= end_char:
        end -= 1
    return start - 1, end + 1


def _check_room(examples: Sequence[QAExample], tokenizer, max_seq_length: int, stride: int):
    """Every question must leave the context more than ``stride`` tokens of each window."""
    lengths = tokenizer([e.question for e in examples], add_special_tokens=False)["input_ids"]
    special = tokenizer.num_special_tokens_to_add(pair=True)
    for example, ids in zip(examples, lengths, strict=True):
        room = max_seq_length - len(ids) - special
        if room <= stride:
            raise DatasetError(
                example.where, None,
                f"question {example.id!r} has {len(ids)} tokens, which leaves {room} of the "
                f"{max_seq_length} tokens of a window for the context, not more than doc_stride "
                f"{stride}; shorten the question, raise max_seq_length or lower doc_stride",
            )  # fmt: skip


def encode_windows(
    examples: Sequence[QAExample],
    tokenizer,
    max_seq_length: int,
    doc_stride: int,
    with_targets: bool = True,
) -> Features:
    """Tokenize (question, context) pairs into overlapping windows, with span labels.

    Returns ``Features`` whose ``example_index`` maps each window to its example, whose
    ``extra["offset_mapping"]`` holds each token's character span in the context (None for the
    question and special tokens, so that no answer can start there) and, with targets,
    ``start_positions`` and ``end_positions`` (the first answer's tokens, or 0 and 0).

    Shapes:
        N windows for E examples (N >= E); token rows of length <= max_seq_length; targets (N,).
    """
    _check_room(examples, tokenizer, max_seq_length, doc_stride)
    encoded = tokenizer(
        [e.question.lstrip() for e in examples],  # leading spaces only waste window room
        [e.context for e in examples],
        truncation="only_second",
        max_length=max_seq_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    example_index = np.asarray(encoded["overflow_to_sample_mapping"], dtype=np.int64)  # (N,)
    offsets, starts, ends = [], [], []
    for row, k in enumerate(example_index):
        sequence_ids = encoded.sequence_ids(row)
        row_offsets = [tuple(o) for o in encoded["offset_mapping"][row]]
        offsets.append(
            [o if s == 1 else None for o, s in zip(row_offsets, sequence_ids, strict=True)]
        )
        if with_targets:
            example = examples[k]
            if not example.answers:
                raise DatasetError(
                    example.where, None, f"question {example.id!r} has no answer to train on"
                )
            answer = example.answers[0]
            start_char = answer["answer_start"]
            span = token_span(
                row_offsets, sequence_ids, start_char, start_char + len(answer["text"])
            )
            starts.append(span[0])
            ends.append(span[1])
    targets = {}
    if with_targets:
        targets = {
            "start_positions": np.asarray(starts, dtype=np.int64),
            "end_positions": np.asarray(ends, dtype=np.int64),
        }
    tokens = {k: list(encoded[k]) for k in ("input_ids", "token_type_ids", "attention_mask")}
    return Features(
        tokens=tokens,
        targets=targets,
        example_index=example_index,
        extra={"offset_mapping": offsets},
        pad_token_id=tokenizer.pad_token_id,
    )


def postprocess_qa_predictions(
    examples: Sequence[QAExample],
    features: Features,
    start_logits: Sequence[np.ndarray],
    end_logits: Sequence[np.ndarray],
    n_best_size: int = 20,
    max_answer_length: int = 30,
) -> list[dict]:
    """The best answer span of every example, over all of its windows.

    Candidates are the ``n_best_size`` best starts times the ``n_best_size`` best ends of each
    window, kept when both lie in the context, start <= end and the span has at most
    ``max_answer_length`` tokens; the winner has the largest start logit + end logit. Its
    ``score`` is the probability of the span as transformers' QA pipeline reports it: the
    product of the start and end softmaxes over the window's context tokens and [CLS].

    Returns:
        per example ``{"id", "answer", "score", "start", "end"}`` with character offsets into
        its context; an empty answer with score 0 when no window has a valid span.

    Shapes:
        start_logits[i], end_logits[i]: (T_i,) for window i (its own, unpadded length).
    """
    windows = defaultdict(list)
    for row, k in enumerate(features.example_index):
        windows[int(k)].append(row)
    predictions = []
    for k, example in enumerate(examples):
        best = None  # (logit sum, probability, start char, end char)
        for row in windows[k]:
            offsets = features.extra["offset_mapping"][row]
            starts = np.asarray(start_logits[row], dtype=np.float64)  # (T,)
            ends = np.asarray(end_logits[row], dtype=np.float64)  # (T,)
            allowed = np.array([o is not None for o in offsets])
            allowed[CLS_INDEX] = True  # the pipeline normalizes over the context and [CLS]
            p_start = softmax(np.where(allowed, starts, -np.inf))
            p_end = softmax(np.where(allowed, ends, -np.inf))
            for s in np.argsort(-starts, kind="stable")[:n_best_size]:
                for e in np.argsort(-ends, kind="stable")[:n_best_size]:
                    if offsets[s] is None or offsets[e] is None:
                        continue
                    if e < s or e - s + 1 > max_answer_length:
                        continue
                    total = starts[s] + ends[e]
                    if best is None or total > best[0]:
                        best = (total, p_start[s] * p_end[e], offsets[s][0], offsets[e][1])
        if best is None:
            predictions.append({"id": example.id, "answer": "", "score": 0.0, "start": 0, "end": 0})
            continue
        _, probability, start, end = best
        predictions.append(
            {
                "id": example.id,
                "answer": example.context[start:end],
                "score": float(probability),
                "start": int(start),
                "end": int(end),
            }
        )
    return predictions


@no_grad()
def window_logits(model, features: Features, batch_size: int) -> tuple[list, list]:
    """The start and end logits of every window, each cut to the window's own length.

    Shapes:
        returns two lists of N arrays, the i-th (T_i,).
    """
    was_training = model.training
    model.eval()
    starts, ends = [None] * len(features), [None] * len(features)
    try:
        for rows, inputs in features.batches(batch_size):
            for target in features.targets:
                inputs.pop(target)  # the model would compute a loss that nobody reads
            out = model(**inputs)
            for i, row in enumerate(rows):
                length = len(features.tokens["input_ids"][row])
                starts[row] = np.asarray(out.start_logits.data[i, :length])  # (T,)
                ends[row] = np.asarray(out.end_logits.data[i, :length])  # (T,)
    finally:
        model.train(was_training)
    return starts, ends


# Words that say nothing about where the answer is; the lexical baseline neither counts them
# as matches nor lets an answer start or end with them.
STOP_WORDS = frozenset(
    "a an the in on at to of and or as by for from with was were is are be been did do does "
    "what which who whom whose when where how many much why he she it they his her its their "
    "later".split()
)
_WORD = re.compile(r"\w+")
_PHRASE_BREAK = re.compile(r"[^\w\s]")


def lexical_answer(question: str, context: str, max_words: int = 3, window: int = 4) -> str:
    """The sliding-window baseline of the SQuAD paper (after Richardson et al., 2013).

    Every span of 1..``max_words`` context words that shares no word with the question, does
    not start or end with a stop word and does not cross punctuation is a candidate. Its score
    is the sum, over the distinct question words found within ``window`` words on either side,
    of ``log(1 + 1 / count)`` (count: the word's occurrences in the context, so rare words
    weigh more). The best candidate wins; ties go to the earliest, then the shortest.
    """
    words = [(m.group().lower(), m.start(), m.end()) for m in _WORD.finditer(context)]
    asked = {w.lower() for w in _WORD.findall(question)} - STOP_WORDS
    counts = Counter(w for w, _, _ in words)
    best, best_score = "", -1.0
    for i in range(len(words)):
        for j in range(i, min(i + max_words, len(words))):
            span = [w for w, _, _ in words[i : j + 1]]
            if asked & set(span) or span[0] in STOP_WORDS or span[-1] in STOP_WORDS:
                continue
            if _PHRASE_BREAK.search(context, words[i][2], words[j][1]):
                continue  # a span across punctuation ("clocks. She") is no phrase
            near = {w for w, _, _ in words[max(0, i - window) : j + 1 + window]} & asked
            score = sum(math.log(1 + 1 / counts[w]) for w in near)
            if score > best_score:
                best, best_score = context[words[i][1] : words[j][2]], score
    return best


class QuestionAnsweringTask(Task):
    """Extractive QA on SQuAD v1.1 files; the metric is SQuAD F1 (in percent).

    Args:
        doc_stride: tokens shared by consecutive windows of a long context; None: a quarter of
            ``max_seq_length``, at most 128.
        max_answer_length: the longest answer predicted, in tokens.
        n_best_size: the starts and ends considered per window.
    """

    name = "qa"
    model_class = BertForQuestionAnswering
    metric = "f1"
    baseline_name = "empty answer"

    def __init__(
        self, doc_stride: int | None = None, max_answer_length: int = 30, n_best_size: int = 20
    ):
        if doc_stride is not None and doc_stride < 0:
            raise ValueError(f"doc_stride must be at least 0, got {doc_stride}")
        if max_answer_length < 1 or n_best_size < 1:
            raise ValueError("max_answer_length and n_best_size must be at least 1")
        self.doc_stride = doc_stride
        self.max_answer_length = max_answer_length
        self.n_best_size = n_best_size

    def read(self, path: str | os.PathLike) -> list[QAExample]:
        return read_squad(path)

    def num_labels(self, label_names) -> int:
        return 2  # a start and an end score per token

    def stride_for(self, max_seq_length: int) -> int:
        """The doc_stride used with windows of ``max_seq_length`` tokens."""
        if self.doc_stride is None:
            return default_doc_stride(max_seq_length)
        return self.doc_stride

    def encode(self, examples, tokenizer, max_seq_length, label2id=None, with_targets=True):
        stride = self.stride_for(max_seq_length)
        return encode_windows(examples, tokenizer, max_seq_length, stride, with_targets)

    def predict(self, model, features, examples, batch_size):
        starts, ends = window_logits(model, features, batch_size)
        return postprocess_qa_predictions(
            examples, features, starts, ends, self.n_best_size, self.max_answer_length
        )

    def evaluate(self, predictions, examples) -> dict[str, float]:
        gold = {}
        for example in examples:
            if not example.answers:
                raise DatasetError(
                    example.where, None, f"question {example.id!r} has no answers to score against"
                )
            gold[example.id] = [a["text"] for a in example.answers]
        return squad_evaluate({p["id"]: p["answer"] for p in predictions}, gold)

    def baseline(self, train_examples, eval_examples) -> dict[str, float]:
        """The empty answer (EM = F1 = 0) and the lexical sliding window (``lexical_*``).

        The lexical baseline is fitted on the training questions as a baseline may be: its
        longest answer is the longest training answer, in words, and its window (1 to 8 words)
        the one that scores best on up to ``LEXICAL_FIT_SAMPLE`` of them.
        """
        max_words = max(
            (len(_WORD.findall(a["text"])) for e in train_examples for a in e.answers), default=3
        )
        sample = [e for e in train_examples if e.answers][:LEXICAL_FIT_SAMPLE]

        def lexical_scores(examples, window):
            guesses = [
                {"id": e.id, "answer": lexical_answer(e.question, e.context, max_words, window)}
                for e in examples
            ]
            return self.evaluate(guesses, examples)

        window = 4
        if sample:
            window = max(range(1, 9), key=lambda w: lexical_scores(sample, w)["f1"])
        scores = lexical_scores(eval_examples, window)
        empty = self.evaluate([{"id": e.id, "answer": ""} for e in eval_examples], eval_examples)
        return {**empty, **{f"lexical_{k}": v for k, v in scores.items()}}

    def settings(self) -> dict:
        return {
            "doc_stride": self.doc_stride,
            "max_answer_length": self.max_answer_length,
            "n_best_size": self.n_best_size,
        }


def answer(
    model,
    tokenizer,
    question: str,
    context: str,
    max_answer_length: int = 30,
    doc_stride: int | None = None,
    max_seq_length: int | None = None,
) -> dict:
    """The answer to ``question`` in ``context``, as transformers' question-answering pipeline.

    Args:
        model: a ``BertForQuestionAnswering``.
        tokenizer: its ``WordPieceTokenizer``.
        max_answer_length: the longest answer, in tokens.
        doc_stride: the overlap of the windows of a long context (None: a quarter of the
            window, at most 128).
        max_seq_length: the window length (None: the smaller of 384, the tokenizer's
            ``model_max_length`` and the model's ``max_position_embeddings``).

    Returns:
        ``{"answer", "score", "start", "end"}``: the text, its probability, and its character
        offsets in ``context`` (``context[start:end] == answer``).
    """
    for name, text in (("question", question), ("context", context)):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"the {name} is empty; answer() needs a question and a context")
    if max_seq_length is None:
        limits = (384, tokenizer.model_max_length, model.config.max_position_embeddings)
        max_seq_length = min(int(x) for x in limits)
    task = QuestionAnsweringTask(doc_stride, max_answer_length)
    example = QAExample("0", question, context, where="answer()")
    features = task.encode([example], tokenizer, max_seq_length, with_targets=False)
    prediction = task.predict(model, features, [example], batch_size=32)[0]
    return {k: prediction[k] for k in ("answer", "score", "start", "end")}
