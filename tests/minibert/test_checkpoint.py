"""Checkpoint directories: round trips, strict loading, damaged files, pickles, atomicity."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from minibert import checkpoint, modeling
from tests.minibert.conftest import small_config


def saved(tmp_path, cls=modeling.BertForPreTraining, **config_fields):
    model = cls(small_config(**config_fields), seed=3)
    directory = tmp_path / "model"
    model.save_pretrained(directory)
    return model, directory


def test_round_trip_gives_identical_weights_and_outputs(tmp_path):
    model, directory = saved(tmp_path)
    assert sorted(os.listdir(directory)) == ["config.json", "model.safetensors"]
    loaded = modeling.BertForPreTraining.from_pretrained(directory)
    for name, array in model.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[name], array, err_msg=name)
    ids = [[1, 2, 3, 4]]
    np.testing.assert_array_equal(
        loaded.eval()(ids).prediction_logits.data, model.eval()(ids).prediction_logits.data
    )


def test_a_task_model_starts_from_a_pretraining_checkpoint(tmp_path):
    model, directory = saved(tmp_path)
    with pytest.warns(UserWarning, match="classifier.weight"):
        classifier = modeling.BertForSequenceClassification.from_pretrained(directory, num_labels=3)
    assert classifier.loading_info["newly_initialized"] == ["classifier.weight", "classifier.bias"]
    assert any(name.startswith("cls.") for name in classifier.loading_info["unused"])
    np.testing.assert_array_equal(
        classifier.bert.encoder.layer[0].output.dense.weight.data,
        model.bert.encoder.layer[0].output.dense.weight.data,
    )
    assert classifier.classifier.weight.shape == (3, 8)


def test_the_base_model_loads_the_body_of_a_pretraining_checkpoint(tmp_path):
    model, directory = saved(tmp_path)
    base = modeling.BertModel.from_pretrained(directory)
    np.testing.assert_array_equal(
        base.pooler.dense.weight.data, model.bert.pooler.dense.weight.data
    )


def test_strict_loading_names_missing_and_mis_shaped_tensors(tmp_path):
    model, directory = saved(tmp_path)
    state = checkpoint.load_weights(directory)
    del state["bert.encoder.layer.1.output.dense.bias"]
    checkpoint.save_weights(state, directory)
    with pytest.raises(ValueError, match=r"missing: bert\.encoder\.layer\.1\.output\.dense\.bias"):
        modeling.BertForPreTraining.from_pretrained(directory)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loose = modeling.BertForPreTraining.from_pretrained(directory, strict=False)
    assert "bert.encoder.layer.1.output.dense.bias" in loose.loading_info["newly_initialized"]
    # A checkpoint of another size is refused whatever strict says.
    _, other = saved(tmp_path / "wide", hidden_size=12, num_attention_heads=2)
    (other / "config.json").write_bytes((directory / "config.json").read_bytes())
    with pytest.raises(ValueError, match=r"mis-shaped: .*checkpoint \(23, 12\) vs model \(23, 8\)"):
        modeling.BertForPreTraining.from_pretrained(other, strict=False)


def test_unexpected_encoder_tensors_are_refused(tmp_path):
    _, directory = saved(tmp_path)
    state = checkpoint.load_weights(directory)
    state["bert.encoder.layer.7.output.dense.bias"] = np.zeros(8, dtype=np.float32)
    checkpoint.save_weights(state, directory)
    with pytest.raises(ValueError, match=r"unexpected: bert\.encoder\.layer\.7"):
        modeling.BertForPreTraining.from_pretrained(directory)


@pytest.mark.parametrize("damage", ["truncate", "garbage-header", "flip-length"])
def test_a_damaged_weights_file_is_a_clear_error_never_a_partial_load(tmp_path, damage):
    _, directory = saved(tmp_path)
    path = directory / "model.safetensors"
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "garbage-header":
        data[8:40] = b"\xff" * 32
    else:
        data[0:8] = (10**12).to_bytes(8, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(
        ValueError, match="not a readable safetensors file.*save the checkpoint again"
    ):
        modeling.BertForPreTraining.from_pretrained(directory)


def test_pickle_checkpoints_are_refused_with_a_conversion_recipe(tmp_path):
    directory = tmp_path / "legacy"
    directory.mkdir()
    small_config().save(directory / "config.json")
    (directory / "pytorch_model.bin").write_bytes(b"\x80\x04not loaded")
    with pytest.raises(ValueError, match=r"never loads pickle files.*safe_serialization=True"):
        modeling.BertModel.from_pretrained(directory)


def test_a_crash_while_saving_leaves_the_previous_checkpoint_loadable(tmp_path, monkeypatch):
    model, directory = saved(tmp_path)
    before = (directory / "model.safetensors").read_bytes()

    def crash(tensors, path, metadata=None):
        with open(path, "wb") as half:
            half.write(b"half a file")
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(checkpoint, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        model.save_pretrained(directory)
    assert (directory / "model.safetensors").read_bytes() == before
    assert sorted(os.listdir(directory)) == ["config.json", "model.safetensors"]  # no temp files
    modeling.BertForPreTraining.from_pretrained(directory)


def test_sharded_checkpoints_load(tmp_path):
    model, directory = saved(tmp_path)
    state = checkpoint.load_weights(directory)
    names = sorted(state)
    halves = {"model-1.safetensors": names[::2], "model-2.safetensors": names[1::2]}
    from safetensors.numpy import save_file

    for shard, keys in halves.items():
        save_file({k: state[k] for k in keys}, str(directory / shard))
    weight_map = {k: shard for shard, keys in halves.items() for k in keys}
    import json

    (directory / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    (directory / "model.safetensors").unlink()
    loaded = modeling.BertForPreTraining.from_pretrained(directory)
    for name, array in model.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[name], array)


def test_old_layer_norm_names_are_understood(tmp_path):
    model, directory = saved(tmp_path)
    state = checkpoint.load_weights(directory)
    renamed = {
        k.replace("LayerNorm.weight", "LayerNorm.gamma").replace(
            "LayerNorm.bias", "LayerNorm.beta"
        ): v
        for k, v in state.items()
    }
    renamed["bert.embeddings.position_ids"] = np.arange(12)[None]
    renamed["cls.predictions.decoder.weight"] = state["bert.embeddings.word_embeddings.weight"]
    checkpoint.save_weights(renamed, directory)
    loaded = modeling.BertForPreTraining.from_pretrained(directory)
    np.testing.assert_array_equal(
        loaded.bert.embeddings.LayerNorm.weight.data, model.bert.embeddings.LayerNorm.weight.data
    )


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config file"):
        modeling.BertModel.from_pretrained(tmp_path / "nowhere")
