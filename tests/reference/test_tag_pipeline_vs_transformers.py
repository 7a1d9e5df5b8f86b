"""``tag`` against transformers' token-classification pipeline, on the same saved checkpoint.

A randomly initialized model with large classifier weights tags words almost at random, which
is what a parity test of the grouping wants: B-/I- runs of every kind, stray I- tags, entities
that end inside a word ("simple") or not ("first"), [UNK] words and punctuation.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from minibert.config import BertConfig
from minibert.finetuning.token_classification import tag
from minibert.modeling import BertForTokenClassification
from minibert.tokenization import WordPieceTokenizer
from tests.reference.torch_helpers import torch  # noqa: F401  (skips the module without torch)

transformers = pytest.importorskip("transformers")

DATA = Path(__file__).resolve().parents[2] / "minibert" / "data" / "tasks" / "ner"
LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
TEXTS = [
    "George Washington flew to Paris on Monday.",
    "Dr. Smith  met Mr. Garcia in New York, then left for Zürich!",
    "shares of Vexlin Airlines rose 4 percent in Washington trading .",
    "the Italian singer Ruth Kumgreaon will perform in Sao Paulo in March",
    "Łódź ☃ and Orléans were (briefly) on the list of places to visit.",
    "x",
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tagger")
    sentences = (DATA / "train.conll").read_text(encoding="utf-8").split("\n\n")[1:200]
    texts = [" ".join(line.split()[0] for line in s.splitlines()) for s in sentences]
    # A small vocabulary, so that most names are cut into several pieces.
    tokenizer = WordPieceTokenizer.train(iter(texts), vocab_size=300, show_progress=False)
    config = BertConfig.preset(
        "tiny", vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
        max_position_embeddings=64, id2label=dict(enumerate(LABELS)), num_labels=len(LABELS),
        initializer_range=0.5,  # decisive logits: no near-ties for round-off to flip
    )  # fmt: skip
    BertForTokenClassification(config, seed=3).save_pretrained(directory, tokenizer=tokenizer)
    return directory


@pytest.mark.parametrize("aggregation", ["first", "simple"])
def test_tag_matches_the_transformers_pipeline(checkpoint, aggregation):
    model = BertForTokenClassification.from_pretrained(checkpoint).eval()
    tokenizer = WordPieceTokenizer.from_pretrained(checkpoint)
    theirs = transformers.pipeline(
        "token-classification",
        model=transformers.BertForTokenClassification.from_pretrained(checkpoint),
        tokenizer=transformers.AutoTokenizer.from_pretrained(checkpoint),
        aggregation_strategy=aggregation,
    )
    n_entities = 0
    for text in TEXTS:
        ours = tag(model, tokenizer, text, aggregation=aggregation)
        expected = theirs(text)
        assert [(e["entity_group"], e["word"], e["start"], e["end"]) for e in ours] == [
            (e["entity_group"], e["word"], e["start"], e["end"]) for e in expected
        ], text
        for a, b in zip(ours, expected, strict=True):
            assert a["score"] == pytest.approx(float(b["score"]), abs=1e-5)
        n_entities += len(ours)
    assert n_entities > 10  # the random tagger found plenty to group
