"""BERT's layers and models: gradients, masking, invariances and input errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd as ag
from minibert import modeling
from tests.minibert.conftest import padded_batch, small_config

sizes = st.fixed_dictionaries(
    {
        "hidden_heads": st.sampled_from([(4, 1), (4, 2), (6, 3), (8, 2)]),
        "layers": st.integers(1, 2),
        "B": st.integers(1, 3),
        "T": st.integers(1, 6),
        "hidden_act": st.sampled_from(["gelu", "gelu_new", "relu"]),
        "seed": st.integers(0, 2**16),
    }
)


TASK_MODELS = [
    "BertForPreTraining",
    "BertForSequenceClassification",
    "BertForTokenClassification",
    "BertForQuestionAnswering",
]


def config_for(s, **overrides):
    """A config from drawn sizes; [PAD] is the last id, which ``padded_batch`` never draws."""
    hidden, heads = s["hidden_heads"]
    return small_config(
        pad_token_id=22,
        hidden_size=hidden, num_attention_heads=heads, num_hidden_layers=s["layers"],
        intermediate_size=2 * hidden, hidden_act=s["hidden_act"], **overrides,
    )  # fmt: skip


def float64_model(cls, config, seed=0):
    return cls(config, seed=seed).double().eval()


def sample_parameters(model, names_like=None):
    params = [p for name, p in model.named_parameters() if names_like is None or names_like in name]
    return params


# ------------------------------------------------------------------------- gradient checks


@settings(max_examples=8)
@given(sizes)
def test_self_attention_gradients_with_padding(s):
    config = config_for(s)
    rng = np.random.default_rng(s["seed"])
    attention = modeling.BertSelfAttention(config, rng, rng).double()
    _, mask, _ = padded_batch(rng, s["B"], s["T"], config.vocab_size)
    additive = modeling.inputs.additive_attention_mask(mask, s["T"], False, np.float64, np)
    x = ag.Tensor(rng.standard_normal((s["B"], s["T"], config.hidden_size)), requires_grad=True)
    params = list(attention.parameters())
    assert ag.gradcheck(lambda x, *p: attention(x, additive)[0], x, *params, max_elements=40)
    # The attention probabilities are differentiable outputs too.
    assert ag.gradcheck(lambda x, *p: attention(x, additive)[1], x, *params, max_elements=40)


@settings(max_examples=8)
@given(sizes)
def test_encoder_layer_gradients(s):
    config = config_for(s)
    rng = np.random.default_rng(s["seed"])
    layer = modeling.BertLayer(config, rng, rng).double().eval()
    _, mask, _ = padded_batch(rng, s["B"], s["T"], config.vocab_size)
    additive = modeling.inputs.additive_attention_mask(mask, s["T"], False, np.float64, np)
    x = ag.Tensor(rng.standard_normal((s["B"], s["T"], config.hidden_size)), requires_grad=True)
    assert ag.gradcheck(
        lambda x, *p: layer(x, additive)[0], x, *layer.parameters(), max_elements=30
    )
    # Only some rows past the self-attention (repeats allowed): every position still feeds
    # them as keys and values, so x's gradient reaches every row of it.
    rows = rng.integers(0, s["B"] * s["T"], rng.integers(1, s["B"] * s["T"] + 1))
    assert ag.gradcheck(
        lambda x, *p: layer(x, additive, rows=rows)[0], x, *layer.parameters(), max_elements=30
    )


@settings(max_examples=6)
@given(sizes)
def test_embeddings_pooler_and_heads_gradients(s):
    config = config_for(s)
    rng = np.random.default_rng(s["seed"])
    ids, _, token_types = padded_batch(rng, s["B"], s["T"], config.vocab_size)
    positions = np.broadcast_to(np.arange(s["T"]), ids.shape)
    embeddings = modeling.BertEmbeddings(config, rng, rng).double()
    assert ag.gradcheck(
        lambda *p: embeddings(ids, token_types, positions),
        *embeddings.parameters(),
        max_elements=30,
    )
    pooler = modeling.BertPooler(config, rng).double()
    x = ag.Tensor(rng.standard_normal((s["B"], s["T"], config.hidden_size)), requires_grad=True)
    assert ag.gradcheck(lambda x, *p: pooler(x), x, *pooler.parameters())
    model = float64_model(modeling.BertForPreTraining, config, s["seed"])
    head = model.cls.predictions
    # With hidden_act="relu" the head has a kink at 0: a central difference that straddles it
    # (a pre-activation within eps of 0; hypothesis found one at 7e-7) measures nothing, so
    # draw x again until every pre-activation is well away from it.
    with ag.no_grad():
        while np.abs(head.transform.dense(x).data).min() < 1e-3:
            x = ag.Tensor(rng.standard_normal(x.shape), requires_grad=True)
    assert ag.gradcheck(lambda x, *p: head(x), x, *head.parameters(), max_elements=30)


@settings(max_examples=5)
@given(sizes, st.sampled_from(TASK_MODELS))
def test_whole_models_loss_gradients(s, class_name):
    config = config_for(s, num_labels=2)
    rng = np.random.default_rng(s["seed"])
    B, T = s["B"], s["T"]
    ids, mask, token_types = padded_batch(rng, B, T, config.vocab_size)
    model = float64_model(getattr(modeling, class_name), config, s["seed"])
    labels = {
        "BertForPreTraining": dict(
            labels=np.where(rng.random((B, T)) < 0.5, ids, -100),
            next_sentence_label=rng.integers(0, 2, B),
        ),
        "BertForSequenceClassification": dict(labels=rng.integers(0, 2, B)),
        "BertForTokenClassification": dict(
            labels=np.where(mask == 1, rng.integers(0, 2, (B, T)), -100)
        ),
        "BertForQuestionAnswering": dict(
            start_positions=rng.integers(0, T, B), end_positions=rng.integers(0, T, B)
        ),
    }[class_name]
    if class_name == "BertForPreTraining":
        labels["labels"][0, 0] = ids[0, 0]  # at least one labelled position
    params = list(model.parameters())

    def loss(*p):
        return model(ids, mask, token_types, **labels).loss

    assert ag.gradcheck(loss, *params, max_elements=12, seed=s["seed"])


# ----------------------------------------------------------------------------- behaviour


def test_masked_only_mlm_gives_the_full_loss_and_gradients(config):
    rng = np.random.default_rng(0)
    ids, mask, token_types = padded_batch(rng, 3, 8, config.vocab_size)
    labels = np.where(rng.random(ids.shape) < 0.3, ids, -100)
    labels[0, 0] = ids[0, 0]
    outputs, grads = [], []
    for masked_only in (False, True):
        model = float64_model(modeling.BertForPreTraining, config)
        out = model(ids, mask, token_types, labels=labels, next_sentence_label=[0, 1, 0],
                    masked_only=masked_only)  # fmt: skip
        out.loss.backward()
        outputs.append(out)
        grads.append({n: p.grad for n, p in model.named_parameters()})
    full, masked = outputs
    assert full.prediction_logits.shape == (3, 8, config.vocab_size)
    assert masked.prediction_logits.shape == (int((labels != -100).sum()), config.vocab_size)
    np.testing.assert_allclose(masked.loss.item(), full.loss.item(), rtol=1e-12)
    for name in grads[0]:
        np.testing.assert_allclose(
            grads[1][name], grads[0][name], rtol=1e-10, atol=1e-14, err_msg=name
        )


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("add_pooling_layer", [True, False])
def test_output_positions_compute_those_rows_of_the_full_model(config, add_pooling_layer, training):
    # The last layer at some rows only (repeats, any order): those rows of the full model's
    # output, the same pooler output, and the same gradients of a loss that reads only them;
    # in training too, where each row drops what it drops in the whole batch.
    if training:
        config = dataclasses.replace(
            config, hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.2
        )
    rng = np.random.default_rng(4)
    ids, mask, token_types = padded_batch(rng, 3, 7, config.vocab_size)
    positions = np.array([20, 3, 3, 0, 14, 8])
    cotangent = rng.standard_normal((positions.size, config.hidden_size))
    results = []
    for pruned in (False, True):
        model = modeling.BertModel(config, add_pooling_layer=add_pooling_layer).double()
        model.train(training)
        if pruned:
            out = model(ids, mask, token_types, output_attentions=True, output_positions=positions)
            states = out.last_hidden_state  # (6, H)
        else:
            out = model(ids, mask, token_types, output_attentions=True)
            states = out.last_hidden_state.reshape(-1, config.hidden_size)[positions]
        loss = (states * ag.Tensor(cotangent)).sum()
        if add_pooling_layer:
            loss = loss + out.pooler_output.sum()
        loss.backward()
        grads = {name: p.grad for name, p in model.named_parameters()}
        results.append((states.data, out, grads))
    (full, full_out, full_grads), (rows, rows_out, rows_grads) = results
    assert rows.shape == (positions.size, config.hidden_size)
    np.testing.assert_allclose(rows, full, rtol=1e-12, atol=1e-13)
    if add_pooling_layer:
        np.testing.assert_allclose(rows_out.pooler_output.data, full_out.pooler_output.data,
                                   rtol=1e-12, atol=1e-13)  # fmt: skip
    else:
        assert rows_out.pooler_output is None
    for a, b in zip(rows_out.attentions, full_out.attentions, strict=True):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-12, atol=1e-15)
    for name, grad in full_grads.items():
        np.testing.assert_allclose(rows_grads[name], grad, rtol=1e-10, atol=1e-13, err_msg=name)


def test_output_positions_with_dropout_that_draws_its_own_masks(config):
    # Data parallelism's RowShardedDropout draws one mask for the whole batch: the last layer
    # then runs whole, and the rows are taken after, so they are exactly the full run's.
    from minibert.training.distributed import RowWindow, shard_dropout

    rng = np.random.default_rng(6)
    ids, mask, token_types = padded_batch(rng, 3, 7, config.vocab_size)
    positions = np.array([2, 9, 9, 17])
    dropping = dataclasses.replace(
        config, hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.2
    )
    states = []
    for asked in (None, positions):
        model = modeling.BertModel(dropping, seed=2).double().train()
        assert shard_dropout(model, RowWindow(start=0, rows=3)) > 0
        out = model(ids, mask, token_types, output_positions=asked)
        hidden = out.last_hidden_state.data
        states.append(
            hidden.reshape(-1, dropping.hidden_size)[positions] if asked is None else hidden
        )
    np.testing.assert_array_equal(states[1], states[0])
    # Asked directly, a layer with such a dropout refuses to drop some rows alone.
    with pytest.raises(ValueError, match="cannot drop some rows alone"):
        model.encoder.layer[-1](ag.Tensor(np.ones((3, 7, dropping.hidden_size))), rows=positions)


@pytest.mark.parametrize(
    "positions, error, message",
    [
        ([0, 21], ValueError, r"must lie in \[0, 21\).*from 0 to 21"),
        ([-1], ValueError, r"must lie in \[0, 21\)"),
        ([[0, 1]], ValueError, "one axis of flat indices"),
        (np.ones(21, dtype=bool), TypeError, "not a boolean mask"),
        ([0.5], TypeError, "must hold integers"),
    ],
)
def test_output_positions_refuses_what_names_no_position(config, positions, error, message):
    ids, mask, token_types = padded_batch(np.random.default_rng(5), 3, 7, config.vocab_size)
    model = modeling.BertModel(config)
    with pytest.raises(error, match=message):
        model(ids, mask, token_types, output_positions=positions)
    with pytest.raises(ValueError, match="cannot also give every layer's hidden states"):
        model(ids, mask, token_types, output_hidden_states=True, output_positions=[0])


def test_padding_never_changes_the_real_tokens_outputs(config):
    rng = np.random.default_rng(1)
    model = modeling.BertModel(config).double().eval()
    ids, mask, token_types = padded_batch(rng, 3, 9, config.vocab_size)
    mask[:, 0] = 1
    mask[0, 5:] = 0
    before = model(ids, mask, token_types).last_hidden_state.data
    garbage = ids.copy()
    garbage[mask == 0] = rng.integers(1, config.vocab_size, int((mask == 0).sum()))
    after = model(garbage, mask, token_types).last_hidden_state.data
    real = mask == 1
    np.testing.assert_allclose(after[real], before[real], rtol=1e-12, atol=1e-12)
    assert not np.allclose(after[~real], before[~real])  # padded positions did see the change


@pytest.mark.parametrize("hidden_act", ["gelu", "gelu_new"])
def test_inference_gives_the_grad_mode_outputs_bit_for_bit(hidden_act):
    # Under no_grad the intermediate GELU and the residual blocks' LayerNorms write over their
    # inputs (nothing keeps them for a backward); that must change no bit of the outputs. (In
    # grad mode they may not write in place at all: they raise, tests/autograd/test_ops.py.)
    config = small_config(hidden_act=hidden_act)
    model = modeling.BertForPreTraining(config).eval()  # float32
    ids, mask, token_types = padded_batch(np.random.default_rng(4), 3, 9, config.vocab_size)
    recorded = model(ids, mask, token_types)
    with ag.no_grad():
        inferred = model(ids, mask, token_types)
    for name in ("prediction_logits", "seq_relationship_logits"):
        assert getattr(recorded, name).requires_grad and not getattr(inferred, name).requires_grad
        np.testing.assert_array_equal(getattr(inferred, name).data, getattr(recorded, name).data)


def test_attention_probabilities_ignore_padded_keys_and_sum_to_one(config):
    rng = np.random.default_rng(2)
    model = modeling.BertModel(config).eval()
    ids, mask, token_types = padded_batch(rng, 3, 7, config.vocab_size)
    out = model(ids, mask, token_types, output_attentions=True, output_hidden_states=True)
    assert len(out.attentions) == config.num_hidden_layers
    assert len(out.hidden_states) == config.num_hidden_layers + 1
    for probs in out.attentions:
        assert probs.shape == (3, config.num_attention_heads, 7, 7)
        np.testing.assert_allclose(probs.data.sum(-1), 1.0, rtol=1e-5)
        padded_keys = np.broadcast_to(mask[:, None, None, :] == 0, probs.shape)
        assert np.all(probs.data[padded_keys] == 0.0)


def test_causal_mask_hides_the_future():
    config = small_config(is_decoder=True)
    model = modeling.BertModel(config).double().eval()
    rng = np.random.default_rng(3)
    ids = rng.integers(1, config.vocab_size, (2, 8))
    base = model(ids).last_hidden_state.data
    for changed in range(1, 8):
        future = ids.copy()
        future[:, changed] = (future[:, changed] % (config.vocab_size - 1)) + 1
        out = model(future).last_hidden_state.data
        np.testing.assert_array_equal(out[:, :changed], base[:, :changed])
        assert not np.allclose(out[:, changed], base[:, changed])
    # Without the causal mask the same change reaches every position.
    bidirectional = modeling.BertModel(small_config()).double().eval()
    future = ids.copy()
    future[:, -1] = (future[:, -1] % (config.vocab_size - 1)) + 1
    assert not np.allclose(bidirectional(future).last_hidden_state.data[:, 0],
                           bidirectional(ids).last_hidden_state.data[:, 0])  # fmt: skip


def test_same_seed_same_model_and_dropout_masks():
    config = small_config(hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    rng = np.random.default_rng(4)
    ids, mask, token_types = padded_batch(rng, 2, 6, config.vocab_size)
    losses = []
    for seed in (7, 7, 8):
        model = modeling.BertForSequenceClassification(config, seed=seed).train()
        losses.append(model(ids, mask, token_types, labels=[0, 1]).loss.item())
    assert losses[0] == losses[1]
    assert losses[0] != losses[2]
    model = modeling.BertForSequenceClassification(config, seed=7).train()
    first = model(ids, mask, token_types, labels=[0, 1]).loss.item()
    second = model(ids, mask, token_types, labels=[0, 1]).loss.item()
    assert first != second  # fresh dropout masks on every call
    model.eval()
    assert model(ids, mask).logits.data.tolist() == model(ids, mask).logits.data.tolist()


def test_initialization_follows_bert():
    config = small_config(
        vocab_size=400, hidden_size=64, num_attention_heads=4, intermediate_size=256
    )
    model = modeling.BertForPreTraining(config, seed=0)
    weights = model.bert.encoder.layer[0].intermediate.dense.weight.data
    assert abs(weights.std() - config.initializer_range) < 0.002
    assert abs(weights.mean()) < 0.001
    assert np.all(model.bert.encoder.layer[0].intermediate.dense.bias.data == 0)
    assert np.all(model.bert.embeddings.LayerNorm.weight.data == 1)
    assert np.all(model.bert.embeddings.word_embeddings.weight.data[config.pad_token_id] == 0)
    assert np.all(model.cls.predictions.bias.data == 0)
    # Tied: the MLM decoder is the word embedding matrix itself, stored once.
    assert model.cls.predictions.tied_embeddings is model.bert.embeddings.word_embeddings
    assert not any("decoder" in name for name in model.state_dict())


def test_sinusoidal_positions_are_fixed_and_not_saved():
    config = small_config(position_embedding_type="sinusoidal")
    model = modeling.BertModel(config)
    table = model.embeddings.position_table
    p, i = 5, 2
    assert table[p, 2 * i] == pytest.approx(
        np.sin(p / 10000 ** (2 * i / config.hidden_size)), rel=1e-6
    )
    assert table[p, 2 * i + 1] == pytest.approx(
        np.cos(p / 10000 ** (2 * i / config.hidden_size)), rel=1e-6
    )
    assert not any("position" in name for name in model.state_dict())
    out = model([[1, 2, 3]])
    assert out.last_hidden_state.shape == (1, 3, config.hidden_size)


@pytest.mark.parametrize("strategy", ["cls", "mean", "max"])
def test_pooling_ignores_padding(strategy):
    rng = np.random.default_rng(5)
    states = rng.standard_normal((2, 5, 4))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    pooled = modeling.pool(ag.Tensor(states), mask, strategy).data
    expected = {
        "cls": states[:, 0],
        "mean": np.stack([states[0, :3].mean(0), states[1].mean(0)]),
        "max": np.stack([states[0, :3].max(0), states[1].max(0)]),
    }[strategy]
    np.testing.assert_allclose(pooled, expected, rtol=1e-12)
    with pytest.raises(ValueError, match="unknown pooling"):
        modeling.pool(ag.Tensor(states), mask, "median")


def test_question_answering_ignores_answers_outside_the_sequence(config):
    model = float64_model(modeling.BertForQuestionAnswering, config)
    ids = [[1, 2, 3, 4], [5, 6, 7, 8]]
    out = model(ids, start_positions=[1, 2], end_positions=[99, 3])  # the first end was cut off
    start = ag.cross_entropy(out.start_logits, np.array([1, 2])).item()
    end = ag.cross_entropy(out.end_logits[1:], np.array([3])).item()  # the clamped end is ignored
    assert out.loss.item() == pytest.approx((start + end) / 2, rel=1e-12)


def test_regression_when_num_labels_is_one():
    model = float64_model(modeling.BertForSequenceClassification, small_config(num_labels=1))
    out = model([[1, 2, 3], [4, 5, 6]], labels=[0.5, -1.0])
    expected = np.mean((out.logits.data.reshape(-1) - np.array([0.5, -1.0])) ** 2)
    assert out.loss.item() == pytest.approx(expected, rel=1e-12)


def test_outputs_read_like_transformers(config):
    out = modeling.BertForSequenceClassification(config)([[1, 2]], labels=[1])
    assert out.keys() == ["loss", "logits"]
    assert out[0] is out.loss and out["logits"] is out.logits
    assert out.to_tuple() == (out.loss, out.logits)


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(input_ids=[[1, 23]]), "input_ids holds 23 but vocab_size is 23"),
        (dict(input_ids=[[1, -1]]), "input_ids holds -1"),
        (dict(input_ids=[list(range(1, 14))]), "13 tokens but max_position_embeddings is 12"),
        (
            dict(input_ids=[[1, 2]], attention_mask=[[1, 1, 1]]),
            r"attention_mask has shape \(1, 3\)",
        ),
        (dict(input_ids=[[1, 2]], attention_mask=[[1, 2]]), "1 \\(attend\\) and 0"),
        (
            dict(input_ids=[[1, 2]], token_type_ids=[[0, 2]]),
            "token_type_ids holds 2 but type_vocab_size is 2",
        ),
        (dict(input_ids=[1, 2, 3]), r"\(batch, sequence\)"),
    ],
)
def test_bad_inputs_name_the_value_and_the_limit(config, kwargs, message):
    model = modeling.BertModel(config)
    with pytest.raises(ValueError, match=message):
        model(**kwargs)


def test_float_ids_are_refused(config):
    with pytest.raises(TypeError, match="must hold integers"):
        modeling.BertModel(config)(np.array([[1.0, 2.0]]))


def test_question_answering_needs_two_labels():
    with pytest.raises(ValueError, match="num_labels=2"):
        modeling.BertForQuestionAnswering(small_config(num_labels=3))
