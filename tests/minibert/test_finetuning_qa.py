"""Extractive question answering: the SQuAD reader, windows and labels, span selection, SQuAD
EM/F1, the baselines, the ``answer`` pipeline, and one end-to-end fine-tuning run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minibert.config import BertConfig
from minibert.finetuning import DatasetError, Features, get_task
from minibert.finetuning.metrics_squad import (
    exact_match_score,
    f1_score,
    normalize_answer,
    squad_evaluate,
)
from minibert.finetuning.question_answering import (
    QuestionAnsweringTask,
    answer,
    lexical_answer,
    postprocess_qa_predictions,
    token_span,
)
from minibert.finetuning.squad_reader import QAExample, read_squad
from minibert.finetuning.trainer import load_finetuned
from minibert.modeling import BertForQuestionAnswering
from minibert.tokenization import WordPieceTokenizer
from tests.helpers import run_python_on_one_thread

DATA = Path(__file__).resolve().parents[2] / "minibert" / "data" / "tasks" / "qa"
CONTEXT = "Mara Quill was born in Eastvale in 1894. She trained as a glassblower."


def squad(qas, context=CONTEXT) -> dict:
    return {
        "version": "1.1",
        "data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}],
    }


def qa(qid, question, text, start) -> dict:
    return {"id": qid, "question": question, "answers": [{"text": text, "answer_start": start}]}


def write(tmp_path, content, name="data.json") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content, indent=1))
    return path


@pytest.fixture(scope="module")
def train_examples():
    return read_squad(DATA / "train.json")


@pytest.fixture(scope="module")
def tokenizer(train_examples):
    """A vocabulary trained on the training texts, as a model from scratch would use."""
    texts = sorted({e.context for e in train_examples}) + [e.question for e in train_examples]
    return WordPieceTokenizer.train(iter(texts), vocab_size=800, show_progress=False)


# ---------------------------------------------------------------------------------- metrics
def test_normalization_is_the_official_one():
    assert normalize_answer("The  Quick, brown fox!") == "quick brown fox"
    assert normalize_answer("An apple a day") == "apple day"
    assert normalize_answer("theatre") == "theatre"  # articles only as whole words
    assert normalize_answer("U.S.A.") == "usa"


def test_exact_match_and_f1_by_hand():
    assert exact_match_score("the Eastvale.", "Eastvale") == 1.0
    assert exact_match_score("Eastvale in 1894", "Eastvale") == 0.0
    # 4 predicted tokens (in, eastvale, in, 1894), 2 gold, 2 shared: P = 1/2, R = 1, F1 = 2/3.
    assert f1_score("in Eastvale in 1894", "Eastvale 1894") == pytest.approx(2 / 3)
    # A bag of tokens: "1894" is shared once, not twice.
    assert f1_score("1894 1894", "1894") == pytest.approx(2 / 3)
    assert f1_score("", "1894") == 0.0 and exact_match_score("", "1894") == 0.0
    assert f1_score("Tobin", "Mara Quill") == 0.0


def test_squad_evaluate_takes_the_best_gold_answer_and_reports_percent():
    gold = {"q1": ["Quill"], "q2": ["in 1894", "1894"], "q3": ["glassblower"]}
    # q1: EM 0, F1 2/3 (P 1/2, R 1); q2: EM 1, F1 1 (second gold); q3: no prediction, 0.
    scores = squad_evaluate({"q1": "Mara Quill", "q2": "1894"}, gold)
    assert scores["exact_match"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(100 * (2 / 3 + 1) / 3)
    with pytest.raises(ValueError, match="no questions"):
        squad_evaluate({}, {})


# ----------------------------------------------------------------------------------- reader
def test_reader_reads_questions_in_order(tmp_path):
    path = write(tmp_path, squad([qa("a", "Where?", "Eastvale", 23), qa("b", "When?", "1894", 35)]))
    examples = read_squad(path)
    assert [e.id for e in examples] == ["a", "b"]
    assert examples[0].context == CONTEXT and examples[1].answers == [
        {"text": "1894", "answer_start": 35}
    ]
    assert examples[0].where.startswith(f"{path}:")


def test_malformed_json_names_file_and_line(tmp_path):
    path = write(tmp_path, '{"version": "1.1",\n "data": [\n  {"title": "t",,}\n]}')
    with pytest.raises(DatasetError, match=r"data\.json:3: not valid JSON") as error:
        read_squad(path)
    assert error.value.line == 3


def test_answer_not_at_its_start_names_file_line_and_where_it_is(tmp_path):
    content = json.dumps(
        squad([qa("ok", "Where?", "Eastvale", 23), qa("bad", "When?", "1894", 30)])
    )
    content = content.replace('{"id": "bad"', '\n{"id": "bad"')  # the bad question on line 2
    with pytest.raises(DatasetError) as error:
        read_squad(write(tmp_path, content))
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'data.json'}:2:")
    assert "'bad'" in message and "answer_start 30" in message and "occurs at 35" in message


def test_answer_absent_from_the_context(tmp_path):
    with pytest.raises(DatasetError, match="does not occur anywhere in the context"):
        read_squad(write(tmp_path, squad([qa("q", "Where?", "Kelmere", 3)])))


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"version": "1.1"}, 'the top level has no "data" key'),
        ({"data": [{"title": "t"}]}, 'article 0 has no "paragraphs" key'),
        ({"data": [{"paragraphs": [{"qas": []}]}]}, 'paragraph 0 has no "context" key'),
        (squad([{"id": "q", "answers": []}]), "'q'.*no \"question\" key"),
        (squad([{"question": "Who?"}]), 'question 0 has no "id" key'),
        (squad([{"id": "q", "question": "Who?", "answers": [{"text": "Mara"}]}]), "answer_start"),
        (squad([{"id": "q", "question": "Who?", "answers": []}]), 'empty "answers" list'),
        (squad([{"id": "q", "question": 3, "answers": []}]), '"question" should be a str'),
        ({"data": []}, "no questions"),
        (squad([]), "no questions"),
    ],
)
def test_missing_keys_and_empty_datasets_are_named(tmp_path, document, problem):
    with pytest.raises(DatasetError, match=problem):
        read_squad(write(tmp_path, document))


def test_unanswerable_v2_questions_and_repeated_ids_are_rejected(tmp_path):
    v2 = {"id": "q", "question": "Why?", "answers": [], "is_impossible": True}
    with pytest.raises(DatasetError, match="is_impossible.*SQuAD v2.0"):
        read_squad(write(tmp_path, squad([v2])))
    twice = squad([qa("q", "Where?", "Eastvale", 23), qa("q", "When?", "1894", 35)])
    with pytest.raises(DatasetError, match="used twice"):
        read_squad(write(tmp_path, twice))


def test_unlabelled_questions_can_be_read_but_not_scored_or_trained_on(tmp_path, tokenizer):
    examples = read_squad(write(tmp_path, squad([{"id": "q", "question": "Where?"}])))
    assert examples[0].answers == []
    task = QuestionAnsweringTask()
    with pytest.raises(DatasetError, match="no answers to score"):
        task.evaluate([{"id": "q", "answer": "Eastvale"}], examples)
    with pytest.raises(DatasetError, match="no answer to train on"):
        task.encode(examples, tokenizer, 64)
    assert len(task.encode(examples, tokenizer, 64, with_targets=False)) == 1


def test_shipped_dataset_counts():
    train, validation = read_squad(DATA / "train.json"), read_squad(DATA / "validation.json")
    assert len(train) == 1911 and len(validation) == 476  # the figures in the dataset README
    assert all(len(e.answers) == 1 for e in train + validation)


# --------------------------------------------------------------------------- windows, labels
def test_token_span_by_hand():
    # [CLS] where ? [SEP] mara quill was born in eastvale . [SEP]
    sequence_ids = [None, 0, 0, None, 1, 1, 1, 1, 1, 1, 1, None]
    offsets = [(0, 0), (0, 5), (5, 6), (0, 0), (0, 4), (5, 10), (11, 14), (15, 19), (20, 22),
               (23, 31), (31, 32), (0, 0)]  # fmt: skip
    assert token_span(offsets, sequence_ids, 23, 31) == (9, 9)  # "Eastvale"
    assert token_span(offsets, sequence_ids, 0, 10) == (4, 5)  # "Mara Quill"
    # A window whose context ends before the answer does: both labels point at [CLS].
    assert token_span(offsets[:8] + [(0, 0)], sequence_ids[:8] + [None], 23, 31) == (0, 0)


def test_long_contexts_become_overlapping_windows(tokenizer):
    facts = [f"Person{i} Ashdown was born in Town{i} in {1800 + i}." for i in range(12)]
    context = " ".join(facts)
    start = context.index("Town9")
    example = QAExample("q", "Where was Person9 Ashdown born?", context,
                        [{"text": "Town9", "answer_start": start}])  # fmt: skip
    features = QuestionAnsweringTask(doc_stride=8).encode([example], tokenizer, 48)
    assert len(features) > 2 and set(features.example_index) == {0}
    rows = features.tokens["input_ids"]
    labels = list(
        zip(features.targets["start_positions"], features.targets["end_positions"], strict=True)
    )
    for row in range(len(features)):
        assert len(rows[row]) <= 48
        offsets = features.extra["offset_mapping"][row]
        if labels[row] == (0, 0):  # this window does not hold the whole answer
            inside = [o for o in offsets if o is not None]
            assert not (inside[0][0] <= start and start + 5 <= inside[-1][1])
        else:
            s, e = labels[row]
            assert context[offsets[s][0] : offsets[e][1]] == "Town9"
    assert any(label != (0, 0) for label in labels)
    # Consecutive windows share doc_stride context tokens.
    first = [
        t
        for t, o in zip(rows[0], features.extra["offset_mapping"][0], strict=True)
        if o is not None
    ]
    second = [
        t
        for t, o in zip(rows[1], features.extra["offset_mapping"][1], strict=True)
        if o is not None
    ]
    assert first[-8:] == second[:8]


def test_a_question_too_long_for_the_stride_is_named(tokenizer):
    example = QAExample("long", "who " * 40 + "?", CONTEXT, [{"text": "Mara", "answer_start": 0}],
                        where="f.json:7")  # fmt: skip
    with pytest.raises(
        DatasetError,
        match=r"f\.json:7: question 'long' has 41 tokens, which leaves 20 .*doc_stride 20",
    ):
        QuestionAnsweringTask(doc_stride=20).encode([example], tokenizer, 64)


def test_offsets_round_trip_on_every_training_example(train_examples, tokenizer):
    """The labelled token span of each example, mapped back through the offsets, is its answer."""
    features = QuestionAnsweringTask(doc_stride=32).encode(train_examples, tokenizer, 128)
    assert len(features) > len(train_examples)  # some contexts need several windows
    recovered = {}
    for row, k in enumerate(features.example_index):
        s, e = features.targets["start_positions"][row], features.targets["end_positions"][row]
        if s != 0:
            offsets, example = features.extra["offset_mapping"][row], train_examples[k]
            recovered.setdefault(k, example.context[offsets[s][0] : offsets[e][1]])
    assert len(recovered) == len(train_examples)  # every answer is whole in some window
    for k, text in recovered.items():
        assert normalize_answer(text) == normalize_answer(train_examples[k].answers[0]["text"])


WORDS = ["mara", "quill", "was", "born", "in", "eastvale", "glassblower", "1894", ".", ","]


@given(
    words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=80),
    data=st.data(),
    max_seq_length=st.integers(24, 64),
    stride=st.integers(0, 12),
)
def test_every_window_labels_the_answer_or_cls(tokenizer, words, data, max_seq_length, stride):
    """For random contexts, windows and answers: a labelled window's span is the answer; an
    unlabelled one does not hold it whole; and some window labels it when it fits in one."""
    context = " ".join(words)
    starts = [0] + [i + 1 for i, ch in enumerate(context) if ch == " "]
    first = data.draw(st.integers(0, len(words) - 1))
    last = data.draw(st.integers(first, min(len(words) - 1, first + 3)))
    start, end = starts[first], starts[last] + len(words[last])
    gold = context[start:end]
    example = QAExample(
        "q", "Where was Mara born?", context, [{"text": gold, "answer_start": start}]
    )
    features = QuestionAnsweringTask(doc_stride=stride).encode([example], tokenizer, max_seq_length)
    labelled = 0
    for row in range(len(features)):
        offsets = features.extra["offset_mapping"][row]
        s, e = features.targets["start_positions"][row], features.targets["end_positions"][row]
        inside = [o for o in offsets if o is not None]
        if (s, e) == (0, 0):
            assert not (inside[0][0] <= start and end <= inside[-1][1])
        else:
            labelled += 1
            assert s <= e and context[offsets[s][0] : offsets[e][1]] == gold
    # Some window holds the answer whole when the context fits in one window, or when the
    # answer is no longer than the overlap plus one token (windows step by room - stride).
    room = max_seq_length - len(tokenizer.tokenize(example.question)) - 3
    if len(tokenizer.tokenize(context)) <= room or len(tokenizer.tokenize(gold)) <= stride + 1:
        assert labelled >= 1


@given(st.text(max_size=20), st.text(max_size=20))
def test_squad_scores_are_bounded_and_agree(prediction, truth):
    em, f1 = exact_match_score(prediction, truth), f1_score(prediction, truth)
    assert 0.0 <= f1 <= 1.0 and em in (0.0, 1.0)
    assert f1 == pytest.approx(f1_score(truth, prediction))  # F1 is symmetric
    if em and normalize_answer(truth):
        assert f1 == 1.0


# ------------------------------------------------------------------------- span selection
def hand_features(offsets_per_window) -> Features:
    rows = [[0] * len(offsets) for offsets in offsets_per_window]
    return Features(
        tokens={"input_ids": rows},
        example_index=np.zeros(len(rows), dtype=np.int64),
        extra={"offset_mapping": offsets_per_window},
    )


# [CLS] where ? [SEP] mara quill was born in eastvale . [SEP]; None: not in the context.
OFFSETS = [None, None, None, None, (0, 4), (5, 10), (11, 14), (15, 19), (20, 22), (23, 31),
           (31, 32), None]  # fmt: skip
EXAMPLE = QAExample("q", "Where was Mara Quill born?", "Mara Quill was born in Eastvale.")


def test_span_selection_by_hand():
    starts = np.zeros(12)
    ends = np.zeros(12)
    starts[1], ends[1] = 9.0, 9.0  # the question's "where": the best logits, but not context
    starts[9], ends[9] = 3.0, 3.0  # "Eastvale": 3 + 3 = 6
    starts[8], ends[7] = 4.0, 4.0  # ends at "born" before starting at "in": 8, not a span
    starts[4], ends[10] = 3.5, 3.5  # "Mara ... .": 7, but 7 tokens > max_answer_length 1
    (prediction,) = postprocess_qa_predictions(
        [EXAMPLE], hand_features([OFFSETS]), [starts], [ends], max_answer_length=1
    )
    assert prediction["answer"] == "Eastvale"
    assert (prediction["start"], prediction["end"]) == (23, 31)
    # The score is the pipeline's probability: softmax over [CLS] and the 7 context tokens.
    # Starts: e^3 at "Eastvale", e^4 at "in", e^3.5 at "Mara", and e^0 at the 5 others; the
    # ends have the same values at other places, so the same sum.
    p_start = math.exp(3) / (math.exp(3) + math.exp(3.5) + math.exp(4) + 5)
    assert prediction["score"] == pytest.approx(p_start * p_start)


def test_the_answer_in_the_second_window_is_found():
    # Two windows of the same example; the second holds the answer with the larger logits.
    context = "Tobin Ash was born in Kelmere. Mara Quill was born in Eastvale."
    first = [None, None, (0, 5), (6, 9), (10, 13), (14, 18), (19, 21), (22, 29), None]
    second = [None, None, (22, 29), (29, 30), (31, 35), (36, 41), (42, 45), (46, 50),
              (51, 53), (54, 62), None]  # fmt: skip
    start1, end1 = np.zeros(9), np.zeros(9)
    start1[7], end1[7] = 2.0, 2.0  # "Kelmere": 4
    start2, end2 = np.zeros(11), np.zeros(11)
    start2[9], end2[9] = 2.5, 2.5  # "Eastvale": 5
    example = QAExample("q", "Where was Mara Quill born?", context)
    (prediction,) = postprocess_qa_predictions(
        [example], hand_features([first, second]), [start1, start2], [end1, end2]
    )
    assert prediction["answer"] == "Eastvale" and prediction["start"] == 54


def test_no_valid_span_gives_the_empty_answer():
    offsets = [None, None, (0, 4), None]
    starts, ends = np.array([0.0, 0, 0, 0]), np.array([0.0, 0, 0, 0])
    (prediction,) = postprocess_qa_predictions(
        [EXAMPLE], hand_features([offsets]), [starts], [ends], n_best_size=1
    )  # the single best start and end ([CLS]) are not in the context
    assert prediction == {"id": "q", "answer": "", "score": 0.0, "start": 0, "end": 0}


# -------------------------------------------------------------------------------- baselines
def test_lexical_baseline_by_hand():
    context = "Mara Quill was born in Eastvale. Tobin Ash was born in Kelmere."
    # "Eastvale" has "quill" (weight log 2) and "born" (log 1.5) within 4 words; "Tobin",
    # "Ash" and "Kelmere" only "born"; "Mara" and "Quill" are in the question.
    assert lexical_answer("Where was Mara Quill born?", context, window=4) == "Eastvale"


def test_baselines_of_the_task(train_examples):
    validation = read_squad(DATA / "validation.json")
    scores = QuestionAnsweringTask().baseline(train_examples, validation)
    assert scores["exact_match"] == scores["f1"] == 0.0  # the empty answer
    assert 0 < scores["lexical_f1"] < 50


# --------------------------------------------------------------------------------- pipeline
def test_answer_pipeline_returns_a_span_of_the_context(tokenizer):
    config = BertConfig.preset("tiny", vocab_size=len(tokenizer), hidden_size=32,
                               num_attention_heads=2, intermediate_size=64)  # fmt: skip
    model = BertForQuestionAnswering(config, seed=0)
    context = " ".join([CONTEXT] * 8)  # longer than one window of 64 tokens
    result = answer(model, tokenizer, "Where was Mara Quill born?", context, max_seq_length=64)
    assert set(result) == {"answer", "score", "start", "end"}
    assert result["answer"] and context[result["start"] : result["end"]] == result["answer"]
    assert 0 < result["score"] <= 1
    assert model.training  # the pipeline restores the mode it found
    with pytest.raises(ValueError, match="question is empty"):
        answer(model, tokenizer, "  ", context)


def test_registered_and_settings_saved():
    task = get_task("qa", doc_stride=32)
    assert isinstance(task, QuestionAnsweringTask)
    assert task.settings()["doc_stride"] == 32 and task.num_labels(None) == 2
    assert QuestionAnsweringTask().stride_for(128) == 32
    assert QuestionAnsweringTask().stride_for(512) == 128


# ------------------------------------------------------------------------------ end to end
# Fine-tuning runs in a child process with one BLAS/OpenMP/Numba thread: the matrices of a model
# this small are too small to share between threads, and on a busy 2-core machine threads that
# wait for each other's time slices make the run many times slower.
FINETUNE = """
import json, sys
from minibert.config import BertConfig
from minibert.finetuning.question_answering import QuestionAnsweringTask
from minibert.finetuning.trainer import FinetuningArguments, build_model, finetune
from minibert.tokenization import WordPieceTokenizer

data, out, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
task = QuestionAnsweringTask(doc_stride=32)
# Paragraphs about one or two people, so that a few hundred steps suffice; the dataset README
# gives the figures of the full recipe on every paragraph.
def few_people(examples):
    return [e for e in examples if e.context.count(" was born in ") <= 2]
train = few_people(task.read(f"{data}/train.json"))
validation = few_people(task.read(f"{data}/validation.json"))
texts = sorted({e.context for e in train}) + [e.question for e in train]
tokenizer = WordPieceTokenizer.train(iter(texts), vocab_size=800, show_progress=False)
config = BertConfig.preset("tiny", vocab_size=len(tokenizer), hidden_size=64,
                           num_attention_heads=4, intermediate_size=256,
                           hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
model = build_model(task, config, None, seed=0)
args = FinetuningArguments(max_steps=steps, eval_every=steps, learning_rate=3e-3, batch_size=16,
                           patience=0)
finetune(task, model, tokenizer, train, validation, args, out, progress=False)
"""


def test_fine_tuning_from_scratch_beats_the_empty_and_lexical_baselines(tmp_path):
    """A tiny BERT (vocabulary and all) fine-tuned from random weights on the shipped data."""
    run_python_on_one_thread(FINETUNE, str(DATA), str(tmp_path), "600")
    summary = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))
    best, baseline = summary["best_metrics"], summary["baseline"]
    assert baseline["exact_match"] == baseline["f1"] == 0.0  # the empty answer
    # measured: F1 35.3 (EM 33.7) against 19.0 (EM 18.6) for the lexical baseline
    assert best["f1"] > baseline["lexical_f1"] + 8, summary
    assert best["exact_match"] > baseline["lexical_exact_match"] + 8, summary
    model, tokenizer, task = load_finetuned(tmp_path / "best")
    context = "Mara Quill was born in Eastvale in 1894. She trained as a glassblower."
    result = answer(model, tokenizer, "When was Mara Quill born?", context)
    assert context[result["start"] : result["end"]] == result["answer"]
