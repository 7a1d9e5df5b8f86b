r"""Learning a WordPiece vocabulary from text.

Start from single characters, then repeatedly glue the best adjacent pair of pieces into a new
piece, until the vocabulary is big enough. Everything happens inside words (the basic
tokenizer's words): a word starts as its characters, every character after the first marked as
a continuation (``"hello"`` -> ``h ##e ##l ##l ##o``), so ``e`` and ``##e`` are two different
pieces, exactly as the encoder will look them up.

**What "best" means: the two scores.**

- ``score="count"``: the pair that occurs most often (each word weighted by how often it occurs).
  This is what the Hugging Face tokenizers library runs when you ask it for a WordPiece
  vocabulary (``BertWordPieceTokenizer.train``, ``WordPieceTrainer``): it trains BPE with a
  ``##`` continuation prefix and keeps the vocabulary, dropping the merges. On the same corpus
  and settings, ours gives the same vocabulary *set* (the ids differ; the ``tests/reference``
  parity tests check it), up to ties: when pairs have the same count the library picks the one
  with the smaller ids, and its ``##`` ids depend on hash-map order, so two of its own runs can
  differ in a few tokens (on 5 MB of text and 8,000 tokens, 0 to 20 of them). Ours breaks ties
  the same way with ids in a fixed order, so the same corpus always gives the same vocabulary,
  and it differs from the library's runs about as much as they differ from each other. (One
  more difference, in bookkeeping only: the library's queue entries remember the words where a
  pair was counted, so a pair that forms again later can be merged in two batches; we merge a
  pair in all its words at once. On every corpus we compared, this changed nothing.)
- ``score="likelihood"``: the pair with the largest

  .. math:: \mathrm{score}(a, b) = \frac{\mathrm{count}(ab)}{\mathrm{count}(a)\,\mathrm{count}(b)},

  the criterion of the WordPiece papers as the Hugging Face course describes it: gluing ``a`` and
  ``b`` raises the likelihood of a unigram model of the corpus most when they occur together
  far more often than their own frequencies predict. It prefers pieces that belong together
  (``"##q" "##u"``) over merely frequent ones (``"t" "##h"``), and so learns whole rare words
  sooner and frequent short pieces later. It is not Google's original trainer, which was never
  published, and its vocabulary matches no library's.

Both apply ``min_frequency`` to the pair count and stop early when no pair reaches it.

**Ids.** Special tokens first (``[PAD]`` gets id 0), then the alphabet in code-point order, then
the ``##`` continuations of those characters (those found in the most distinct words first, then
by code point), then the merged pieces in the order they were learned. Ties between pairs with
the same score go to the smaller (left id, right id), as in the tokenizers library.

**Speed.** The corpus is read once, into a table of distinct words with their counts (word
order does not matter for pair counts). Pair counts are then kept up to date merge by merge:
each merge visits only the words that contain the pair (an index from pair to words), and a
priority queue with lazy deletion finds the next best pair, so nothing rescans the corpus. On a
5 MB corpus this takes a few seconds in plain Python; see ``make bench``.
"""

from __future__ import annotations

import heapq
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

from tqdm.auto import tqdm

from minibert.tokenization.basic import BasicTokenizer

SCORES = ("count", "likelihood")
DEFAULT_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
CONTINUATION = "##"


@dataclass(frozen=True)
class MergeStep:
    """One learned merge: ``left`` + ``right`` -> ``token``, with its pair count and score."""

    left: str
    right: str
    token: str
    count: int
    score: float


@dataclass
class TrainingResult:
    """What ``train_wordpiece`` learned: the vocabulary (tokens in id order) and the merges."""

    vocab: list[str]
    merges: list[MergeStep]
    alphabet: list[str]
    n_words: int = 0  # words in the corpus
    n_distinct_words: int = 0
    word_counts: Counter = field(default_factory=Counter, repr=False)


# --- reading a corpus ------------------------------------------------------------------------


def read_text_file(path: str | os.PathLike, block_size: int = 1 << 20) -> Iterator[str]:
    """A UTF-8 file as blocks of whole lines (about ``block_size`` bytes each).

    Raises:
        ValueError: the file is not UTF-8; the message names the file and the byte offset.
    """
    path = Path(path)
    with open(path, "rb") as f:
        offset = 0
        while block := f.read(block_size):
            # Finish the line: b"\n" never occurs inside a UTF-8 character, so the block ends
            # on a character boundary, and no word is cut in two.
            block += f.readline()
            try:
                text = block.decode("utf-8")
            except UnicodeDecodeError as error:
                bad = block[error.start : error.start + 4]
                raise ValueError(
                    f"{path}: not valid UTF-8 at byte offset {offset + error.start} "
                    f"(bytes {bad!r}); convert the file to UTF-8 first"
                ) from None
            offset += len(block)
            yield text


def corpus_texts(files_or_iterator) -> Iterator[str]:
    """Texts from a path, a list of paths, or an iterator of strings (checked to be strings).

    Files are checked to exist before anything is read, so a typo fails at once.
    """
    source = files_or_iterator
    if isinstance(source, (str, os.PathLike)):
        source = [source]
    if isinstance(source, (list, tuple)):
        paths = []
        for item in source:
            if not isinstance(item, (str, os.PathLike)):
                raise TypeError(
                    f"a list given to train() holds file paths, not {type(item).__name__}; "
                    "to train on strings in memory, pass an iterator such as iter(texts)"
                )
            path = Path(item)
            if not path.is_file():
                raise FileNotFoundError(
                    f"corpus file not found: {str(item)[:200]!r} (to train on strings in "
                    "memory, pass an iterator such as iter(texts))"
                )
            paths.append(path)
        return (text for path in paths for text in read_text_file(path))
    if isinstance(source, Iterable):
        return _only_strings(source)
    raise TypeError(
        f"train() takes a path, a list of paths or an iterator of str, not {type(source).__name__}"
    )


def _only_strings(texts: Iterable) -> Iterator[str]:
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"the corpus iterator must yield str, got {type(text).__name__}")
        yield text


def count_words(
    texts: Iterable[str], basic: BasicTokenizer, show_progress: bool = False
) -> Counter:
    """How often each word (of the basic tokenizer) occurs in ``texts``."""
    counts: Counter = Counter()
    with tqdm(
        desc="counting words", unit="char", unit_scale=True, disable=not show_progress
    ) as progress:
        for text in texts:
            counts.update(basic.tokenize(text))
            progress.update(len(text))
    return counts


def choose_alphabet(word_counts: Counter, limit_alphabet: int | None) -> list[str]:
    """The characters to start from, in code-point order: all, or the ``limit`` most frequent.

    A character's frequency counts every occurrence in every word. Ties at the limit go to the
    lower code point (the tokenizers library breaks them arbitrarily).
    """
    frequency: Counter = Counter()
    for word, n in word_counts.items():
        for char in word:
            frequency[char] += n
    chars = sorted(frequency)
    if limit_alphabet is not None and len(chars) > limit_alphabet:
        chars = sorted(sorted(chars, key=lambda c: -frequency[c])[:limit_alphabet])
    return chars


# --- training --------------------------------------------------------------------------------


def train_wordpiece(
    texts: Iterable[str],
    vocab_size: int = 30000,
    min_frequency: int = 2,
    limit_alphabet: int | None = 1000,
    special_tokens: Sequence[str] = DEFAULT_SPECIAL_TOKENS,
    lowercase: bool = True,
    basic: BasicTokenizer | None = None,
    score: str = "count",
    show_progress: bool = True,
) -> TrainingResult:
    """Learn a WordPiece vocabulary of (up to) ``vocab_size`` tokens from ``texts``.

    Args:
        texts: the corpus, as strings (``corpus_texts`` turns file paths into these).
        vocab_size: stop when the vocabulary has this many tokens.
        min_frequency: never merge a pair that occurs fewer times; training stops early (with a
            smaller vocabulary) when no pair is left.
        limit_alphabet: keep at most this many distinct characters (the most frequent); the
            others disappear from the words they are in, as in the tokenizers library.
        special_tokens: put first in the vocabulary.
        lowercase: the normalization (BERT's uncased: lowercase and strip accents), unless
            ``basic`` is given.
        basic: the basic tokenizer that cuts the text into words.
        score: ``"count"`` or ``"likelihood"`` (see the module docstring).
        show_progress: tqdm progress bars on stderr.

    Returns:
        A ``TrainingResult``: ``vocab`` (tokens in id order) and ``merges`` (in learned order).
        The vocabulary can come out larger than ``vocab_size`` when the special tokens, the
        alphabet and its ``##`` continuations already exceed it (no merge is made then), as in
        the tokenizers library; smaller, when ``min_frequency`` stops the merges first.

    Raises:
        ValueError: an unknown score, an empty corpus, or a ``vocab_size`` smaller than the
            special tokens plus the alphabet.
    """
    if score not in SCORES:
        raise ValueError(f"score={score!r}: use 'count' or 'likelihood'")
    if not isinstance(vocab_size, int) or vocab_size < 1:
        raise ValueError(f"vocab_size must be a positive int, got {vocab_size!r}")
    if min_frequency < 0:
        raise ValueError(f"min_frequency must be >= 0, got {min_frequency}")
    if limit_alphabet is not None and limit_alphabet < 1:
        raise ValueError(f"limit_alphabet must be None or >= 1, got {limit_alphabet}")
    basic = basic or BasicTokenizer(do_lower_case=lowercase)
    word_counts = count_words(texts, basic, show_progress)
    if not word_counts:
        raise ValueError("the corpus is empty: it has no words to learn a vocabulary from")
    alphabet = choose_alphabet(word_counts, limit_alphabet)

    # The starting vocabulary: special tokens, characters, and "##" continuations.
    tokens: list[str] = []
    ids: dict[str, int] = {}

    def add(token: str) -> int:
        if token not in ids:
            ids[token] = len(tokens)
            tokens.append(token)
        return ids[token]

    for token in special_tokens:
        add(token)
    for char in alphabet:
        add(char)
    if vocab_size < len(tokens):
        raise ValueError(
            f"vocab_size={vocab_size} is too small: the {len(set(special_tokens))} special tokens "
            f"and the {len(alphabet)} characters of the alphabet already make {len(tokens)}; ask "
            f"for at least {len(tokens)}, or lower limit_alphabet"
        )
    kept = set(alphabet)
    # The "##" continuations, most widespread first (in the most distinct words). Ties between
    # equal pairs go to the smaller ids; the tokenizers library numbers continuations in the
    # order it meets them in a hash map of words, where widespread characters tend to come
    # first, so this order breaks ties the way the library most often does.
    spread = Counter(c for word in word_counts for c in set(word[1:]) if c in kept)
    for char in sorted(spread, key=lambda c: (-spread[c], c)):
        add(CONTINUATION + char)

    # Every word as a list of piece ids: h ##e ##l ##l ##o. Characters left out of the alphabet
    # are skipped (the word closes up around them), as the tokenizers library does.
    words, counts = [], []
    for word, n in word_counts.items():
        symbols = [ids[c if i == 0 else CONTINUATION + c] for i, c in enumerate(word) if c in kept]
        if symbols:
            words.append(symbols)
            counts.append(n)

    merges = _learn_merges(
        words, counts, tokens, ids, vocab_size, min_frequency, score, show_progress
    )
    return TrainingResult(
        vocab=tokens,
        merges=merges,
        alphabet=alphabet,
        n_words=sum(word_counts.values()),
        n_distinct_words=len(word_counts),
        word_counts=word_counts,
    )


def _learn_merges(
    words: list[list[int]],
    counts: list[int],
    tokens: list[str],
    ids: dict[str, int],
    vocab_size: int,
    min_frequency: int,
    score: str,
    show_progress: bool,
) -> list[MergeStep]:
    """The merge loop: glue the best pair until the vocabulary is full. Edits all arguments."""
    likelihood = score == "likelihood"
    min_count = max(1, min_frequency)

    # pair_count[(a, b)]: how often piece a is followed by piece b, over the whole corpus.
    # where[(a, b)]: the words that contain the pair (a superset: merges only ever remove).
    pair_count: defaultdict[tuple[int, int], int] = defaultdict(int)
    where: defaultdict[tuple[int, int], set[int]] = defaultdict(set)
    for w, (symbols, n) in enumerate(zip(words, counts, strict=True)):
        for pair in pairwise(symbols):
            pair_count[pair] += n
            where[pair].add(w)

    # For the likelihood score: how often each piece occurs, and the pairs each piece is in
    # (when a piece gets rarer, the score of every pair it is in goes up).
    piece_count: list[int] = [0] * len(tokens)
    pairs_of: defaultdict[int, set[tuple[int, int]]] = defaultdict(set)
    if likelihood:
        for symbols, n in zip(words, counts, strict=True):
            for s in symbols:
                piece_count[s] += n
        for a, b in pair_count:
            pairs_of[a].add((a, b))
            pairs_of[b].add((a, b))

    def priority(pair: tuple[int, int]) -> float:
        count = pair_count[pair]
        if likelihood and count > 0:
            return count / (piece_count[pair[0]] * piece_count[pair[1]])
        return count

    # A max-heap (heapq is a min-heap, hence the minus) of (-score, pair): the best score first,
    # ties to the smaller pair of ids. Entries go stale when counts change; we check on the way
    # out instead of searching the heap (lazy deletion).
    heap = [(-priority(p), p) for p, c in pair_count.items() if c >= min_count]
    heapq.heapify(heap)

    merges: list[MergeStep] = []
    progress = tqdm(
        total=max(0, vocab_size - len(tokens)),
        desc="merges",
        unit="merge",
        disable=not show_progress,
    )
    while len(tokens) < vocab_size and heap:
        negative_score, pair = heapq.heappop(heap)
        current = priority(pair)
        if -negative_score != current:
            # Stale. A lower score goes back in with its true value; a higher one already has
            # its own entry (every pair whose score rises is pushed again below).
            if current < -negative_score and pair_count[pair] >= min_count:
                heapq.heappush(heap, (-current, pair))
            continue
        count = pair_count[pair]
        if count < min_count:
            if not likelihood:
                break  # ordered by count: no pair left reaches min_frequency
            continue

        a, b = pair
        right = tokens[b][len(CONTINUATION) :] if tokens[b].startswith(CONTINUATION) else tokens[b]
        new_token = tokens[a] + right  # "##e" + "##s" -> "##es"; "t" + "##h" -> "th"
        z = ids.get(new_token)
        if z is None:  # (the same string can come from two pairs: "ab"+"##c", "a"+"##bc")
            z = ids[new_token] = len(tokens)
            tokens.append(new_token)
            piece_count.append(0)
            progress.update(1)
        merges.append(MergeStep(tokens[a], tokens[b], new_token, count, float(current)))

        # Merge the pair in every word that has it, and update the counts of the pairs around
        # each merged spot: in "x a b y", (x, a) and (b, y) lose n, (x, z) and (z, y) gain n.
        changed = set()
        for w in where.pop(pair):
            symbols, n = words[w], counts[w]
            i = 0
            while i < len(symbols) - 1:
                if symbols[i] == a and symbols[i + 1] == b:
                    if i > 0:
                        pair_count[symbols[i - 1], a] -= n
                        new_pair = (symbols[i - 1], z)
                        pair_count[new_pair] += n
                        where[new_pair].add(w)
                        changed.add(new_pair)
                    symbols[i : i + 2] = [z]
                    if i < len(symbols) - 1:
                        pair_count[b, symbols[i + 1]] -= n
                        new_pair = (z, symbols[i + 1])
                        pair_count[new_pair] += n
                        where[new_pair].add(w)
                        changed.add(new_pair)
                    piece_count[a] -= n
                    piece_count[b] -= n
                    piece_count[z] += n
                i += 1
        pair_count[pair] = 0

        if likelihood:
            for new_pair in changed:
                pairs_of[new_pair[0]].add(new_pair)
                pairs_of[new_pair[1]].add(new_pair)
            # a and b got rarer and z more frequent: every pair they are in has a new score.
            for piece in {a, b, z}:
                pairs_of[piece] = {p for p in pairs_of[piece] if pair_count[p] > 0}
                changed |= pairs_of[piece]
        for new_pair in changed:
            if pair_count[new_pair] >= min_count:
                heapq.heappush(heap, (-priority(new_pair), new_pair))
    progress.close()
    return merges
