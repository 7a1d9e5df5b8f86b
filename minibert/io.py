"""Writing files so that a crash never leaves a half-written file behind.

Every file minibert writes (configs, weights, vocabularies, metrics) goes to a temporary file in
the same directory first and is then renamed over the target with ``os.replace``, which is atomic
on POSIX and Windows: a reader sees the old file or the new one, never a mix.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temporary_path)``, then move the result to ``path`` in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        write(Path(temporary))
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())  # the bytes reach the disk before the rename publishes them
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


def publish_directory(staging: Path, final: Path) -> Path:
    """Make the fully written directory ``staging`` appear as ``final``, replacing any old one.

    The files' bytes are flushed to disk first; then the old ``final`` (if any) is moved aside,
    ``staging`` takes its name, and the old one is deleted. A directory cannot be renamed over a
    non-empty one, hence the move aside: a reader sees the old directory, or the new one, or
    (for an instant) none, but never a half-written one.
    """
    staging, final = Path(staging), Path(final)
    for path in staging.iterdir():
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    retired = final.with_name(f".{final.name}.old-{os.getpid()}")
    shutil.rmtree(retired, ignore_errors=True)
    if final.exists():
        os.replace(final, retired)
    os.replace(staging, final)
    shutil.rmtree(retired, ignore_errors=True)
    return final


def append_jsonl(path: Path, record: dict) -> None:
    """Append one JSON line, flushed: a crash loses at most the line being written."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
        handle.flush()
