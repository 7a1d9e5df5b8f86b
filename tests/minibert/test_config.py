"""BertConfig: presets, JSON round trip with transformers' fields, validation."""

import json

import pytest

from minibert.config import PRESETS, BertConfig


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_valid_and_round_trip(tmp_path, name):
    config = BertConfig.preset(name)
    config.save(tmp_path / "config.json")
    assert BertConfig.load(tmp_path) == config


def test_base_preset_is_bert_base():
    config = BertConfig.preset("base")
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (
        768,
        12,
        12,
    )
    assert config.intermediate_size == 3072 and config.vocab_size == 30522


def test_transformers_fields_survive_a_round_trip(tmp_path):
    written_by_transformers = {
        "architectures": ["BertForMaskedLM"], "model_type": "bert", "vocab_size": 100,
        "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
        "intermediate_size": 32, "transformers_version": "5.23.0", "dtype": "float32",
        "id2label": {"0": "NEG", "1": "POS"}, "label2id": {"NEG": 0, "POS": 1},
    }  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(written_by_transformers))
    config = BertConfig.load(tmp_path)
    assert config.id2label == {0: "NEG", 1: "POS"} and config.num_labels == 2
    assert config.extra["transformers_version"] == "5.23.0"
    written = config.to_dict()
    for key, value in written_by_transformers.items():
        assert written[key] == value, key


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (dict(hidden_size=10, num_attention_heads=3), "not divisible by num_attention_heads 3"),
        (dict(hidden_act="swish"), "hidden_act 'swish' is not supported"),
        (dict(position_embedding_type="rotary"), "position_embedding_type 'rotary'"),
        (dict(vocab_size=0), "vocab_size must be a positive integer"),
        (dict(hidden_dropout_prob=1.5), "hidden_dropout_prob must be in"),
        (dict(pad_token_id=40000), "pad_token_id 40000 is outside"),
    ],
)
def test_inconsistent_values_are_refused_by_name(fields, message):
    with pytest.raises(ValueError, match=message):
        BertConfig(**fields)


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown preset 'huge'.*'base'"):
        BertConfig.preset("huge")


def test_other_architectures_and_broken_files_are_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ValueError, match="model_type 'gpt2'"):
        BertConfig.load(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        BertConfig.load(tmp_path)
    with pytest.raises(FileNotFoundError):
        BertConfig.load(tmp_path / "missing")


def test_config_overrides_convert_each_value_to_its_field_type():
    config = BertConfig.preset("tiny", vocab_size=100).with_overrides(
        "hidden_size=64, num_attention_heads=4,hidden_dropout_prob=0,classifier_dropout=0.25,"
        "is_decoder=True,hidden_act=relu"
    )
    assert (config.hidden_size, config.num_attention_heads) == (64, 4)
    assert config.hidden_dropout_prob == 0.0 and isinstance(config.hidden_dropout_prob, float)
    assert config.classifier_dropout == 0.25 and config.is_decoder is True
    assert config.hidden_act == "relu" and config.vocab_size == 100
    assert BertConfig.preset("tiny").with_overrides("") == BertConfig.preset("tiny")


@pytest.mark.parametrize(
    "overrides, message",
    [
        ("hidden=3", "BertConfig field"),
        ("hidden_size", "expected name=value"),
        ("hidden_size=abc", "not a valid int"),
        ("is_decoder=yes", "not a valid bool"),
    ],
)
def test_bad_config_overrides_name_the_problem(overrides, message):
    with pytest.raises(ValueError, match=message):
        BertConfig.preset("tiny").with_overrides(overrides)


def test_overrides_are_validated_like_any_config():
    with pytest.raises(ValueError, match="num_attention_heads"):
        BertConfig.preset("tiny").with_overrides("hidden_size=30,num_attention_heads=4")
