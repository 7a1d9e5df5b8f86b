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
# # 07 · Pretraining data: sentence pairs and masks
#
# BERT learns from raw text with no labels at all. It makes its own exercises from the text, two
# kinds at once: **next-sentence prediction** (NSP: does segment B really follow segment A?)
# and the **masked language model** (MLM: which token was hidden here?). How those exercises are
# cut out of the text decides what the model can learn, so the original BERT's recipe is full of
# small, deliberate choices. This tutorial takes them one at a time, on real text, with
# `minibert.data`.
#
# **Goals.** By the end you can
#
# 1. read a pretraining corpus in Google's format (one sentence per line, a blank line between
#    documents), and split running text into sentences, knowing where the heuristic fails;
# 2. build NSP pairs the way the original BERT does (target length, random split point, a real
#    or a random segment B, the "put back" of unused sentences, truncation at random ends), and
#    check your step-by-step version against `minibert.data.pretraining.nsp_instances`;
# 3. lay out `[CLS] A [SEP] B [SEP]` with its token types, and explain why one document alone
#    gives no `NOT_NEXT` pairs and why this corpus has more `NOT_NEXT` than `IS_NEXT` pairs;
# 4. mask 15% of the tokens with the 80/10/10 rule, verify the rule statistically, and compare
#    whole-word masking with token masking;
# 5. explain dynamic masking, padding and the attention mask in a batch, and why the model
#    computes vocabulary logits at the masked positions only.
#
# **Prerequisites.** Tutorial 06 (WordPiece, `[CLS]`/`[SEP]`, `##` pieces) and 05 (token type
# embeddings). Tutorial 08 trains a model on exactly these batches.
#
# **Run time.** About three seconds as a script
# (`.venv/bin/python tutorials/07_pretraining_data.py`).
#
# Cells marked **checkpoint** end in `assert`s: if they pass, what the text claims is true on
# your machine too.

# %%
import math
from collections import Counter
from pathlib import Path

import numpy as np
from course import pyplot, save_figure  # tutorials/course.py

from minibert.cli_pretraining import embedded_corpus
from minibert.config import BertConfig
from minibert.data.corpus import read_documents, read_lines, split_sentences
from minibert.data.dataset import DataConfig, PretrainingData
from minibert.data.pretraining import (
    IGNORE_INDEX,
    IS_NEXT,
    NOT_NEXT,
    Instance,
    mask_tokens,
    nsp_instances,
    truncate_pair,
)
from minibert.modeling import BertForPreTraining
from minibert.tokenization import WordPieceTokenizer

plt = pyplot()  # None without matplotlib: the tutorial still runs, just without pictures
if plt is not None:
    from matplotlib.colors import ListedColormap

try:  # the repository root, for tests/data/tiny_corpus.txt
    REPO = Path(__file__).resolve().parents[1]
except NameError:  # a notebook: Jupyter starts in tutorials/
    REPO = Path.cwd().parent
TINY_CORPUS = REPO / "tests" / "data" / "tiny_corpus.txt"
np.set_printoptions(linewidth=100)

# %% [markdown]
# ## 1. The corpus: the Jargon File
#
# minibert ships a corpus, so that nothing has to be downloaded: the **Jargon File** (version
# 4.4.7, 2003), the lexicon of hacker slang, which its editors placed in the public domain. Each
# dictionary entry is one document. `embedded_corpus("train")` and `embedded_corpus("heldout")`
# give the two splits (every 20th entry is held out, for measuring a model on text it never
# trained on).
#
# The files are in **Google's format**, the one the original BERT's
# `create_pretraining_data.py` reads: one sentence per line, and a blank line between
# documents. Here are the first lines of the training split, as they are in the file (`⏎` marks
# the blank lines):

# %%
train_path = embedded_corpus("train")
print(train_path.relative_to(REPO) if train_path.is_relative_to(REPO) else train_path)
for number, line in enumerate(read_lines(train_path), start=1):
    print(f"{number:3d} | {line if line else '⏎'}")
    if number == 12:
        break

# %% [markdown]
# `read_documents` streams a corpus as documents, each a list of sentences (a corpus bigger
# than memory streams through, file by file and line by line). Let's count, and look at how
# long the documents are: it will matter for NSP.

# %%
train_documents = list(read_documents(train_path))
heldout_documents = list(read_documents(embedded_corpus("heldout")))
sentences_per_document = Counter(len(document) for document in train_documents)
print(
    f"training: {len(train_documents)} documents, "
    f"{sum(map(len, train_documents))} sentences; held out: {len(heldout_documents)} documents"
)
print("sentences per document: ", end="")
print(", ".join(f"{n}: {sentences_per_document[n]}" for n in range(1, 6)), end="")
print(f", 6 or more: {sum(c for n, c in sentences_per_document.items() if n >= 6)}")
bare_numbers = sum(s.rstrip(".").isdigit() for doc in train_documents for s in doc)
print(f"'sentences' that are only a sense number such as '1.': {bare_numbers}")
assert len(train_documents) + len(heldout_documents) == 2127  # checkpoint: the corpus README
assert sum(map(len, train_documents + heldout_documents)) == 11129

# %% [markdown]
# Real data is messy. The dictionary numbers the senses of a word (`1.`, `2.`); the script that
# built the corpus strips a number that starts a paragraph, but three stand in the middle of
# one, and sentence splitting made each a "sentence" of its own. Nothing breaks: `2.` is a
# two-token sentence, and NSP will simply see an odd segment now and then. More important for
# NSP: documents are short (the median entry has four sentences) and some are a single sentence.
#
# ## 2. Splitting running text into sentences
#
# Most text does not come one sentence per line. `read_documents(..., corpus_format="plain")`
# reads ordinary paragraphs and splits them with `split_sentences`: a sentence ends at `.`, `!`
# or `?` (possibly followed by a closing quote or bracket), then a space, then something that
# can start a sentence (a capital, a digit, an opening quote), unless the word before the period
# is a known abbreviation or a single letter (an initial). Here it is on a paragraph written to
# trip it up:

# %%
paragraph = (
    "The Jargon File (a.k.a. the Hacker's Dictionary) began at Stanford in 1975. "
    "J. Random Hacker reads it, e.g. to look up kluge. Is it any good? Yes! "
    'It covers Unix, VMS etc. The U.S. edition is vol. 3 of the set. Dr. Smith said "Hi." '
    "Then he left."
)
split = split_sentences(paragraph)
for sentence in split:
    print("-", sentence)

# %% [markdown]
# **Checkpoint.** `a.k.a.`, `e.g.`, `U.S.`, `vol.`, `Dr.` and the initial `J.` do not end a
# sentence; `?`, `!` and a period inside closing quotes do. And one real boundary is missed:
# `etc.` is an abbreviation, so "…VMS etc. The U.S. edition…" stays one sentence. That is the
# price of any rule-based splitter; minibert's errs towards *longer* sentences, which costs
# NSP nothing (a pair is still a real continuation).

# %%
assert split[0].endswith("in 1975.") and split[1].startswith("J. Random")  # checkpoint
assert split[2:4] == ["Is it any good?", "Yes!"]
assert split[4] == "It covers Unix, VMS etc. The U.S. edition is vol. 3 of the set."  # missed
assert split[5:] == ['Dr. Smith said "Hi."', "Then he left."]

# %% [markdown]
# ## 3. A small vocabulary
#
# Pairs and masks are made of token ids, so we need a tokenizer. Tutorial 06 showed how
# `WordPieceTokenizer.train` learns one; here we train a small one (1,000 tokens) on
# `tests/data/tiny_corpus.txt`, the first 120 training documents, in a fraction of a second.
# Small vocabularies cut words into many pieces, which is what whole-word masking (section 8)
# is about.

# %%
tokenizer = WordPieceTokenizer.train([TINY_CORPUS], vocab_size=1000, show_progress=False)
CLS, SEP, MASK, PAD = (
    tokenizer.convert_tokens_to_ids(t) for t in ("[CLS]", "[SEP]", "[MASK]", "[PAD]")
)
example = "A kluge is a clever programming trick, e.g. in the kernel."
print(len(tokenizer), "tokens;", example, "->", tokenizer.tokenize(example))
assert len(tokenizer) == 1000 and tokenizer.tokenize("the kernel")[0] == "the"  # checkpoint


def tokenize_document(sentences: list[str]) -> list[list[int]]:
    """A document as a list of tokenized sentences (lists of ids), as PretrainingData does."""
    ids = (tokenizer.convert_tokens_to_ids(tokenizer.tokenize(s)) for s in sentences)
    return [sentence for sentence in ids if sentence]


documents = [tokenize_document(d) for d in read_documents(TINY_CORPUS)]  # 120 documents
special = {"cls": CLS, "sep": SEP}
print(len(documents), "documents,", sum(map(len, documents)), "sentences")

# %% [markdown]
# ## 4. Next-sentence pairs, step by step
#
# The original BERT (`create_instances_from_document` in google-research/bert) does not just cut
# the text into pairs of single sentences. For each document:
#
# 1. **Target length.** A pair may hold `max_seq_length - 3` tokens (room for `[CLS]` and two
#    `[SEP]`). Usually that is the target; with probability `short_seq_prob` = 0.1 it is a random
#    shorter length, so that the model also sees short inputs (fine-tuning inputs often are).
# 2. **Chunk.** Sentences accumulate into a *chunk* until it reaches the target, or the document
#    ends. Whole sentences, so that segments start and end at sentence boundaries.
# 3. **Split point.** A random number of the chunk's sentences, at least one, form segment A.
# 4. **Segment B.** Half the time B is the rest of the chunk: the real continuation,
#    `IS_NEXT` (label 0). Otherwise B is a span from a random *other* document, starting at a
#    random sentence: `NOT_NEXT` (label 1). A chunk of a single sentence has no rest, so its B is
#    always random. When B is random, the chunk's sentences after the split were not used: they
#    are **put back**, and the next chunk starts with them.
# 5. **Truncation.** If A and B are together too long, tokens are removed one at a time from
#    the *longer* segment, from its front or its back at random.
#
# The labels follow Google's convention, which transformers kept: **0 means "B follows A"**.

# %%
print(f"IS_NEXT = {IS_NEXT}, NOT_NEXT = {NOT_NEXT}")

# %% [markdown]
# Rather than only describe it, let's write it: `nsp_pairs_explained` is the algorithm in plain
# Python, keeping a log of what it decides. It draws from the random generator in exactly the
# order that `minibert.data.pretraining.nsp_instances` does, so with the same seed it must give
# exactly the same pairs: our checkpoint below.


# %%
def random_segment(documents, doc_index: int, length: int, rng: np.random.Generator):
    """A random other document, a random sentence in it, and sentences from there on until
    ``length`` tokens are reached. Returns (document index, first sentence, tokens)."""
    other = doc_index
    while other == doc_index:
        other = int(rng.integers(len(documents)))
    start = int(rng.integers(len(documents[other])))
    tokens = []
    for sentence in documents[other][start:]:
        tokens.extend(sentence)
        if len(tokens) >= length:
            break
    return other, start, tokens


def trimmed_ends(before: list, after: list) -> tuple[int, int]:
    """How many tokens truncation took from the front and from the back of a segment."""
    front = next(i for i in range(len(before) + 1) if before[i : i + len(after)] == after)
    return front, len(before) - len(after) - front


def nsp_pairs_explained(document, doc_index, documents, max_seq_length, short_seq_prob, rng):
    """NSP pairs from one document, with a log. Returns [(tokens_a, tokens_b, label)], log."""
    log = []
    max_tokens = max_seq_length - 3  # room for [CLS], [SEP], [SEP]
    target = max_tokens
    if rng.random() < short_seq_prob:
        target = int(rng.integers(2, max_tokens + 1))
    log.append(f"target length {target} tokens (the most a pair may hold: {max_tokens})")
    pairs, chunk, i = [], [], 0  # chunk: indices of the document's sentences
    while i < len(document):
        chunk.append(i)
        length = sum(len(document[j]) for j in chunk)
        if i == len(document) - 1 or length >= target:
            a_end = int(rng.integers(1, len(chunk))) if len(chunk) >= 2 else 1
            tokens_a = [t for j in chunk[:a_end] for t in document[j]]
            if len(chunk) == 1 and len(documents) == 1:
                log.append(f"sentence {i} alone, no other document: no pair, skip it")
                chunk, i = [], i + 1
                continue
            text = f"chunk = sentences {chunk[0]}-{chunk[-1]} ({length} tokens); "
            text += f"A = sentences {chunk[0]}-{chunk[a_end - 1]} ({len(tokens_a)} tokens); "
            if len(documents) > 1 and (len(chunk) == 1 or rng.random() < 0.5):
                label = NOT_NEXT
                other, start, tokens_b = random_segment(
                    documents, doc_index, target - len(tokens_a), rng
                )
                text += "one sentence: B must be random" if len(chunk) == 1 else "coin: random B"
                text += f" from document {other}, sentence {start} on ({len(tokens_b)} tokens)"
                if len(chunk) > a_end:
                    text += f"; put back sentences {chunk[a_end]}-{chunk[-1]}"
                i -= len(chunk) - a_end  # the unused sentences start the next chunk
            else:
                label = IS_NEXT
                tokens_b = [t for j in chunk[a_end:] for t in document[j]]
                text += f"coin: real B = sentences {chunk[a_end]}-{chunk[-1]}"
            log.append(text)
            before_a, before_b = list(tokens_a), list(tokens_b)
            truncate_pair(tokens_a, tokens_b, max_tokens, rng)
            for name, before, after in (("A", before_a, tokens_a), ("B", before_b, tokens_b)):
                if len(after) < len(before):
                    front, back = trimmed_ends(before, after)
                    log.append(
                        f"    truncate {name}: {len(before)} -> {len(after)} tokens "
                        f"({front} from the front, {back} from the back)"
                    )
            pairs.append((tokens_a, tokens_b, label))
            chunk = []
        i += 1
    return pairs, log


# %% [markdown]
# A real document: the entry for *accumulator*, 11 sentences, and pairs of at most 64 tokens.

# %%
doc_index, max_seq_length, seed = 10, 64, 4
document = documents[doc_index]
for j, sentence in enumerate(document):
    text = tokenizer.decode(sentence)
    print(f"{j:2d} ({len(sentence):2d} tokens) {text[:80]}{'…' if len(text) > 80 else ''}")
pairs, log = nsp_pairs_explained(
    document, doc_index, documents, max_seq_length, 0.1, np.random.default_rng(seed)
)
print()
print("\n".join(log))

# %% [markdown]
# **Checkpoint.** Our step-by-step version and minibert's `nsp_instances` make the same pairs
# from the same seed; every pair fits in 64 tokens; and this document shows every case: real and
# random B, sentences put back, truncation.

# %%
instances = nsp_instances(
    document, doc_index, documents, special, max_seq_length, 0.1, np.random.default_rng(seed)
)
assert len(instances) == len(pairs)  # checkpoint
for instance, (tokens_a, tokens_b, label) in zip(instances, pairs, strict=True):
    assert instance.tokens == [CLS, *tokens_a, SEP, *tokens_b, SEP]
    assert instance.next_sentence_label == label
    assert len(instance.tokens) <= max_seq_length
assert {IS_NEXT, NOT_NEXT} <= {label for _, _, label in pairs}
assert any("put back" in line for line in log) and any("truncate" in line for line in log)

# %% [markdown]
# The pairs themselves, as text (the tokenizer lowercases; `decode` gives the normalized text
# back):

# %%
for number, (tokens_a, tokens_b, label) in enumerate(pairs):
    name = "IS_NEXT " if label == IS_NEXT else "NOT_NEXT"
    print(f"pair {number} {name} A: {tokenizer.decode(tokens_a)[:70]}…")
    print(f"{'':15} B: {tokenizer.decode(tokens_b)[:70]}…")

# %% [markdown]
# ### Truncation, up close
#
# `truncate_pair` removes one token at a time from the longer segment, and flips a coin for
# the end. Why random ends? If it always cut the back, segment A would always end mid-sentence
# and B would always begin cleanly, a pattern the model could learn instead of language.

# %%
rng = np.random.default_rng(0)
words_a = "the quick brown fox jumps over the lazy dog again".split()
words_b = "it was not amused".split()
truncated_a, truncated_b = list(words_a), list(words_b)
truncate_pair(truncated_a, truncated_b, 9, rng)
print("before:", " ".join(words_a), "|", " ".join(words_b))
print("after: ", " ".join(truncated_a), "|", " ".join(truncated_b))
print("taken from A (front, back):", trimmed_ends(words_a, truncated_a))
assert len(truncated_a) + len(truncated_b) == 9 and truncated_b == words_b  # checkpoint
assert len(truncated_a) == 5 and all(trimmed_ends(words_a, truncated_a))  # both ends trimmed

# %% [markdown]
# B was never touched: only the longer segment shrinks, and A stayed the longer one (on a tie,
# B would lose the next token).
#
# ## 5. The input layout: `[CLS] A [SEP] B [SEP]`
#
# A pair becomes one sequence. `[CLS]` comes first (its final hidden state feeds the NSP
# classifier), a `[SEP]` ends each segment, and the **token type** (segment id) says which
# segment each position belongs to: 0 for `[CLS]`, A and the first `[SEP]`; 1 for B and the
# last `[SEP]`. The model adds a token-type embedding to every position (tutorial 05), which is
# how it can tell A from B.

# %%
short_a = tokenizer.convert_tokens_to_ids(tokenizer.tokenize("the kernel crashed."))
short_b = tokenizer.convert_tokens_to_ids(tokenizer.tokenize("see lossage."))
pair = nsp_instances(
    [short_a, short_b], 0, [[short_a, short_b]], special, 64, 0.0, np.random.default_rng(0)
)[0]
pieces = tokenizer.convert_ids_to_tokens(pair.tokens)
width = max(len(p) for p in pieces)
print("position   " + " ".join(f"{i:>{width}}" for i in range(len(pieces))))
print("token      " + " ".join(f"{p:>{width}}" for p in pieces))
print("token type " + " ".join(f"{t:>{width}}" for t in pair.token_type_ids))
first_sep = pair.tokens.index(SEP)
assert pair.token_type_ids == [0] * (first_sep + 1) + [1] * (len(pair.tokens) - first_sep - 1)
assert pieces[0] == "[CLS]" and pieces[-1] == "[SEP]" and pair.next_sentence_label == IS_NEXT

# %%
if plt is not None:
    fig, ax = plt.subplots(figsize=(9, 1.8))
    colors = {0: "#cfe2f3", 1: "#f9cb9c"}
    for position, (piece, token_type) in enumerate(zip(pieces, pair.token_type_ids, strict=True)):
        special_token = piece in ("[CLS]", "[SEP]")
        ax.add_patch(plt.Rectangle((position, 0), 0.95, 1, color=colors[token_type]))
        ax.text(
            position + 0.47,
            0.55,
            piece,
            ha="center",
            va="center",
            fontsize=9,
            fontweight="bold" if special_token else "normal",
        )
        ax.text(position + 0.47, 0.15, f"type {token_type}", ha="center", fontsize=7)
    ax.set(
        xlim=(0, len(pieces)),
        ylim=(0, 1),
        title="[CLS] A [SEP] B [SEP]: segment A (type 0) in blue, segment B (type 1) in orange",
    )
    ax.axis("off")
    fig.tight_layout()
    save_figure(fig, "07_pair_layout.png")

# %% [markdown]
# ## 6. One document alone gives no `NOT_NEXT` pairs
#
# A random B must come from *another* document. With a single document there is none. The
# original code tries ten times to draw a different document and then, if the corpus has only
# one, silently uses the same document anyway: it produces pairs labelled "not next" whose B
# comes from the same text, sometimes even right after A. A mislabelled example is worse than
# none, so minibert does two things when the corpus is a single document:
#
# - a chunk with two or more sentences always gets its real continuation (`IS_NEXT`);
# - a chunk of one sentence (which could only have a random B) gives no pair: it is skipped,
#   and the document goes on with the next chunk.
#
# The checkpoint runs the same document 200 times as a one-document corpus, and checks that our
# step-by-step version skips the same chunks as `nsp_instances`.

# %%
alone, skipped = Counter(), 0
for trial in range(200):
    rng = np.random.default_rng(trial)
    alone_instances = nsp_instances(document, 0, [document], special, 64, 0.1, rng)
    alone.update(instance.next_sentence_label for instance in alone_instances)
    rng = np.random.default_rng(trial)
    alone_pairs, log = nsp_pairs_explained(document, 0, [document], 64, 0.1, rng)
    skipped += sum("skip it" in line for line in log)
    assert [i.tokens for i in alone_instances] == [  # our version agrees, skips included
        [CLS, *tokens_a, SEP, *tokens_b, SEP] for tokens_a, tokens_b, _ in alone_pairs
    ]
print("labels from a one-document corpus:", dict(alone), f"; lone chunks skipped: {skipped}")
assert alone[NOT_NEXT] == 0 and alone[IS_NEXT] > 0 and skipped > 0  # checkpoint

# %% [markdown]
# ## 7. The label balance: more `NOT_NEXT` than `IS_NEXT`
#
# The paper says "50% of the time B is the actual next sentence". On this corpus it is not:
# count the labels of one epoch of pairs.


# %%
def nsp_balance(max_seq_length: int) -> tuple[float, int]:
    """The share of NOT_NEXT pairs in one epoch of the tiny corpus, and the number of pairs."""
    data = PretrainingData([TINY_CORPUS], tokenizer, DataConfig(max_seq_length, batch_size=64))
    labels = np.concatenate([b["next_sentence_label"] for b in data.epoch_batches(0)])
    return float((labels == NOT_NEXT).mean()), len(labels)


balance = {length: nsp_balance(length) for length in (32, 64, 128)}
for length, (share, count) in balance.items():
    print(f"max_seq_length {length:3d}: {count:3d} pairs, NOT_NEXT {share:.0%}")

# %% [markdown]
# From three pairs in five to nearly nine in ten are `NOT_NEXT`. The coin is fair; what tips the
# balance is the rule "a chunk of one sentence always gets a random B". Chunks of one sentence
# are common here:
#
# - **short documents**: an entry of one sentence is one chunk of one sentence, and the last
#   sentence of a document is often left alone in a chunk of its own;
# - **long sentences**: a sentence that reaches the target length by itself is a chunk by itself
#   (that is why shorter sequences give *more* `NOT_NEXT`: at 32 tokens most sentences fill a
#   chunk alone);
# - **put back** makes it worse: after a random B, the unused sentences start a new chunk, and
#   some of those end up alone again.
#
# If a fraction $f$ of the pairs come from single-sentence chunks, the expected `NOT_NEXT` share
# is $f + (1 - f)/2$. Our logged version knows which pairs were forced, so we can check this
# decomposition on the whole tiny corpus, with the coin flips held to a fair coin by a binomial
# bound.


# %%
def within_binomial_bounds(hits: int, trials: int, p: float, sigmas: float = 5.0) -> bool:
    """|hits - trials p| is within ``sigmas`` standard deviations of a Binomial(trials, p)."""
    return abs(hits - trials * p) <= sigmas * math.sqrt(trials * p * (1 - p))


forced = coin = coin_random = 0
rng = np.random.default_rng(0)
for index, doc in enumerate(documents):
    for line in nsp_pairs_explained(doc, index, documents, 64, 0.1, rng)[1][1:]:
        if line.startswith("chunk"):
            forced += "must be random" in line
            coin += "coin" in line
            coin_random += "coin: random" in line
f = forced / (forced + coin)
print(
    f"{forced + coin} pairs: {forced} forced random ({f:.0%}); of the {coin} coin flips, "
    f"{coin_random} random ({coin_random / coin:.0%})"
)
print(f"expected NOT_NEXT share f + (1 - f)/2 = {f + (1 - f) / 2:.0%}")
assert within_binomial_bounds(coin_random, coin, 0.5)  # checkpoint: the coin is fair
assert f > 0.25 and abs(f + (1 - f) / 2 - balance[64][0]) < 0.05  # the forced ones tip it

# %% [markdown]
# This matters in tutorial 08: a model that always answers `NOT_NEXT` is right about two times
# in three, so an NSP accuracy of 65% means *nothing learned*. The baseline to beat is the
# majority label's share, not 50%. (BERT's corpus, books and Wikipedia articles, has long
# documents of short sentences, where forced random pairs are rare.)
#
# ## 8. Masked language modelling: 15%, then 80/10/10
#
# Now the second exercise. From each pair, `mask_tokens` chooses the positions the model must
# predict:
#
# - **how many**: 15% of the sequence length, rounded, at least 1 and at most
#   `max_predictions_per_seq` (20); `[CLS]` and `[SEP]` are never chosen;
# - **which**: a random subset of the other positions;
# - **what the model sees there**: 80% of them become `[MASK]`, 10% a random token, and 10% keep
#   their token.
#
# Why not always `[MASK]`? Because `[MASK]` never appears when the model is used later
# (fine-tuning, tutorial 09). If every predicted token were a `[MASK]`, the model could learn
# that real tokens need no good representation of their own. A random 10% teaches it that any
# token might be wrong; the kept 10% that a token might be right. The **labels** hold the
# original token at the chosen positions and `IGNORE_INDEX` (-100) elsewhere: the loss counts
# only the chosen positions, whatever the input shows there.

# %%
replacement_ids = np.array(sorted(set(range(len(tokenizer))) - set(tokenizer.all_special_ids)))
mask_settings = dict(
    mask_id=MASK, special_ids=frozenset(tokenizer.all_special_ids), replacement_ids=replacement_ids
)


def show_masking(instance: Instance, input_ids: list[int], labels: list[int]) -> str:
    """The corrupted sequence, with each predicted position marked by what happened to it."""
    words = []
    for token, shown, label in zip(instance.tokens, input_ids, labels, strict=True):
        piece = tokenizer.convert_ids_to_tokens(shown)
        if label == IGNORE_INDEX:
            words.append(piece)
        elif shown == MASK:
            words.append(f"[MASK:{tokenizer.convert_ids_to_tokens(token)}]")
        elif shown == token:
            words.append(f"<kept:{piece}>")
        else:
            words.append(f"<random:{piece}, was {tokenizer.convert_ids_to_tokens(token)}>")
    return " ".join(words)


instance = instances[0]
print("original:", tokenizer.decode(instance.tokens))
for trial in range(3):
    input_ids, labels = mask_tokens(instance, np.random.default_rng(trial), **mask_settings)
    chosen = [i for i, label in enumerate(labels) if label != IGNORE_INDEX]
    print(f"\ndraw {trial}: {len(chosen)} of {len(instance.tokens)} positions predicted")
    print(show_masking(instance, input_ids, labels))
    print("decoded input:", tokenizer.decode(input_ids))

# %% [markdown]
# **Checkpoint.** The count is `round(0.15 * 64) = 10` (`round(9.6)`), never more than 20, and
# never a `[CLS]` or `[SEP]`; the labels keep the original token exactly where a prediction is
# asked for.

# %%
input_ids, labels = mask_tokens(instance, np.random.default_rng(0), **mask_settings)
chosen = [i for i, label in enumerate(labels) if label != IGNORE_INDEX]
assert len(instance.tokens) == 64 and len(chosen) == round(0.15 * 64) == 10  # checkpoint
assert all(instance.tokens[i] not in (CLS, SEP) for i in chosen)
assert all(labels[i] == instance.tokens[i] for i in chosen)
assert all(input_ids[i] == instance.tokens[i] for i in range(64) if i not in chosen)

# %% [markdown]
# ### Is it really 80/10/10?
#
# Statistical claims deserve statistical checks. Over 3,000 draws on one pair, each predicted
# position is an independent trial, so each count is binomial, and must land within a few
# standard deviations of its expectation. One subtlety: a "random" token is drawn from all
# 995 non-special tokens, the original included, so 1 time in 995 a random replacement *is* the
# original and counts as kept. (Google's code draws from the whole vocabulary, `[CLS]` and
# `[MASK]` included; minibert leaves the special tokens out.)

# %%
outcome = Counter()
for trial in range(3000):
    input_ids, labels = mask_tokens(instance, np.random.default_rng([1, trial]), **mask_settings)
    for shown, token, label in zip(input_ids, instance.tokens, labels, strict=True):
        if label != IGNORE_INDEX:
            outcome["mask" if shown == MASK else "kept" if shown == token else "random"] += 1
total = sum(outcome.values())
p_same = 1 / len(replacement_ids)  # a random token that happens to be the original
expected = {"mask": 0.8, "random": 0.1 * (1 - p_same), "kept": 0.1 + 0.1 * p_same}
for kind, p in expected.items():
    sd = math.sqrt(total * p * (1 - p))
    print(
        f"{kind:6}: {outcome[kind]:6d} of {total} = {outcome[kind] / total:.4f} "
        f"(expected {p:.4f}, {(outcome[kind] - total * p) / sd:+.1f} standard deviations)"
    )
assert all(within_binomial_bounds(outcome[k], total, p) for k, p in expected.items())  # checkpoint

# %% [markdown]
# ### Whole-word masking
#
# Token masking chooses *pieces*. With a small vocabulary, `kluge` is `k ##l ##u ##ge`, and
# masking just `##u` leaves `k ##l [MASK] ##ge`: predicting the piece is a spelling exercise,
# not language. **Whole-word masking** (Google's later BERT release, `--do_whole_word_mask`)
# groups a word's `##` pieces and chooses whole words, so a word is hidden entirely or not at all.
# The budget is still 15% of the tokens: a word that would overshoot it is skipped.
#
# minibert decides 80/10/10 once per word (the pieces of a word are all `[MASK]`, all random or
# all kept). Google's code draws it per piece; both choose the positions the same way.
#
# Side by side, on a sentence full of multi-piece words:

# %%
words = tokenizer.convert_tokens_to_ids(
    tokenizer.tokenize("kludges and kluges are crufty hacks that hackers love to grovel over.")
)
continuation = frozenset(i for t, i in tokenizer.get_vocab().items() if t.startswith("##"))
tokens = [CLS, *words, SEP]
sentence = Instance(tokens, [0] * len(tokens), IS_NEXT, [t not in continuation for t in tokens])
print("pieces:", " ".join(tokenizer.convert_ids_to_tokens(tokens)))
for trial in range(3):
    for whole_word in (False, True):
        ids, labels = mask_tokens(
            sentence,
            np.random.default_rng(trial),
            **mask_settings,
            masked_lm_prob=0.3,
            whole_word=whole_word,
        )
        shown = [
            tokenizer.convert_ids_to_tokens(t) if label == IGNORE_INDEX else "___"
            for t, label in zip(ids, labels, strict=True)
        ]
        print(f"{'whole words' if whole_word else 'pieces     '}: {' '.join(shown[1:-1])}")

# %% [markdown]
# (`___` marks a predicted position, whatever it shows.) **Checkpoint**: over many draws, token
# masking often predicts only part of a word, and whole-word masking never does.


# %%
def word_spans(instance: Instance) -> list[list[int]]:
    """Positions of each multi-piece word: a word start followed by its ## pieces."""
    spans, current = [], []
    for position, start in enumerate(instance.word_starts):
        if start:
            current = [position]
            spans.append(current)
        else:
            current.append(position)
    return [span for span in spans if len(span) > 1]


def partly_predicted_share(whole_word: bool, draws: int = 500) -> float:
    partial = touched = 0
    for trial in range(draws):
        _, labels = mask_tokens(
            sentence,
            np.random.default_rng([2, trial]),
            **mask_settings,
            masked_lm_prob=0.3,
            whole_word=whole_word,
        )
        for span in word_spans(sentence):
            predicted = [labels[i] != IGNORE_INDEX for i in span]
            touched += any(predicted)
            partial += any(predicted) and not all(predicted)
    return partial / touched


token_partial, word_partial = partly_predicted_share(False), partly_predicted_share(True)
print(
    f"multi-piece words predicted only in part: token masking {token_partial:.0%}, "
    f"whole-word masking {word_partial:.0%}"
)
assert token_partial > 0.5 and word_partial == 0.0  # checkpoint

# %% [markdown]
# ## 9. Dynamic masking: new masks every epoch
#
# The original BERT wrote its examples to disk once, with `dupe_factor` = 10 copies of the
# corpus, each masked differently; training then cycled through those fixed masks. RoBERTa
# showed that drawing new masks each time a sequence is seen (**dynamic masking**) is as good or
# better, and it needs no disk at all.
#
# `PretrainingData` draws everything (pairs and masks) from a random generator seeded with
# `(seed, epoch)`. So each epoch sees new pairs and new masks, and yet any batch can be
# regenerated from two integers: an interrupted training run resumes at `(epoch, batch index)`
# and sees exactly the batches it would have seen (tutorial 08 checks this end to end).

# %%
config = DataConfig(max_seq_length=64, batch_size=16)
data = PretrainingData([TINY_CORPUS], tokenizer, config, seed=0)
epoch0 = next(data.epoch_batches(0))
epoch0_again = next(PretrainingData([TINY_CORPUS], tokenizer, config, seed=0).epoch_batches(0))
epoch1 = next(data.epoch_batches(1))
other_seed = next(PretrainingData([TINY_CORPUS], tokenizer, config, seed=1).epoch_batches(0))
for name, batch in (("epoch 0", epoch0), ("epoch 0, again", epoch0_again), ("epoch 1", epoch1)):
    print(f"{name:15}", tokenizer.decode(batch["input_ids"][0][:14]))
assert all(np.array_equal(epoch0[k], epoch0_again[k]) for k in epoch0)  # checkpoint: same
assert not np.array_equal(epoch0["input_ids"], epoch1["input_ids"])  # a new epoch: new
assert not np.array_equal(epoch0["input_ids"], other_seed["input_ids"])  # another seed: new

# %% [markdown]
# ## 10. A batch: padding and the attention mask
#
# Pairs have different lengths; a batch is a rectangle. `collate` pads every row to the longest
# in the batch (or to `max_seq_length` with `pad_to_max_length=True`) with `[PAD]`, and says
# which positions are real in `attention_mask` (1 real, 0 padding). Attention ignores the
# padding (tutorial 04), and the labels there are `IGNORE_INDEX`, so the loss ignores it too.
# Most pairs here fill all 64 positions, so to see some padding we take the batch of epoch 0
# that has the most.

# %%
batch = min(data.epoch_batches(0), key=lambda b: b["attention_mask"].mean())
for key, value in batch.items():
    print(f"{key:20} {str(value.dtype):6} {value.shape}")
lengths = batch["attention_mask"].sum(axis=1)  # (B,)
print("real tokens per row:", lengths, "; NSP labels:", batch["next_sentence_label"])
B, T = batch["input_ids"].shape
row = int(np.argmin(lengths))  # the shortest row has the most padding
print(
    f"row {row}, last positions: input_ids {batch['input_ids'][row, -6:]}, attention_mask "
    f"{batch['attention_mask'][row, -6:]}, labels {batch['labels'][row, -6:]}"
)
assert (B, T) == (16, lengths.max()) and T <= 64  # checkpoint: padded to the longest row
real = batch["attention_mask"] == 1
assert np.all(batch["input_ids"][~real] == PAD) and np.all(batch["labels"][~real] == IGNORE_INDEX)
assert np.all(batch["input_ids"][:, 0] == CLS) and np.all(batch["token_type_ids"][~real] == 0)

# %% [markdown]
# The whole batch in one picture: what the model sees at each position (top), the segments
# (middle) and where the labels are (bottom). Each row is one pair; the padding is the white
# tail. Notice how many rows switch from A to B near position 32: when both segments are long,
# truncation shortens the longer one until the two are about the same length.

# %%
kinds = ["padding", "token", "[CLS]/[SEP]", "[MASK]", "random", "kept"]
kind = np.zeros((B, T), dtype=int)  # (B, T): an index into `kinds`
kind[real] = 1
kind[np.isin(batch["input_ids"], [CLS, SEP])] = 2
predicted = batch["labels"] != IGNORE_INDEX
kind[predicted & (batch["input_ids"] == MASK)] = 3
kind[predicted & (batch["input_ids"] != MASK) & (batch["input_ids"] != batch["labels"])] = 4
kind[predicted & (batch["input_ids"] == batch["labels"])] = 5
segments = np.where(real, batch["token_type_ids"] + 1, 0)  # (B, T): 0 pad, 1 A, 2 B
print("predicted positions:", int(predicted.sum()), "of", int(real.sum()), "real tokens")
assert np.all(predicted.sum(axis=1) == np.minimum(20, np.maximum(1, np.round(0.15 * lengths))))

if plt is not None:
    fig, axes = plt.subplots(3, 1, figsize=(10, 9), layout="constrained")
    palette = ["white", "#d9d9d9", "#434343", "#cc0000", "#e69138", "#6aa84f"]
    image = axes[0].imshow(kind, cmap=ListedColormap(palette), vmin=-0.5, vmax=5.5)
    colorbar = fig.colorbar(image, ax=axes[0], ticks=range(6))
    colorbar.ax.set_yticklabels(kinds)
    axes[0].set_title("input_ids: what the model sees")
    image = axes[1].imshow(segments, cmap=ListedColormap(["white", "#cfe2f3", "#f9cb9c"]))
    colorbar = fig.colorbar(image, ax=axes[1], ticks=[1 / 3, 1, 5 / 3])
    colorbar.ax.set_yticklabels(["padding", "A (type 0)", "B (type 1)"])
    axes[1].set_title("token_type_ids and attention_mask")
    shown = np.where(predicted, 2, np.where(real, 1, 0))  # (B, T): 0 pad, 1 -100, 2 a label
    image = axes[2].imshow(shown, cmap=ListedColormap(["white", "#eeeeee", "black"]))
    colorbar = fig.colorbar(image, ax=axes[2], ticks=[1 / 3, 1, 5 / 3])
    colorbar.ax.set_yticklabels(["padding", "-100 (ignored)", "a label"])
    axes[2].set_title("labels: the positions the loss reads")
    for ax in axes:
        ax.set(xlabel="position", ylabel="row of the batch", yticks=range(0, B, 3))
    save_figure(fig, "07_batch_masks.png")

# %% [markdown]
# ## 11. Logits at the masked positions only
#
# The last layer of the MLM head projects each hidden state onto the whole vocabulary: a
# $(H \times V)$ product per position, the biggest matrix product in a small BERT. The loss only
# reads the ~15% of positions that have labels. So `BertForPreTraining` (like the original
# BERT, unlike transformers) gathers those positions first and computes vocabulary logits for
# them alone: `prediction_logits` has shape `(M, V)`, M being the number of labels in the batch,
# instead of `(B, T, V)`. The loss is the same; the work is a fraction. A tiny random model
# shows it:

# %%
tiny = BertConfig(
    vocab_size=len(tokenizer),
    hidden_size=32,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=64,
)
model = BertForPreTraining(tiny, seed=0).eval()
masked_only = model(**batch)  # labels given: logits at the labelled positions only
everywhere = model(**batch, masked_only=False)
M = int(predicted.sum())
print(
    "prediction_logits:",
    masked_only.prediction_logits.shape,
    "vs",
    everywhere.prediction_logits.shape,
)
print(
    f"MLM loss {masked_only.mlm_loss.item():.6f} vs {everywhere.mlm_loss.item():.6f}; "
    f"vocabulary work {M / (B * T):.0%} of the full product"
)
assert masked_only.prediction_logits.shape == (M, len(tokenizer))  # checkpoint
assert everywhere.prediction_logits.shape == (B, T, len(tokenizer))
assert abs(masked_only.mlm_loss.item() - everywhere.mlm_loss.item()) < 1e-5
assert abs(masked_only.mlm_loss.item() - math.log(len(tokenizer))) < 0.5  # untrained: ~log V

# %% [markdown]
# An untrained model's MLM loss is close to $\log V = \log 1000 \approx 6.9$: a uniform guess
# over the vocabulary. Tutorial 08 trains one and watches the loss fall below it.
#
# The same reasoning reaches one layer further down. Only the labelled rows of the last
# layer's output reach the MLM head, and only the `[CLS]` rows the NSP head. Within that layer,
# self-attention mixes every position into every other, so it must run whole; but what follows
# it (the output projection, the feed-forward network, the two LayerNorms) works on each
# position alone. `BertForPreTraining` computes that part at the labelled and `[CLS]` rows only
# (`BertModel(..., output_positions=rows)`), three quarters of the last layer's products
# skipped. The rows it does compute are the full model's:

# %%
bert = model.bert
rows = masked_only.masked_positions  # (M,) flat positions b * T + t
full = bert(**{k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")})
pruned = bert(
    **{k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")},
    output_positions=rows,
)
H = tiny.hidden_size
gap = np.abs(pruned.last_hidden_state.data - full.last_hidden_state.data.reshape(-1, H)[rows])
print(f"last_hidden_state {tuple(pruned.last_hidden_state.shape)} at the labelled rows only; "
      f"largest difference from the full model's rows {gap.max():.1e}")  # fmt: skip
assert pruned.last_hidden_state.shape == (M, H)  # checkpoint
assert gap.max() < 1e-5
assert np.allclose(pruned.pooler_output.data, full.pooler_output.data, atol=1e-5)

# %% [markdown]
# ## Summary
#
# - The corpus: Google's format, one sentence per line, blank lines between documents;
#   `split_sentences` for running text, a heuristic that errs towards longer sentences.
# - NSP pairs: a target length (sometimes shorter), whole sentences into a chunk, a random split;
#   B is the real rest (`IS_NEXT` = 0) or a random other document's span (`NOT_NEXT` = 1), with
#   the unused sentences put back; truncation from the longer side at random ends.
# - `[CLS] A [SEP] B [SEP]`, token types 0 then 1. No other document, no random B: minibert
#   then makes `IS_NEXT` pairs only. Short documents and long sentences force random Bs, so here
#   the majority label is `NOT_NEXT`, about two pairs in three.
# - MLM: 15% of the positions (1 to 20), then 80% `[MASK]`, 10% random, 10% kept; whole-word
#   masking hides all of a word or none of it.
# - Dynamic masking: new pairs and masks every epoch, reproducible from `(seed, epoch)`.
# - Batches are padded, with an attention mask; labels are -100 where there is nothing to
#   predict, and the model computes vocabulary logits at the labelled positions only, and its
#   last layer past self-attention at those (and the `[CLS]`) positions only.
#
# ## Exercises
#
# Run the next cell to define the checks; write your answer; un-comment its `check_...` line.
# The solutions are in the last cell.


# %%
def check_exercise_1(num_to_predict) -> None:
    """num_to_predict(num_tokens) against the number of labels mask_tokens really sets."""
    for length in [3, 4, 5, 6, 7, 10, 13, 16, 17, 23, 40, 64, 100, 133, 134, 200, 512]:
        tokens = [CLS, *([7] * (length - 2)), SEP]
        instance = Instance(tokens, [0] * length, IS_NEXT, [True] * length)
        _, labels = mask_tokens(instance, np.random.default_rng(length), **mask_settings)
        expected = sum(label != IGNORE_INDEX for label in labels)
        got = num_to_predict(length)
        assert got == expected, f"{length} tokens: you say {got}, mask_tokens predicts {expected}"
    print("exercise 1: correct")


def check_exercise_2(word_groups) -> None:
    """word_groups(pieces) -> the candidate groups of whole-word masking, as position lists."""
    cases = {
        ("[CLS]", "a", "k", "##l", "##uge", "[SEP]"): [[1], [2, 3, 4]],
        ("[CLS]", "un", "##aff", "##able", "[SEP]", "##s", "x", "[SEP]"): [[1, 2, 3], [5], [6]],
        ("[CLS]", "a", "b", "[SEP]", "c", "##d", "##e", "[SEP]"): [[1], [2], [4, 5, 6]],
        ("[CLS]", "[SEP]", "[SEP]"): [],
    }
    for pieces, expected in cases.items():
        got = [list(group) for group in word_groups(list(pieces))]
        assert got == expected, f"{pieces}: expected {expected}, got {got}"
    print("exercise 2: correct")


def check_exercise_3(pad_rows) -> None:
    """pad_rows(rows, pad_id) -> (input_ids, attention_mask) like PretrainingData.collate."""
    data = PretrainingData([TINY_CORPUS], tokenizer, DataConfig(48, batch_size=5), seed=3)
    batch = next(data.epoch_batches(0))
    rows = [
        list(r[m == 1]) for r, m in zip(batch["input_ids"], batch["attention_mask"], strict=True)
    ]
    input_ids, attention_mask = pad_rows(rows, PAD)
    assert np.array_equal(input_ids, batch["input_ids"]), "input_ids differ from collate's"
    assert np.array_equal(attention_mask, batch["attention_mask"]), "attention_mask differs"
    print("exercise 3: correct")


# %% [markdown]
# **Exercise 1.** Write `num_to_predict(num_tokens)`: how many positions `mask_tokens` predicts
# in a sequence of `num_tokens` tokens (special tokens included in the count), with the defaults
# `masked_lm_prob=0.15` and `max_predictions_per_seq=20`. Mind Python's `round` (it rounds
# halves to even: `round(2.5) == 2`).


# %%
def num_to_predict(num_tokens: int) -> int:
    raise NotImplementedError("exercise 1: your code here")


# check_exercise_1(num_to_predict)

# %% [markdown]
# **Exercise 2.** Write `word_groups(pieces)`: the candidate groups of whole-word masking for a
# list of WordPiece strings. Skip `[CLS]` and `[SEP]`; a `##` piece joins the group of the piece
# just before it, but only if that piece is in the previous group (a `##` piece right after a
# `[SEP]` starts a group of its own).


# %%
def word_groups(pieces: list[str]) -> list[list[int]]:
    raise NotImplementedError("exercise 2: your code here")


# check_exercise_2(word_groups)

# %% [markdown]
# **Exercise 3.** Write `pad_rows(rows, pad_id)`: from a list of id lists of different lengths,
# the `(B, T)` int64 arrays `input_ids` (padded with `pad_id` to the longest row) and
# `attention_mask` (1 for real tokens, 0 for padding), as `collate` makes them.


# %%
def pad_rows(rows: list[list[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    raise NotImplementedError("exercise 3: your code here")


# check_exercise_3(pad_rows)

# %% [markdown]
# ---
# ## Solutions
#
# *Spoilers below.* This cell runs when the tutorial runs as a script, so the tutorial checks
# its own exercises.


# %%
def num_to_predict_solution(num_tokens: int) -> int:
    return min(20, max(1, round(num_tokens * 0.15)))  # at least 1, at most 20


def word_groups_solution(pieces: list[str]) -> list[list[int]]:
    groups: list[list[int]] = []
    for position, piece in enumerate(pieces):
        if piece in ("[CLS]", "[SEP]"):
            continue
        if piece.startswith("##") and groups and groups[-1][-1] == position - 1:
            groups[-1].append(position)
        else:
            groups.append([position])
    return groups


def pad_rows_solution(rows: list[list[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    T = max(len(r) for r in rows)
    input_ids = np.full((len(rows), T), pad_id, dtype=np.int64)  # (B, T)
    attention_mask = np.zeros((len(rows), T), dtype=np.int64)  # (B, T)
    for i, r in enumerate(rows):
        input_ids[i, : len(r)] = r
        attention_mask[i, : len(r)] = 1
    return input_ids, attention_mask


check_exercise_1(num_to_predict_solution)
check_exercise_2(word_groups_solution)
check_exercise_3(pad_rows_solution)
