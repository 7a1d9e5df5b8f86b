"""The decoder block, MiniGPT and BertEncoderDecoder: gradients, the causal mask, the key/value
cache, label smoothing, configs and checkpoints."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd as ag
from minibert.modeling import BertForPreTraining
from minibert.modeling.causal_lm import MiniGPT, lm_loss
from minibert.modeling.decoder import (
    DecoderEmbeddings,
    DecoderLayer,
    DecoderSelfAttention,
    causal_attention_mask,
)
from minibert.modeling.decoder_config import DecoderConfig, EncoderDecoderConfig
from minibert.modeling.encoder_decoder import BertEncoderDecoder, shift_tokens_right
from minibert.modeling.inputs import additive_attention_mask
from tests.minibert.conftest import padded_batch, small_config
from tests.minibert.decoder_helpers import decoder_config, encoder_decoder, minigpt, random_ids

sizes = st.fixed_dictionaries(
    {
        "hidden_heads": st.sampled_from([(4, 1), (4, 2), (6, 3), (8, 2)]),
        "B": st.integers(1, 3),
        "T": st.integers(1, 5),
        "S": st.integers(1, 5),
        "seed": st.integers(0, 2**16),
    }
)


def config_for(s, **overrides) -> DecoderConfig:
    hidden, heads = s["hidden_heads"]
    return decoder_config(
        hidden_size=hidden, num_attention_heads=heads, intermediate_size=2 * hidden, **overrides
    )


def normal(rng, *shape, requires_grad=True):
    return ag.Tensor(rng.standard_normal(shape), requires_grad=requires_grad)


# ------------------------------------------------------------------------------ the mask


def test_causal_mask_without_cache_is_the_encoders_causal_mask():
    rng = np.random.default_rng(0)
    _, mask, _ = padded_batch(rng, 3, 5, 10)
    for attention_mask in (None, mask):
        ours = causal_attention_mask(attention_mask, 5, 0, np.float64, np)
        encoders = additive_attention_mask(attention_mask, 5, True, np.float64, np)
        np.testing.assert_array_equal(ours, encoders)


def test_causal_mask_with_cache_lets_query_i_see_keys_up_to_past_plus_i():
    keep = causal_attention_mask(None, 2, 3, np.float64, np)[0, 0] == 0  # (2, 5)
    expected = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=bool)  # queries at 3 and 4
    np.testing.assert_array_equal(keep, expected)
    padded = causal_attention_mask(np.array([[0, 1, 1, 1, 1]]), 2, 3, np.float64, np)
    assert (padded[0, 0, :, 0] < -1e300).all()  # the padded first key is hidden from both


def test_causal_mask_rejects_a_mask_of_the_wrong_length():
    with pytest.raises(ValueError, match="cache holds 3"):
        causal_attention_mask(np.ones((1, 2)), 2, 3, np.float64, np)


# --------------------------------------------------------------------- gradient checks


@settings(max_examples=6)
@given(sizes)
def test_causal_self_attention_gradients(s):
    config = config_for(s)
    rng = np.random.default_rng(s["seed"])
    attention = DecoderSelfAttention(config, rng, rng).double()
    _, mask, _ = padded_batch(rng, s["B"], s["T"], 10)
    additive = causal_attention_mask(mask, s["T"], 0, np.float64, np)
    x = normal(rng, s["B"], s["T"], config.hidden_size)
    params = list(attention.parameters())
    assert ag.gradcheck(lambda x, *p: attention(x, additive)[0], x, *params, max_elements=40)
    assert ag.gradcheck(lambda x, *p: attention(x, additive)[1], x, *params, max_elements=40)


@settings(max_examples=6)
@given(sizes)
def test_cross_attention_gradients_reach_the_encoder_states(s):
    config = config_for(s, add_cross_attention=True, encoder_hidden_size=6)
    rng = np.random.default_rng(s["seed"])
    attention = DecoderSelfAttention(config, rng, rng, is_cross_attention=True).double()
    _, source_mask, _ = padded_batch(rng, s["B"], s["S"], 10)
    additive = additive_attention_mask(source_mask, s["S"], False, np.float64, np)
    x = normal(rng, s["B"], s["T"], config.hidden_size)
    encoder_states = normal(rng, s["B"], s["S"], 6)
    params = list(attention.parameters())
    assert ag.gradcheck(
        lambda x, e, *p: attention(x, additive, e)[0], x, encoder_states, *params, max_elements=40
    )


@settings(max_examples=6)
@given(sizes, st.booleans())
def test_decoder_layer_gradients(s, cross):
    config = config_for(s, add_cross_attention=cross)
    rng = np.random.default_rng(s["seed"])
    layer = DecoderLayer(config, rng, rng).double().eval()
    self_mask = causal_attention_mask(None, s["T"], 0, np.float64, np)
    x = normal(rng, s["B"], s["T"], config.hidden_size)
    encoder_states = normal(rng, s["B"], s["S"], config.hidden_size, requires_grad=cross)
    assert ag.gradcheck(
        lambda x, e, *p: layer(x, self_mask, e if cross else None)[0],
        x,
        encoder_states,
        *layer.parameters(),
        max_elements=30,
    )


@settings(max_examples=4)
@given(sizes)
def test_decoder_embeddings_gradients(s):
    config = config_for(s)
    rng = np.random.default_rng(s["seed"])
    embeddings = DecoderEmbeddings(config, rng, rng).double()
    ids = random_ids(rng, s["B"], s["T"])
    positions = np.arange(s["T"])[None, :]
    assert ag.gradcheck(lambda *p: embeddings(ids, positions), *embeddings.parameters())


@settings(max_examples=4)
@given(sizes, st.sampled_from([0.0, 0.1]))
def test_minigpt_loss_gradients_with_label_smoothing(s, smoothing):
    config = config_for(s)
    model = MiniGPT(config, seed=s["seed"]).double().eval()
    rng = np.random.default_rng(s["seed"])
    ids = random_ids(rng, s["B"], s["T"] + 1)
    labels = np.where(rng.random(ids.shape) < 0.3, -100, ids)
    labels[:, 1] = ids[:, 1]  # at least one label counts
    assert ag.gradcheck(
        lambda *p: model(ids, labels=labels, label_smoothing=smoothing).loss,
        *model.parameters(),
        max_elements=20,
    )


@settings(max_examples=3)
@given(sizes)
def test_encoder_decoder_loss_gradients(s):
    hidden, heads = s["hidden_heads"]
    sizes_ = dict(hidden_size=hidden, num_attention_heads=heads, intermediate_size=2 * hidden)
    model = encoder_decoder(s["seed"], encoder=sizes_, **sizes_)
    rng = np.random.default_rng(s["seed"])
    source, source_mask, _ = padded_batch(rng, s["B"], s["S"], 22)
    labels = random_ids(rng, s["B"], s["T"])
    assert ag.gradcheck(
        lambda *p: model(source, source_mask, labels=labels, label_smoothing=0.1).loss,
        *model.parameters(),
        max_elements=12,
    )


@settings(max_examples=10)
@given(st.integers(0, 2**16), st.sampled_from([0.0, 0.1, 0.3]))
def test_label_smoothing_is_the_smoothed_target_cross_entropy(seed, eps):
    rng = np.random.default_rng(seed)
    logits = normal(rng, 2, 3, 5)
    labels = rng.integers(0, 5, (2, 3))
    labels[0, 1] = -100
    # The definition, composed from public ops: target (1 - eps) one_hot + eps / V.
    target = np.full((2, 3, 5), eps / 5) + (1 - eps) * np.eye(5)[labels.clip(0)]
    counted = (labels != -100)[..., None]
    reference = -(ag.log_softmax(logits) * (target * counted)).sum() / counted.sum()
    assert np.isclose(lm_loss(logits, labels, eps).item(), reference.item(), rtol=1e-12)
    assert ag.gradcheck(lambda x: lm_loss(x, labels, eps), logits)


# -------------------------------------------------------------------- the causal mask


@settings(max_examples=10)
@given(st.integers(0, 2**16), st.integers(1, 6), st.data())
def test_changing_a_future_token_never_changes_an_earlier_position(seed, T, data):
    rng = np.random.default_rng(seed)
    j = data.draw(st.integers(0, T - 1))
    ids = random_ids(rng, 2, T)
    changed = ids.copy()
    changed[:, j] = 4 + (ids[:, j] - 3) % 18  # another ordinary token
    for model, kwargs in (
        (minigpt(seed), {}),
        (encoder_decoder(seed), {"input_ids": random_ids(rng, 2, 3)}),
    ):
        key = "decoder_input_ids" if kwargs else "input_ids"
        before = model(**kwargs, **{key: ids}).logits.data
        after = model(**kwargs, **{key: changed}).logits.data
        np.testing.assert_array_equal(before[:, :j], after[:, :j])
        assert np.abs(before[:, j:] - after[:, j:]).max() > 1e-6  # the change is visible from j


def test_the_encoder_sees_the_whole_source_but_the_decoder_only_its_past():
    """The encoder half is bidirectional: changing the last source token moves every logit."""
    model = encoder_decoder(1)
    rng = np.random.default_rng(1)
    source, target = random_ids(rng, 1, 4), random_ids(rng, 1, 3)
    changed = source.copy()
    changed[0, -1] = 4 + (source[0, -1] - 3) % 18
    before = model(source, decoder_input_ids=target).logits.data
    after = model(changed, decoder_input_ids=target).logits.data
    assert (np.abs(before - after).max(axis=-1) > 1e-9).all()


# -------------------------------------------------------------------- key/value cache


@pytest.mark.parametrize("kind", ["minigpt", "encoder_decoder"])
def test_cached_incremental_logits_equal_the_full_forward(kind):
    rng = np.random.default_rng(3)
    ids = random_ids(rng, 2, 7)
    if kind == "minigpt":
        model, extra, key = minigpt(3), {}, "input_ids"
    else:
        source, mask, _ = padded_batch(rng, 2, 5, 22)
        model, extra, key = (
            encoder_decoder(3),
            {"input_ids": source, "attention_mask": mask},
            ("decoder_input_ids"),
        )
    full = model(**extra, **{key: ids}).logits.data
    past, pieces = None, []
    for start, stop in ((0, 3), (3, 4), (4, 5), (5, 7)):  # a prompt, then steps of 1 and 2
        out = model(**extra, **{key: ids[:, start:stop]}, past_key_values=past, use_cache=True)
        past = out.past_key_values
        pieces.append(out.logits.data)
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), full, rtol=0, atol=1e-12)
    layers = model.config.num_hidden_layers if kind == "minigpt" else 2
    assert len(past) == layers
    assert past[0][0].shape == (2, 2, 7, 4)  # (B, nh, T so far, hs)
    if kind == "encoder_decoder":
        assert past[0][2].shape == (2, 2, 5, 4)  # cross-attention keys: the source length


def test_cache_and_positions_are_checked():
    model = minigpt(0, max_position_embeddings=4)
    out = model(np.array([[5, 6, 7]]), use_cache=True)
    with pytest.raises(ValueError, match="max_position_embeddings is 4"):
        model(np.array([[5, 6]]), past_key_values=out.past_key_values)
    with pytest.raises(ValueError, match=r"input_ids must be in \[0, 23\)"):
        model(np.array([[5, 23]]))
    with pytest.raises(ValueError, match="encoder_hidden_states"):
        minigpt(0, add_cross_attention=True)(np.array([[5, 6]]))


# ------------------------------------------------------------------ teacher forcing


def test_shift_tokens_right_starts_with_the_start_token_and_reads_ignored_as_padding():
    labels = np.array([[7, 8, 3, -100], [9, 3, -100, -100]])
    expected = np.array([[2, 7, 8, 3], [2, 9, 3, 0]])
    np.testing.assert_array_equal(shift_tokens_right(labels, 0, 2), expected)


def test_encoder_decoder_loss_is_the_loss_on_the_shifted_labels():
    model = encoder_decoder(2)
    rng = np.random.default_rng(2)
    source = random_ids(rng, 2, 4)
    labels = np.array([[7, 8, 3], [9, 3, -100]])
    out = model(source, labels=labels)
    explicit = model(source, decoder_input_ids=[[2, 7, 8], [2, 9, 3]]).logits
    assert np.isclose(out.loss.item(), lm_loss(explicit, labels).item(), rtol=1e-12)


# ------------------------------------------------------------------ configs, checkpoints


def test_configs_round_trip_through_json(tmp_path):
    decoder = decoder_config(add_cross_attention=True, hidden_act="relu")
    decoder.save(tmp_path / "decoder.json")
    assert DecoderConfig.load(tmp_path / "decoder.json") == decoder
    both = EncoderDecoderConfig(encoder=small_config(), decoder=decoder)
    both.save(tmp_path / "config.json")
    loaded = EncoderDecoderConfig.load(tmp_path)
    assert loaded.encoder == both.encoder and loaded.decoder == decoder
    assert json.loads((tmp_path / "config.json").read_text())["encoder"]["model_type"] == "bert"


def test_configs_explain_what_is_wrong(tmp_path):
    small_config().save(tmp_path / "config.json")
    with pytest.raises(ValueError, match="'bert' model, not 'minibert-decoder'; load it with"):
        DecoderConfig.load(tmp_path)
    with pytest.raises(ValueError, match="not divisible"):
        decoder_config(hidden_size=9, num_attention_heads=2)
    with pytest.raises(ValueError, match="eos_token_id 30 is outside"):
        decoder_config(eos_token_id=30)
    with pytest.raises(ValueError, match="add_cross_attention=True"):
        EncoderDecoderConfig(encoder=small_config(), decoder=decoder_config())
    with pytest.raises(ValueError, match="same"):
        EncoderDecoderConfig(
            encoder=small_config(vocab_size=30), decoder=decoder_config(add_cross_attention=True)
        )


@pytest.mark.parametrize("kind", ["minigpt", "encoder_decoder"])
def test_checkpoints_reload_to_the_same_outputs(tmp_path, kind):
    rng = np.random.default_rng(4)
    model = minigpt(4) if kind == "minigpt" else encoder_decoder(4)
    ids = random_ids(rng, 2, 5)
    inputs = {"input_ids": ids} if kind == "minigpt" else {"input_ids": ids, "labels": ids}
    model.save_pretrained(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"config.json", "model.safetensors"}
    loaded = type(model).from_pretrained(tmp_path, dtype=np.float64).eval()
    np.testing.assert_array_equal(loaded(**inputs).logits.data, model(**inputs).logits.data)


def test_encoder_starts_from_a_pretrained_bert_checkpoint(tmp_path):
    bert = BertForPreTraining(small_config(), seed=5)
    bert.save_pretrained(tmp_path)
    model = BertEncoderDecoder.from_encoder_pretrained(
        tmp_path, decoder_config(add_cross_attention=True), seed=1
    )
    ours = model.encoder.state_dict()
    theirs = {k.removeprefix("bert."): v for k, v in bert.state_dict().items()}
    assert ours and all(np.array_equal(ours[k], theirs[k]) for k in ours)
    assert not any(k.startswith("pooler") for k in ours)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a full checkpoint of the model loads without warnings
        model.save_pretrained(tmp_path / "seq2seq")
        BertEncoderDecoder.from_pretrained(tmp_path / "seq2seq")


def test_one_dropout_stream_drives_both_halves():
    model = encoder_decoder(0, hidden_dropout_prob=0.1)
    generators = {id(m.generator) for m in model.modules() if type(m).__name__ == "Dropout"}
    assert generators == {id(model.dropout_generator)}
