"""Helpers every tutorial of the course shares: threads, where pictures go, and how they are shown.

A tutorial imports them with ``from course import pyplot, save_figure, use_one_thread``; that
works when it runs as a script (Python puts the script's folder, tutorials/, on the path) and as
a notebook (Jupyter starts in the notebook's folder).

Importing this module must stay cheap and must not load NumPy (nor anything that loads it):
tutorials import it *before* NumPy, so that ``use_one_thread()`` can still take effect.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The variables that size the thread pools of NumPy's BLAS (OpenMP, OpenBLAS or MKL) and of
# Numba's parallel kernels.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)


def use_one_thread() -> None:
    """One thread for NumPy's BLAS and for Numba's kernels; call it before NumPy is imported.

    The course's models are small enough that each operation takes microseconds, too little to
    share between two cores: waking a second thread (each of the two libraries keeps threads of
    its own) costs more than it saves, and far more while other programs keep the second core
    busy (tutorial 08 measured a training step 20 to 50 times slower with the default threads
    on a busy two-core machine). Bigger models gain from the second core; these do not.

    The libraries read these variables once, when they load: called after NumPy (or Numba) is
    imported, this changes nothing for them. A value already set in the environment wins, and
    the settings carry over to subprocesses (tutorial 14's ranks).
    """
    for variable in THREAD_VARIABLES:
        os.environ.setdefault(variable, "1")


def pyplot():
    """``matplotlib.pyplot``, or None (saying so) when matplotlib is not installed.

    Pictures are optional: without matplotlib a tutorial still runs, just without them. Run as
    a script, it draws into files (the Agg backend) and never opens a window; in a notebook it
    keeps the notebook's backend, so the pictures show inline.
    """
    try:
        import matplotlib

        if "ipykernel" not in sys.modules:  # run as a script: draw into files, never open a window
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[plot]'): skipping the pictures")
        return None
    return plt


def figures_dir() -> Path:
    """tutorials/figures/ (git-ignored), or $MINIBERT_FIGURES_DIR when set (the tests set it)."""
    if os.environ.get("MINIBERT_FIGURES_DIR"):
        path = Path(os.environ["MINIBERT_FIGURES_DIR"])
    else:
        path = Path(__file__).resolve().parent / "figures"
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_figure(fig, name: str) -> None:
    """Save ``fig`` under figures_dir(); show it too when running in a notebook."""
    import matplotlib.pyplot as plt  # only tutorials that draw call this, with matplotlib there

    path = figures_dir() / name
    fig.savefig(path, dpi=100)
    print("saved", path)
    if "ipykernel" in sys.modules:
        plt.show()
    else:
        plt.close(fig)
