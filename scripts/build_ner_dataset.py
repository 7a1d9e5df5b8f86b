"""Build minibert's small named-entity dataset: minibert/data/tasks/ner/{train,validation}.conll.

Sentences are generated from templates (news-style English, written for this script) whose
slots are filled with persons (PER), places (LOC), organizations (ORG) and nationalities or
events (MISC), tagged in the BIO scheme, one ``word TAG`` per line as in CoNLL-2003. The output
is committed, so nothing runs or downloads at training time; rerunning the script gives the same
files byte for byte (a fixed seed, one ``np.random.default_rng``):

    python scripts/build_ner_dataset.py

What makes it a test of *context*, not of memory:

- ambiguous names: ``AMBIGUOUS`` words are persons in some sentences, places in others, and a
  part of an organization ("Jordan Motors", "University of Phoenix") or of an event ("Paris
  Marathon", MISC) in others. Our tokenizer lowercases, so capital letters give nothing away:
  only the words around a name tell "jordan flew to ..." (PER) from "... flew to jordan" (LOC);
- unseen names: a quarter of the given names, surnames, places and invented organization names
  never occur in the training split; half the entities of the validation split are built from
  them, so a model that only memorized names cannot find them.

Sources of the names: given names and surnames are among the most common in the US Census
Bureau's name lists (1990 and 2010 surveys; works of the US government, public domain); places
are real cities, countries and states (facts, not copyrightable); organization names are
invented here, from syllables or from a name plus a generic word ("Holdings", "Airlines"), and
any likeness to a real company is by chance. The generated files are released under CC0.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "minibert" / "data" / "tasks" / "ner"
SEED = 7
N_TRAIN, N_VALIDATION = 1500, 500
HELD_OUT_FRACTION = 0.25  # of every name list, the part that only validation sentences use
AMBIGUOUS_RATE = 0.35  # how often a name slot takes an ambiguous word
INVENTED_RATE = 0.3  # how often a surname or place slot takes an invented name
UNSEEN_RATE = 0.5  # how often a validation name slot takes a held-out (unseen) name

GIVEN_NAMES = """
James John Robert Michael William David Richard Joseph Thomas Charles Christopher Daniel Matthew
Anthony Donald Steven Paul Andrew Joshua Kenneth Kevin Brian George Timothy Ronald Edward Jason
Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin Scott Brandon Benjamin Samuel
Gregory Alexander Raymond Patrick Dennis Jerry Mary Patricia Jennifer Linda Barbara Susan Jessica
Sarah Karen Lisa Nancy Betty Margaret Sandra Ashley Kimberly Emily Donna Michelle Carol Amanda
Dorothy Melissa Deborah Stephanie Rebecca Sharon Laura Cynthia Kathleen Amy Angela Shirley Anna
Brenda Pamela Emma Nicole Helen Samantha Katherine Christine Debra Rachel Carolyn Janet Ruth Maria
Heather Diane Julie Joyce Evelyn Joan Kelly Judith Cheryl Megan Andrea Olivia Gloria Teresa
""".split()
SURNAMES = """
Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez
Wilson Anderson Taylor Moore Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis
Robinson Walker Young Allen King Wright Torres Nguyen Hill Flores Green Adams Nelson Baker Hall
Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards
Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson
Bailey Reed Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood Bennett Gray Mendoza
Ruiz Hughes Alvarez Castillo Sanders Patel Myers Ross Foster Jimenez Powell Jenkins Perry Russell
Sullivan Bell Coleman Butler Henderson Barnes Fisher Vasquez Simmons Romero Jordan
""".split()
SURNAMES.remove("Jordan")  # it is in AMBIGUOUS
PLACES = """
London Berlin Madrid Rome Tokyo Cairo Lagos Lima Oslo Vienna Prague Warsaw Dublin Lisbon Athens
Moscow Beijing Shanghai Seoul Bangkok Jakarta Manila Nairobi Accra Dakar Tunis Algiers Istanbul
Ankara Tehran Baghdad Karachi Mumbai Delhi Dhaka Hanoi Santiago Bogota Caracas Quito Havana
Montreal Toronto Vancouver Chicago Boston Seattle Atlanta Miami Detroit Portland Nashville Memphis
Toledo Omaha Tulsa Helsinki Stockholm Copenhagen Brussels Amsterdam Zurich Geneva Munich Hamburg
Milan Naples Venice Marseille Lyon Barcelona Seville Porto Budapest Bucharest Sofia Belgrade
Zagreb Riga Tallinn Vilnius Canada Mexico Brazil Argentina Peru Chile Egypt Kenya Nigeria Ghana
Morocco Turkey Iran Iraq Pakistan Japan China Korea Vietnam Thailand Norway Sweden Finland Denmark
Poland Germany France Spain Italy Greece Portugal Ireland Scotland Texas Ohio Oregon Nevada Utah
Maine Alaska Montana Kansas Iowa
""".split() + [
    "New York", "Los Angeles", "San Francisco", "Buenos Aires", "Hong Kong", "Cape Town",
    "New Delhi", "Rio de Janeiro", "Kuala Lumpur", "Sri Lanka", "New Zealand", "South Africa",
    "Saudi Arabia", "United States", "Costa Rica", "Puerto Rico", "Salt Lake City", "Las Vegas",
    "San Diego", "Tel Aviv", "Abu Dhabi", "Addis Ababa", "Mexico City", "North Carolina",
    "New Jersey", "Rhode Island", "West Virginia", "El Paso", "Sao Paulo", "Santo Domingo",
]  # fmt: skip
# Each is a real place and also a given name or a surname in the Census lists.
AMBIGUOUS = """
Washington Jordan Paris Houston Austin Dallas Lincoln Jackson Madison Florence Victoria Charlotte
Sydney Chelsea Georgia Virginia Savannah Phoenix Denver Hamilton Cleveland Kent Chester Orlando
Raleigh Israel Chad Tyler Eugene Camden Aurora Warren Franklin Clinton Marshall Regina Adelaide
Beverly Shelby Troy
""".split()
NATIONALITIES = """
American British French German Italian Japanese Chinese Indian Brazilian Mexican Canadian Russian
Spanish Dutch Swedish Kenyan Egyptian Turkish Greek Polish Irish Korean Nigerian Argentine
Australian Norwegian Danish Swiss Austrian Belgian Chilean Peruvian Cuban Thai Vietnamese
""".split()
ORG_WORDS = (
    """
Holdings Group Motors Airlines Bank Energy Foods Insurance Press Systems Shipping Labs Partners
Pharmaceuticals Textiles Media Railways Telecom Industries Capital Chemicals Logistics
""".split()
    + ["Steel Works", "Mining Company", "Trust Company", "Power and Light"]
)
ORG_PREFIXES = ["University of", "Bank of", "Museum of"]
EVENT_WORDS = ["Marathon", "Open", "Film Festival", "Book Fair", "Jazz Festival", "Grand Prix"]
TITLES = ["Mr.", "Mrs.", "Ms.", "Dr.", "President", "Senator", "coach", "Judge", "Professor"]
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
MONTHS = "January February March April June July September October November December".split()
ORDINALS = "second third fourth fifth sixth".split()

# Syllables for invented names ("Vexlin", "Dornal") of organizations, and of some persons and
# places: there are so many of them that each occurs only once or twice, so a model cannot learn
# them by heart and has to learn what the words around a name say about it.
ONSETS = "b c d f g k l m n p r s t v z br cr dr gr tr st pl qu".split()
VOWELS = "a e i o u ai ea io".split()
CODAS = ["", "", "n", "r", "x", "l", "s", "nt", "rk", "m"]
ENDINGS = ["", "", "a", "ex", "on", "ia", "is", "ix", "ora", "ant"]
N_INVENTED = {"invented": 160, "invented surnames": 200, "invented places": 200}

TEMPLATES = """
{PER} arrived in {LOC} on {DAY} .
{PER} was born in {LOC} in {YEAR} .
{PER} joined {ORG} as chief executive in {MONTH} .
police in {LOC} arrested {PER} on {DAY} .
{PER} told reporters in {LOC} that {ORG} would not comment .
{PER} won the {EVENT} on {DAY} .
the {NAT} government said {PER} would visit {LOC} next week .
{PER} met {PER} in {LOC} on {DAY} .
{ORG} hired {PER} from {ORG} last year .
{PER} lives in {LOC} with {PRON} family .
the mayor of {LOC} , {PER} , opened the new bridge .
{PER} and {PER} left {LOC} for {LOC} on {DAY} .
according to {PER} , {ORG} lost money last year .
{PER} studied law at {ORG} .
{PER} played for {ORG} before moving to {LOC} .
the {NAT} singer {PER} will perform in {LOC} in {MONTH} .
{PER} , who runs {ORG} , declined to comment .
{PER} spent {NUM} years in {LOC} .
{PER} called {PER} from {LOC} .
{PER} thanked {PER} after the meeting .
the {NAT} court fined {PER} {NUM} dollars on {DAY} .
{PER} said {LOC} needs more doctors .
{PER} , a spokesman for {ORG} , said the deal was done .
{PER} said on {DAY} that {SUBJ} would stay at {ORG} .
{PER} flew to {LOC} to meet {NAT} officials .
flights from {LOC} to {LOC} were cancelled on {DAY} .
rain fell across {LOC} and {LOC} on {DAY} .
visitors to {LOC} rose by {NUM} percent in {YEAR} .
the road between {LOC} and {LOC} was closed for {NUM} days .
{NUM} people were hurt when a storm hit {LOC} .
prices in {LOC} fell for the {ORD} month in a row .
the train to {LOC} leaves at {NUM} o'clock .
{LOC} is the largest city in {LOC} .
shares of {ORG} rose {NUM} percent in {LOC} trading .
{ORG} said it would open a new office in {LOC} .
{ORG} bought a factory near {LOC} for {NUM} million dollars .
the talks between {ORG} and {ORG} ended in {LOC} on {DAY} .
{ORG} reported a profit of {NUM} million dollars in {YEAR} .
workers at {ORG} went on strike on {DAY} .
{ORG} will sponsor the {EVENT} .
{NAT} regulators approved the merger of {ORG} and {ORG} .
{ORG} named {PER} as its new chairman .
the {EVENT} will be held in {LOC} in {MONTH} .
{NUM} thousand people attended the {EVENT} .
{PER} , a {NAT} writer , lives in {LOC} .
the {NAT} team arrived in {LOC} on {DAY} .
the meeting ended early on {DAY} .
prices rose by {NUM} percent last month .
the company said it would open a new office .
""".strip().splitlines()

Tagged = list[tuple[str, str]]


def bio(words: str, kind: str) -> Tagged:
    """``"New York", "LOC"`` -> ``[("New", "B-LOC"), ("York", "I-LOC")]``."""
    return [(w, ("B-" if i == 0 else "I-") + kind) for i, w in enumerate(words.split())]


def invented_names(rng: np.random.Generator, n: int, taken: set[str]) -> list[str]:
    """``n`` distinct made-up names of two syllables and an ending, none in ``taken``."""
    names: list[str] = []
    while len(names) < n:
        parts = [rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(2)]
        name = ("".join(parts) + rng.choice(ENDINGS)).capitalize()
        if 4 <= len(name) <= 10 and name not in taken and name not in names:
            names.append(name)
    return names


def split_names(rng: np.random.Generator, names: list[str]) -> tuple[list[str], list[str]]:
    """(names for training, names held out for validation), a seeded shuffle."""
    order = rng.permutation(len(names))
    n_held = round(len(names) * HELD_OUT_FRACTION)
    return [names[i] for i in sorted(order[n_held:])], [names[i] for i in sorted(order[:n_held])]


class Filler:
    """Draws the words for each slot of a template from the names one split may use."""

    def __init__(self, rng: np.random.Generator, lists: dict, held_out: dict | None):
        self.rng, self.lists, self.held_out = rng, lists, held_out

    def name(self, kind: str, ambiguous: bool = True) -> str:
        """A name from list ``kind``: unseen (validation), ambiguous, invented or ordinary."""
        rng = self.rng
        if kind in ("surnames", "places") and rng.random() < INVENTED_RATE:
            kind = f"invented {kind}"
        lists = self.lists
        if self.held_out is not None and rng.random() < UNSEEN_RATE:
            lists = self.held_out
        elif ambiguous and not kind.startswith("invented") and rng.random() < AMBIGUOUS_RATE:
            return str(rng.choice(AMBIGUOUS))
        return str(rng.choice(lists[kind]))

    def single_word_place(self) -> str:
        while " " in (place := self.name("places")):
            pass
        return place

    def person(self) -> Tagged:
        form = self.rng.random()
        if form < 0.45:
            return bio(f"{self.name('given')} {self.name('surnames')}", "PER")
        if form < 0.65:
            return bio(self.name("given"), "PER")
        if form < 0.85:  # a title is not part of the name (CoNLL-2003 tags "Mr." O)
            return [(str(self.rng.choice(TITLES)), "O"), *bio(self.name("surnames"), "PER")]
        return bio(self.name("surnames"), "PER")

    def organization(self) -> Tagged:
        form, word = self.rng.random(), str(self.rng.choice(ORG_WORDS))
        if form < 0.35:
            return bio(f"{self.name('invented', ambiguous=False)} {word}", "ORG")
        if form < 0.55:
            return bio(f"{self.name('surnames')} {word}", "ORG")
        if form < 0.7:
            return bio(f"{self.single_word_place()} {word}", "ORG")
        if form < 0.85:
            return bio(f"{self.rng.choice(ORG_PREFIXES)} {self.name('places')}", "ORG")
        return bio(self.name("invented", ambiguous=False), "ORG")

    def slot(self, name: str) -> Tagged:
        rng = self.rng
        if name == "PER":
            return self.person()
        if name == "LOC":
            return bio(self.name("places"), "LOC")
        if name == "ORG":
            return self.organization()
        if name == "NAT":
            return bio(str(rng.choice(NATIONALITIES)), "MISC")
        if name == "EVENT":
            return bio(f"{self.name('places')} {rng.choice(EVENT_WORDS)}", "MISC")
        words = {
            "DAY": lambda: rng.choice(DAYS),
            "MONTH": lambda: rng.choice(MONTHS),
            "NUM": lambda: rng.integers(2, 100),
            "YEAR": lambda: rng.integers(1950, 2021),
            "ORD": lambda: rng.choice(ORDINALS),
            "PRON": lambda: rng.choice(["his", "her"]),
            "SUBJ": lambda: rng.choice(["he", "she"]),
        }
        return [(str(words[name]()), "O")]


def sentence(filler: Filler, template: str) -> Tagged:
    tagged: Tagged = []
    for word in template.split():
        if word.startswith("{") and word.endswith("}"):
            tagged += filler.slot(word[1:-1])
        else:
            tagged.append((word, "O"))
    return tagged


def to_conll(sentences: list[Tagged]) -> str:
    """CoNLL-2003 layout: a ``-DOCSTART-`` line, then ``word TAG`` lines, a blank line after each
    sentence."""
    blocks = ["-DOCSTART- O"] + ["\n".join(f"{w} {t}" for w, t in s) for s in sentences]
    return "\n\n".join(blocks) + "\n"


def build(seed: int = SEED) -> dict[str, list[Tagged]]:
    """The two splits' sentences: ``{"train": [...], "validation": [...]}``."""
    rng = np.random.default_rng(seed)
    taken = set(GIVEN_NAMES) | set(SURNAMES) | set(PLACES) | set(AMBIGUOUS)
    lists = {"given": GIVEN_NAMES, "surnames": SURNAMES, "places": PLACES}
    for kind, n in N_INVENTED.items():
        lists[kind] = invented_names(rng, n, taken)
        taken |= set(lists[kind])
    seen, held = {}, {}
    for kind, names in lists.items():
        seen[kind], held[kind] = split_names(rng, names)
    splits = {}
    for split, n, held_out in (("train", N_TRAIN, None), ("validation", N_VALIDATION, held)):
        filler = Filler(rng, seen, held_out)
        templates = rng.choice(len(TEMPLATES), size=n)
        splits[split] = [sentence(filler, TEMPLATES[t]) for t in templates]
    return splits


def describe(splits: dict[str, list[Tagged]]) -> str:
    """Counts for the README: sentences, words, entities per type, unseen validation entities."""
    train_words = {w.lower() for s in splits["train"] for w, _ in s}
    lines = []
    for split, sentences in splits.items():
        types = Counter(t[2:] for s in sentences for _, t in s if t.startswith("B-"))
        n_words = sum(len(s) for s in sentences)
        lines.append(
            f"{split}: {len(sentences)} sentences, {n_words} words, entities {dict(types)}"
        )
    unseen = total = 0
    for s in splits["validation"]:
        for i, (_, tag) in enumerate(s):
            if tag.startswith("B-"):
                j = i + 1
                while j < len(s) and s[j][1] == "I-" + tag[2:]:
                    j += 1
                total += 1
                unseen += any(w.lower() not in train_words for w, _ in s[i:j])
    lines.append(f"validation entities with a word never seen in training: {unseen}/{total}")
    return "\n".join(lines)


def main() -> None:
    from minibert.io import atomic_write_text

    splits = build()
    for split, sentences in splits.items():
        atomic_write_text(OUT / f"{split}.conll", to_conll(sentences))
    print(describe(splits), file=sys.stderr)


if __name__ == "__main__":
    main()
