"""The process-wide default generator, for layers created without an explicit one.

Every random choice in autograd takes a ``numpy.random.Generator``. Layers accept
``generator=...``; when it is omitted they draw from this module's default generator, which is
seeded (0) at import and reseeded by ``manual_seed``, so a script is reproducible either way.
"""

from __future__ import annotations

import numpy as np

_default = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the default generator (as ``torch.manual_seed``) and return it."""
    global _default
    _default = np.random.default_rng(seed)
    return _default


def default_generator() -> np.random.Generator:
    return _default


def resolve(generator: np.random.Generator | None) -> np.random.Generator:
    """``generator`` itself, or the default generator when it is None."""
    if generator is None:
        return _default
    if not isinstance(generator, np.random.Generator):
        raise TypeError(
            f"expected a numpy.random.Generator (np.random.default_rng(seed)), got "
            f"{type(generator).__name__}"
        )
    return generator
