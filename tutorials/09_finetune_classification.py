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
# # 09 · Fine-tune BERT for classification
#
# BERT's paper made one claim above all: a single pretrained encoder, plus *one* linear layer,
# fine-tuned for a few epochs, does well on almost any sentence-level task. Here we build that
# layer, train it with early stopping, and measure it honestly: against the majority class,
# against a bag-of-words model, and construction by construction (negation, contrast), where a
# bag of words cannot follow.
#
# **Goals.** By the end you can
#
# 1. say what `BertForSequenceClassification` adds to BERT (the pooled `[CLS]` state, dropout,
#    one linear layer) and compute its cross-entropy loss by hand;
# 2. fine-tune with `minibert.finetuning.trainer.finetune`: AdamW, warm-up and decay, an
#    evaluation per epoch, early stopping, and the best checkpoint (not the last) kept;
# 3. read the result against the majority baseline and a bag-of-words model, in a confusion
#    matrix, and in the examples it gets wrong;
# 4. turn the same model into a regressor (one output, mean squared error) for sentence-pair
#    similarity, scored by Spearman's correlation.
#
# **Prerequisites.** Tutorial 05 (the BERT layers, the pooler) and 08 (AdamW, warm-up, reading
# results against baselines). Cross-entropy in nats.
#
# **Run time.** About 20 to 60 seconds as a script
# (`.venv/bin/python tutorials/09_finetune_classification.py`), nearly all of it the two
# fine-tuning runs.
#
# Cells marked **checkpoint** end in `assert`s: if they pass, what the text claims is true on
# your machine too.

# %%
from course import pyplot, save_figure, use_one_thread  # tutorials/course.py

# One thread for BLAS and Numba, before NumPy loads: tutorial 08 explains why a model this
# small trains faster on one thread than on two busy cores.
use_one_thread()

import csv  # noqa: E402  (the thread settings above must come first)
import math  # noqa: E402
import re  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from importlib import resources  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from autograd import no_grad  # noqa: E402
from minibert.config import BertConfig  # noqa: E402
from minibert.finetuning import get_task  # noqa: E402
from minibert.finetuning import metrics_classification as metrics  # noqa: E402
from minibert.finetuning.classification import classify  # noqa: E402
from minibert.finetuning.trainer import (  # noqa: E402
    FinetuningArguments,
    build_model,
    finetune,
    load_finetuned,
)
from minibert.tokenization import WordPieceTokenizer  # noqa: E402

plt = pyplot()  # None without matplotlib: the tutorial still runs, just without pictures

work_dir = tempfile.TemporaryDirectory()  # checkpoints and logs; removed when we are done
WORK = Path(work_dir.name)
TASKS = Path(str(resources.files("minibert.data") / "tasks"))
SEED = 0

# %% [markdown]
# ## 1. The data: short reviews, and why counting words is not enough
#
# `minibert/data/tasks/sentiment/` holds 2,000 training and 400 validation reviews, generated
# by `scripts/build_sentiment_dataset.py` (its README says how). Half are positive. Each row
# also names its *construction*; the task reader ignores that column, we use it to analyse
# errors.

# %%
task = get_task("classification")
train = task.read(TASKS / "sentiment" / "train.csv")
validation = task.read(TASKS / "sentiment" / "validation.csv")
with open(TASKS / "sentiment" / "validation.csv", encoding="utf-8", newline="") as handle:
    construction = [row["construction"] for row in csv.DictReader(handle)]
print(len(train), "training and", len(validation), "validation reviews")
examples_of = {}
for example, kind in zip(validation, construction, strict=True):
    examples_of.setdefault(kind, example)
for kind, example in examples_of.items():
    print(f"  {kind:12s} {example.label:9s} {example.text}")

# %% [markdown]
# Look at the `negation` and `contrast` rows: "not bad" is positive, and in "X but Y" the
# clause after *but* decides while the other clause says the opposite. A model that only counts
# positive and negative words sees both kinds in every contrast review; to get them right it
# must know *where* each word is, which is what self-attention over positions gives BERT.

# %% [markdown]
# ## 2. The model: BERT, the pooled `[CLS]` state, one linear layer
#
# BERT reads `[CLS] review [SEP]`. The pooler (tutorial 05) turns the final hidden state of
# `[CLS]` into $p = \tanh(W_p h_{\text{[CLS]}} + b_p)$; the classification head is dropout and
# one linear layer, $z = W_c\,p + b_c$ with $W_c \in \mathbb{R}^{L \times H}$ for $L$ labels.
# Why `[CLS]`? It attends to every token in every layer, and since the loss only reads its
# state, training teaches the layers to gather there what the label needs.
#
# We fine-tune **from scratch** (random weights, a vocabulary learned on the training texts):
# no pretrained model comes with minibert, and a small one pretrained on the Jargon File
# (tutorial 08) knows little about films. `build_model` takes either a `BertConfig` (as here)
# or a checkpoint directory such as `runs/tiny/model` from `make train`; from a checkpoint it
# keeps the encoder and initializes the new head, as transformers does.

# %%
tokenizer = WordPieceTokenizer.train(
    iter(e.text for e in train), vocab_size=1000, show_progress=False
)
config = BertConfig(
    vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
    intermediate_size=256, max_position_embeddings=64,
)  # fmt: skip
label_names = task.label_names(train)  # sorted: ["negative", "positive"] -> ids 0 and 1
model = build_model(task, config, label_names, seed=SEED)
print(f"vocabulary {len(tokenizer)} tokens, {model.num_parameters():,} parameters, labels "
      f"{model.config.id2label}")  # fmt: skip
print("classifier:", model.classifier.weight.shape, "(L, H) on the pooled state")

# %% [markdown]
# **Checkpoint: the loss is cross-entropy on the logits.** Encode four reviews, run the model
# in eval mode (no dropout), and recompute its loss from the logits:
# $\ell = -\frac{1}{B}\sum_b \log \operatorname{softmax}(z_b)_{y_b}$.

# %%
label2id = {name: i for i, name in enumerate(label_names)}
features = task.encode(train[:4], tokenizer, 64, label2id)
batch = features.batch(range(4))  # padded to the longest of the four
print({name: array.shape for name, array in batch.items()})
model.eval()
with no_grad():
    out = model(**batch)
model.train()
logits = out.logits.data.astype(np.float64)  # (B, L)
log_probabilities = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
by_hand = -log_probabilities[np.arange(4), batch["labels"]].mean()
print(f"model's loss {float(out.loss.item()):.6f}, by hand {by_hand:.6f}, chance ln 2 = "
      f"{math.log(2):.6f}")  # fmt: skip
assert math.isclose(float(out.loss.item()), by_hand, rel_tol=1e-5)
assert abs(by_hand - math.log(2)) < 0.05  # a fresh head is near-uniform: small initial weights

# %% [markdown]
# ## 3. Fine-tuning with early stopping
#
# `finetune` runs the loop that every task shares: shuffled batches (padded per batch, so short
# reviews stay cheap), AdamW (no decay on biases and LayerNorm), a linear warm-up over the first
# 10% of the steps then linear decay, clipping at norm 1, and an evaluation after every epoch.
# Whenever validation accuracy improves, the model is saved atomically to `best/`; after
# `patience` evaluations without improvement the run stops, and the model is given back the
# best weights, not the last ones. It also evaluates the **majority baseline** once.
#
# The learning rate is 2e-3, forty times BERT's 5e-5: BERT's rate suits weights that are
# already good, which ours are not.

# %%
args = FinetuningArguments(epochs=6, learning_rate=2e-3, batch_size=32, patience=3,
                           max_seq_length=64, seed=SEED)  # fmt: skip
started = time.perf_counter()
summary = finetune(task, model, tokenizer, train, validation, args, WORK / "sentiment",
                   progress=False)  # fmt: skip
print(f"{summary['steps']} steps in {time.perf_counter() - started:.0f} s"
      f"{', stopped early' if summary['stopped_early'] else ''}")  # fmt: skip
for record in summary["history"]:
    print(f"  step {record['step']:4d}  training loss {record['loss']:.3f}  "
          f"validation accuracy {record['accuracy']:.3f}")  # fmt: skip
best, baseline = summary["best_metrics"], summary["baseline"]
print(f"best (step {summary['best_step']}): accuracy {best['accuracy']:.3f}, macro-F1 "
      f"{best['macro_f1']:.3f}; majority class: {baseline['accuracy']:.3f}, "
      f"{baseline['macro_f1']:.3f}")  # fmt: skip

# %% [markdown]
# Accuracy is the metric that picks the checkpoint, as GLUE uses for its sentiment task: the
# classes are balanced, so it reads directly. Macro-F1 (the mean of the per-class F1) is the one
# to watch on skewed data, where always answering the majority class (a share $s$ of the
# examples, among $L$ classes) scores an accuracy of $s$ but a macro-F1 of only
# $\frac{2s}{(1+s)L}$; here $s = 0.5$: 0.5 and 0.33.
#
# **Checkpoint: the best checkpoint is the best evaluation, and it reloads.**

# %%
best_record = max(summary["history"], key=lambda r: r["accuracy"])
assert summary["best_step"] == best_record["step"]
assert best["accuracy"] > baseline["accuracy"] + 0.2, "clearly above the majority class"
reloaded, reloaded_tokenizer, reloaded_task = load_finetuned(WORK / "sentiment" / "best")
eval_features = task.encode(validation, tokenizer, 64, None, with_targets=False)
predictions = reloaded_task.predict(reloaded, eval_features, validation, 64)
assert reloaded_task.evaluate(predictions, validation) == best
print("the reloaded best checkpoint scores", reloaded_task.evaluate(predictions, validation))

# %%
if plt is not None:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    steps = [r["step"] for r in summary["history"]]
    ax.plot(steps, [r["accuracy"] for r in summary["history"]], "o-", label="BERT (validation)")
    ax.axhline(baseline["accuracy"], color="gray", linestyle="--", label="majority class")
    ax.axvline(summary["best_step"], color="green", linestyle=":", label="best checkpoint")
    ax.set_xlabel("step")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0.4, 1.0)
    ax.legend()
    ax.set_title("Fine-tuning on the sentiment reviews")
    fig.tight_layout()
    save_figure(fig, "09_accuracy_curve.png")

# %% [markdown]
# ## 4. Against a bag of words
#
# The majority class is a low bar. A fairer one: logistic regression on word counts, which
# knows every word's polarity but not word order. We fit it by gradient descent in NumPy (no
# library needed) and compare both models construction by construction.


# %%
def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text)  # the reviews are lower-case; punctuation dropped


words = sorted({w for e in train for w in words_of(e.text)})
column = {w: i for i, w in enumerate(words)}


def bag_of_words(examples) -> np.ndarray:
    """Shapes: returns (N, vocabulary) counts."""
    counts = np.zeros((len(examples), len(words)))
    for row, example in enumerate(examples):
        for word in words_of(example.text):
            if word in column:
                counts[row, column[word]] += 1
    return counts


X, y = bag_of_words(train), np.array([label2id[e.label] for e in train])
weights, bias = np.zeros(len(words)), 0.0
for _ in range(500):  # full-batch gradient descent on the logistic loss
    p = 1 / (1 + np.exp(-(X @ weights + bias)))
    weights -= 0.5 * (X.T @ (p - y) / len(y) + 1e-3 * weights)
    bias -= 0.5 * float(np.mean(p - y))
bow_predicted = [label_names[int(s > 0)] for s in bag_of_words(validation) @ weights + bias]
bert_predicted = [p["label"] for p in predictions]
truth = [e.label for e in validation]
print(f"{'construction':12s} {'n':>4s} {'bag of words':>13s} {'BERT':>6s}")
for kind in sorted(set(construction)):
    rows = [i for i, k in enumerate(construction) if k == kind]
    bow = np.mean([bow_predicted[i] == truth[i] for i in rows])
    bert = np.mean([bert_predicted[i] == truth[i] for i in rows])
    print(f"{kind:12s} {len(rows):4d} {bow:13.3f} {bert:6.3f}")
bow_accuracy = metrics.accuracy(truth, bow_predicted)
print(f"{'all':12s} {len(truth):4d} {bow_accuracy:13.3f} {best['accuracy']:6.3f}")

# %% [markdown]
# **Checkpoint: word order matters.** The bag of words is barely above chance, and not
# because it is badly fitted (it does not fit the *training* reviews either): negation and
# contrast put every adjective on both sides of the ledger. "good" occurs in positive reviews
# ("the plot was good") as often as in negative ones ("the plot was not good", "good actors but
# a dull plot"), so its weight is near zero. What it keeps is the few words whose sign never
# flips, "recommend" with or without "not" among them (the `verdict` row). BERT reads "not"
# *next to* "good", and "but" *before* the clause that wins.

# %%
train_fit = np.mean((X @ weights + bias > 0) == y)
print(f"bag of words on its own training reviews: {train_fit:.3f}")
assert bow_accuracy < 0.7 and train_fit < 0.75
assert best["accuracy"] > bow_accuracy + 0.2


# %% [markdown]
# ## 5. The confusion matrix and the reviews it gets wrong

# %%
matrix = metrics.confusion_matrix(truth, bert_predicted, labels=label_names)
print("rows: truth, columns: prediction", label_names)
print(matrix)
assert matrix.sum() == len(validation) and np.trace(matrix) / len(truth) == best["accuracy"]
if plt is not None:
    fig, ax = plt.subplots(figsize=(3.8, 3.4))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), n in np.ndenumerate(matrix):
        ax.text(j, i, str(n), ha="center", va="center",
                color="white" if n > matrix.max() / 2 else "black")  # fmt: skip
    ax.set_xticks(range(len(label_names)), label_names)
    ax.set_yticks(range(len(label_names)), label_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Validation confusion matrix")
    fig.tight_layout()
    save_figure(fig, "09_confusion_matrix.png")

wrong = [i for i in range(len(truth)) if bert_predicted[i] != truth[i]]
print(f"{len(wrong)} mistakes, by construction: "
      f"{dict(Counter(construction[i] for i in wrong).most_common())}")  # fmt: skip
for i in wrong[:8]:
    print(f"  [{construction[i]}] true {truth[i]}, predicted {bert_predicted[i]} "
          f"({predictions[i]['score']:.2f}): {validation[i].text}")  # fmt: skip

# %% [markdown]
# The pipeline `classify` (transformers' text-classification format) runs the model on new
# text:

# %%
new_reviews = ["the acting was not bad.", "a charming cast but the plot was tedious."]
for text, result in zip(new_reviews, classify(reloaded, reloaded_tokenizer, new_reviews, top_k=2),
                        strict=True):  # fmt: skip
    print(f"{text!r}: {result}")

# %% [markdown]
# ## 6. The regression variant: how similar are two sentences?
#
# With `num_labels=1` the same head outputs one number and the loss is the mean squared error:
# that is `RegressionTask`. `minibert/data/tasks/similarity/` holds sentence pairs scored 0 to 5
# by how many of four slots (who, did what, to whom, where) they share, synonyms counting as
# the same; a passive sentence means its active twin, and swapping who and whom keeps every
# word but changes the meaning. BERT reads the pair as `[CLS] a [SEP] b [SEP]`, the second
# sentence with token type 1. The metric is Spearman's rank correlation (as STS-B); the baseline
# predicts the training mean, which orders nothing (correlation 0).

# %%
regression = get_task("regression")
pairs_train = regression.read(TASKS / "similarity" / "train.tsv")
pairs_validation = regression.read(TASKS / "similarity" / "validation.tsv")
print(pairs_train[0])
pair_tokenizer = WordPieceTokenizer.train(
    iter(t for e in pairs_train for t in (e.text, e.text_pair)), vocab_size=1000,
    show_progress=False,
)  # fmt: skip
# Regression from scratch gets going more slowly than classification (its first steps only
# move the output to the mean score), so this model is one wide layer without dropout.
pair_config = BertConfig(
    vocab_size=len(pair_tokenizer), hidden_size=128, num_hidden_layers=1, num_attention_heads=2,
    intermediate_size=256, max_position_embeddings=64, hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
)  # fmt: skip
regressor = build_model(regression, pair_config, None, seed=SEED)

# Checkpoint: with one output the loss is the mean squared error against the float scores.
pair_features = regression.encode(pairs_train[:4], pair_tokenizer, 64, None)
pair_batch = pair_features.batch(range(4))
print("token types of the first pair:", pair_batch["token_type_ids"][0])
regressor.eval()
with no_grad():
    pair_out = regressor(**pair_batch)
regressor.train()
squared = (pair_out.logits.data[:, 0].astype(np.float64) - pair_batch["labels"]) ** 2
assert math.isclose(float(pair_out.loss.item()), squared.mean(), rel_tol=1e-5)

pair_args = FinetuningArguments(max_steps=300, learning_rate=5e-4, batch_size=32, patience=0,
                                eval_every=100, max_seq_length=64, seed=SEED)  # fmt: skip
pair_summary = finetune(regression, regressor, pair_tokenizer, pairs_train, pairs_validation,
                        pair_args, WORK / "similarity", progress=False)  # fmt: skip
for record in pair_summary["history"]:
    print(f"  step {record['step']:4d}  training MSE {record['loss']:.3f}  validation Spearman "
          f"{record['spearman']:.3f}, MSE {record['mse']:.3f}")  # fmt: skip
print(f"training mean: {pair_summary['baseline']}")
assert pair_summary["baseline"]["spearman"] == 0.0
# The training MSE falls from about 9 (outputs near 0, scores near 2.5) to the scores'
# variance, about 2.6: so far the model has learned the mean, not yet the pairs.
first, last = pair_summary["history"][0]["loss"], pair_summary["history"][-1]["loss"]
assert last < first and last < 3.0

# %% [markdown]
# Three hundred steps teach this model the mean score, little more: Spearman is still near
# 0. The pairs need longer: `minibert finetune --task regression --config tiny --lr 5e-4
# --epochs 20` reaches a Spearman of about 0.58 (the dataset's README has the figures), where
# the training-mean baseline scores 0. Similarity is harder than sentiment for a model that
# starts from nothing: it must learn from the scores alone that "physician" means "doctor",
# and match each slot of one sentence with the other's across the `[SEP]`; a pretrained
# encoder would bring the first half of that with it.

# %% [markdown]
# ## Summary
#
# - `BertForSequenceClassification` is BERT, the pooled `[CLS]` state, dropout and one linear
#   layer; cross-entropy for classes, mean squared error when `num_labels == 1`.
# - `finetune` keeps the best evaluation (not the last) and stops after `patience` evaluations
#   without improvement; always read the result against baselines: the majority class, and a
#   bag of words, which fails exactly where word order decides (contrast).
# - Errors read by construction tell *what* the model has not learned yet.
#
# ## Exercises
#
# Run the next cell to define the checks; write your answer; un-comment its `check_...` line.
# The solutions are in the last cell.


# %%
def check_exercise_1(macro_f1_of) -> None:
    """macro_f1_of(matrix) against metrics.macro_f1 on the validation predictions."""
    got = macro_f1_of(matrix)
    assert math.isclose(got, best["macro_f1"], rel_tol=1e-9), f"{got} != {best['macro_f1']}"
    assert macro_f1_of(np.array([[5, 0], [5, 0]])) == (2 * 5 / (2 * 5 + 5)) / 2
    print("exercise 1: correct")


def check_exercise_2(spearman_of) -> None:
    """spearman_of(x, y) against metrics.spearman, ties included."""
    rng = np.random.default_rng(1)
    for _ in range(5):
        x, y = rng.integers(0, 4, 20), rng.normal(size=20)
        assert math.isclose(spearman_of(x, y), metrics.spearman(x, y), abs_tol=1e-12)
    print("exercise 2: correct")


# %% [markdown]
# **Exercise 1.** Write `macro_f1_of(matrix)`: macro-F1 from a confusion matrix (rows truth,
# columns prediction). Per class, $F_1 = 2TP / (2TP + FP + FN)$; a class never seen nor
# predicted scores 0.


# %%
def macro_f1_of(matrix: np.ndarray) -> float:
    raise NotImplementedError("exercise 1: your code here")


# check_exercise_1(macro_f1_of)

# %% [markdown]
# **Exercise 2.** Write `spearman_of(x, y)`: Pearson's correlation of the ranks, where tied
# values share the mean of the ranks they span (so ranks of `[5, 7, 7]` are `[1, 2.5, 2.5]`).


# %%
def spearman_of(x, y) -> float:
    raise NotImplementedError("exercise 2: your code here")


# check_exercise_2(spearman_of)

# %% [markdown]
# **Exercise 3 (open).** Raise `patience` to 0 and `epochs` to 20 in section 3: does the last
# checkpoint beat the best one? Then try `hidden_dropout_prob=0.0` in the config.
#
# ---
# ## Solutions
#
# *Spoilers below.* This cell runs when the tutorial runs as a script, so the tutorial checks
# its own exercises.


# %%
def macro_f1_of_solution(matrix: np.ndarray) -> float:
    tp = np.diag(matrix).astype(float)
    fp, fn = matrix.sum(axis=0) - tp, matrix.sum(axis=1) - tp
    denominator = 2 * tp + fp + fn
    return float(np.mean([2 * t / d if d else 0.0 for t, d in zip(tp, denominator, strict=True)]))


def ranks(values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return np.array([(values < v).sum() + ((values == v).sum() + 1) / 2 for v in values])


def spearman_of_solution(x, y) -> float:
    return float(np.corrcoef(ranks(x), ranks(y))[0, 1])


check_exercise_1(macro_f1_of_solution)
check_exercise_2(spearman_of_solution)
work_dir.cleanup()
