"""Sentence embeddings from a transformers-written BERT checkpoint equal transformers' own.

transformers writes a random BertModel (float32, safetensors) and a tokenizer trained by us
into one directory, as a BERT-architecture sentence-embedding model ships. The reference side
is transformers' tokenizer and model, pooled the way sentence-transformers' ``Pooling`` and
``Normalize`` modules do it: all texts in one padded batch, the masked mean (or [CLS], or the
masked max), then ``torch.nn.functional.normalize``. Ours is ``minibert.pipelines.embed`` from
text to vectors, in batches of another size, so its padding differs from the reference's too.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.reference.torch_helpers import assert_arrays_match, torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach the hub
transformers = pytest.importorskip("transformers", reason="install the ref extra: make test-ref")

from minibert.modeling import BertModel  # noqa: E402
from minibert.pipelines import embed  # noqa: E402
from minibert.tokenization import WordPieceTokenizer  # noqa: E402

MAX_LENGTH = 48
TEXTS = [
    "",
    "Hi.",
    "The cat sat on the mat.",
    "A dog ran across the park, chasing a red ball.",
    "Sentence embeddings put similar meanings close together.",
    "BERT reads the whole sentence at once, left and right context together.",
    "Mean pooling averages the token vectors; padding must not count.",
    "What is the capital of France? Paris is the capital of France.",
    "Numbers like 3.14159, 2024-01-31 and 1,234,567 split into many pieces.",
    "naïve café résumé — accents are stripped by the uncased tokenizer",
    "UPPER CASE and lower case give the same tokens when lowercasing.",
    "short",
    "two words",
    "A much longer text that keeps going so that it is cut by truncation at the maximum "
    "length of the model, because a sentence-embedding model only sees its first tokens and "
    "the rest of this very long sentence, however interesting, is simply never read at all.",
    "Questions? Exclamations! Quotes: 'single' and \"double\".",
    "The quick brown fox jumps over the lazy dog.",
    "Tokenizers split unknown words into word pieces: unaffable, untokenizable.",
    "cats and dogs",
    "a b c d e f g h i j k l m n o p",
    "The mat was sat on by the cat.",
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A directory with transformers' random float32 BertModel and our tokenizer's vocab.txt."""
    directory = tmp_path_factory.mktemp("sentence-bert")
    tokenizer = WordPieceTokenizer.train(
        iter(TEXTS * 2), vocab_size=300, min_frequency=1, show_progress=False
    )
    tokenizer.save_pretrained(directory)
    config = transformers.BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=48, max_position_embeddings=64, attn_implementation="eager",
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.BertModel(config).to(torch.float32).eval()
    model.save_pretrained(directory, safe_serialization=True)
    assert (directory / "model.safetensors").is_file()
    return directory


def reference_embeddings(directory, pooling: str, normalize: bool = True) -> np.ndarray:
    """transformers' model and tokenizer, pooled as sentence-transformers pools."""
    tokenizer = transformers.BertTokenizerFast.from_pretrained(directory)
    model = transformers.BertModel.from_pretrained(directory, attn_implementation="eager").eval()
    assert model.dtype == torch.float32
    encoded = tokenizer(
        TEXTS, padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt"
    )
    with torch.no_grad():
        states = model(**encoded).last_hidden_state  # (N, T, H)
    mask = encoded["attention_mask"][..., None].to(states.dtype)  # (N, T, 1)
    if pooling == "mean":
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    elif pooling == "cls":
        pooled = states[:, 0]
    else:  # sentence-transformers' max pooling: padding set to -1e9 first
        pooled = states.masked_fill(mask == 0, -1e9).max(dim=1).values
    if normalize:
        pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
    return pooled.numpy()


@pytest.mark.parametrize("pooling", ["mean", "cls", "max"])
def test_embed_matches_transformers(checkpoint, pooling):
    tokenizer = WordPieceTokenizer.from_pretrained(checkpoint)
    model = BertModel.from_pretrained(checkpoint)
    ours = embed(model, tokenizer, TEXTS, pooling=pooling, batch_size=7, max_length=MAX_LENGTH)
    assert ours.dtype == np.float32 and ours.shape == (len(TEXTS), 32)
    expected = reference_embeddings(checkpoint, pooling)
    assert_arrays_match(ours, expected, atol=1e-5, rtol=0.0, what=f"{pooling} embeddings",
                        kind="forward")  # fmt: skip


def test_unnormalized_mean_matches_transformers(checkpoint):
    tokenizer = WordPieceTokenizer.from_pretrained(checkpoint)
    model = BertModel.from_pretrained(checkpoint)
    ours = embed(model, tokenizer, TEXTS, normalize=False, batch_size=32, max_length=MAX_LENGTH)
    expected = reference_embeddings(checkpoint, "mean", normalize=False)
    assert not np.allclose(np.linalg.norm(expected, axis=1), 1.0)  # the test can tell them apart
    assert_arrays_match(ours, expected, atol=1e-5, rtol=1e-5, what="unnormalized mean",
                        kind="forward")  # fmt: skip


def test_the_long_text_was_truncated(checkpoint):
    """The parity above covers truncation only if a text is longer than MAX_LENGTH tokens."""
    tokenizer = WordPieceTokenizer.from_pretrained(checkpoint)
    assert max(len(tokenizer(text)["input_ids"]) for text in TEXTS) > MAX_LENGTH
