"""Fit the rational approximation of the normal CDF that the float32 GELU forward uses.

``autograd/kernels/numba_gelu.py`` computes, for float32 and |x| <= CLAMP,

    Phi(x) = 1/2 + x P(x^2) / Q(x^2),   P of degree 6, Q of degree 5 with Q(0) = 1,

(an odd function of x around 1/2, as Phi is). Since Phi(x) - 1/2 = erf(z) / 2 with z = x / sqrt 2,
this script fits erf(z) = z p(z^2) / q(z^2) on [0, 4] (smaller powers, a better conditioned
problem than in x) and then folds the constants in: P_k = p_k / (2 sqrt 2 * 2^k), Q_k = q_k / 2^k.

The fit is Lawson's iteration on linearized least squares: minimize
sum w_i (z_i p(t_i) - f_i q(t_i))^2 / q_prev(t_i)^2 over a dense Chebyshev grid, reweighting w_i
by the error each round, which drives the fit toward the minimax (equal-ripple) one. The target
f = erf(z) is ``math.erf`` in float64, whose ~1e-16 error is far below the fit's ~1e-9.

Run ``python scripts/fit_normal_cdf.py`` to print the coefficients (as float32, the kernel's
constants) and the fit's maximum error with them, in float64 arithmetic.
"""

from __future__ import annotations

import math

import numpy as np

CLAMP = 4.0 * math.sqrt(2.0)  # erf(4) = 1 - 1.5e-8: beyond, Phi is 0 or 1 to float32 precision
P_DEGREE, Q_DEGREE = 6, 5


Z_CLAMP = 4.0


def erf(z: np.ndarray) -> np.ndarray:
    return np.array([math.erf(v) for v in z])


def rational(p: np.ndarray, q: np.ndarray, x: np.ndarray) -> np.ndarray:
    """x P(x^2) / Q(x^2), coefficients lowest power first."""
    t = x * x
    return x * np.polynomial.polynomial.polyval(t, p) / np.polynomial.polynomial.polyval(t, q)


def fit(nodes: int = 4000, rounds: int = 80) -> tuple[np.ndarray, np.ndarray, float]:
    """(p, q, max |error| on the grid) of the best round: erf(z) = z p(z^2) / q(z^2)."""
    x = 0.5 * Z_CLAMP * (1.0 - np.cos(np.pi * (np.arange(nodes) + 0.5) / nodes))  # Chebyshev
    f, t = erf(x), x * x
    # Unknowns p_0..p_6, q_1..q_5: x P(t) - f (Q(t) - 1) = f is linear in them.
    columns = np.hstack([
        x[:, None] * t[:, None] ** np.arange(P_DEGREE + 1),
        -f[:, None] * t[:, None] ** np.arange(1, Q_DEGREE + 1),
    ])  # fmt: skip
    weights, q_previous = np.ones(nodes), np.ones(nodes)
    best = (None, None, math.inf)
    for _ in range(rounds):
        scale = np.sqrt(weights) / q_previous
        solution = np.linalg.lstsq(columns * scale[:, None], f * scale, rcond=None)[0]
        p, q = solution[: P_DEGREE + 1], np.concatenate([[1.0], solution[P_DEGREE + 1 :]])
        error = rational(p, q, x) - f
        worst = float(np.abs(error).max())
        if worst < best[2]:
            best = (p, q, worst)
        q_previous = np.polynomial.polynomial.polyval(t, q)
        weights = weights * np.abs(error)  # Lawson: more weight where the error is large
        weights /= weights.sum()
    return best


def normal_cdf_coefficients() -> tuple[np.ndarray, np.ndarray, float, float]:
    """(P, Q as float32, the erf fit's max error, Phi's max error with the float32 P and Q)."""
    p, q, worst = fit()
    powers = 2.0 ** np.arange(max(P_DEGREE, Q_DEGREE) + 1)
    p32 = (p / (2.0 * math.sqrt(2.0) * powers[: P_DEGREE + 1])).astype(np.float32)
    q32 = (q / powers[: Q_DEGREE + 1]).astype(np.float32)
    x = np.linspace(0.0, CLAMP, 200_001)
    phi = 0.5 * erf(x / math.sqrt(2.0))  # Phi(x) - 1/2
    rounded = float(np.abs(rational(p32.astype(float), q32.astype(float), x) - phi).max())
    assert np.all(np.polynomial.polynomial.polyval(x * x, q32.astype(float)) > 0), "Q's root"
    return p32, q32, worst, rounded


def main() -> None:
    p32, q32, worst, rounded = normal_cdf_coefficients()
    print(
        f"erf: max |error| {worst:.2e}; Phi with float32 coefficients: {rounded:.2e}, "
        f"|x| <= {CLAMP:.4f}"
    )
    print("P:", ", ".join(repr(float(v)) for v in p32))
    print("Q:", ", ".join(repr(float(v)) for v in q32))


if __name__ == "__main__":
    main()
