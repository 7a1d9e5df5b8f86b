"""Entity-level scores for BIO tags, as seqeval computes them in its default mode.

Named-entity recognition is scored on *entities*, not on tags: ``B-PER I-PER`` ("George
Washington") is one entity, and a prediction that finds only ``B-PER O`` ("George") gets no credit
for it at all. An entity is a ``(type, start, end)`` span of words; a predicted entity counts as
correct only when a gold entity has the same type and exactly the same span (CoNLL-2000's
``conlleval`` rule, which seqeval reproduces). Micro precision, recall and F1 pool the entities of
every type; the per-type figures count one type only.

How spans are read from tags (seqeval's default, non-strict mode, restricted to BIO):

- ``B-X`` always begins an entity of type X;
- ``I-X`` continues the entity before it when that entity has type X, and otherwise *begins* one:
  a "stray" ``I-X`` after ``O`` or after an entity of another type is an entity, not an error.
  This is why files in IOB1 (CoNLL-2003's own scheme, where ``I-X`` begins an entity and ``B-X``
  only separates two adjacent entities of the same type) are read correctly without conversion;
- ``O`` ends any entity.

Sentences are separate sequences: an entity never runs from one sentence into the next.
"""

from __future__ import annotations

from collections.abc import Sequence

Entity = tuple[str, int, int]  # (type, start, end): the words [start, end) of one sentence


def split_tag(tag: str) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``; ``"O"`` -> ``("O", "")``.

    Only the tag's form is checked here; ``ValueError`` for anything that is not ``O``,
    ``B-X`` or ``I-X`` with a non-empty type X.
    """
    if tag == "O":
        return "O", ""
    prefix, dash, kind = tag.partition("-")
    if dash and prefix in ("B", "I") and kind:
        return prefix, kind
    raise ValueError(
        f"tag {tag!r} is not in the BIO scheme: use O, B-TYPE or I-TYPE (IOBES files with E- and "
        "S- tags must be converted first)"
    )


def get_entities(tags: Sequence[str]) -> list[Entity]:
    """The entities of one sentence's tags, as ``(type, start, end)`` with ``end`` exclusive.

    Shapes:
        tags: (n_words,); returns a list of at most n_words entities, in order.

    Example:
        >>> get_entities(["B-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-ORG"])
        [('PER', 0, 2), ('LOC', 3, 4), ('LOC', 4, 5), ('ORG', 5, 6)]
    """
    entities: list[Entity] = []
    kind, start = "", None  # the entity being read, if any
    for i, tag in enumerate(tags):
        prefix, tag_kind = split_tag(tag)
        continues = prefix == "I" and start is not None and tag_kind == kind
        if start is not None and not continues:
            entities.append((kind, start, i))
            start = None
        if prefix != "O" and not continues:
            kind, start = tag_kind, i
    if start is not None:
        entities.append((kind, start, len(tags)))
    return entities


def _ratio(numerator: int, denominator: int) -> float:
    # seqeval's zero_division default: a ratio with nothing to divide by is 0 (it also warns).
    return numerator / denominator if denominator else 0.0


def _prf(correct: int, predicted: int, gold: int) -> tuple[float, float, float]:
    precision, recall = _ratio(correct, predicted), _ratio(correct, gold)
    f1 = _ratio(2 * correct, predicted + gold)  # = 2PR/(P+R), and 0 when both are 0
    return precision, recall, f1


def entity_scores(
    gold_tags: Sequence[Sequence[str]], predicted_tags: Sequence[Sequence[str]]
) -> dict[str, float]:
    """Entity precision, recall and F1 (micro over types), per type, and token accuracy.

    Args:
        gold_tags: one list of tags per sentence.
        predicted_tags: the predicted tags, sentence by sentence, word by word.

    Returns:
        ``precision``, ``recall``, ``f1`` (micro over all entities, seqeval's default),
        ``accuracy`` (the fraction of words whose tag is right, ``O`` included: seqeval's
        ``accuracy_score``), and for every type X seen in either: ``X_precision``,
        ``X_recall``, ``X_f1`` and ``X_number`` (how many gold entities of type X), the names
        that transformers' ``run_ner`` example reports.

    Shapes:
        gold_tags[i] and predicted_tags[i]: (n_words_i,), the same length for every i.
    """
    if len(gold_tags) != len(predicted_tags):
        raise ValueError(
            f"{len(gold_tags)} gold sentences but {len(predicted_tags)} predicted sentences"
        )
    gold: set[tuple[int, str, int, int]] = set()
    predicted: set[tuple[int, str, int, int]] = set()
    n_words = n_right = 0
    for i, (gold_row, predicted_row) in enumerate(zip(gold_tags, predicted_tags, strict=True)):
        if len(gold_row) != len(predicted_row):
            raise ValueError(
                f"sentence {i} has {len(gold_row)} gold tags but {len(predicted_row)} predicted "
                "tags; predict one tag per word"
            )
        gold.update((i, *entity) for entity in get_entities(gold_row))
        predicted.update((i, *entity) for entity in get_entities(predicted_row))
        n_words += len(gold_row)
        n_right += sum(g == p for g, p in zip(gold_row, predicted_row, strict=True))
    correct = gold & predicted
    precision, recall, f1 = _prf(len(correct), len(predicted), len(gold))
    scores = {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "accuracy": _ratio(n_right, n_words),
    }
    for kind in sorted({e[1] for e in gold} | {e[1] for e in predicted}):

        def count(entities, kind=kind):
            return sum(e[1] == kind for e in entities)

        p, r, f = _prf(count(correct), count(predicted), count(gold))
        scores |= {f"{kind}_precision": p, f"{kind}_recall": r, f"{kind}_f1": f}
        scores[f"{kind}_number"] = float(count(gold))
    return scores


__all__ = ["Entity", "entity_scores", "get_entities", "split_tag"]
