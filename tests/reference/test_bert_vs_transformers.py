"""minibert's BERT against transformers' on the same weights.

Checkpoints go through the real file format both ways: a model transformers writes is loaded by
minibert and vice versa, then both run the same batch (padding, token types, labels) and every
output, the loss and every parameter's gradient are compared.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tests.reference.torch_helpers import assert_arrays_match, torch

transformers = pytest.importorskip("transformers", reason="install the ref extra: make test-ref")

from minibert import modeling  # noqa: E402

TOLERANCE = {np.float32: dict(atol=1e-5, rtol=1e-5), np.float64: dict(atol=1e-9, rtol=1e-9)}
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}
HEAD_CLASSES = [
    "BertForPreTraining",
    "BertForMaskedLM",
    "BertForNextSentencePrediction",
    "BertForSequenceClassification",
    "BertForTokenClassification",
    "BertForQuestionAnswering",
    "BertModel",
]


def hf_config(hidden_act="gelu", **overrides):
    settings = dict(
        vocab_size=61, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=24, max_position_embeddings=24, type_vocab_size=2,
        hidden_act=hidden_act, attn_implementation="eager", num_labels=3,
    )  # fmt: skip
    return transformers.BertConfig(**{**settings, **overrides})


def batch(seed=0, B=3, T=10, vocab=61):
    """Token ids with padding in two rows, two segments, MLM labels at a few positions."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, (B, T))
    mask = np.ones((B, T), dtype=np.int64)
    mask[1, 7:] = 0
    mask[2, 4:] = 0
    ids[mask == 0] = 0
    token_types = np.zeros((B, T), dtype=np.int64)
    token_types[:, 5:] = 1
    labels = np.full((B, T), -100)
    labels[:, 2] = ids[:, 2]
    labels[0, 6] = 7
    return ids, mask, token_types, labels


def hf_model(class_name, config, dtype, tmp_path):
    torch.manual_seed(0)
    model = getattr(transformers, class_name)(config).to(TORCH_DTYPE[dtype]).eval()
    directory = tmp_path / f"hf-{class_name}"
    model.save_pretrained(directory)
    return model, directory


def ours_from(class_name, directory, dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(modeling, class_name).from_pretrained(directory, dtype=dtype).eval()


def as_torch(*arrays):
    return [torch.tensor(a) for a in arrays]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("hidden_act", ["gelu", "relu", "gelu_new"])
def test_pretraining_outputs_and_loss_match(tmp_path, dtype, hidden_act):
    hf, directory = hf_model("BertForPreTraining", hf_config(hidden_act), dtype, tmp_path)
    ours = ours_from("BertForPreTraining", directory, dtype)
    ids, mask, token_types, labels = batch()
    nsp = np.array([0, 1, 1])
    theirs = hf(
        *as_torch(ids, mask, token_types),
        labels=torch.tensor(labels),
        next_sentence_label=torch.tensor(nsp),
        output_attentions=True,
        output_hidden_states=True,
    )
    mine = ours(
        ids, mask, token_types, labels=labels, next_sentence_label=nsp,
        output_attentions=True, output_hidden_states=True, masked_only=False,
    )  # fmt: skip
    tol = TOLERANCE[dtype]
    for name in ("prediction_logits", "seq_relationship_logits", "loss"):
        assert_arrays_match(
            getattr(mine, name).data, getattr(theirs, name).detach().numpy(),
            what=name, kind="forward", **tol,
        )  # fmt: skip
    for layer, (a, b) in enumerate(zip(mine.attentions, theirs.attentions, strict=True)):
        assert_arrays_match(
            a.data, b.detach().numpy(), what=f"attentions[{layer}]", kind="forward", **tol
        )
    for layer, (a, b) in enumerate(zip(mine.hidden_states, theirs.hidden_states, strict=True)):
        assert_arrays_match(
            a.data, b.detach().numpy(), what=f"hidden_states[{layer}]", kind="forward", **tol
        )
    # The default path computes the MLM head, and the last layer past its self-attention, at
    # the labelled and [CLS] rows only: the same loss, logits and NSP logits there.
    pruned = ours(ids, mask, token_types, labels=labels, next_sentence_label=nsp)
    rows = pruned.masked_positions
    expected = theirs.prediction_logits.detach().numpy().reshape(-1, hf.config.vocab_size)[rows]
    for name, a, b in (
        ("loss (masked_only)", pruned.loss.data, theirs.loss.detach().numpy()),
        ("prediction_logits at the labelled rows", pruned.prediction_logits.data, expected),
        ("seq_relationship_logits (masked_only)", pruned.seq_relationship_logits.data,
         theirs.seq_relationship_logits.detach().numpy()),
    ):  # fmt: skip
        assert_arrays_match(a, b, what=name, kind="forward", **tol)


@pytest.mark.parametrize("hidden_act", ["gelu", "relu"])
def test_every_parameter_gradient_matches_in_float64(tmp_path, hidden_act):
    hf, directory = hf_model("BertForPreTraining", hf_config(hidden_act), np.float64, tmp_path)
    ours = ours_from("BertForPreTraining", directory, np.float64)
    ids, mask, token_types, labels = batch(seed=1)
    nsp = np.array([1, 0, 1])
    hf(*as_torch(ids, mask, token_types), labels=torch.tensor(labels),
       next_sentence_label=torch.tensor(nsp)).loss.backward()  # fmt: skip
    # The masked-only path (the MLM head, and the last layer past its self-attention, at the
    # labelled and [CLS] rows only) must give the full path's gradients too.
    ours(ids, mask, token_types, labels=labels, next_sentence_label=nsp).loss.backward()
    theirs = dict(hf.named_parameters())
    compared = 0
    for name, param in ours.named_parameters():
        assert param.grad is not None, f"{name} received no gradient"
        assert_arrays_match(
            param.grad, theirs[name].grad.numpy(), atol=1e-8, rtol=1e-8, what=name, kind="param"
        )
        compared += 1
    assert compared == len(theirs)  # tied parameters (decoder = word embeddings) count once


@pytest.mark.parametrize("class_name", HEAD_CLASSES)
def test_task_models_match_with_their_losses(tmp_path, class_name):
    config = hf_config(num_labels=2 if class_name == "BertForQuestionAnswering" else 3)
    hf, directory = hf_model(class_name, config, np.float64, tmp_path)
    ours = ours_from(class_name, directory, np.float64)
    ids, mask, token_types, mlm_labels = batch(seed=2)
    rng = np.random.default_rng(3)
    label_args = {
        "BertForPreTraining": dict(labels=mlm_labels, next_sentence_label=np.array([0, 1, 0])),
        "BertForMaskedLM": dict(labels=mlm_labels),
        "BertForNextSentencePrediction": dict(labels=np.array([1, 0, 0])),
        "BertForSequenceClassification": dict(labels=rng.integers(0, 3, 3)),
        "BertForTokenClassification": dict(
            labels=np.where(mask == 1, rng.integers(0, 3, (3, 10)), -100)
        ),
        "BertForQuestionAnswering": dict(
            start_positions=np.array([1, 3, 40]), end_positions=np.array([2, 5, 41])
        ),
        "BertModel": {},
    }[class_name]
    theirs = hf(
        *as_torch(ids, mask, token_types), **{k: torch.tensor(v) for k, v in label_args.items()}
    )
    extra = (
        {"masked_only": False} if class_name in ("BertForPreTraining", "BertForMaskedLM") else {}
    )
    mine = ours(ids, mask, token_types, **label_args, **extra)
    shared = [name for name in mine.keys() if name in theirs.keys()]
    assert "loss" in shared or class_name == "BertModel"
    for name in shared:
        assert_arrays_match(
            getattr(mine, name).data, getattr(theirs, name).detach().numpy(),
            what=f"{class_name}.{name}", kind="forward", atol=1e-9, rtol=1e-9,
        )  # fmt: skip


def test_regression_head_uses_mean_squared_error(tmp_path):
    config = hf_config(num_labels=1)
    hf, directory = hf_model("BertForSequenceClassification", config, np.float64, tmp_path)
    ours = ours_from("BertForSequenceClassification", directory, np.float64)
    ids, mask, token_types, _ = batch(seed=4)
    targets = np.array([0.5, -1.0, 2.0])
    theirs = hf(*as_torch(ids, mask, token_types), labels=torch.tensor(targets))
    mine = ours(ids, mask, token_types, labels=targets)
    assert_arrays_match(mine.loss.data, theirs.loss.detach().numpy(), atol=1e-9, rtol=1e-9,
                        what="regression loss", kind="forward")  # fmt: skip


def test_minibert_checkpoint_loads_in_transformers(tmp_path):
    from minibert.config import BertConfig

    config = BertConfig(vocab_size=61, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=24, max_position_embeddings=24)  # fmt: skip
    ours = modeling.BertForPreTraining(config, seed=5).eval()
    ours.save_pretrained(tmp_path / "ours")
    hf = transformers.BertForPreTraining.from_pretrained(
        tmp_path / "ours", attn_implementation="eager"
    )
    hf = hf.float().eval()
    ids, mask, token_types, _ = batch(seed=5)
    theirs = hf(*as_torch(ids, mask, token_types), output_attentions=True)
    mine = ours(ids, mask, token_types, output_attentions=True)
    for name in ("prediction_logits", "seq_relationship_logits"):
        assert_arrays_match(getattr(mine, name).data, getattr(theirs, name).detach().numpy(),
                            atol=1e-5, rtol=1e-5, what=name, kind="forward")  # fmt: skip
    # And back: transformers' save of what it loaded is what we saved.
    hf.save_pretrained(tmp_path / "again")
    again = modeling.BertForPreTraining.from_pretrained(tmp_path / "again")
    for name, array in ours.state_dict().items():
        np.testing.assert_array_equal(again.state_dict()[name], array, err_msg=name)


def test_base_model_loads_a_pretraining_checkpoint_like_transformers(tmp_path):
    hf, directory = hf_model("BertForPreTraining", hf_config(), np.float64, tmp_path)
    ids, mask, token_types, _ = batch(seed=6)
    reference = transformers.BertModel.from_pretrained(directory, attn_implementation="eager")
    theirs = reference.double().eval()(*as_torch(ids, mask, token_types))
    ours = ours_from("BertModel", directory, np.float64)
    mine = ours(ids, mask, token_types)
    for name in ("last_hidden_state", "pooler_output"):
        assert_arrays_match(getattr(mine, name).data, getattr(theirs, name).detach().numpy(),
                            atol=1e-9, rtol=1e-9, what=name, kind="forward")  # fmt: skip


def test_sentence_embedding_checkpoint_mean_pooling_matches(tmp_path):
    """A BERT-architecture sentence-embedding model (a BertModel checkpoint) pools as
    sentence-transformers does: the masked mean of the token states, L2-normalized."""
    hf, directory = hf_model("BertModel", hf_config(), np.float32, tmp_path)
    ids, mask, token_types, _ = batch(seed=7)
    states = hf(*as_torch(ids, mask, token_types)).last_hidden_state
    weights = torch.tensor(mask)[..., None].float()
    expected = (states * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
    expected = torch.nn.functional.normalize(expected, dim=-1).detach().numpy()
    ours = ours_from("BertModel", directory, np.float32)
    pooled = modeling.pool(ours(ids, mask, token_types).last_hidden_state, mask, "mean").data
    pooled = pooled / np.linalg.norm(pooled, axis=-1, keepdims=True)
    assert_arrays_match(pooled, expected, atol=1e-5, rtol=1e-5, what="mean-pooled", kind="forward")
