"""Attention maps, their text renderings and pictures; gradient x input saliency.

Saliency is checked without trusting our backward: by the chain rule, scaling token t's word
embedding by (1 + eps) moves the output at rate sum_k grad[t, k] * x[t, k], which is token t's
score, so every score (and their total) is a central finite difference of the forward alone.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from autograd import Tensor, no_grad
from autograd.strict_array import StrictArray
from minibert.interpretability import (
    AttentionMaps,
    attention_maps,
    attention_summary,
    gradient_x_input,
    plot_attention,
    plot_saliency,
    render_attention_summary,
    render_attention_text,
    render_saliency_text,
    saliency,
)
from minibert.interpretability.saliency import Saliency, word_embeddings
from minibert.modeling import (
    BertForMaskedLM,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
)
from minibert.pipelines import embed
from minibert.tokenization import WordPieceTokenizer
from tests.minibert.conftest import small_config

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "a",
         "dog", "ran", "in", "park", ".", "##s", "big", "red", "ball"]  # fmt: skip
TOKENIZER = WordPieceTokenizer(VOCAB)
LABELS = {0: "negative", 1: "neutral", 2: "positive"}


def make_model(cls, **overrides):
    config = small_config(
        vocab_size=len(VOCAB), max_position_embeddings=16, num_labels=3, id2label=LABELS,
        hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, **overrides,
    )  # fmt: skip
    return cls(config, seed=5).astype(np.float64)


# ----------------------------------------------------------------------------- attention maps
def test_attention_maps_are_the_models_attention_probabilities():
    model = make_model(BertModel)
    maps = attention_maps(model, TOKENIZER, "the cat sat", "a dog ran")
    assert maps.tokens == ["[CLS]", "the", "cat", "sat", "[SEP]", "a", "dog", "ran", "[SEP]"]
    assert maps.attentions.shape == (2, 2, 9, 9)
    encoded = TOKENIZER("the cat sat", "a dog ran", return_tensors="np")
    with no_grad():
        out = model.eval()(**encoded, output_attentions=True)
    for layer in range(2):
        np.testing.assert_array_equal(maps.attentions[layer], out.attentions[layer].data[0])
    np.testing.assert_allclose(maps.attentions.sum(axis=-1), 1.0, atol=1e-12)


def test_padding_keys_get_zero_and_renderings_hide_them():
    model = make_model(BertModel)
    encoded = TOKENIZER(["the cat sat on the mat", "a dog"], padding=True, return_tensors="np")
    with no_grad():
        out = model.eval()(**encoded, output_attentions=True)
    tokens = TOKENIZER.convert_ids_to_tokens(list(encoded["input_ids"][1]))
    maps = AttentionMaps.from_output(out.attentions, tokens, encoded["attention_mask"], index=1)
    assert maps.length == 4 and tokens[4:] == ["[PAD]"] * 4
    assert np.all(maps.attentions[..., 4:] == 0.0)  # exactly: nothing flows from padding
    np.testing.assert_allclose(maps.attentions.sum(axis=-1), 1.0, atol=1e-12)
    assert "[PAD]" not in render_attention_text(maps, 0, 0)
    assert "[PAD]" not in render_attention_text(maps, 0, 0, style="grid")
    assert "[PAD]" in render_attention_text(maps, 0, 0, include_padding=True)


def pattern_maps() -> AttentionMaps:
    """Hand-made maps over "[CLS] a b c [SEP]": head 0 reads the previous token ([CLS] reads
    itself), head 1 sends everything to [SEP], head 2 is uniform."""
    T = 5
    previous = np.eye(T)[np.maximum(np.arange(T) - 1, 0)]  # row i is one-hot at i - 1
    to_sep = np.zeros((T, T))
    to_sep[:, 4] = 1.0
    uniform = np.full((T, T), 1 / T)
    attentions = np.stack([previous, to_sep, uniform])[None]  # (1, 3, T, T)
    return AttentionMaps(["[CLS]", "a", "b", "c", "[SEP]"], attentions, np.ones(T, dtype=int))


def test_attention_summary_measures_the_patterns():
    summary = attention_summary(pattern_maps())
    assert list(summary) == ["cls", "sep", "self", "previous", "next"]
    # head 0: 4 of 5 queries read their previous token; [CLS] reads itself (1 of 5 diagonal)
    assert summary["previous"][0, 0] == 1.0 and summary["self"][0, 0] == pytest.approx(0.2)
    assert summary["cls"][0, 0] == pytest.approx(2 / 5)  # queries [CLS] and "a"
    assert summary["sep"][0, 1] == 1.0 and summary["next"][0, 1] == pytest.approx(1 / 4)
    for name in summary:
        assert summary[name][0, 2] == pytest.approx(0.2)
    table = render_attention_summary(pattern_maps())
    assert "previous (1.00)" in table.splitlines()[1]
    assert "sep (1.00)" in table.splitlines()[2]


def test_top_k_text_lists_the_most_attended_tokens():
    text = render_attention_text(pattern_maps(), layer=0, head=0, top_k=2)
    lines = text.splitlines()
    assert lines[0].startswith("layer 0, head 0")
    assert lines[3] == "    2:b -> 1:a 1.00  0:[CLS] 0.00"  # labels right-aligned to 7
    assert len(lines) == 6  # title + 5 query tokens


def test_grid_text_gives_percentages_and_dots():
    text = render_attention_text(pattern_maps(), layer=0, head=2, style="grid")
    lines = text.splitlines()
    assert lines[1].split() == ["[CLS]", "a", "b", "c", "[SEP]"]
    assert lines[2].split() == ["0:[CLS]", "20", "20", "20", "20", "20"]
    sep_grid = render_attention_text(pattern_maps(), layer=-1, head=1, style="grid")
    assert sep_grid.splitlines()[3].split() == ["1:a", ".", ".", ".", ".", "100"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(layer=1, head=0), r"layer 1 does not exist: this model has 1 layers \(0 to 0"),
        (dict(layer=0, head=3), "head 3 does not exist: this model has 3 heads"),
        (dict(layer=0, head=0, style="fancy"), "unknown style 'fancy'"),
        (dict(layer=0, head=0, top_k=0), "top_k must be at least 1"),
    ],
)
def test_bad_rendering_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        render_attention_text(pattern_maps(), **kwargs)


# ----------------------------------------------------------------------------- inputs_embeds
def test_inputs_embeds_of_the_word_embeddings_equal_the_ids_path():
    model = make_model(BertForMaskedLM).eval()
    encoded = TOKENIZER(["the cat sat", "a dog"], padding=True, return_tensors="np")
    ids = encoded.pop("input_ids")
    with no_grad():
        from_ids = model(ids, **encoded).logits.data
        from_embeds = model(inputs_embeds=word_embeddings(model, ids), **encoded).logits.data
    np.testing.assert_array_equal(from_embeds, from_ids)


def test_inputs_embeds_errors_name_the_problem():
    model = make_model(BertModel)
    embeds = np.zeros((1, 3, 8))
    with pytest.raises(ValueError, match="exactly one of input_ids and inputs_embeds.*both"):
        model([[2, 5, 3]], inputs_embeds=embeds)
    with pytest.raises(ValueError, match="neither"):
        model()
    with pytest.raises(ValueError, match=r"hidden_size=8\), got shape \(1, 3, 5\)"):
        model(inputs_embeds=np.zeros((1, 3, 5)))
    with pytest.raises(TypeError, match="dtype float32 but the model's weights float64"):
        model(inputs_embeds=embeds.astype(np.float32))
    with pytest.raises(ValueError, match="attention_mask has shape"):
        model(inputs_embeds=embeds, attention_mask=[[1, 1]])


# ----------------------------------------------------------------------------- saliency
def scaled_output(model, inputs, target_of, x, scale) -> float:
    """The explained logit with the word embeddings multiplied row-wise by ``scale`` (T,)."""
    with no_grad():
        out = model(inputs_embeds=x * scale[None, :, None], **inputs)
    return float(target_of(out))


def finite_difference_scores(model, inputs, target_of, x, eps=1e-6) -> np.ndarray:
    """d/d(eps) f(x with row t scaled by 1 + eps) at 0, for each token t: central differences."""
    T = x.shape[1]
    scores = []
    for t in range(T):
        step = np.zeros(T)
        step[t] = eps
        up = scaled_output(model, inputs, target_of, x, 1 + step)
        down = scaled_output(model, inputs, target_of, x, 1 - step)
        scores.append((up - down) / (2 * eps))
    return np.array(scores)


def test_classifier_saliency_equals_finite_differences():
    model = make_model(BertForSequenceClassification)
    result = saliency(model, TOKENIZER, "the big dog ran", text_pair="a red ball", target=1)
    assert (result.target, result.target_label, result.position) == (1, "neutral", None)
    inputs = dict(TOKENIZER("the big dog ran", "a red ball", return_tensors="np"))
    x = word_embeddings(model, inputs.pop("input_ids"))
    model.eval()
    expected = finite_difference_scores(model, inputs, lambda out: out.logits.data[0, 1], x)
    np.testing.assert_allclose(result.scores, expected, atol=1e-7, rtol=1e-6)
    total = scaled_output(model, inputs, lambda o: o.logits.data[0, 1], x, np.ones(x.shape[1]))
    assert result.output == pytest.approx(total, abs=1e-12)
    assert np.abs(result.scores).max() > 1e-4  # the check above is not 0 == 0


def test_masked_lm_saliency_equals_finite_differences():
    model = make_model(BertForMaskedLM)
    result = saliency(model, TOKENIZER, "the [MASK] sat on the mat .", target="dog")
    assert (result.position, result.target, result.target_label) == (2, VOCAB.index("dog"), "dog")
    inputs = dict(TOKENIZER("the [MASK] sat on the mat .", return_tensors="np"))
    x = word_embeddings(model, inputs.pop("input_ids"))
    model.eval()
    read = lambda out: out.logits.data[0, 2, VOCAB.index("dog")]
    # The total alone, in one step along x itself: f(x + eps x) - f(x - eps x).
    T, eps = x.shape[1], 1e-6
    total = (
        scaled_output(model, inputs, read, x, np.full(T, 1 + eps))
        - scaled_output(model, inputs, read, x, np.full(T, 1 - eps))
    ) / (2 * eps)
    assert result.scores.sum() == pytest.approx(total, abs=1e-7)
    np.testing.assert_allclose(
        result.scores, finite_difference_scores(model, inputs, read, x), atol=1e-7, rtol=1e-6
    )


def test_gradient_matches_a_random_direction():
    """The full gradient, not only its product with x: d/d(eps) f(x + eps R) = sum(grad * R)."""
    model = make_model(BertForSequenceClassification).eval()
    rng = np.random.default_rng(0)
    inputs = dict(TOKENIZER("a big cat sat", return_tensors="np"))
    x = word_embeddings(model, inputs.pop("input_ids"))
    direction = rng.standard_normal(x.shape)

    def forward(embeds):
        return model(inputs_embeds=embeds, **inputs).logits[0, 2]

    scores, gradient, _ = gradient_x_input(forward, x)
    np.testing.assert_array_equal(scores, (gradient * x).sum(axis=-1))
    eps = 1e-6
    with no_grad():
        up = forward(Tensor(x + eps * direction)).item()
        down = forward(Tensor(x - eps * direction)).item()
    assert (gradient * direction).sum() == pytest.approx((up - down) / (2 * eps), abs=1e-7)


def test_on_the_summed_embedding_the_scores_vanish():
    """LayerNorm(c e) = LayerNorm(e): the derivative along the summed embedding is ~0, which is
    why saliency is taken on the word embeddings (the module docstring's claim)."""
    model = make_model(BertForSequenceClassification, layer_norm_eps=1e-12).eval()
    ids = TOKENIZER("the big dog ran", return_tensors="np")["input_ids"]
    x = word_embeddings(model, ids)  # (1, T, H)

    def forward(embeds):
        return model(inputs_embeds=embeds).logits[0, 1]

    scores, gradient, _ = gradient_x_input(forward, x)
    embeddings = model.bert.embeddings
    others = (
        embeddings.position_embeddings.weight.data[: x.shape[1]]
        + (embeddings.token_type_embeddings.weight.data[0])
    )  # (T, H)
    on_the_sum = (gradient[0] * (x[0] + others)).sum(axis=-1)  # (T,)
    assert np.abs(on_the_sum).max() < 1e-9 * np.abs(scores).max()
    np.testing.assert_allclose(scores[0], -(gradient[0] * others).sum(axis=-1), rtol=1e-6)


def test_tokens_the_output_cannot_see_get_exactly_zero():
    # Causal attention: the prediction at position 2 reads positions 0 to 2 only.
    model = make_model(BertForMaskedLM, is_decoder=True)
    result = saliency(model, TOKENIZER, "the [MASK] sat on the mat")
    assert result.position == 2
    assert np.all(result.scores[3:] == 0.0) and np.all(result.scores[:3] != 0.0)
    # A token masked out by attention_mask (a real word, not [PAD]) cannot reach [CLS] either.
    model = make_model(BertForSequenceClassification).eval()
    ids = np.array([TOKENIZER("the cat sat on the mat")["input_ids"]])
    mask = np.ones_like(ids)
    mask[0, 3] = 0

    def forward(embeds):
        return model(inputs_embeds=embeds, attention_mask=mask).logits[0, 0]

    scores, gradient, _ = gradient_x_input(forward, word_embeddings(model, ids))
    assert np.all(gradient[0, 3] == 0.0) and scores[0, 3] == 0.0
    assert np.all(scores[0, mask[0] == 1] != 0.0)


def test_default_targets_are_the_models_predictions():
    model = make_model(BertForSequenceClassification)
    inputs = TOKENIZER("a red ball", return_tensors="np")
    with no_grad():
        predicted = int(np.argmax(model.eval()(**inputs).logits.data[0]))
    assert saliency(model, TOKENIZER, "a red ball").target == predicted
    masked_lm = make_model(BertForMaskedLM)
    with no_grad():
        logits = masked_lm.eval()(TOKENIZER("a [MASK] ball", return_tensors="np")["input_ids"])
    ranked = [int(i) for i in np.argsort(-logits.logits.data[0, 2]) if i >= 5]  # not special
    assert saliency(masked_lm, TOKENIZER, "a [MASK] ball").target == ranked[0]


def test_saliency_leaves_the_model_as_it_was():
    model = make_model(BertForSequenceClassification)
    model.train()
    model.classifier.weight.requires_grad_(False)
    saliency(model, TOKENIZER, "the cat", target="positive")
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    flags = [p.requires_grad for p in model.parameters()]
    assert flags.count(False) == 1 and model.classifier.weight.requires_grad is False
    # and dropout was off: two calls give the same scores
    first = saliency(model, TOKENIZER, "the cat", target=0).scores
    np.testing.assert_array_equal(first, saliency(model, TOKENIZER, "the cat", target=0).scores)


@pytest.mark.parametrize(
    "cls, kwargs, error, message",
    [
        (BertForSequenceClassification, dict(target="happy"), ValueError,
         "unknown label 'happy'; the labels are 'negative', 'neutral', 'positive'"),
        (BertForSequenceClassification, dict(target=3), ValueError, "class 3 does not exist"),
        (BertForSequenceClassification, dict(position=1), ValueError, "position is for"),
        (BertForMaskedLM, dict(), ValueError, r"the text has no \[MASK\]"),
        (BertForMaskedLM, dict(target="dogs", position=1), ValueError,
         r"'dogs' is not a token of the vocabulary; pick one of its pieces, e.g. \['dog'\]"),
        (BertForMaskedLM, dict(target=99, position=1), ValueError, "outside the vocabulary"),
        (BertForMaskedLM, dict(position=9), ValueError, "position 9 is outside the 5 tokens"),
        (BertForTokenClassification, dict(), TypeError, "not a BertForTokenClassification"),
    ],
)  # fmt: skip
def test_bad_targets_are_named(cls, kwargs, error, message):
    with pytest.raises(error, match=message):
        saliency(make_model(cls), TOKENIZER, "the cat sat", **kwargs)


def test_saliency_text_draws_signed_bars():
    result = Saliency(["[CLS]", "cat", "[SEP]"], np.array([0.5, -1.0, 0.0]), 6, "cat", 2.5, 1)
    lines = render_saliency_text(result, width=10).splitlines()
    assert (
        lines[0] == "gradient x input for 'cat' at position 1 (logit 2.500; scores sum to -0.500)"
    )
    assert lines[1].endswith("+0.5000 +++++")
    assert lines[2].endswith("-1.0000 ----------")
    assert lines[3].endswith("+0.0000 ")


# ----------------------------------------------------------------------------- pictures
def test_attention_and_saliency_pictures_are_written(tmp_path):
    pytest.importorskip("matplotlib", reason="the plot extra draws the pictures")
    maps = pattern_maps()
    figure = plot_attention(maps, path=tmp_path / "all.png")
    assert len(figure.axes) == 3 + 1  # one panel per head, and the colour bar
    assert (tmp_path / "all.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(plot_attention(maps, layer=0, head=1).axes) == 2
    result = Saliency(["[CLS]", "cat", "[SEP]"], np.array([0.5, -1.0, 0.0]), 6, "cat", 2.5, 1)
    plot_saliency(result, path=tmp_path / "saliency.svg")
    assert b"<svg" in (tmp_path / "saliency.svg").read_bytes()[:500]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all.png", "saliency.svg"]
    with pytest.raises(ValueError, match="head needs a layer"):
        plot_attention(maps, head=0)


def test_without_matplotlib_the_error_says_what_to_install(monkeypatch):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"pip install 'minibert\[plot\]'"):
        plot_attention(pattern_maps())


# ----------------------------------------------------------------------------- device arrays
def test_embed_attention_and_saliency_run_on_device_arrays():
    """On StrictArray (the CuPy stand-in: it refuses any silent NumPy conversion), the same
    results as on NumPy; embed keeps its result on the device, as CuPy would."""
    model = make_model(BertForMaskedLM)
    texts = ["the cat sat", "a big dog ran"]
    on_host = (
        embed(model, TOKENIZER, texts),
        attention_maps(model, TOKENIZER, texts[0]).attentions,
        saliency(model, TOKENIZER, "the [MASK] sat", target="dog").scores,
    )
    for param in model.parameters():
        param.data = StrictArray(param.data.copy())
    vectors = embed(model, TOKENIZER, texts)
    assert isinstance(vectors, StrictArray)
    np.testing.assert_allclose(vectors.get(), on_host[0], atol=1e-12)
    maps = attention_maps(model, TOKENIZER, texts[0])
    np.testing.assert_allclose(maps.attentions, on_host[1], atol=1e-12)
    scores = saliency(model, TOKENIZER, "the [MASK] sat", target="dog").scores
    np.testing.assert_allclose(scores, on_host[2], atol=1e-12)
