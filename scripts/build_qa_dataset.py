"""Build the question-answering dataset in minibert/data/tasks/qa/ (SQuAD v1.1 JSON).

Every paragraph tells invented facts about one to five invented people: where and when each was
born, the trade each learned, where each moved, what each made and how many, whom each married.
The questions (who, where, when, what, how many) are answered by a span of the paragraph. The
data is built so that a model has to read, not guess:

- several people per paragraph, with facts of the same types, so the answer type ("when" wants
  a year) is not enough: the question's name picks the person;
- most facts after the first sentence say "she" or "he", so the sentence with the answer often
  shares no word with the question (the lexical baseline's weak point);
- paragraphs about four or five people are longer than 128 tokens, so a model reading 128
  tokens at a time sees them in several overlapping windows;
- every validation person (first name and surname together) is one that training never saw,
  and every fact is drawn at random, so the model must copy the span rather than remember it.

Run ``python scripts/build_qa_dataset.py`` (seeded: the same files every time).
"""

from __future__ import annotations

import json
import sys
import zlib
from pathlib import Path

import numpy as np

from minibert.io import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "minibert" / "data" / "tasks" / "qa"
SEED = 7
SPLITS = {"train": 240, "validation": 60}  # paragraphs

# Names and places are made of these syllables (a seeded sample of the combinations).
FIRST_SYLLABLES = ["ma", "to", "el", "co", "il", "bra", "pe", "wen", "fen", "li", "sa", "an"]
FIRST_ENDINGS_SHE = ["ra", "na", "sa", "ette", "lia", "wyn"]
FIRST_ENDINGS_HE = ["rin", "bin", "dor", "mund", "ric", "val"]
SURNAME_SYLLABLES = ["quill", "ash", "mar", "thist", "brack", "fen", "hol", "lark", "pen", "rook"]
SURNAME_ENDINGS = ["down", "row", "le", "water", "wick", "loway", "spur", "nick", "ford", "by"]
PLACE_SYLLABLES = ["east", "brin", "har", "kel", "low", "oak", "pell", "salt", "thorn", "umber"]
PLACE_ENDINGS = ["vale", "moor", "gate", "bury", "mere", "field", "fold", "holm", "stead", "port"]
OCCUPATIONS = [
    "glassblower", "cartographer", "clockmaker", "bookbinder", "shipwright", "beekeeper",
    "stonemason", "weaver", "astronomer", "apothecary", "blacksmith", "violinist", "surveyor",
    "printer", "potter", "botanist", "lighthouse keeper", "bell founder", "rope maker", "tanner",
]  # fmt: skip
# (what was made, past tense, base form for the question)
WORKS = [
    ("bridges", "built", "build"), ("novels", "wrote", "write"), ("trees", "planted", "plant"),
    ("ships", "launched", "launch"), ("maps", "drew", "draw"), ("songs", "composed", "compose"),
    ("clocks", "repaired", "repair"), ("wells", "dug", "dig"), ("comets", "found", "find"),
    ("bells", "cast", "cast"),
]  # fmt: skip


POOL_SIZES = {"she": 40, "he": 40, "surname": 60, "place": 60}


def word_pools(rng: np.random.Generator) -> dict[str, list[str]]:
    """The invented first names (by pronoun), surnames and places both splits draw from."""
    combos = {
        "she": (FIRST_SYLLABLES, FIRST_ENDINGS_SHE),
        "he": (FIRST_SYLLABLES, FIRST_ENDINGS_HE),
        "surname": (SURNAME_SYLLABLES, SURNAME_ENDINGS),
        "place": (PLACE_SYLLABLES, PLACE_ENDINGS),
    }
    pools = {}
    for kind, (heads, tails) in combos.items():
        words = sorted({(h + t).capitalize() for h in heads for t in tails})
        pools[kind] = [str(w) for w in rng.choice(words, size=POOL_SIZES[kind], replace=False)]
    return pools


class Names:
    """Draws people and places. A quarter of the (first name, surname) pairs are reserved for
    validation, so every validation person is someone training never saw (though each of the
    two words, alone, is in the training text: the vocabulary is trained on it)."""

    def __init__(self, rng: np.random.Generator, pools: dict[str, list[str]], validation: bool):
        self.rng, self.pools, self.validation = rng, pools, validation

    def _pick(self, kind: str) -> str:
        return self.pools[kind][self.rng.integers(len(self.pools[kind]))]

    def person(self, pronoun: str) -> str:
        while True:
            first, surname = self._pick(pronoun), self._pick("surname")
            # A fixed quarter of the pairs, by a hash that does not depend on the draw order.
            reserved = zlib.crc32(f"{first} {surname}".encode()) % 4 == 0
            if reserved == self.validation:
                return f"{first} {surname}"

    def place(self) -> str:
        return self._pick("place")


class Paragraph:
    """A context built sentence by sentence, remembering where every answer span starts."""

    def __init__(self) -> None:
        self.text = ""

    def say(self, *parts) -> dict[str, tuple[str, int]]:
        """Append a sentence made of plain strings and ``(key, value)`` answer spans."""
        spans = {}
        if self.text:
            self.text += " "
        for part in parts:
            if isinstance(part, tuple):
                key, value = part
                spans[key] = (value, len(self.text))
                self.text += value
            else:
                self.text += part
        return spans


def person_facts(rng: np.random.Generator, names: Names, used: set[str]) -> dict:
    """One invented person: a name unique in its paragraph and one value per fact."""
    pronoun = "she" if rng.random() < 0.5 else "he"
    while True:
        full = names.person(pronoun)
        if not used & set(full.split()):
            used.update(full.split())
            break
    while True:
        spouse = names.person("he" if pronoun == "she" else "she")
        if not used & set(spouse.split()):
            used.update(spouse.split())
            break
    work = WORKS[rng.integers(len(WORKS))]
    return {
        "name": full,
        "pronoun": pronoun,
        "birthplace": names.place(),
        "birth_year": str(int(rng.integers(1800, 1900))),
        "occupation": str(rng.choice(OCCUPATIONS)),
        "new_home": names.place(),
        "move_year": str(int(rng.integers(1900, 1950))),
        "work": work,
        "count": str(int(rng.integers(2, 100))),
        "spouse": spouse,
    }


def tell(paragraph: Paragraph, person: dict, rng: np.random.Generator) -> dict:
    """Write one person's sentences; returns each fact's (text, answer_start)."""
    name, he = person["name"], person["pronoun"]
    He = he.capitalize()
    spans = paragraph.say(
        ("name", name), " was born in ", ("birthplace", person["birthplace"]),
        " in ", ("birth_year", person["birth_year"]), ".",
    )  # fmt: skip
    article = "an" if person["occupation"][0] in "aeiou" else "a"
    spans |= paragraph.say(f"{He} trained as {article} ", ("occupation", person["occupation"]), ".")
    if rng.random() < 0.5:
        spans |= paragraph.say(
            "In ", ("move_year", person["move_year"]), f", {he} moved to ",
            ("new_home", person["new_home"]), ".",
        )  # fmt: skip
    else:
        surname = name.split()[1]
        spans |= paragraph.say(
            f"{surname} later moved to ", ("new_home", person["new_home"]), " in ",
            ("move_year", person["move_year"]), ".",
        )  # fmt: skip
    things, made, _ = person["work"]
    spans |= paragraph.say(f"{He} {made} ", ("count", person["count"]), f" {things}.")
    if rng.random() < 0.6:
        spans |= paragraph.say(f"{He} married ", ("spouse", person["spouse"]), ".")
    return spans


def questions(person: dict, spans: dict, rng: np.random.Generator) -> list[tuple[str, str]]:
    """(question, fact key) pairs about one person, each fact asked in one of several ways."""
    name = person["name"]
    first, surname = name.split()
    who = [name, name, first if rng.random() < 0.5 else surname]
    asked = {
        "birthplace": ["Where was {} born?", "In which town was {} born?"],
        "birth_year": ["When was {} born?", "In what year was {} born?"],
        "occupation": ["What did {} train as?", "What trade did {} learn?"],
        "new_home": ["Where did {} move to?", "To which town did {} move?"],
        "move_year": ["When did {} move to " + person["new_home"] + "?"],
        "count": [f"How many {person['work'][0]} did {{}} {person['work'][2]}?"],
        "spouse": ["Whom did {} marry?", "Who was {}'s spouse?"],
    }
    pairs = []
    for key, forms in asked.items():
        if key in spans:
            form = forms[rng.integers(len(forms))]
            pairs.append((form.format(who[rng.integers(len(who))]), key))
    # A question whose answer is the person: the birthplace and year name them uniquely.
    pairs.append((f"Who was born in {person['birthplace']} in {person['birth_year']}?", "name"))
    return pairs


def build_split(split: str, paragraphs: int, rng: np.random.Generator, pools: dict):
    names = Names(rng, pools, validation=split == "validation")
    data, number = [], 0
    for index in range(paragraphs):
        people_count = int(rng.choice([1, 2, 3, 4, 5], p=[0.1, 0.25, 0.3, 0.2, 0.15]))
        paragraph, used, told = Paragraph(), set(), []
        for _ in range(people_count):
            person = person_facts(rng, names, used)
            told.append((person, tell(paragraph, person, rng)))
        qas = []
        for person, spans in told:
            for question, key in questions(person, spans, rng):
                text, start = spans[key]
                assert paragraph.text[start : start + len(text)] == text
                number += 1
                qas.append(
                    {
                        "id": f"{split}-{number:05d}",
                        "question": question,
                        "answers": [{"text": text, "answer_start": start}],
                    }
                )
        # Keep a sample of the questions: every fact of every person would make the split
        # large without teaching more.
        keep = sorted(rng.choice(len(qas), size=min(len(qas), 8), replace=False))
        data.append(
            {
                "title": f"{split} paragraph {index + 1}",
                "paragraphs": [{"context": paragraph.text, "qas": [qas[k] for k in keep]}],
            }
        )
    return {"version": "1.1", "data": data}


def squad_json(dataset: dict) -> str:
    """SQuAD JSON with one question per line: small, readable, and errors can name a line."""

    def dumps(value) -> str:
        return json.dumps(value, ensure_ascii=False)

    articles = []
    for article in dataset["data"]:
        paragraphs = []
        for paragraph in article["paragraphs"]:
            qas = ",\n".join(f"   {dumps(qa)}" for qa in paragraph["qas"])
            paragraphs.append(
                f'  {{"context": {dumps(paragraph["context"])}, "qas": [\n{qas}\n  ]}}'
            )
        articles.append(
            f' {{"title": {dumps(article["title"])}, "paragraphs": [\n'
            + ",\n".join(paragraphs)
            + "\n ]}"
        )
    return (
        f'{{"version": {dumps(dataset["version"])}, "data": [\n' + ",\n".join(articles) + "\n]}\n"
    )


def main() -> None:
    rng = np.random.default_rng(SEED)
    pools = word_pools(rng)
    OUT.mkdir(parents=True, exist_ok=True)
    for split, paragraphs in SPLITS.items():
        dataset = build_split(split, paragraphs, rng, pools)
        atomic_write_text(OUT / f"{split}.json", squad_json(dataset))
        count = sum(len(p["qas"]) for a in dataset["data"] for p in a["paragraphs"])
        print(f"{split}: {len(dataset['data'])} paragraphs, {count} questions", file=sys.stderr)


if __name__ == "__main__":
    main()
