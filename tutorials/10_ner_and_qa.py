# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 10 · Named entities and question answering
#
# Tutorial 09 put one linear layer on the pooled `[CLS]` state and classified whole texts. Two
# of BERT's best-known uses need an answer *per token* instead: named-entity recognition (a tag
# for every word: is "Washington" a person, a place, or neither?) and extractive question
# answering (which span of a paragraph answers the question?). The model changes by one line
# each: a linear layer on *every* token's final state. What changes a lot is the bookkeeping
# between words, word pieces, characters and windows, and that is where the bugs hide, so this
# tutorial is mostly about it.
#
# **Goals.** By the end you can
#
# 1. align word-level tags with WordPiece tokens (the label on a word's *first* sub-token, -100
#    on the others), decode BIO tags into entities, and score entities as seqeval does;
# 2. fine-tune a tagger and read its entity F1 against two baselines (all `O`; each word's most
#    frequent training tag);
# 3. cut a long context into overlapping windows (`doc_stride`), map an answer's characters to
#    start and end tokens through the offsets, and label windows that miss the answer with
#    `[CLS]`;
# 4. pick the best span from start and end logits over all windows, map it back to characters,
#    and score it with SQuAD's exact match and F1 against the empty and a lexical baseline.
#
# **Prerequisites.** Tutorial 06 (WordPiece, offsets), 08 (training from scratch, baselines)
# and 09 (fine-tuning with `finetune`).
#
# **Run time.** About 40 to 80 seconds as a script
# (`.venv/bin/python tutorials/10_ner_and_qa.py`), most of it the two fine-tuning runs.
#
# Cells marked **checkpoint** end in `assert`s: if they pass, what the text claims is true on
# your machine too.

# %%
from course import pyplot, save_figure, use_one_thread  # tutorials/course.py

# One thread for BLAS and Numba, before NumPy loads: tutorial 08 explains why a model this
# small trains faster on one thread than on two busy cores.
use_one_thread()

import math  # noqa: E402  (the thread settings above must come first)
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import minibert  # noqa: E402
from minibert.config import BertConfig  # noqa: E402
from minibert.finetuning.metrics_entities import get_entities  # noqa: E402
from minibert.finetuning.metrics_squad import f1_score, normalize_answer  # noqa: E402
from minibert.finetuning.question_answering import (  # noqa: E402
    QuestionAnsweringTask,
    answer,
    lexical_answer,
    token_span,
    window_logits,
)
from minibert.finetuning.squad_reader import QAExample  # noqa: E402
from minibert.finetuning.token_classification import TokenClassificationTask, tag  # noqa: E402
from minibert.finetuning.trainer import FinetuningArguments, build_model, finetune  # noqa: E402
from minibert.modeling.models import IGNORE_INDEX  # noqa: E402
from minibert.tokenization import WordPieceTokenizer  # noqa: E402

plt = pyplot()  # None without matplotlib: the tutorial still runs, just without pictures

DATA = Path(minibert.__file__).resolve().parent / "data" / "tasks"
work_dir = tempfile.TemporaryDirectory()  # fine-tuning outputs; removed when we are done
WORK = Path(work_dir.name)
started = time.perf_counter()

# %% [markdown]
# ## Part 1 · Named-entity recognition
#
# ### 1.1 The data, and tags that belong to words
#
# The shipped NER data (`minibert/data/tasks/ner/`, generated; its README tells how) is in
# CoNLL format: a word and its tag per line. Tags use the **BIO** scheme: `B-PER` begins a
# person, `I-PER` continues it, `O` is outside any entity.

# %%
ner = TokenClassificationTask()
ner_train = ner.read(DATA / "ner" / "train.conll")
ner_validation = ner.read(DATA / "ner" / "validation.conll")[:250]  # a slice: faster to score
labels = ner.label_names(ner_train)
sentence = ner_train[0]
print(len(ner_train), "training sentences; labels:", labels)
print(list(zip(sentence.words, sentence.tags, strict=True)))

# %% [markdown]
# The tokenizer, though, cuts words into pieces, and the model gives one output per *piece*.
# transformers' `run_ner` recipe, which we follow: the word's tag goes on its **first** piece;
# the other pieces, `[CLS]` and `[SEP]` get -100, the index the cross-entropy ignores, so they
# carry no loss and no vote. `word_ids()` says which word each token came from.

# %%
ner_tokenizer = WordPieceTokenizer.train(
    iter(" ".join(s.words) for s in ner_train), vocab_size=1000, show_progress=False
)
example = next(s for s in ner_train if any(len(ner_tokenizer.tokenize(w)) > 1 for w in s.words))
encoded = ner_tokenizer(example.words, is_split_into_words=True)
word_ids = encoded.word_ids()
tokens = encoded.tokens()
label2id = {name: i for i, name in enumerate(labels)}
aligned, previous = [], None
for word in word_ids:
    first_piece = word is not None and word != previous
    aligned.append(label2id[example.tags[word]] if first_piece else IGNORE_INDEX)
    previous = word
rows = [
    (token, "-" if w is None else str(w), str(a), labels[a] if a != IGNORE_INDEX else "(ignored)")
    for token, w, a in zip(tokens, word_ids, aligned, strict=True)
]
print(f"{'token':>14} {'word':>5} {'label':>6}  tag")
for row in rows:
    print(f"{row[0]:>14} {row[1]:>5} {row[2]:>6}  {row[3]}")

# %% [markdown]
# **Checkpoint.** Exactly one labelled token per word, and the task's own encoder
# (`TokenClassificationTask.encode`) puts the same labels.

# %%
assert sum(a != IGNORE_INDEX for a in aligned) == len(example.words)
features = ner.encode([example], ner_tokenizer, 64, label2id)
assert features.tokens["labels"][0] == aligned

if plt is not None:
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(rows) + 0.6))
    ax.axis("off")
    table = ax.table(cellText=rows, colLabels=["token", "word", "label", "tag"], loc="center")
    for (r, _), cell in table.get_celld().items():
        if r > 0 and rows[r - 1][2] == str(IGNORE_INDEX):
            cell.set_facecolor("#eeeeee")  # the grey rows carry no loss
    ax.set_title("first-sub-token alignment: grey rows are ignored (-100)")
    save_figure(fig, "10_ner_alignment.png")

# %% [markdown]
# ### 1.2 From tags to entities, and scoring them
#
# NER is scored on whole **entities**, not tags: `B-PER I-PER` ("George Washington") is one
# entity, and a prediction of `B-PER O` finds a different one ("George") and gets no credit.
# `get_entities` reads spans as seqeval does: `B-X` begins an entity, `I-X` continues one of
# type X and otherwise *begins* one, `O` ends it.

# %%
demo = ["B-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-ORG"]
print(get_entities(demo))
# checkpoint: the stray I-LOC begins an entity; B-LOC right after it begins another
assert get_entities(demo) == [("PER", 0, 2), ("LOC", 3, 4), ("LOC", 4, 5), ("ORG", 5, 6)]

# %% [markdown]
# Two baselines set the bar. Tagging everything `O` finds no entity (F1 0). Tagging each word
# with the tag it had most often in training is much stronger: it knows every name it saw, so
# the model must beat it by reading *context* (an ambiguous "Washington") and by guessing
# unseen names from the words around them.

# %%
ner_baseline = ner.baseline(ner_train, ner_validation)
print(f"all-O F1 {ner_baseline['f1']:.3f}; most frequent tag per word F1 "
      f"{ner_baseline['per_word_f1']:.3f}")  # fmt: skip

# %% [markdown]
# ### 1.3 Fine-tune a tagger
#
# `BertForTokenClassification` is BERT plus one linear layer on every token (tutorial 09's
# layer, applied T times). From scratch, as in 08 and 09: random weights, a vocabulary trained
# on the training words.

# %%
ner_config = BertConfig.preset("tiny", vocab_size=len(ner_tokenizer), max_position_embeddings=64)
ner_model = build_model(ner, ner_config, labels)
ner_args = FinetuningArguments(max_steps=240, learning_rate=2e-3, batch_size=16, eval_every=120,
                               patience=0, max_seq_length=64)  # fmt: skip
ner_summary = finetune(
    ner, ner_model, ner_tokenizer, ner_train, ner_validation, ner_args, WORK / "ner",
    progress=False,
)  # fmt: skip
ner_best = ner_summary["best_metrics"]
print(f"entity F1 {ner_best['f1']:.3f} after {ner_summary['best_step']} steps "
      f"({ner_summary['seconds']:.0f} s)")  # fmt: skip
for entity in tag(ner_model, ner_tokenizer, "Jennifer Lopez flew to Oslo on Monday ."):
    print(entity)

# %% [markdown]
# **Checkpoint.** The tagger beats both baselines.

# %%
assert ner_best["f1"] > ner_baseline["per_word_f1"] > ner_baseline["f1"] == 0

# %% [markdown]
# ## Part 2 · Extractive question answering
#
# ### 2.1 SQuAD: a question, a paragraph, and an answer that is a span of it
#
# SQuAD-format data gives each answer as its text and its **character** offset in the
# paragraph. The shipped data (`minibert/data/tasks/qa/`, generated) tells invented lives,
# several people per paragraph, mostly through "she" and "he".

# %%
qa = QuestionAnsweringTask(doc_stride=32)
qa_train = qa.read(DATA / "qa" / "train.json")
qa_validation = qa.read(DATA / "qa" / "validation.json")
first = qa_train[0]
gold = first.answers[0]
print(first.context[:200], "...")
print(first.question, "->", gold)
assert (
    first.context[gold["answer_start"] : gold["answer_start"] + len(gold["text"])] == gold["text"]
)

# %% [markdown]
# ### 2.2 Long contexts become overlapping windows
#
# The model reads `[CLS] question [SEP] context [SEP]`, at most `max_seq_length` tokens. A
# longer context is cut into **windows**: each holds as much context as fits beside the
# question, and each starts `doc_stride` tokens before the previous one ended, so an answer cut
# by one window's edge is whole in the next. The tokenizer does it, as transformers' does:
# `tokenizer(questions, contexts, truncation="only_second", max_length=..., stride=...,
# return_overflowing_tokens=True, return_offsets_mapping=True)`.
#
# Each token's **offsets** are its characters in the context, so the answer's characters map
# to a start and an end token. A window that does not hold the whole answer is labelled with
# the `[CLS]` index (0) for both: "not in here".

# %%
qa_texts = sorted({e.context for e in qa_train}) + [e.question for e in qa_train]
qa_tokenizer = WordPieceTokenizer.train(iter(qa_texts), vocab_size=800, show_progress=False)
long_example = max(qa_train, key=lambda e: len(e.context))
windows = qa.encode([long_example], qa_tokenizer, max_seq_length=64)  # short, to see several
print(f"{len(qa_tokenizer.tokenize(long_example.context))} context tokens -> {len(windows)} "
      f"windows of at most 64 tokens (question included), stride {qa.doc_stride}")  # fmt: skip
spans = []  # per window: its first and last context character, and its labels
for row in range(len(windows)):
    offsets = [o for o in windows.extra["offset_mapping"][row] if o is not None]
    label = (
        int(windows.targets["start_positions"][row]),
        int(windows.targets["end_positions"][row]),
    )
    spans.append((offsets[0][0], offsets[-1][1], label))
    print(f"window {row}: characters {offsets[0][0]:4d}-{offsets[-1][1]:4d}, labels {label}")

# %% [markdown]
# **Checkpoint.** Consecutive windows share `doc_stride` tokens; a window that holds the
# answer labels exactly its tokens; the others point at `[CLS]`.

# %%
answer_start = long_example.answers[0]["answer_start"]
answer_end = answer_start + len(long_example.answers[0]["text"])
for row, (begin, end, label) in enumerate(spans):
    holds = begin <= answer_start and answer_end <= end
    assert holds == (label != (0, 0))
    if holds:
        offsets = windows.extra["offset_mapping"][row]
        start_char, end_char = offsets[label[0]][0], offsets[label[1]][1]
        assert long_example.context[start_char:end_char] == long_example.answers[0]["text"]
context_tokens = [
    [t for t, o in zip(windows.tokens["input_ids"][r], windows.extra["offset_mapping"][r],
                       strict=True) if o is not None]
    for r in range(len(windows))
]  # fmt: skip
assert all(
    a[-qa.doc_stride :] == b[: qa.doc_stride]
    for a, b in zip(context_tokens, context_tokens[1:], strict=False)
)

if plt is not None:
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(spans) + 1.2))
    for row, (begin, end, label) in enumerate(spans):
        color = "tab:green" if label != (0, 0) else "tab:gray"
        ax.barh(row, end - begin, left=begin, color=color, alpha=0.6)
    ax.axvspan(answer_start, answer_end, color="tab:red", alpha=0.4, label="answer")
    ax.set_yticks(range(len(spans)), [f"window {r}" for r in range(len(spans))])
    ax.invert_yaxis()
    ax.set_xlabel("character of the context")
    ax.set_title("windows of 64 tokens, overlapping by doc_stride = 32 (green: holds the answer)")
    ax.legend()
    save_figure(fig, "10_qa_windows.png")

# %% [markdown]
# ### 2.3 Baselines: the empty answer and a sliding window
#
# The empty answer scores 0. A stronger baseline, the SQuAD paper's sliding window: take the
# span of 1 to 3 words, not in the question, whose neighbourhood shares the most (rare) words
# with the question. It finds "Eastvale" for "Where was Mara Quill born?" when the answer sits
# next to the name, and fails when the answer is in a "she ..." sentence.

# %%
print(lexical_answer("Where was Mara Quill born?", "Mara Quill was born in Eastvale. "
                     "Tobin Ash was born in Kelmere."))  # fmt: skip


def few_people(examples, most=2):
    """Questions about paragraphs that tell of at most ``most`` people: learnable in seconds."""
    return [e for e in examples if e.context.count(" was born in ") <= most]


qa_train_small, qa_validation_small = few_people(qa_train), few_people(qa_validation)
qa_baseline = qa.baseline(qa_train_small, qa_validation_small)
print({k: round(v, 1) for k, v in qa_baseline.items()})

# %% [markdown]
# ### 2.4 Fine-tune a reader
#
# `BertForQuestionAnswering` is BERT plus one linear layer with two outputs per token: a start
# logit and an end logit; the loss is the mean of the two cross-entropies over positions.
# To stay within a minute we train on the paragraphs about one or two people (the dataset's
# README gives the full run on all of them: F1 35 against 17 in 1,200 steps).

# %%
qa_config = BertConfig.preset(
    "tiny", vocab_size=len(qa_tokenizer), hidden_size=64, num_attention_heads=4,
    intermediate_size=256, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
)  # fmt: skip
qa_model = build_model(qa, qa_config, None)
qa_args = FinetuningArguments(max_steps=600, eval_every=300, learning_rate=3e-3, batch_size=16,
                              patience=0)  # fmt: skip
qa_summary = finetune(
    qa, qa_model, qa_tokenizer, qa_train_small, qa_validation_small, qa_args, WORK / "qa",
    progress=False,
)  # fmt: skip
qa_best = qa_summary["best_metrics"]
print(f"EM {qa_best['exact_match']:.1f}, F1 {qa_best['f1']:.1f} "
      f"({qa_summary['seconds']:.0f} s)")  # fmt: skip

# %% [markdown]
# ### 2.5 From logits to a span
#
# For every window the model gives a start and an end logit per token. The answer is the
# `(start, end)` with the largest start + end logit such that both are context tokens,
# `start <= end`, and the span is at most `max_answer_length` tokens; over all windows of the
# question, the best wins (`postprocess_qa_predictions`, after transformers' `run_qa`). Its
# offsets turn it back into characters. Here are the logits for one validation question about a
# paragraph with two people (right or wrong, it shows how the choice is made):

# %%
probe = next(e for e in qa_validation_small if e.context.count(" was born in ") == 2)
probe_features = qa.encode([probe], qa_tokenizer, 128, with_targets=False)
starts, ends = window_logits(qa_model, probe_features, batch_size=8)
offsets = probe_features.extra["offset_mapping"][0]
context_positions = [i for i, o in enumerate(offsets) if o is not None]
best, best_span = -math.inf, None
for s in context_positions:  # the rule, written out for one window (max_answer_length 30)
    for e in context_positions:
        if s <= e < s + 30 and starts[0][s] + ends[0][e] > best:
            best, best_span = starts[0][s] + ends[0][e], (s, e)
mine = probe.context[offsets[best_span[0]][0] : offsets[best_span[1]][1]]
result = answer(qa_model, qa_tokenizer, probe.question, probe.context, max_seq_length=128)
print(probe.question, "| gold:", probe.answers[0]["text"], "| model:", result)
print("right" if normalize_answer(result["answer"]) == normalize_answer(probe.answers[0]["text"])
      else "wrong: a year, but whose?")  # fmt: skip

# %% [markdown]
# **Checkpoint.** The span written out by hand is the one the pipeline returns, and its
# characters are the answer's.

# %%
assert mine == result["answer"] == probe.context[result["start"] : result["end"]]

if plt is not None:
    tokens = qa_tokenizer.convert_ids_to_tokens(probe_features.tokens["input_ids"][0])
    fig, ax = plt.subplots(figsize=(12, 3.5))
    xs = np.array(context_positions)
    ax.plot(xs, starts[0][xs], marker="o", markersize=3, label="start logit")
    ax.plot(xs, ends[0][xs], marker="o", markersize=3, label="end logit")
    ax.axvspan(best_span[0] - 0.5, best_span[1] + 0.5, color="tab:green", alpha=0.2,
               label=f"chosen span: {mine!r}")  # fmt: skip
    ax.set_xticks(xs, [tokens[i] for i in xs], rotation=90, fontsize=6)
    ax.set_title(probe.question)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, "10_qa_logits.png")

# %% [markdown]
# ### 2.6 Scoring: SQuAD exact match and F1
#
# SQuAD compares answers after **normalization** (lowercase; drop punctuation, the articles
# a/an/the, and extra spaces). Exact match is 1 when the normalized strings are equal; F1
# counts the words they share (as bags). A question scores its best gold answer; the figures
# are means, in percent.

# %%
print(normalize_answer("The Eastvale!"), "|", f1_score("in Eastvale in 1894", "Eastvale"))
print(f"reader: EM {qa_best['exact_match']:.1f} F1 {qa_best['f1']:.1f}")
print(f"lexical: EM {qa_baseline['lexical_exact_match']:.1f} F1 {qa_baseline['lexical_f1']:.1f}")

# %% [markdown]
# **Checkpoint.** The reader beats both baselines clearly.

# %%
assert qa_best["f1"] > qa_baseline["lexical_f1"] + 5 > qa_baseline["f1"] == 0
assert qa_best["exact_match"] > qa_baseline["lexical_exact_match"] + 5

if plt is not None:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    colors = ["gray", "gray", "tab:blue"]
    axes[0].bar(["all O", "per word", "tagger"], [0, ner_baseline["per_word_f1"], ner_best["f1"]],
                color=colors)  # fmt: skip
    axes[0].set_title("NER: entity F1")
    axes[1].bar(["empty", "lexical", "reader"], [0, qa_baseline["lexical_f1"], qa_best["f1"]],
                color=colors)  # fmt: skip
    axes[1].set_title("QA: SQuAD F1 (%)")
    fig.tight_layout()
    save_figure(fig, "10_scores.png")
print(f"tutorial ran in {time.perf_counter() - started:.0f} s")

# %% [markdown]
# ## Summary
#
# - Token-level tasks put one linear layer on every token; the work is in the alignment:
#   tags on first sub-tokens (-100 elsewhere), answers through character offsets.
# - NER is scored on whole entities; the per-word baseline is the one to beat.
# - QA cuts long contexts into windows that overlap by `doc_stride`; windows without the answer
#   learn `[CLS]`; the best valid span over all windows is the answer.
# - SQuAD's exact match and F1 compare normalized strings; the empty answer scores 0, a lexical
#   sliding window more, and a reader must beat that.
#
# ## Exercises
#
# **Exercise 1.** Write `count_windows(n_context, room, stride)`: how many windows a context of
# `n_context` tokens needs when `room` context tokens fit beside the question and consecutive
# windows share `stride` tokens.


# %%
def check_exercise_1(count_windows) -> None:
    question = "Where?"
    room = 32 - len(qa_tokenizer.tokenize(question)) - 3  # [CLS] question [SEP] ... [SEP]
    task = QuestionAnsweringTask(doc_stride=8)
    for n in (5, 20, 40, 77, 200):
        example = QAExample("x", question, " ".join(["born"] * n))
        n_context = len(qa_tokenizer.tokenize(example.context))
        rows = task.encode([example], qa_tokenizer, 32, with_targets=False)
        assert count_windows(n_context, room, 8) == len(rows), n
    print("exercise 1: correct")


def count_windows(n_context: int, room: int, stride: int) -> int:
    raise NotImplementedError("exercise 1: your code here")


# check_exercise_1(count_windows)

# %% [markdown]
# **Exercise 2.** Write `squad_f1(prediction, truth)` from the description in 2.6, without
# `metrics_squad`; the check compares it with the official rules on tricky pairs.


# %%
def check_exercise_2(squad_f1) -> None:
    pairs = [("the 1894", "1894"), ("1894 1894", "1894"), ("Mara, Quill", "mara quill!"),
             ("", "Eastvale"), ("an apple", "a pear")]  # fmt: skip
    for prediction, truth in pairs:
        assert abs(squad_f1(prediction, truth) - f1_score(prediction, truth)) < 1e-12, prediction
    print("exercise 2: correct")


def squad_f1(prediction: str, truth: str) -> float:
    raise NotImplementedError("exercise 2: your code here")


# check_exercise_2(squad_f1)

# %% [markdown]
# **Exercise 3.** Without running it: what does `token_span(offsets, sequence_ids, start_char,
# end_char)` return for the characters of the *first context token* of `long_example` (section
# 2.2), encoded in one piece? Give the pair of token indices; the check runs it.


# %%
def check_exercise_3(first_word_span) -> None:
    encoded = qa_tokenizer(long_example.question, long_example.context, return_offsets_mapping=True)
    sequence_ids = encoded.sequence_ids()
    first_context = sequence_ids.index(1)
    start, end = encoded["offset_mapping"][first_context]
    assert first_word_span == token_span(encoded["offset_mapping"], sequence_ids, start, end)
    print("exercise 3: correct")


first_word_span = None  # exercise 3: your answer here, a (start, end) pair of token indices
# check_exercise_3(first_word_span)

# %% [markdown]
# ---
# ## Solutions
#
# *Spoilers below.* This cell runs when the tutorial runs as a script, so the tutorial checks
# its own exercises.


# %%
def count_windows_solution(n_context: int, room: int, stride: int) -> int:
    if n_context <= room:
        return 1
    return math.ceil((n_context - room) / (room - stride)) + 1


def squad_f1_solution(prediction: str, truth: str) -> float:
    from collections import Counter

    predicted, gold = normalize_answer(prediction).split(), normalize_answer(truth).split()
    shared = sum((Counter(predicted) & Counter(gold)).values())
    if shared == 0:
        return 0.0
    precision, recall = shared / len(predicted), shared / len(gold)
    return 2 * precision * recall / (precision + recall)


# The first context token follows [CLS], the question and [SEP]: one token, so start == end.
first_word_span_solution = (len(qa_tokenizer.tokenize(long_example.question)) + 2,) * 2

check_exercise_1(count_windows_solution)
check_exercise_2(squad_f1_solution)
check_exercise_3(first_word_span_solution)
work_dir.cleanup()
