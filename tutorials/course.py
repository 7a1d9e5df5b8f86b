"""Helpers every tutorial of the course shares: where pictures go, and how they are shown.

A tutorial imports them with ``from course import figures_dir, save_figure``; that works when it
runs as a script (Python puts the script's folder, tutorials/, on the path) and as a notebook
(Jupyter starts in the notebook's folder).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


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
