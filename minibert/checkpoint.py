"""Checkpoint directories that transformers and minibert both read and write.

A directory holds ``config.json`` and ``model.safetensors`` (or shards listed in
``model.safetensors.index.json``), with transformers' parameter names. minibert never unpickles:
``pytorch_model.bin`` and other pickle files are refused with a message saying how to convert
them. Every file is written atomically (temporary file, then rename).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from minibert.io import atomic_write

WEIGHTS_NAME = "model.safetensors"
WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
PICKLE_NAMES = ("pytorch_model.bin", "tf_model.h5", "model.ckpt.index", "flax_model.msgpack")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")

# Keys transformers keeps for compatibility that carry no weights of their own:
# position_ids is a buffer (arange), and the MLM decoder is tied to the word embeddings.
TIED_OR_DERIVED_SUFFIXES = (
    "embeddings.position_ids",
    "predictions.decoder.weight",
    "predictions.decoder.bias",
)


def save_weights(state_dict: dict, directory: Path) -> None:
    """Write ``state_dict`` (name -> array) as ``model.safetensors`` in ``directory``."""
    tensors = {}
    for name, array in state_dict.items():
        if type(array).__module__.partition(".")[0] == "cupy":
            array = array.get()  # explicit device-to-host copy for writing
        tensors[name] = np.ascontiguousarray(array)
    # transformers reads the "format" entry to know the tensors follow PyTorch's layout.
    atomic_write(
        Path(directory) / WEIGHTS_NAME,
        lambda path: save_file(tensors, str(path), metadata={"format": "pt"}),
    )


def load_weights(directory: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read every tensor of a checkpoint directory; never a partial result."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"checkpoint directory {directory} does not exist")
    single, index = directory / WEIGHTS_NAME, directory / WEIGHTS_INDEX_NAME
    if single.is_file():
        return _read_safetensors(single)
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (json.JSONDecodeError, KeyError, UnicodeDecodeError) as error:
            raise ValueError(f"{index} is not a valid safetensors index: {error}") from None
        state: dict[str, np.ndarray] = {}
        for shard in sorted(set(weight_map.values())):
            state.update(_read_safetensors(directory / shard))
        return state
    pickles = [
        p.name for p in directory.iterdir() if p.name in PICKLE_NAMES or p.suffix in PICKLE_SUFFIXES
    ]
    if pickles:
        raise ValueError(
            f"{directory} holds {', '.join(sorted(pickles))} but no {WEIGHTS_NAME}. minibert never "
            "loads pickle files (unpickling runs arbitrary code). Convert it once, in an "
            "environment you trust: `from transformers import AutoModel; "
            f"AutoModel.from_pretrained('{directory}').save_pretrained('{directory}', "
            "safe_serialization=True)`"
        )
    raise FileNotFoundError(f"{directory} has no {WEIGHTS_NAME}")


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint shard {path} is missing")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise ValueError(
            f"{path} is not a readable safetensors file ({error}); it may be truncated or "
            "corrupted: save the checkpoint again"
        ) from None


def normalize_keys(state: dict) -> dict:
    """Map older transformers/TensorFlow names to today's, and drop tied or derived entries."""
    normalized = {}
    for name, array in state.items():
        if name.endswith(TIED_OR_DERIVED_SUFFIXES):
            continue
        if name.endswith(".gamma"):
            name = name[: -len("gamma")] + "weight"
        elif name.endswith(".beta"):
            name = name[: -len("beta")] + "bias"
        normalized[name] = array
    return normalized
