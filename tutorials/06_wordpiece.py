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
# # 06 · WordPiece: how BERT reads text
#
# BERT never sees letters. It sees ids from a vocabulary of about 30,000 *word pieces*:
# `"unaffable"` becomes `un ##aff ##able`, three ids. This tutorial builds that path from raw
# text to ids, and the vocabulary itself, with `minibert.tokenization`.
#
# **Goals.** By the end you can
#
# 1. run BERT's *basic tokenizer* step by step (clean, split off CJK characters, strip accents,
#    lowercase, split off punctuation), and say why it is one table lookup per character;
# 2. encode words with greedy longest-match-first WordPiece, and say when a word becomes `[UNK]`;
# 3. train a vocabulary step by step on a small text, watching the merges;
# 4. tell the two training scores apart: `"count"` (what Hugging Face's tokenizers library really
#    runs when asked for WordPiece) and `"likelihood"` (the WordPiece papers' criterion);
# 5. use the transformers-style API: pairs, truncation, padding, offsets, saving and loading.
#
# **Prerequisites.** Python strings, dicts and `collections.Counter`. No machine learning, and
# none of tutorials 01-05: tokenization comes before the model.
#
# **Run time.** About 10 seconds as a script (`.venv/bin/python tutorials/06_wordpiece.py`).
#
# Cells marked **checkpoint** end in `assert`s: if they pass, what the text claims is true on
# your machine too.

# %%
import os
import tempfile
import unicodedata
from collections import Counter
from itertools import pairwise

from course import pyplot, save_figure  # tutorials/course.py

from minibert.tokenization import BasicTokenizer, WordPieceTokenizer, train_wordpiece, wordpiece
from minibert.tokenization.basic import (
    is_chinese_char,
    is_control,
    is_punctuation,
    is_whitespace,
    strip_accents,
)
from minibert.tokenization.sample_text import python_docs_text

plt = pyplot()  # None without matplotlib: the tutorial still runs, just without pictures

# %% [markdown]
# ## 1. The basic tokenizer, step by step
#
# Before any vocabulary is involved, BERT cleans the text and cuts it into words. Five steps, in
# this order (google-research/bert's `BasicTokenizer`, and the Rust `BertNormalizer` +
# `BertPreTokenizer` that transformers runs):
#
# 1. delete NUL, U+FFFD and invisible control/format characters (zero-width spaces, byte-order
#    marks); turn every kind of whitespace into a space;
# 2. put spaces around CJK ideographs: Chinese writes no spaces between words, so each
#    character becomes a word;
# 3. strip accents: decompose each character (Unicode NFD: `é` -> `e` + U+0301, a *combining
#    mark*) and drop the combining marks (category Mn);
# 4. lowercase;
# 5. split on spaces, and make every punctuation character a word of its own.
#
# Here they are, written out plainly:


# %%
def basic_tokenize_by_hand(text: str) -> list[str]:
    # 1. clean
    text = "".join(
        " " if is_whitespace(c) else c for c in text if not (c in "\x00\ufffd" or is_control(c))
    )
    # 2. CJK ideographs become words
    text = "".join(f" {c} " if is_chinese_char(c) else c for c in text)
    # 3. and 4. strip accents, then lowercase (one character at a time: see below)
    text = "".join(c.lower() for c in strip_accents(text))
    # 5. punctuation becomes words, then split on spaces
    return "".join(f" {c} " if is_punctuation(c) else c for c in text).split()


text = "Héllo,\u200b WORLD!  Crème brûlée… 你好 (ΟΔΟΣ)"
print(basic_tokenize_by_hand(text))

# %% [markdown]
# The zero-width space (U+200B) is gone, `é` lost its accent, `…` and the brackets are words,
# and each Chinese character is a word. **Checkpoint:** our five lines agree with minibert's
# `BasicTokenizer` on a handful of awkward texts.

# %%
basic = BasicTokenizer()  # uncased BERT: lowercase, and strip accents
awkward = [
    text,
    "naïve coöperation: l'été, 1,234.5$",
    "tab\there\r\nnbsp\u00a0and\u3000ideographic space",
    "emoji 😀 stay; so do ℃ and €",
    "",
]
for sample in awkward:
    assert basic_tokenize_by_hand(sample) == basic.tokenize(sample), sample
assert basic.tokenize("ΟΔΟΣ") == ["οδοσ"]  # σ, not ς: see the note below
print(basic.tokenize(awkward[1]))

# %% [markdown]
# Two details worth knowing:
#
# - **Lowercasing is per character.** Python's `"ΟΔΟΣ".lower()` gives `"οδος"`: a capital sigma
#   at the end of a word becomes the final form ς. The Rust tokenizer (what transformers runs)
#   lowercases character by character and gives σ, and so do we. The legacy pure-Python BERT
#   tokenizer gives ς. Tiny, but it changes the ids.
# - **Accent stripping is tied to lowercasing** (`strip_accents=None` means "follow
#   `do_lower_case`"), as in BERT: the *uncased* models strip accents, the *cased* ones keep
#   them.
#
# **Why one lookup per character.** Every step looks at one character and nothing else. So the
# whole pipeline is a *function of one character*: `"É"` -> `"e"`, `"!"` -> `" ! "`,
# `"中"` -> `" 中 "`, U+200B -> `""`. minibert computes that string the first time it meets a
# character, keeps it in a table, and lets Python's `str.translate` apply the table in C; then
# `str.split` does step 5. That is the whole basic tokenizer, at about 10 MB/s.

# %%
for char in ["É", "!", "中", "\u200b", "\u00a0"]:
    print(f"{char!r:10} -> {basic.normalize_char(char)!r}")
sentence = "Crème brûlée, s'il vous plaît!"
assert sentence.translate(basic.table).split() == basic.tokenize(sentence)
print(f"the table now holds {len(basic.table)} characters")

# %% [markdown]
# ## 2. WordPiece: the longest piece first
#
# Now each word is cut into pieces from a vocabulary. From the start of the word, take the
# **longest** prefix that is in the vocabulary; continue from where it ended, looking up the
# rest with `##` in front (a continuation piece); repeat. Here is the search, printed:


# %%
def wordpiece_traced(word: str, vocab: set[str]) -> list[str]:
    pieces, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):  # the longest candidate first
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            found = piece in vocab
            print(f"  try {piece!r:14} {'yes' if found else 'no'}")
            if found:
                break
        else:
            return ["[UNK]"]  # nothing matched here: the *whole word* is unknown
        pieces.append(piece)
        start = end
    return pieces


vocab = {"un", "##aff", "##able", "a", "##a", "##f", "##b", "##l", "##e"}
traced = wordpiece_traced("unaffable", vocab)
print(traced)

# %% [markdown]
# Two rules to remember. If at some point no piece matches, the **whole word** becomes one
# `[UNK]`, not just the part that failed. And a word longer than 100 characters is `[UNK]`
# without trying (transformers' limit; google-research/bert used 200). **Checkpoint.**

# %%
assert traced == wordpiece("unaffable", vocab) == ["un", "##aff", "##able"]
assert wordpiece("unaffablez", vocab) == ["[UNK]"]  # "##z" is missing: all of it is unknown
assert wordpiece("a" * 100, vocab) == ["a"] + ["##a"] * 99
assert wordpiece("a" * 101, vocab) == ["[UNK]"]

# %% [markdown]
# ## 3. Training a vocabulary, one merge at a time
#
# Where does the vocabulary come from? Start from single characters, and repeatedly glue the
# best pair of neighbouring pieces into a new piece. Everything happens *inside words*, and the
# word boundary is kept in the pieces: `"lower"` starts as `l ##o ##w ##e ##r`, so `e` (at the
# start of a word) and `##e` (inside one) are different pieces, exactly as the encoder will
# look them up. Words are counted once, with their frequencies:

# %%
small_text = """
The lowest and the newest, the widest and the wildest: low, lower, lowest; new, newer,
newest; wide, wider, widest. The newer tokenizer splits the widest words into the lowest
number of pieces, and the newest words into more.
"""
word_counts = Counter(basic.tokenize(small_text))
splits = {w: [w[0]] + ["##" + c for c in w[1:]] for w in word_counts}
print(word_counts.most_common(6))
print(splits["lowest"])

# %% [markdown]
# Count every adjacent pair, each word weighted by how often it occurs, and take the most
# frequent: that is the `"count"` score.


# %%
def pair_counts(splits: dict[str, list[str]], word_counts: Counter) -> Counter:
    counts = Counter()
    for word, pieces in splits.items():
        for pair in pairwise(pieces):
            counts[pair] += word_counts[word]
    return counts


counts = pair_counts(splits, word_counts)
best = max(counts, key=counts.get)
print(counts.most_common(5))
print("first merge:", best, "->", best[0] + best[1].removeprefix("##"))

# %% [markdown]
# Merge it everywhere, count again, merge the next best, until the vocabulary is big enough.
# `train_wordpiece` does exactly that, but keeps the counts up to date merge by merge instead of
# recounting (an index from each pair to the words that contain it, and a priority queue), so
# it handles megabytes in seconds. **Checkpoint:** its first merge is ours, and the vocabulary
# starts with the special tokens and the alphabet.

# %%
result = train_wordpiece(iter([small_text]), vocab_size=70, show_progress=False)
first = result.merges[0]
assert (first.left, first.right) == best and first.count == counts[best]
assert result.vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
assert set(result.alphabet) == {c for w in word_counts for c in w}
for step in result.merges[:10]:
    print(f"{step.left:>8} + {step.right:<8} -> {step.token:<10} (count {step.count})")

# %% [markdown]
# `##est` appears early: it ends *lowest*, *newest*, *widest*, *wildest*. The trainer stops at
# `vocab_size`, or earlier when no pair occurs `min_frequency` (2) times.
#
# ## 4. A real vocabulary, and words it has never seen
#
# Let us train on something bigger: the docstrings and comments of Python's own standard
# library, which every Python installation carries (about 300 kB here; nothing is downloaded).

# %%
docs = python_docs_text(400_000, include_tests=False)
train_part, held_out = docs[:300_000], docs[300_000:]
tok = WordPieceTokenizer.train(iter([train_part]), vocab_size=2000, show_progress=False)
print(
    tok, f"trained on {tok.training.n_words:,} words ({tok.training.n_distinct_words:,} distinct)"
)
for word in ["tokenization", "tokenisation", "tokenizaton", "untokenizable", "Pythonic", "naïve"]:
    print(f"{word:15} -> {tok.tokenize(word)}")

# %% [markdown]
# Unseen words, British spellings and typos still get pieces: any word made of characters the
# training text contained can be spelled, at worst letter by letter. Only a character the
# vocabulary has never seen makes a word `[UNK]`. **Checkpoint.**

# %%
unseen = next(c for c in "🦜ж丂ꙮ𓀀" if c not in tok.vocab and "##" + c not in tok.vocab)
assert "[UNK]" not in tok.tokenize("untokenizable tokenizaton")
assert tok.tokenize(f"spam{unseen}eggs spam") == ["[UNK]", *tok.tokenize("spam")]
print(f"{unseen!r} is not in the vocabulary, so 'spam{unseen}eggs' is one [UNK]")

# %% [markdown]
# ## 5. Two scores: "count" and "likelihood"
#
# The merges above glue the **most frequent** pair. That is byte-pair encoding (BPE), and it is
# what Hugging Face's tokenizers library runs when you ask it for a WordPiece vocabulary
# (`BertWordPieceTokenizer.train`): BPE with a `##` prefix, keeping the vocabulary and dropping
# the merges. minibert's `score="count"` reproduces its vocabulary set (the parity tests check
# it).
#
# The WordPiece papers choose differently. The Hugging Face course describes the criterion as
#
# $$\mathrm{score}(a, b) = \frac{\mathrm{count}(ab)}{\mathrm{count}(a)\,\mathrm{count}(b)},$$
#
# how much more often `a` and `b` occur together than their own frequencies predict: gluing
# such a pair raises a unigram language model's likelihood of the corpus most. That is
# `score="likelihood"`. Same corpus, same size, other merges:

# %%
likely = WordPieceTokenizer.train(
    iter([train_part]), vocab_size=2000, score="likelihood", show_progress=False
)
print(f"{'count':>28} | likelihood")
for a, b in zip(tok.training.merges[:10], likely.training.merges[:10], strict=True):
    print(f"{a.left + ' + ' + a.right:>20} ({a.count:4}) | {b.left} + {b.right} ({b.count})")

# %% [markdown]
# Count glues `t + ##h` first: the most frequent pair of English. Likelihood first glues pieces
# that hardly ever occur apart (here, runs of digits from one docstring), and reaches common
# pieces like `##ing` late. **Checkpoint:** its first merge really has the best score, computed
# by hand from the word counts.

# %%
words = Counter(basic.tokenize(train_part))
splits = {w: [w[0]] + ["##" + c for c in w[1:]] for w in words}
pieces = Counter()
for word, parts in splits.items():
    for part in parts:
        pieces[part] += words[word]
counts = pair_counts(splits, words)
scores = {p: c / (pieces[p[0]] * pieces[p[1]]) for p, c in counts.items() if c >= 2}
first = likely.training.merges[0]
assert first.score == max(scores.values())
assert scores[(first.left, first.right)] == first.score
print(f"best likelihood score {first.score:.4f}: {first.left} + {first.right}")

# %% [markdown]
# Which is better? On held-out text (the docstrings we did not train on), the count vocabulary
# spends its slots on frequent pieces, so common words take fewer pieces; the likelihood
# vocabulary holds more rare whole words and needs more pieces for common ones. Fewer pieces
# per word means shorter sequences for the model.

# %%
held_words = basic.tokenize(held_out)
per_word = {
    name: Counter(len(t.tokenize(w)) for w in held_words)
    for name, t in [("count", tok), ("likelihood", likely)]
}
for name, histogram in per_word.items():
    total = sum(n * k for n, k in histogram.items())
    print(f"{name:>10}: {total / len(held_words):.2f} pieces per word")
shared = len(set(tok.vocab) & set(likely.vocab))
print(f"the two vocabularies share {shared} of their 2000 tokens")
if plt is not None:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    lengths = range(1, 9)
    for offset, (name, histogram) in zip((-0.2, 0.2), per_word.items(), strict=True):
        fractions = [histogram[n] / len(held_words) for n in lengths]
        ax.bar([n + offset for n in lengths], fractions, width=0.4, label=name)
    ax.set(xlabel="pieces per word", ylabel="fraction of words", title="held-out docstrings")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, "06_pieces_per_word.png")

# %% [markdown]
# ## 6. The tokenizer API: what a model receives
#
# `WordPieceTokenizer` has the API of transformers' `BertTokenizer`. A pair of texts becomes
# `[CLS] A [SEP] B [SEP]`, with `token_type_ids` 0 for the first segment and 1 for the second;
# `truncation=True` trims the longer text first; padding fills with `[PAD]` and
# `attention_mask` 0; offsets point back into the raw text.

# %%
question, context = "Who wrote BERT?", "BERT was written by Devlin, Chang, Lee and Toutanova."
enc = tok(
    question,
    context,
    truncation=True,
    max_length=20,
    padding="max_length",
    return_offsets_mapping=True,
)
for token, segment, mask, (start, end) in zip(
    enc.tokens(), enc.token_type_ids, enc.attention_mask, enc.offset_mapping, strict=True
):
    source = question if segment == 0 else context
    print(f"{token:10} type {segment} mask {mask}  {source[start:end]!r}")

# %% [markdown]
# **Checkpoint:** the layout, the length, and a save/load round trip. A directory written by
# `save_pretrained` (a `vocab.txt` and a `tokenizer_config.json`) also loads in transformers'
# `BertTokenizer.from_pretrained`, and any BERT checkpoint's tokenizer directory loads here.

# %%
assert len(enc.input_ids) == 20 and enc.tokens()[0] == "[CLS]"
assert enc.token_type_ids[enc.tokens().index("[SEP]") + 1] == 1
print(tok.decode(enc.input_ids, skip_special_tokens=True))
with tempfile.TemporaryDirectory() as directory:
    tok.save_pretrained(directory)
    print(sorted(os.listdir(directory)))
    again = WordPieceTokenizer.from_pretrained(directory)
assert again(question, context).input_ids == tok(question, context).input_ids

# %% [markdown]
# ## Summary
#
# - The basic tokenizer is a function of one character (clean, CJK, accents, lowercase,
#   punctuation), applied with one `str.translate`, then `split`.
# - WordPiece takes the longest known piece first; a word it cannot finish is one `[UNK]`.
# - Training glues the best neighbouring pair again and again. `"count"` (most frequent) is what
#   the tokenizers library runs under the name WordPiece; `"likelihood"` (count(ab) over
#   count(a) count(b)) is the papers' criterion and gives a different vocabulary.
# - `WordPieceTokenizer(text, pair, truncation=True, padding=..., return_offsets_mapping=True)`
#   gives what BERT needs; `save_pretrained`/`from_pretrained` speak transformers' format.
# - Command line: `minibert train-tokenizer corpus.txt --vocab-size 8192 --out my-tokenizer`.
#
# ## Exercises
#
# Run the next cell to define the checks; write your answer; un-comment its `check_...` line.
# The solutions are in the last cell.


# %%
def check_exercise_1(count_pairs) -> None:
    """count_pairs(word_counts) -> Counter of (piece, piece) pairs, words split with ##."""
    words = Counter({"hug": 10, "pug": 5, "pun": 12, "bun": 4, "hugs": 5})
    counts = count_pairs(words)
    assert counts[("##u", "##g")] == 20, "##u ##g occurs in hug (10), pug (5) and hugs (5)"
    assert counts[("h", "##u")] == 15 and ("u", "##g") not in counts, "mind the ## prefix"
    first = train_wordpiece(iter([" ".join(words.elements())]), vocab_size=20,
                            show_progress=False).merges[0]  # fmt: skip
    assert max(counts, key=counts.get) == (first.left, first.right)
    print("exercise 1: correct")


def check_exercise_2(vocab: set[str], word: str) -> None:
    """Greedy WordPiece gives [UNK], yet the word *can* be cut into pieces of the vocabulary."""

    def can_split(start: int) -> bool:  # brute force: any segmentation at all?
        if start == len(word):
            return True
        for end in range(start + 1, len(word) + 1):
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab and can_split(end):
                return True
        return False

    assert wordpiece(word, vocab) == ["[UNK]"], "greedy should fail on your word"
    assert can_split(0), "but some segmentation into vocabulary pieces should exist"
    print("exercise 2: correct")


def check_exercise_3(best_likelihood_pair) -> None:
    """best_likelihood_pair(word_counts) -> the pair with the best count(ab)/(count(a)count(b))."""
    words = Counter({"hug": 10, "pug": 5, "pun": 12, "bun": 4, "hugs": 5})
    text = " ".join(words.elements())
    first = train_wordpiece(iter([text]), vocab_size=20, score="likelihood",
                            show_progress=False).merges[0]  # fmt: skip
    assert best_likelihood_pair(words) == (first.left, first.right) == ("##g", "##s")
    print("exercise 3: correct")


# %% [markdown]
# **Exercise 1.** Write `count_pairs(word_counts)`: split each word into its first character and
# `##` continuations, and count every adjacent pair, weighted by the word's count. The check
# compares your most frequent pair with `train_wordpiece`'s first merge.
#
# **Exercise 2.** Greedy is not always right. Find a small vocabulary and a word for which
# `wordpiece` returns `[UNK]` although the word *can* be written with pieces of that vocabulary.
# (Hint: make the longest first piece leave a remainder that has no piece.)
#
# **Exercise 3.** Write `best_likelihood_pair(word_counts)`: the pair with the largest
# count(ab) / (count(a) count(b)), where count(a) counts the piece `a` over all words. For the
# course's example (hug 10, pug 5, pun 12, bun 4, hugs 5) it is `("##g", "##s")`: why that one,
# when `##u ##g` is four times as frequent?

# %%
# check_exercise_1(count_pairs)
# check_exercise_2({...}, "...")
# check_exercise_3(best_likelihood_pair)

# %% [markdown]
# ---
# ## Solutions
#
# *Spoilers below.* This cell runs when the tutorial runs as a script, so the tutorial checks
# its own exercises.


# %%
def split_word(word: str) -> list[str]:
    return [word[0]] + ["##" + c for c in word[1:]]


def count_pairs_solution(word_counts: Counter) -> Counter:
    counts = Counter()
    for word, n in word_counts.items():
        for pair in pairwise(split_word(word)):
            counts[pair] += n
    return counts


def best_likelihood_pair_solution(word_counts: Counter) -> tuple[str, str]:
    pieces = Counter()
    for word, n in word_counts.items():
        for piece in split_word(word):
            pieces[piece] += n
    pairs = count_pairs_solution(word_counts)
    # ##g and ##s: 5 / (20 * 5) = 1/20. ##u ##g: 20 / (36 * 20) = 1/36, because ##u is everywhere.
    return max(pairs, key=lambda p: pairs[p] / (pieces[p[0]] * pieces[p[1]]))


check_exercise_1(count_pairs_solution)
# "ab" is the longest first piece, and leaves "##cd", which is missing; "a" + "##bcd" works.
check_exercise_2({"a", "ab", "##bcd"}, "abcd")
check_exercise_3(best_likelihood_pair_solution)
assert unicodedata.unidata_version  # (the character tables come from unicodedata)
