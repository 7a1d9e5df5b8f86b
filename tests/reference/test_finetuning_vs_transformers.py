"""Fine-tuning across the two libraries: start from a checkpoint transformers wrote, fine-tune in
minibert, and load the result back in transformers.

The promise of issue 7 is that fine-tuning works from "ours or any transformers BERT checkpoint
in safetensors", and that what minibert saves is a normal transformers checkpoint: the same
weights must give the same logits, the label names must survive as ``id2label``, and
transformers' own text-classification pipeline must agree with ``classify``.
"""

from __future__ import annotations

import warnings
from importlib import resources

import numpy as np
import pytest

from tests.reference.torch_helpers import assert_arrays_match, torch

transformers = pytest.importorskip("transformers", reason="install the ref extra: make test-ref")

from minibert.finetuning import get_task  # noqa: E402
from minibert.finetuning.classification import classify  # noqa: E402
from minibert.finetuning.trainer import (  # noqa: E402
    FinetuningArguments,
    build_model,
    finetune,
    load_finetuned,
)
from minibert.tokenization import WordPieceTokenizer  # noqa: E402

SENTIMENT = resources.files("minibert.data") / "tasks" / "sentiment"
FLOAT32 = dict(atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A transformers BertForPreTraining checkpoint, fine-tuned by minibert on sentiment."""
    task = get_task("classification")
    train = task.read(SENTIMENT / "train.csv")[:400]
    validation = task.read(SENTIMENT / "validation.csv")[:100]
    base = tmp_path_factory.mktemp("hf-pretrained")
    tokenizer = WordPieceTokenizer.train(
        iter([e.text for e in train]), vocab_size=400, show_progress=False
    )
    tokenizer.save_pretrained(base)
    config = transformers.BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=64, attn_implementation="eager",
    )  # fmt: skip
    torch.manual_seed(0)
    pretrained = transformers.BertForPreTraining(config).eval()
    pretrained.save_pretrained(base, safe_serialization=True)

    model = build_model(task, base, task.label_names(train), seed=0)
    out = tmp_path_factory.mktemp("finetuned")
    args = FinetuningArguments(
        max_steps=20, eval_every=10, learning_rate=1e-3, batch_size=16, max_seq_length=64
    )
    finetune(task, model, tokenizer, train, validation, args, out, progress=False)
    return pretrained, model, out / "best", validation


def test_the_encoder_starts_from_the_transformers_weights(run):
    pretrained, model, _, _ = run
    # Fine-tuning moved the weights, so compare a tensor the first steps barely change: the
    # shapes, and that the loaded model's encoder is the checkpoint's and not a fresh init.
    reference = pretrained.bert.embeddings.position_embeddings.weight.detach().numpy()
    ours = model.bert.embeddings.position_embeddings.weight.data
    assert ours.shape == reference.shape
    assert np.abs(ours - reference).max() < 0.05  # 20 steps at lr 1e-3 move each entry < 0.02
    fresh = np.random.default_rng(0).normal(0, 0.02, reference.shape)
    assert np.abs(ours - fresh).max() > 0.05


def test_the_finetuned_checkpoint_gives_the_same_logits_in_transformers(run):
    _, _, best, validation = run
    model, tokenizer, _ = load_finetuned(best)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = transformers.BertForSequenceClassification.from_pretrained(
            best, attn_implementation="eager"
        ).eval()
    assert reference.config.id2label == {0: "negative", 1: "positive"}
    texts = [e.text for e in validation[:24]]
    batch = tokenizer(texts, padding=True, truncation=True, return_tensors="np")
    ours = model(**batch).logits.data
    with torch.no_grad():
        theirs = reference(**{k: torch.tensor(v) for k, v in batch.items()}).logits.numpy()
    assert_arrays_match(ours, theirs, **FLOAT32, what="logits", kind="forward")


def test_classify_matches_the_transformers_pipeline(run):
    _, _, best, validation = run
    model, tokenizer, _ = load_finetuned(best)
    texts = [e.text for e in validation[:16]]
    ours = classify(model, tokenizer, texts, top_k=2)
    pipeline = transformers.pipeline(
        "text-classification", model=str(best), tokenizer=str(best), device="cpu", top_k=2
    )
    theirs = pipeline(texts)
    for mine, reference in zip(ours, theirs, strict=True):
        assert [p["label"] for p in mine] == [p["label"] for p in reference]
        assert_arrays_match(
            np.array([p["score"] for p in mine]),
            np.array([p["score"] for p in reference]),
            **FLOAT32,
            what="scores",
            kind="forward",
        )
