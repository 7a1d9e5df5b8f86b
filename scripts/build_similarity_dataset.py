"""Generate minibert's sentence-similarity dataset: pairs scored 0 to 5 by shared meaning.

    python scripts/build_similarity_dataset.py    # writes minibert/data/tasks/similarity/

Every sentence states one event with four slots: who did it (subject), what they did (verb), to
whom (object) and where (place), e.g. "the doctor helped the teacher in the park". A slot's
value is a meaning with one or more wordings ("the doctor" / "the physician", "helped" /
"assisted"). The score of a pair is 5 x (slots with the same meaning) / 4: 0, 1.25, 2.5, 3.75
or 5, as in STS-B's 0-5 scale. The sentences are built from word lists typed into this script
(nothing downloaded), with a fixed seed, so every run writes the same files.

What a model must get right:

- synonyms: "the physician assisted the kid" means what "the doctor helped the child" means;
- voice: "the teacher was helped by the doctor in the park" is the active sentence again
  (score 5), although the words come in another order;
- roles: "the teacher helped the doctor" shares every word with "the doctor helped the teacher"
  but only the verb and the place (subject and object are swapped): a bag of words cannot tell
  the two apart, and a fifth of the pairs are such swaps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from minibert.io import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "minibert" / "data" / "tasks" / "similarity"
SEED = 2025
SIZES = {"train": 2000, "validation": 400}
SWAP_SHARE = 0.2  # pairs whose second sentence swaps the first's subject and object

# Each inner list is one meaning; its entries are interchangeable wordings.
PEOPLE = [
    ["the doctor", "the physician"], ["the teacher", "the instructor"],
    ["the lawyer", "the attorney"], ["the child", "the kid"], ["the police officer", "the cop"],
    ["the sailor", "the seaman"], ["the cook", "the chef"], ["the student", "the pupil"],
    ["the boy", "the lad"], ["the woman", "the lady"], ["the dog", "the hound"],
    ["the singer", "the vocalist"], ["the nurse"], ["the farmer"], ["the baker"],
]  # fmt: skip
VERBS = [
    ["helped", "assisted"], ["called", "phoned"], ["watched", "observed"],
    ["followed", "trailed"], ["warned", "cautioned"], ["chased", "pursued"],
    ["greeted", "welcomed"], ["thanked"], ["visited"], ["photographed"], ["ignored"],
    ["hugged", "embraced"],
]  # fmt: skip
PLACES = [
    ["in the park"], ["at the station", "at the depot"], ["in the market", "at the marketplace"],
    ["near the river", "by the river"], ["in the kitchen"], ["in the city", "in town"],
    ["on the beach", "on the shore"], ["at the airport"], ["in the library"], ["on the bus"],
    ["in the garden"], ["at the hospital"],
]  # fmt: skip
SLOTS = {"subject": PEOPLE, "verb": VERBS, "object": PEOPLE, "place": PLACES}


def pick(rng: np.random.Generator, items):
    return items[int(rng.integers(len(items)))]


def other_meaning(rng: np.random.Generator, table: list, avoid: set[int]) -> int:
    """A meaning index of ``table`` that is not in ``avoid``."""
    choices = [i for i in range(len(table)) if i not in avoid]
    return pick(rng, choices)


def random_event(rng: np.random.Generator) -> dict[str, int]:
    """Meaning indices for the four slots; subject and object are different people."""
    subject = int(rng.integers(len(PEOPLE)))
    return {
        "subject": subject,
        "verb": int(rng.integers(len(VERBS))),
        "object": other_meaning(rng, PEOPLE, {subject}),
        "place": int(rng.integers(len(PLACES))),
    }


def sentence(rng: np.random.Generator, event: dict[str, int]) -> str:
    """One wording of ``event``: active, passive, or with the place first."""
    subject, verb = pick(rng, PEOPLE[event["subject"]]), pick(rng, VERBS[event["verb"]])
    obj, place = pick(rng, PEOPLE[event["object"]]), pick(rng, PLACES[event["place"]])
    form = int(rng.integers(3))
    if form == 0:
        return f"{subject} {verb} {obj} {place}."
    if form == 1:
        return f"{obj} was {verb} by {subject} {place}."
    return f"{place}, {subject} {verb} {obj}."


def related_event(rng: np.random.Generator, event: dict[str, int]) -> dict[str, int]:
    """An event sharing a uniformly drawn number (0-4) of slots with ``event``."""
    shared = set(rng.choice(list(SLOTS), size=int(rng.integers(5)), replace=False).tolist())
    new = {}
    for slot in ("subject", "verb", "place"):
        new[slot] = (
            event[slot] if slot in shared else other_meaning(rng, SLOTS[slot], {event[slot]})
        )
    if "object" in shared:
        new["object"] = event["object"]
        if new["subject"] == new["object"]:  # the new subject took the object's person
            new["subject"] = other_meaning(rng, PEOPLE, {event["subject"], event["object"]})
    else:
        new["object"] = other_meaning(rng, PEOPLE, {event["object"], new["subject"]})
    return new


def score(a: dict[str, int], b: dict[str, int]) -> float:
    return 5 * sum(a[slot] == b[slot] for slot in SLOTS) / len(SLOTS)


def generate(rng: np.random.Generator, n: int, seen: set[tuple[str, str]]) -> list[tuple]:
    rows = []
    while len(rows) < n:
        first = random_event(rng)
        if rng.random() < SWAP_SHARE:
            second = {**first, "subject": first["object"], "object": first["subject"]}
        else:
            second = related_event(rng, first)
        pair = (sentence(rng, first), sentence(rng, second))
        if pair in seen:
            continue
        seen.add(pair)
        rows.append((*pair, score(first, second)))
    return rows


def to_tsv(rows: list[tuple]) -> str:
    lines = ["text\ttext_pair\tlabel"]
    lines += [f"{a}\t{b}\t{label:g}" for a, b, label in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    rng, seen = np.random.default_rng(SEED), set()
    for split, n in SIZES.items():
        atomic_write_text(OUT / f"{split}.tsv", to_tsv(generate(rng, n, seen)))
        print(f"{split}: {n} pairs -> {OUT / f'{split}.tsv'}")


if __name__ == "__main__":
    main()
