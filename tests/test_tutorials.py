"""Every tutorial runs as a script, reads as a notebook, and is listed in the course index.

A tutorial is ``tutorials/NN_topic.py`` in jupytext percent format. Running it executes its
``assert`` checkpoints and its exercise solutions, so "the script exits 0" means "what the
tutorial teaches is true on this machine".
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograd.kernels import jit_enabled

REPO = Path(__file__).resolve().parents[1]
TUTORIALS_DIR = REPO / "tutorials"
INDEX = TUTORIALS_DIR / "README.md"
TUTORIALS = sorted(TUTORIALS_DIR.glob("[0-9][0-9]_*.py"))
# Tutorials target well under 60 s; with JIT disabled (make test-nojit) every kernel runs as its
# plain NumPy twin, several times slower by design, so they get more room there.
TIMEOUT_S = 120 if jit_enabled() else 600
# The header cell of every tutorial names these (STYLE.md, Tutorials).
HEADER_WORDS = ("Goals", "Prerequisites", "Run time")


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def test_there_are_tutorials():
    assert TUTORIALS, f"no tutorials/[0-9][0-9]_*.py found in {TUTORIALS_DIR}"


@pytest.mark.slow
@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs_as_a_script(path, tmp_path):
    # A fresh working directory shows up any file a tutorial writes where it should not, and
    # MINIBERT_FIGURES_DIR sends its pictures to the temporary directory, not the checkout.
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    figures = tmp_path / "figures"
    env = {
        **os.environ,
        "MPLBACKEND": "Agg",
        "MINIBERT_FIGURES_DIR": str(figures),
        # hypothesis keeps a cache (.hypothesis/) in the working directory unless told otherwise
        "HYPOTHESIS_STORAGE_DIRECTORY": str(tmp_path / "hypothesis"),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        ),
    }
    try:
        result = subprocess.run(
            [sys.executable, str(path)],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as error:
        partial = error.stdout or ""
        if isinstance(partial, bytes):  # TimeoutExpired may hold bytes even with text=True
            partial = partial.decode(errors="replace")
        pytest.fail(
            f"{path.name} ran longer than {TIMEOUT_S} s; tutorials should take well under a "
            f"minute.\n--- stdout so far (last lines) ---\n{_tail(partial, 15)}"
        )
    if result.returncode != 0:
        pytest.fail(
            f"{path.name} exited with {result.returncode}.\n"
            f"--- stderr (last lines) ---\n{_tail(result.stderr)}\n"
            f"--- stdout (last lines) ---\n{_tail(result.stdout, 15)}"
        )
    stray = sorted(str(p.relative_to(workdir)) for p in workdir.rglob("*"))
    assert not stray, (
        f"{path.name} wrote {stray} into its working directory; tutorials write pictures to "
        "tutorials/figures/ ($MINIBERT_FIGURES_DIR) and anything else to a temporary directory"
    )


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_is_a_percent_notebook(path):
    jupytext = pytest.importorskip("jupytext", reason="jupytext (the notebook extra) is needed")
    notebook = jupytext.reads(path.read_text(encoding="utf-8"), fmt="py:percent")
    kinds = [cell.cell_type for cell in notebook.cells]
    assert "markdown" in kinds, f"{path.name} has no '# %% [markdown]' cell"
    assert "code" in kinds, f"{path.name} has no '# %%' code cell"
    header = next(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    missing = [word for word in HEADER_WORDS if word not in header]
    assert not missing, f"{path.name}: its first markdown cell should state {missing}"
    markdown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert "Exercises" in markdown, f"{path.name} should end with exercises (STYLE.md)"


def test_index_lists_every_tutorial():
    index = INDEX.read_text(encoding="utf-8")
    missing = [path.name for path in TUTORIALS if path.name not in index]
    assert not missing, f"tutorials/README.md does not list {missing}"
