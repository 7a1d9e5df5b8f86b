"""BERT's pretraining examples: next-sentence pairs and masked-LM targets.

The semantics are the original BERT's (google-research/bert, ``create_pretraining_data.py``),
rewritten from its description:

- **NSP pairs.** Sentences of a document accumulate into a chunk until it reaches a target
  length (``max_seq_length - 3``, or with probability ``short_seq_prob`` a shorter random one, so
  the model also sees short inputs). A random split point makes segment A; segment B is the
  rest of the chunk (label ``IS_NEXT``) or, half the time, a span from another document
  (``NOT_NEXT``), in which case the unused sentences are put back for the next chunk. The pair
  is truncated to fit, one token at a time from the longer side, at a random end.
- **MLM masking.** 15% of the non-special positions (at least 1, at most
  ``max_predictions_per_seq``) are predicted; of those, 80% become [MASK], 10% a random token
  and 10% stay unchanged, so the model cannot assume the input at a predicted position is wrong.
  With whole-word masking, the pieces of a word are chosen, and treated, together.

Why not concatenate whole documents? Because then NSP would be trivial (a random B would
usually be mid-sentence); and why the 10% unchanged? Because [MASK] never occurs at fine-tuning
time, so the model must also build good representations of real tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

IS_NEXT = 0  # segment B follows segment A in the document
NOT_NEXT = 1  # segment B comes from another document
IGNORE_INDEX = -100  # the label of a position that is not predicted


@dataclass
class Instance:
    """One pretraining example before masking: ``[CLS] A [SEP] B [SEP]`` as token ids."""

    tokens: list[int]
    token_type_ids: list[int]
    next_sentence_label: int  # IS_NEXT or NOT_NEXT (-100 when NSP is off)
    word_starts: list[bool]  # True where a token starts a word (for whole-word masking)


def truncate_pair(
    tokens_a: list, tokens_b: list, max_tokens: int, rng: np.random.Generator
) -> None:
    """Remove tokens, in place, from the longer segment, at a random end, until both fit.

    Randomizing the end avoids teaching the model that segments always end (or begin) cleanly.
    """
    while len(tokens_a) + len(tokens_b) > max_tokens:
        longer = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        if rng.random() < 0.5:
            del longer[0]
        else:
            longer.pop()


def nsp_instances(
    document: Sequence[list[int]],
    doc_index: int,
    documents: Sequence[Sequence[list[int]]],
    special: dict[str, int],
    max_seq_length: int,
    short_seq_prob: float,
    rng: np.random.Generator,
    continuation: set[int] | frozenset = frozenset(),
) -> list[Instance]:
    """NSP pairs from one document (a list of tokenized sentences).

    Args:
        documents: every document of the current buffer, for drawing random segments B.
        special: the ids of ``"cls"`` and ``"sep"``.
        continuation: token ids that continue a word (``##`` pieces), for whole-word masking.
    """
    max_tokens = max_seq_length - 3  # room for [CLS], [SEP], [SEP]
    target = max_tokens
    if rng.random() < short_seq_prob:
        target = int(rng.integers(2, max_tokens + 1))
    instances: list[Instance] = []
    chunk: list[list[int]] = []
    chunk_length = 0
    i = 0
    while i < len(document):
        chunk.append(document[i])
        chunk_length += len(document[i])
        if i == len(document) - 1 or chunk_length >= target:
            if chunk:
                a_end = int(rng.integers(1, len(chunk))) if len(chunk) >= 2 else 1
                tokens_a = [t for sentence in chunk[:a_end] for t in sentence]
                other_documents = len(documents) > 1
                # A lone chunk has no true continuation; with no other document to draw from
                # either, no correctly labelled pair can be made from it: skip just this chunk.
                if len(chunk) == 1 and not other_documents:
                    chunk, chunk_length = [], 0
                    i += 1
                    continue
                is_random_next = other_documents and (len(chunk) == 1 or rng.random() < 0.5)
                if is_random_next:
                    tokens_b = _random_segment(documents, doc_index, target - len(tokens_a), rng)
                    i -= len(chunk) - a_end  # put the unused sentences back
                else:
                    tokens_b = [t for sentence in chunk[a_end:] for t in sentence]
                if tokens_a and tokens_b:
                    truncate_pair(tokens_a, tokens_b, max_tokens, rng)
                    instances.append(
                        _pair(
                            tokens_a,
                            tokens_b,
                            NOT_NEXT if is_random_next else IS_NEXT,
                            special,
                            continuation,
                        )
                    )
            chunk, chunk_length = [], 0
        i += 1
    return instances


def _random_segment(documents, doc_index: int, length: int, rng: np.random.Generator) -> list[int]:
    """Up to ``length`` tokens from a random sentence onwards in a document other than ours."""
    other = doc_index
    while other == doc_index:  # terminates: the caller guarantees another document exists
        other = int(rng.integers(len(documents)))
    document = documents[other]
    start = int(rng.integers(len(document)))
    tokens: list[int] = []
    for sentence in document[start:]:
        tokens.extend(sentence)
        if len(tokens) >= length:
            break
    return tokens


def _pair(tokens_a, tokens_b, label, special, continuation) -> Instance:
    cls, sep = special["cls"], special["sep"]
    tokens = [cls, *tokens_a, sep, *tokens_b, sep]
    types = [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1)
    return Instance(tokens, types, label, [t not in continuation for t in tokens])


def single_segment_instances(
    document: Sequence[list[int]], special: dict[str, int], max_seq_length: int,
    continuation: set[int] | frozenset = frozenset(),
) -> list[Instance]:  # fmt: skip
    """Without NSP (RoBERTa's recipe): ``[CLS] sentences [SEP]`` packed to full length.

    Consecutive sentences of one document fill each sequence; a sentence longer than the
    sequence is cut.
    """
    max_tokens = max_seq_length - 2
    instances, current = [], []
    for sentence in document:
        if current and len(current) + len(sentence) > max_tokens:
            instances.append(current)
            current = []
        current = current + sentence[: max_tokens - len(current)]
    if current:
        instances.append(current)
    cls, sep = special["cls"], special["sep"]
    return [
        Instance(
            [cls, *t, sep],
            [0] * (len(t) + 2),
            IGNORE_INDEX,
            [x not in continuation for x in [cls, *t, sep]],
        )
        for t in instances
    ]


def mask_tokens(
    instance: Instance,
    rng: np.random.Generator,
    *,
    mask_id: int,
    special_ids: frozenset[int] | set[int],
    replacement_ids: np.ndarray,
    masked_lm_prob: float = 0.15,
    max_predictions_per_seq: int = 20,
    whole_word: bool = False,
) -> tuple[list[int], list[int]]:
    """Choose the positions to predict and corrupt them (80% [MASK], 10% random, 10% kept).

    Args:
        replacement_ids: the ids a "random token" is drawn from (the non-special vocabulary).

    Returns:
        ``(input_ids, labels)``: the corrupted tokens, and the original token at each predicted
        position with ``IGNORE_INDEX`` elsewhere.
    """
    tokens = instance.tokens
    groups: list[list[int]] = []  # candidate positions, a word's pieces grouped when whole_word
    for position, token in enumerate(tokens):
        if token in special_ids:
            continue
        if (
            whole_word
            and groups
            and not instance.word_starts[position]
            and groups[-1][-1] == position - 1
        ):
            groups[-1].append(position)
        else:
            groups.append([position])
    order = rng.permutation(len(groups))
    n_predict = min(max_predictions_per_seq, max(1, int(round(len(tokens) * masked_lm_prob))))
    input_ids = list(tokens)
    labels = [IGNORE_INDEX] * len(tokens)
    predicted = 0
    for g in order:
        group = groups[g]
        if predicted >= n_predict:
            break
        if predicted + len(group) > n_predict:
            continue  # a whole word that would overshoot the budget is skipped
        # One 80/10/10 decision per group: whole-word masking treats a word as one unit.
        draw = rng.random()
        for position in group:
            labels[position] = tokens[position]
            if draw < 0.8:
                input_ids[position] = mask_id
            elif draw < 0.9:
                input_ids[position] = int(replacement_ids[rng.integers(len(replacement_ids))])
            # else: keep the original token
        predicted += len(group)
    return input_ids, labels
