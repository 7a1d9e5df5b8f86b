"""Generate minibert's sentiment dataset: short film reviews labelled positive or negative.

    python scripts/build_sentiment_dataset.py    # writes minibert/data/tasks/sentiment/

The reviews are built from word lists typed into this script (no source text, nothing
downloaded), with a fixed seed, so the output is the same on every run. They are made so that
counting positive and negative words is not enough for all of them:

- ``plain``: "the plot was really gripping." (the adjective decides);
- ``negation``: "the acting was not bad.", "the pacing is never boring." (a negator flips the
  adjective: positive words appear in negative reviews and the other way round);
- ``contrast``: "good actors but a dull plot.", "although the script was clever, the ending
  felt flat." (the clause after "but"/"yet"/"although ...," wins, and the other clause has the
  opposite polarity, so both kinds of words occur and only their order tells);
- ``agreement``: two clauses of the same polarity joined by "and";
- ``verdict``: a clause followed by "i would (not) recommend it." in agreement with it;
- ``expectation``: "i expected it to be dull, and it was." / "i expected it to be dull, but it
  was not." (the ending decides whether the adjective holds).

Intensifiers ("really", "truly", "rather") never change the label. The construction of every
review is kept in the ``construction`` column, so that errors can be counted per construction.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from minibert.io import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "minibert" / "data" / "tasks" / "sentiment"
SEED = 2024
SIZES = {"train": 2000, "validation": 400}

SUBJECTS = [
    "the plot", "the acting", "the story", "the dialogue", "the soundtrack", "the ending",
    "the pacing", "the cast", "the script", "the direction", "the camera work", "the humour",
    "the characters", "the visuals", "the film", "the movie", "the lead", "the villain",
    "the first half", "the finale", "the music", "the editing",
]  # fmt: skip
NOUNS = [
    "actors", "plot", "story", "script", "cast", "ending", "soundtrack", "dialogue",
    "visuals", "characters", "jokes", "premise", "performances", "score", "set pieces",
]  # fmt: skip
ADJECTIVES = {
    "positive": [
        "good", "great", "wonderful", "brilliant", "charming", "clever", "moving", "gripping",
        "funny", "beautiful", "superb", "delightful", "excellent", "fresh", "solid", "sharp",
    ],
    "negative": [
        "bad", "dull", "boring", "awful", "weak", "clumsy", "tedious", "predictable", "flat",
        "terrible", "lazy", "forgettable", "messy", "bland", "silly", "slow",
    ],
}  # fmt: skip
VERBS = ["was", "is", "felt", "seemed"]
INTENSIFIERS = ["really", "very", "truly", "quite", "rather", "so", "incredibly", "extremely"]
NEGATORS = ["not", "never", "hardly", "far from", "not at all"]
OPPOSITE = {"positive": "negative", "negative": "positive"}
CONSTRUCTIONS = {"plain": 0.2, "negation": 0.25, "contrast": 0.3, "agreement": 0.08,
                 "verdict": 0.07, "expectation": 0.1}  # fmt: skip


def pick(rng: np.random.Generator, items):
    return items[int(rng.integers(len(items)))]


def clause(rng: np.random.Generator, polarity: str, negated: bool) -> str:
    """'the plot was (really) good' with ``polarity``; negated, the adjective is the opposite."""
    adjective = pick(rng, ADJECTIVES[OPPOSITE[polarity] if negated else polarity])
    if negated:
        middle = f"{pick(rng, NEGATORS)} {adjective}"
    else:
        middle = f"{pick(rng, INTENSIFIERS)} {adjective}" if rng.random() < 0.4 else adjective
    verb = pick(rng, VERBS[:2] if negated else VERBS)  # "felt never good" is not English
    subject = pick(rng, SUBJECTS)
    if subject.endswith("s"):  # "the visuals were", not "was"
        verb = {"was": "were", "is": "are"}.get(verb, verb)
    return f"{subject} {verb} {middle}"


def noun_phrase(rng: np.random.Generator, polarity: str) -> str:
    """'a dull plot', 'really good actors': a clause without a verb."""
    adjective = pick(rng, ADJECTIVES[polarity])
    if rng.random() < 0.3:  # "so" is left out: "a so dull plot" is not English
        adjective = f"{pick(rng, [w for w in INTENSIFIERS if w != 'so'])} {adjective}"
    noun = pick(rng, NOUNS)
    plural = noun.endswith("s") and noun not in ("premise",)
    if plural:
        return f"{adjective} {noun}"
    article = "an" if adjective[0] in "aeiou" else "a"
    return f"{article} {adjective} {noun}"


def any_clause(rng: np.random.Generator, polarity: str) -> str:
    """A clause or a noun phrase of ``polarity``, negated a third of the time."""
    if rng.random() < 0.3:
        return noun_phrase(rng, polarity)
    return clause(rng, polarity, negated=rng.random() < 0.33)


def review(rng: np.random.Generator, polarity: str, construction: str) -> str:
    if construction == "plain":
        text = clause(rng, polarity, negated=False)
    elif construction == "negation":
        text = clause(rng, polarity, negated=True)
    elif construction == "contrast":
        # The first part has the opposite polarity: the words of both kinds are there.
        first, second = any_clause(rng, OPPOSITE[polarity]), any_clause(rng, polarity)
        form = int(rng.integers(4))
        if form == 0:
            text = f"{first} but {second}"
        elif form == 1:
            text = f"{first}, but {second}"
        elif form == 2:
            text = f"{first}, yet {second}"
        else:
            text = f"although {first}, {second}"
    elif construction == "agreement":
        text = f"{any_clause(rng, polarity)} and {any_clause(rng, polarity)}"
    elif construction == "expectation":
        held = rng.random() < 0.5
        adjective = pick(rng, ADJECTIVES[polarity if held else OPPOSITE[polarity]])
        ending = (
            pick(rng, ["and it was", "and it really was"])
            if held
            else pick(rng, ["but it was not", "but it was not at all", "but it never was"])
        )
        text = f"i expected it to be {adjective}, {ending}"
    else:
        recommend = (
            "i would recommend it"
            if polarity == "positive"
            else pick(rng, ["i would not recommend it", "i would never recommend it"])
        )
        text = f"{any_clause(rng, polarity)}. {recommend}"
    return text + pick(rng, [".", ".", ".", "!"])


def generate(rng: np.random.Generator, n: int, seen: set[str]) -> list[dict]:
    names, weights = list(CONSTRUCTIONS), np.array(list(CONSTRUCTIONS.values()))
    rows = []
    while len(rows) < n:
        polarity = "positive" if len(rows) % 2 == 0 else "negative"  # balanced classes
        construction = names[int(rng.choice(len(names), p=weights / weights.sum()))]
        text = review(rng, polarity, construction)
        if text in seen:  # no review twice, and none shared between the splits
            continue
        seen.add(text)
        rows.append({"text": text, "label": polarity, "construction": construction})
    order = rng.permutation(len(rows))
    return [rows[i] for i in order]


def to_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=["text", "label", "construction"], lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def main() -> None:
    rng, seen = np.random.default_rng(SEED), set()
    for split, n in SIZES.items():
        rows = generate(rng, n, seen)
        atomic_write_text(OUT / f"{split}.csv", to_csv(rows))
        print(f"{split}: {n} reviews -> {OUT / f'{split}.csv'}")


if __name__ == "__main__":
    main()
