"""``embed`` and ``similarity``: sentence embeddings as sentence-transformers computes them.

The expected vectors are computed here, independently: each text run alone (no padding at all)
through the encoder, its token states pooled by hand with NumPy. (Parity with transformers
itself lives in tests/reference/test_embeddings_vs_transformers.py.)
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd import no_grad
from minibert.modeling import BertForMaskedLM, BertForSequenceClassification, BertModel
from minibert.pipelines import embed, similarity
from minibert.tokenization import WordPieceTokenizer
from tests.minibert.conftest import small_config

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "a",
         "dog", "ran", "in", "park", ".", "##s", "big", "red", "ball"]  # fmt: skip
TEXTS = ["the cat sat on the mat .", "a dog", "dogs ran in the big red park .", "cat",
         "the red ball", "a big dog sat on a cat ."]  # fmt: skip
TOKENIZER = WordPieceTokenizer(VOCAB)


def make_model(cls=BertModel, **overrides):
    config = small_config(vocab_size=len(VOCAB), max_position_embeddings=16, **overrides)
    return cls(config, seed=3).astype(np.float64)


def by_hand(model, text: str, pooling: str) -> np.ndarray:
    """One text alone through the encoder, pooled with NumPy (no padding, no pool())."""
    ids = TOKENIZER(text)["input_ids"]
    encoder = model if isinstance(model, BertModel) else model.bert
    with no_grad():
        states = encoder([ids]).last_hidden_state.data[0]  # (T, H)
    vector = {"mean": states.mean(axis=0), "cls": states[0], "max": states.max(axis=0)}[pooling]
    return vector / np.linalg.norm(vector)


@pytest.mark.parametrize("pooling", ["mean", "cls", "max"])
def test_padded_batches_give_each_text_its_own_pooled_state(pooling):
    model = make_model()
    got = embed(model, TOKENIZER, TEXTS, pooling=pooling, batch_size=4)
    expected = np.stack([by_hand(model, text, pooling) for text in TEXTS])
    assert got.shape == (len(TEXTS), model.config.hidden_size)
    np.testing.assert_allclose(got, expected, atol=1e-12, rtol=0)


@given(batch_size=st.integers(1, 8))
def test_the_result_does_not_depend_on_the_batch_size(batch_size):
    model = make_model()
    reference = np.stack([by_hand(model, text, "mean") for text in TEXTS])
    np.testing.assert_allclose(
        embed(model, TOKENIZER, TEXTS, batch_size=batch_size), reference, atol=1e-12, rtol=0
    )


def test_normalize_false_keeps_the_raw_mean():
    model = make_model()
    raw = embed(model, TOKENIZER, TEXTS, normalize=False)
    unit = embed(model, TOKENIZER, TEXTS)
    norms = np.linalg.norm(raw, axis=1)
    assert not np.allclose(norms, 1.0)
    np.testing.assert_allclose(raw / norms[:, None], unit, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-12)


def test_a_task_model_embeds_with_its_encoder_and_keeps_its_mode():
    model = make_model(BertForSequenceClassification, hidden_dropout_prob=0.5)
    model.train()
    first = embed(model, TOKENIZER, TEXTS)
    second = embed(model, TOKENIZER, TEXTS)
    np.testing.assert_array_equal(first, second)  # dropout was off: eval mode inside
    np.testing.assert_array_equal(first, embed(model.bert, TOKENIZER, TEXTS))
    assert model.training and model.bert.training  # restored afterwards
    assert all(param.grad is None for param in model.parameters())


def test_float32_model_gives_float32_and_one_text_gives_one_vector():
    model = BertForMaskedLM(small_config(vocab_size=len(VOCAB), max_position_embeddings=16))
    batch = embed(model, TOKENIZER, TEXTS)
    single = embed(model, TOKENIZER, TEXTS[2])
    assert batch.dtype == np.float32 and single.shape == (model.config.hidden_size,)
    np.testing.assert_allclose(single, batch[2], atol=1e-6)
    assert embed(model, TOKENIZER, []).shape == (0, model.config.hidden_size)


def test_long_texts_are_truncated_to_max_length():
    model = make_model()
    long_text = " ".join(["the cat sat on the mat"] * 5)  # 30 words, 16 positions
    got = embed(model, TOKENIZER, [long_text, "cat"], max_length=6)
    truncated = TOKENIZER.decode(TOKENIZER(long_text)["input_ids"][1:5])  # 4 words + [CLS]/[SEP]
    np.testing.assert_allclose(got[0], by_hand(model, truncated, "mean"), atol=1e-12)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(pooling="sum"), "unknown pooling 'sum'"),
        (dict(batch_size=0), "batch_size must be at least 1"),
        (dict(max_length=99), r"max_length must be in \[2, 16\]"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        embed(make_model(), TOKENIZER, TEXTS, **kwargs)


def test_bad_inputs_are_named():
    with pytest.raises(TypeError, match="item 1 is a int"):
        embed(make_model(), TOKENIZER, ["the cat", 3])
    with pytest.raises(TypeError, match="a task model with a .bert encoder, got str"):
        embed("not a model", TOKENIZER, TEXTS)


def test_similarity_is_the_cosine_matrix():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 6)), rng.standard_normal((3, 6))
    expected = np.array([[x @ y / (np.linalg.norm(x) * np.linalg.norm(y)) for y in b] for x in a])
    np.testing.assert_allclose(similarity(a, b), expected, atol=1e-12)
    own = similarity(a)
    np.testing.assert_allclose(np.diag(own), 1.0, atol=1e-12)
    np.testing.assert_allclose(own, own.T, atol=1e-12)
    assert similarity(np.zeros(6), a).tolist() == [[0.0] * 4]  # a zero vector: 0, not NaN
    with pytest.raises(ValueError, match="6 dimensions but others 5"):
        similarity(a, rng.standard_normal((2, 5)))
