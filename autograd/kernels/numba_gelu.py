r"""Fused Numba GELU forward and backward (twins of ``reference.py``'s), exact and tanh forms.

The exact form needs the normal CDF :math:`\Phi(x) = \tfrac12 \operatorname{erfc}(-x/\sqrt2)`.
``math.erfc`` inside a kernel is a scalar libm call (no SVML here) at about 30 ns an element, so
we evaluate it branch-free and vectorized instead, through the scaled complementary error
function :math:`\operatorname{erfcx}(t) = e^{t^2} \operatorname{erfc}(t)`, smooth on
:math:`[0, \infty)`:

.. math:: \operatorname{erfcx}(t) = \frac{g(z)}{t + K}, \qquad z = \frac{t - K}{t + K} \in [-1, 1),

with :math:`K = 2` and :math:`g` a degree-28 polynomial in :math:`z` (a Chebyshev fit computed
with mpmath at 50 digits; relative error below 5e-16 on the whole half-line). Then, with
:math:`q = \Phi(-|x|) = \tfrac12 e^{-x^2/2} \operatorname{erfcx}(|x|/\sqrt2)`,
:math:`\Phi(x) = q` for negative x and :math:`1 - q` otherwise. The Gaussian factor uses
:math:`x^2` split exactly into ``hi + lo`` (one FMA), so even far in the tails the result keeps
float64 precision: it is *more* accurate than the reference's :math:`1 + \operatorname{erf}`,
which cancels for negative x.

float32 inputs take the same road in float32 arithmetic, with a degree-10 polynomial (fit error
2e-8, about one float32 ulp once evaluated in float32): sixteen lanes per AVX-512 vector instead
of eight, and a third of the multiply-adds. Measured on (4096, 512): about 8x faster than
computing float32 in float64, within 3e-7 of the float64 result. That is the float32 backward.

The float32 *forward*, the one on every inference and training step, needs Phi alone and takes
a cheaper road: :math:`\Phi(x) = \tfrac12 + x P(x^2) / Q(x^2)`, a rational function fitted to
erf (``scripts/fit_normal_cdf.py``), with no exponential: about half the vector instructions, and
GELU on a (4096, 1536) product took 2.6 ms instead of 3.7-4.3 (MiniLM's forward: 15-16 ms
instead of 26). The price is the reference's and PyTorch's own: :math:`\tfrac12 + \ldots`
cancels for negative x, so Phi is known to a few float32 ulps of 1 rather than of itself, and
GELU is within :math:`2 \cdot 10^{-7} \max(|x|, 1)` of the float64 result (at most 2.2 float32
ulps for positive x), where the erfcx road keeps a few ulps of Phi itself in both tails.

Far in the tail, :math:`\Phi(-|x|)` falls below the smallest *normal* number (beyond
:math:`|x| \approx 37.5` in float64, :math:`12.9` in float32) and would be computed as a
denormal, and on x86 every operation on a denormal takes a microcode assist of ~100 cycles
instead of one: GELU on a product whose entries reach +-40 measured 32 ms instead of 4.6 on
(4096, 1536). So :math:`|x|` is clamped where every intermediate is still normal (37 and 12.5,
where the tail is 6e-301 and 4e-36) and the tail is exactly 0 beyond: an absolute error below
those numbers, where the result is :math:`x` or 0 to working precision anyway.

The tanh form is written as a logistic function, :math:`\tfrac12 (1 + \tanh u) = \sigma(2u)`,
evaluated with :math:`e^{-2|u|} \le 1` so nothing overflows.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange, types
from numba.extending import overload

from autograd.kernels import reference
from autograd.kernels.numba_common import (
    JIT_DISABLED,
    ROW_CHUNKS,
    exp_normal,
    fma,
    helper,
    launch,
    row_kernel,
    sum_chunks,
    supported,
)
from autograd.kernels.registry import NUMBA, register

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_TWO_PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_TWO_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715
_TAIL = 37.0  # Phi(-37) = 6e-301: beyond, the tail is 0 (no denormals; module docstring)
_K = 2.0
# g(z) = erfcx(t) (t + K), z = (t - K) / (t + K), as sum_j a_j z^j, j = 0..28: the Chebyshev
# series fitted with mpmath, converted to powers of z (well conditioned here: sum |a_j| ~ 2).
_ERFCX_POLY = (
    1.0215827052420229755, -6.8716068441381054448e-1, 2.7947209255605485781e-1,
    -3.6442231506885192884e-2, -2.1510661889502763821e-2, 6.4791850679803552488e-3,
    3.090612059911515752e-3, -8.3729606671795744451e-4, -6.6307351927025217715e-4,
    3.4371476386880809102e-5, 1.4447089375493878844e-4, 3.4148665916418336076e-5,
    -2.169711344717899666e-5, -1.6120052830354432559e-5, -1.1221167184914401407e-6,
    3.6415398883171512533e-6, 1.9932124475330088796e-6, 6.2590537941146651152e-9,
    -5.5620058235398325503e-7, -3.3000681917861678608e-7, -2.1443610444026439946e-8,
    1.1536484015473733145e-7, 7.3095780687281657981e-8, -1.2800435469976109125e-8,
    -2.7653917957805679865e-8, -2.4258373187782607227e-9, 5.0246558976047482639e-9,
    6.7314824131707393303e-10, -3.7370081951437299669e-10,
)  # fmt: skip


@helper
def _normal_cdf_pdf(x):
    """(Phi(x), phi(x)) for a float64 x, branch-free; see the module docstring."""
    ax = abs(x)
    beyond = ax > _TAIL  # NaN compares false and flows through
    ax = _TAIL if beyond else ax
    hi = ax * ax
    lo = fma(ax, ax, -hi)  # ax * ax == hi + lo exactly
    gauss = exp_normal(-0.5 * hi) * (1.0 - 0.5 * lo)  # exp(-x^2 / 2), in range: |x| <= 37
    gauss = 0.0 if beyond else gauss
    t = ax * _SQRT_HALF
    inv = 1.0 / (t + _K)
    z = (t - _K) * inv
    # Estrin's scheme: a tree of multiply-adds, so its dependency chain is 9 deep, not Horner's
    # 28, and the CPU overlaps successive vector iterations. Written out because straight-line
    # code is what LLVM vectorizes (a loop over the tuple would stay scalar).
    a = _ERFCX_POLY
    z2 = z * z
    z4 = z2 * z2
    z8 = z4 * z4
    z16 = z8 * z8
    q0 = (a[0] + a[1] * z) + (a[2] + a[3] * z) * z2
    q1 = (a[4] + a[5] * z) + (a[6] + a[7] * z) * z2
    q2 = (a[8] + a[9] * z) + (a[10] + a[11] * z) * z2
    q3 = (a[12] + a[13] * z) + (a[14] + a[15] * z) * z2
    q4 = (a[16] + a[17] * z) + (a[18] + a[19] * z) * z2
    q5 = (a[20] + a[21] * z) + (a[22] + a[23] * z) * z2
    q6 = (a[24] + a[25] * z) + (a[26] + a[27] * z) * z2
    r0 = q0 + q1 * z4
    r1 = q2 + q3 * z4
    r2 = q4 + q5 * z4
    r3 = q6 + a[28] * z4
    g = (r0 + r1 * z8) + (r2 + r3 * z8) * z16
    q = 0.5 * gauss * g * inv  # Phi(-|x|)
    cdf = q if x < 0 else 1.0 - q
    return cdf, gauss * _INV_SQRT_TWO_PI


# The float32 twin of the above: g(z) to degree 10 (Chebyshev fit with mpmath, relative error
# 2e-8 on [-1, 1)), constants rounded to float32; the tail is 0 beyond |x| = 12.5 (Phi = 4e-36).
_F32 = np.float32
_ERFCX_POLY_F32 = tuple(_F32(a) for a in (
    1.0215827138318903, -0.6871606374219287, 0.27947146704387904, -0.03644333885678208,
    -0.02150325237328001, 0.006486903836227222, 0.0030583143217611073, -0.0008613409769145439,
    -0.0005987654243615004, 7.32037539083054e-05, 8.432239446799331e-05,
))  # fmt: skip
_TAIL_F32, _K_F32, _HALF_F32, _ONE_F32 = _F32(12.5), _F32(_K), _F32(0.5), _F32(1.0)
_ZERO_F32 = _F32(0.0)
_SQRT_HALF_F32, _INV_SQRT_TWO_PI_F32 = _F32(_SQRT_HALF), _F32(_INV_SQRT_TWO_PI)


@helper
def _normal_cdf_pdf_f32(x):
    """(Phi(x), phi(x)) for a float32 x, all in float32; see ``_normal_cdf_pdf``."""
    ax = abs(x)
    beyond = ax > _TAIL_F32
    ax = _TAIL_F32 if beyond else ax
    hi = ax * ax
    lo = fma(ax, ax, -hi)
    gauss = exp_normal(-_HALF_F32 * hi) * fma(-_HALF_F32, lo, _ONE_F32)  # |x| <= 12.5
    gauss = _ZERO_F32 if beyond else gauss
    t = ax * _SQRT_HALF_F32
    inv = _ONE_F32 / (t + _K_F32)
    z = (t - _K_F32) * inv
    # Estrin's scheme again, each multiply-add one FMA: the kernels' fast-math flags do not
    # fuse them (no "contract", which would change other kernels' bits), and a third of this
    # helper's vector instructions were the separate multiplies and adds.
    a = _ERFCX_POLY_F32
    z2 = z * z
    z4 = z2 * z2
    z8 = z4 * z4
    q0 = fma(fma(a[3], z, a[2]), z2, fma(a[1], z, a[0]))
    q1 = fma(fma(a[7], z, a[6]), z2, fma(a[5], z, a[4]))
    q2 = fma(a[10], z2, fma(a[9], z, a[8]))
    g = fma(q2, z8, fma(q1, z4, q0))
    q = _HALF_F32 * gauss * g * inv  # Phi(-|x|)
    cdf = q if x < 0 else _ONE_F32 - q
    return cdf, gauss * _INV_SQRT_TWO_PI_F32


# The float32 *forward* needs only Phi, not phi, and skips the exponential altogether: a rational
# function fitted to erf (``scripts/fit_normal_cdf.py``, error 8e-9 with these float32
# constants) gives Phi(x) = 1/2 + x P(x^2) / Q(x^2) for |x| <= 4 sqrt 2, where erf(4) rounds to 1
# in float32; beyond, Phi is exactly 0 or 1. See the module docstring for what it costs in
# precision.
_CDF_P_F32 = tuple(_F32(a) for a in (
    0.3989422917366028, 0.032652597874403, 0.004802380688488483, 0.00016968630370683968,
    8.456448085780721e-06, 5.281862769379586e-08, -7.55007653618911e-11,
))  # fmt: skip
_CDF_Q_F32 = tuple(_F32(a) for a in (
    1.0, 0.24851469695568085, 0.028456654399633408, 0.0019316991092637181,
    8.184937905753031e-05, 2.0003074041596847e-06,
))  # fmt: skip
_CDF_RANGE_F32 = _F32(4.0 * math.sqrt(2.0))


@helper
def _normal_cdf_f32(x):
    """Phi(x) for a float32 x by the rational function above: no exponential, no tail sums."""
    p, q = _CDF_P_F32, _CDF_Q_F32
    t = x * x  # inf or NaN far out, where the selects below take over
    t2 = t * t
    # Estrin's scheme in t, one FMA per multiply-add (see _normal_cdf_pdf_f32)
    num_high = fma(fma(p[6], t, p[5]), t2, fma(p[4], t, p[3]))  # p3 + p4 t + p5 t^2 + p6 t^3
    num = fma(num_high, t2 * t, fma(fma(p[2], t, p[1]), t, p[0]))
    den_high = fma(fma(q[5], t, q[4]), t2, fma(q[3], t, q[2]))  # q2 + q3 t + q4 t^2 + q5 t^3
    den = fma(den_high, t2, fma(q[1], t, q[0]))
    cdf = fma(x, num / den, _HALF_F32)
    cdf = _ZERO_F32 if cdf < _ZERO_F32 else cdf  # rounding near the ends: keep 0 <= Phi <= 1
    cdf = _ONE_F32 if cdf > _ONE_F32 else cdf
    cdf = _ZERO_F32 if x < -_CDF_RANGE_F32 else cdf  # NaN compares false and flows through
    return _ONE_F32 if x > _CDF_RANGE_F32 else cdf


def _normal_cdf_of(x):
    """Phi(x) for the forward: ``_normal_cdf_f32`` for a float32 x, else the first part of
    ``_normal_cdf_pdf``; chosen when a kernel compiles, as ``_normal_cdf_pdf_of`` is."""
    return _normal_cdf_f32(x) if isinstance(x, np.float32) else _normal_cdf_pdf(x)[0]


def _normal_cdf_pdf_of(x):
    """(Phi(x), phi(x)) in x's own precision: ``_normal_cdf_pdf_f32`` for a float32 x, else
    ``_normal_cdf_pdf``. In a kernel the choice is made when it compiles, by the overload below,
    inlined before LLVM sees it (as ``helper``s are); this body is the Python twin."""
    return _normal_cdf_pdf_f32(x) if isinstance(x, np.float32) else _normal_cdf_pdf(x)


if not JIT_DISABLED:

    @overload(_normal_cdf_pdf_of, inline="always")
    def _normal_cdf_pdf_of_overload(x):
        if x == types.float32:
            return lambda x: _normal_cdf_pdf_f32(x)
        if x == types.float64:
            return lambda x: _normal_cdf_pdf(x)
        return None

    @overload(_normal_cdf_of, inline="always")
    def _normal_cdf_of_overload(x):
        if x == types.float32:
            return lambda x: _normal_cdf_f32(x)
        if x == types.float64:
            return lambda x: _normal_cdf_pdf(x)[0]
        return None


# Every kernel reads x as rows (R, N) and adds ``bias`` (N,) first: a linear layer's bias fused
# into the activation (zeros when there is none: adding 0 is exact). Each compiles once per
# dtype; the erf kernels' arithmetic is float32's or float64's through ``_normal_cdf_pdf_of``.


@row_kernel
def _gelu_erf_forward(x, bias, out):
    for i in prange(x.shape[0]):
        for j in range(x.shape[1]):
            xi = x[i, j] + bias[j]
            out[i, j] = xi * _normal_cdf_of(xi)


# The tanh form's tail: e^{-2|u|} is 2e-35 at |u| = 40, still a normal float32; beyond, it is 0
# (its denormals would be as slow as the exact form's, see the module docstring).
_U_TAIL = 40.0


@helper
def _exp_minus_two_abs(u, limit, zero):
    """e^{-2|u|}, and exactly 0 where |u| > ``limit``."""
    au = abs(u)
    beyond = au > limit
    au = limit if beyond else au
    e = exp_normal(-(au + au))  # doubling is exact and keeps u's dtype; -80 is in range
    return zero if beyond else e


@helper
def _gelu_tanh(xi, one, c0, c1, limit, zero):
    """x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3): equal to 0.5 x (1 + tanh u)."""
    u = c0 * (xi + c1 * xi * xi * xi)
    e = _exp_minus_two_abs(u, limit, zero)
    s = (one if u >= 0 else e) / (one + e)
    return xi * s


@row_kernel
def _gelu_tanh_forward(x, bias, out):
    one, c0 = x.dtype.type(1), x.dtype.type(_SQRT_TWO_OVER_PI)
    c1, limit, zero = x.dtype.type(_GELU_CUBIC), x.dtype.type(_U_TAIL), x.dtype.type(0)
    for i in prange(x.shape[0]):
        for j in range(x.shape[1]):
            out[i, j] = _gelu_tanh(x[i, j] + bias[j], one, c0, c1, limit, zero)


# In place: the same per-element arithmetic written over x, for ``gelu_forward_``. These take x
# as their only array rather than ``out=x``: handed one array under two names, LLVM's run-time
# overlap check fails and the loop runs one element at a time instead of sixteen.


@row_kernel
def _gelu_erf_forward_(x, bias):
    for i in prange(x.shape[0]):
        for j in range(x.shape[1]):
            xi = x[i, j] + bias[j]
            x[i, j] = xi * _normal_cdf_of(xi)


@row_kernel
def _gelu_tanh_forward_(x, bias):
    one, c0 = x.dtype.type(1), x.dtype.type(_SQRT_TWO_OVER_PI)
    c1, limit, zero = x.dtype.type(_GELU_CUBIC), x.dtype.type(_U_TAIL), x.dtype.type(0)
    for i in prange(x.shape[0]):
        for j in range(x.shape[1]):
            x[i, j] = _gelu_tanh(x[i, j] + bias[j], one, c0, c1, limit, zero)


@helper
def _gelu_slope(xi, tanh, one, c0, c1, c3, two, limit, zero):
    """d GELU / dx at xi: Phi(x) + x phi(x), or with ``tanh`` s + 2 x s (1 - s) u', where
    s = sigmoid(2u) = (1 + tanh u) / 2 and u = sqrt(2/pi) (x + 0.044715 x^3)."""
    if tanh:
        u = c0 * (xi + c1 * xi * xi * xi)
        du = c0 * (one + c3 * xi * xi)
        e = _exp_minus_two_abs(u, limit, zero)
        inv = one / (one + e)
        s = (one if u >= 0 else e) * inv
        s_one_minus_s = e * inv * inv  # sigma(2u) sigma(-2u), symmetric in u
        return s + two * xi * s_one_minus_s * du
    cdf, pdf = _normal_cdf_pdf_of(xi)
    return cdf + xi * pdf


# One backward kernel serves both forms. It runs over ROW_CHUNKS chunks of rows; with ``sums``
# each chunk also adds up the gradient it writes into its row of ``partial``: the bias's
# gradient (see ``gelu_bias_backward``), summed while the rows are still in cache. ``tanh`` and
# ``sums`` are loop-invariant flags, so LLVM compiles the loop once for each combination, and
# each copy vectorizes on its own (the same bits and speed as a kernel per form, measured).


@row_kernel
def _gelu_backward(x, bias, grad_out, out, partial, sums, tanh):
    one, two, zero = x.dtype.type(1), x.dtype.type(2), x.dtype.type(0)
    c0, c1 = x.dtype.type(_SQRT_TWO_OVER_PI), x.dtype.type(_GELU_CUBIC)
    c3, limit = x.dtype.type(3 * _GELU_CUBIC), x.dtype.type(_U_TAIL)
    n_rows, n_chunks = x.shape[0], partial.shape[0]
    for c in prange(n_chunks):
        partial[c, :] = 0
        for i in range(c * n_rows // n_chunks, (c + 1) * n_rows // n_chunks):
            for j in range(x.shape[1]):
                xi = x[i, j] + bias[j]
                d = grad_out[i, j] * _gelu_slope(xi, tanh, one, c0, c1, c3, two, limit, zero)
                out[i, j] = d
                if sums:
                    partial[c, j] += d


def _as_rows_and_bias(x, bias):
    """x as C-contiguous rows (R, N) (a view when it can be) and the bias as (N,) in x's dtype."""
    n = x.shape[-1] if x.ndim else 1
    rows = np.ascontiguousarray(x).reshape(-1, n)  # (..., N) -> (R, N)
    if bias is None:
        return rows, np.zeros(n, dtype=x.dtype)
    return rows, np.ascontiguousarray(np.broadcast_to(bias, (n,)), dtype=x.dtype)


def _broadcasts_to(shape, target) -> bool:
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


def _takes(x, approximate, bias) -> bool:
    """Whether the kernels take x, this form and this bias (else the reference twin runs)."""
    bias_ok = bias is None or (supported(bias) and bias.shape in ((x.shape[-1],), ()))
    return supported(x) and approximate in ("none", "tanh") and bias_ok and x.size > 0


def _pick(approximate, erf, tanh):
    """Of a pair of kernels, the one for this form."""
    return tanh if approximate == "tanh" else erf


@register("gelu_forward", NUMBA)
def gelu_forward(x, approximate="none", bias=None):
    """GELU: x * Phi(x) (``"none"``) or its tanh approximation, elementwise, of x + ``bias``."""
    if not _takes(x, approximate, bias):
        return reference.gelu_forward(x, approximate, bias)
    rows, bias_row = _as_rows_and_bias(x, bias)
    out = np.empty(rows.shape, dtype=x.dtype)
    kernel = _pick(approximate, _gelu_erf_forward, _gelu_tanh_forward)
    launch(kernel, out.size, rows, bias_row, out)
    return out.reshape(x.shape)


@register("gelu_forward_", NUMBA)
def gelu_forward_(x, approximate="none", bias=None):
    """``gelu_forward`` written over x, which it returns: no second array of x's size.

    x must be a writable floating array that no one else needs (the caller's promise). The
    kernels need it C-contiguous, so that its rows are a view of it; anything else goes through
    the reference twin, which computes aside and copies back.
    """
    if not (_takes(x, approximate, bias) and x.flags.c_contiguous and x.flags.writeable):
        return reference.gelu_forward_(x, approximate, bias)
    rows, bias_row = _as_rows_and_bias(x, bias)  # (..., N) -> (R, N), a view of x
    kernel = _pick(approximate, _gelu_erf_forward_, _gelu_tanh_forward_)
    launch(kernel, rows.size, rows, bias_row)
    return x


def _backward_takes(x, grad_out, approximate, bias) -> bool:
    usable = _takes(x, approximate, bias) and supported(grad_out)
    return usable and _broadcasts_to(grad_out.shape, x.shape)


def _backward(x, grad_out, approximate, bias, sums: bool):
    """(the gradient, shaped as x; its per-chunk row sums (ROW_CHUNKS, N), filled when ``sums``)."""
    rows, bias_row = _as_rows_and_bias(x, bias)
    g = np.ascontiguousarray(np.broadcast_to(grad_out, x.shape), dtype=x.dtype)
    g = g.reshape(rows.shape)  # (..., N) -> (R, N)
    out = np.empty(rows.shape, dtype=x.dtype)
    partial = np.empty((ROW_CHUNKS, rows.shape[1]), dtype=x.dtype)
    launch(_gelu_backward, out.size, rows, bias_row, g, out, partial, sums, approximate == "tanh")
    return out.reshape(x.shape), partial


@register("gelu_backward", NUMBA)
def gelu_backward(x, grad_out, approximate="none", bias=None):
    """d GELU / dx at x + ``bias``, times ``grad_out``, elementwise."""
    if not _backward_takes(x, grad_out, approximate, bias):
        return reference.gelu_backward(x, grad_out, approximate, bias)
    return _backward(x, grad_out, approximate, bias, sums=False)[0]


@register("gelu_bias_backward", NUMBA)
def gelu_bias_backward(x, grad_out, approximate="none", bias=None):
    """(``gelu_backward``, its sum over rows: the bias's gradient) in one pass over the rows.

    Each chunk of rows adds up the gradient it has just written, while it is in cache, instead
    of ``bias_grad`` reading the whole gradient back afterwards (16 MB for a (4096, 1024) FFN
    activation). Same chunks, same order as ``bias_grad``: the same bits.
    """
    if not _backward_takes(x, grad_out, approximate, bias):
        return reference.gelu_bias_backward(x, grad_out, approximate, bias)
    grad, partial = _backward(x, grad_out, approximate, bias, sums=True)
    return grad, sum_chunks(partial)
