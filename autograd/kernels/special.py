"""Special functions NumPy lacks, written for any array module.

``erf`` is needed by BERT's exact GELU. NumPy has none (it lives in SciPy, which we do not depend
on), so we sum the series

.. math:: \\operatorname{erf}(x) = \\frac{2}{\\sqrt\\pi} e^{-x^2}
    \\sum_{n\\ge0} \\frac{2^n x^{2n+1}}{1\\cdot3\\cdots(2n+1)}

whose terms all share the sign of ``x``: nothing cancels, so every term keeps full relative
precision (unlike the alternating Taylor series). Past |x| = 6, erf is +-1 to double precision.
"""

from __future__ import annotations

from autograd.backend import get_xp

_SATURATION = 6.0  # erfc(6) = 2e-17: erf(x) rounds to +-1 beyond this
_TWO_OVER_SQRT_PI = 1.1283791670955126


def erf(x):
    """Elementwise error function, accurate to about 1e-15 in float64 (computed in float64)."""
    xp = get_xp(x)
    if x.size == 0:  # nothing to sum, and the convergence test below needs a maximum
        return x.copy()
    x64 = xp.clip(x.astype(xp.float64), -_SATURATION, _SATURATION)
    two_x2 = 2.0 * x64 * x64
    term = x64.copy()
    total = x64.copy()
    # Terms grow until n ~ x^2, then shrink faster than geometrically; 2x^2 + 40 terms is ample
    # for every |x| <= 6 (the loop stops as soon as the largest remaining term is negligible).
    for n in range(1, 200):
        term = term * two_x2 / (2 * n + 1)
        total = total + term
        if n > 8 and float(xp.max(xp.abs(term))) <= 1e-17 * float(xp.max(xp.abs(total))):
            break
    result = _TWO_OVER_SQRT_PI * xp.exp(-x64 * x64) * total
    return xp.clip(result, -1.0, 1.0).astype(x.dtype, copy=False)
