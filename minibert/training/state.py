"""Training checkpoints: everything needed to continue a run exactly where it stopped.

A checkpoint is a directory ``checkpoints/step-000100`` holding

- the model (``config.json``, ``model.safetensors``) and the tokenizer (``vocab.txt``), so any
  checkpoint is also a usable pretrained model;
- ``optimizer.safetensors``: AdamW's moment arrays, bit for bit;
- ``trainer_state.json``: step, data position, scheduler, optimizer step counts and
  hyperparameters, the dropout generator's state, and the run's arguments.

It is written into a temporary directory and published with one atomic rename, then
``checkpoints/latest`` (a text file naming it) is replaced atomically. A run killed at any
moment (even by ``kill -9``) leaves the previous checkpoint intact and ``latest`` pointing at a
complete one; half-written temporary directories are ignored and cleaned up.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from minibert.io import atomic_write_text, publish_directory

OPTIMIZER_NAME = "optimizer.safetensors"
STATE_NAME = "trainer_state.json"
LATEST = "latest"


def checkpoint_root(output_dir: str | os.PathLike) -> Path:
    return Path(output_dir) / "checkpoints"


def save_checkpoint(
    output_dir,
    step: int,
    model,
    tokenizer,
    optimizer,
    scheduler,
    trainer_state: dict,
    keep: int = 2,
) -> Path:
    """Write a complete checkpoint for ``step`` and point ``latest`` at it."""
    root = checkpoint_root(output_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:07d}"
    staging = root / f".step-{step:07d}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging, tokenizer=tokenizer)

    optimizer_state = optimizer.state_dict()
    arrays, scalars = {}, {}
    for index, values in optimizer_state["state"].items():
        for name, value in values.items():
            if hasattr(value, "shape"):
                arrays[f"{index}.{name}"] = np.ascontiguousarray(value)
            else:
                scalars[f"{index}.{name}"] = value
    save_file(arrays, str(staging / OPTIMIZER_NAME))
    state = {
        **trainer_state,
        "step": step,
        "optimizer": {"param_groups": optimizer_state["param_groups"], "scalars": scalars},
        "scheduler": scheduler.state_dict(),
        "dropout_generator": model.dropout_generator.bit_generator.state,
    }
    (staging / STATE_NAME).write_text(
        json.dumps(state, indent=2, default=_json_default), encoding="utf-8"
    )
    publish_directory(staging, final)  # the checkpoint appears complete, or not at all
    atomic_write_text(root / LATEST, final.name + "\n")
    _prune(root, keep, final.name)
    return final


def latest_checkpoint(output_dir) -> Path | None:
    """The directory ``latest`` names, or None when the run has no checkpoint yet."""
    root = checkpoint_root(output_dir)
    pointer = root / LATEST
    if not pointer.is_file():
        return None
    path = root / pointer.read_text(encoding="utf-8").strip()
    if not (path / STATE_NAME).is_file():
        raise ValueError(f"{pointer} names {path.name}, which is not a complete checkpoint")
    return path


def load_checkpoint(path: Path, model, optimizer, scheduler) -> dict:
    """Restore model, optimizer, scheduler and dropout generator; return the trainer state."""
    from minibert import checkpoint as weights

    state = json.loads((path / STATE_NAME).read_text(encoding="utf-8"))
    model.load_checkpoint_state(
        weights.normalize_keys(weights.load_weights(path)), strict=True, source=str(path)
    )
    arrays = load_file(str(path / OPTIMIZER_NAME))
    per_param: dict[int, dict] = {}
    for key, value in [*arrays.items(), *state["optimizer"]["scalars"].items()]:
        index, name = key.split(".", 1)
        per_param.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict(
        {"state": per_param, "param_groups": state["optimizer"]["param_groups"]}
    )
    scheduler.load_state_dict(state["scheduler"])
    model.dropout_generator.bit_generator.state = state["dropout_generator"]
    return state


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _prune(root: Path, keep: int, current: str) -> None:
    """Keep the newest ``keep`` checkpoints; remove stale temporary directories."""
    for stale in root.glob(".step-*.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    finished = sorted(p for p in root.glob("step-*") if p.is_dir())
    for old in finished[:-keep] if keep > 0 else []:
        if old.name != current:
            shutil.rmtree(old, ignore_errors=True)
