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
- names and places are new syllable combinations in the validation split, never seen in
  training, so the model must copy the span rather than remember it.

Run ``python scripts/build_qa_dataset.py`` (seeded: the same files every time).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from minibert.io import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "minibert" / "data" / "tasks" / "qa"
SEED = 7
SPLITS = {"train": 240, "validation": 60}  # paragraphs

# Names and places are made of these syllables; a held-out split draws new combinations.
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


def held_out(rng: np.random.Generator, items: list[str], fraction: float) -> set[str]:
    """A seeded subset of ``items`` kept for validation only."""
    count = max(1, round(len(items) * fraction))
    return {str(item) for item in rng.choice(items, size=count, replace=False)}


class Names:
    """Draws names and places; combinations in ``reserved`` belong to the other split."""

    def __init__(self, rng: np.random.Generator, reserved: set[str], validation: bool):
        self.rng, self.reserved, self.validation = rng, reserved, validation

    def _make(self, parts: list[list[str]]) -> str:
        while True:
            word = "".join(str(self.rng.choice(p)) for p in parts)
            # Validation draws only reserved combinations; training never does.
            if (word in self.reserved) == self.validation:
                return word.capitalize()

    def first(self, pronoun: str) -> str:
        endings = FIRST_ENDINGS_SHE if pronoun == "she" else FIRST_ENDINGS_HE
        return self._make([FIRST_SYLLABLES, endings])

    def surname(self) -> str:
        return self._make([SURNAME_SYLLABLES, SURNAME_ENDINGS])

    def place(self) -> str:
        return self._make([PLACE_SYLLABLES, PLACE_ENDINGS])


def reserved_combinations(rng: np.random.Generator) -> set[str]:
    """The name and place combinations that only the validation split uses (a quarter)."""
    combos = []
    for heads, tails in [
        (FIRST_SYLLABLES, FIRST_ENDINGS_SHE + FIRST_ENDINGS_HE),
        (SURNAME_SYLLABLES, SURNAME_ENDINGS),
        (PLACE_SYLLABLES, PLACE_ENDINGS),
    ]:
        combos.append(held_out(rng, [h + t for h in heads for t in tails], 0.25))
    return set().union(*combos)


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
        full = f"{names.first(pronoun)} {names.surname()}"
        if full.split()[0] not in used and full.split()[1] not in used:
            used.update(full.split())
            break
    while True:
        spouse = f"{names.first('he' if pronoun == 'she' else 'she')} {names.surname()}"
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


def build_split(split: str, paragraphs: int, rng: np.random.Generator, reserved: set[str]):
    names = Names(rng, reserved, validation=split == "validation")
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
    reserved = reserved_combinations(rng)
    OUT.mkdir(parents=True, exist_ok=True)
    for split, paragraphs in SPLITS.items():
        dataset = build_split(split, paragraphs, rng, reserved)
        atomic_write_text(OUT / f"{split}.json", squad_json(dataset))
        count = sum(len(p["qas"]) for a in dataset["data"] for p in a["paragraphs"])
        print(f"{split}: {len(dataset['data'])} paragraphs, {count} questions", file=sys.stderr)


if __name__ == "__main__":
    main()
