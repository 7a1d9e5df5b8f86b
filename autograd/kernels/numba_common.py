"""What every fused Numba kernel shares: JIT settings, a vectorizable exp, and the row helpers.

Why a hand-written exp: this machine's Numba has no SVML, so ``math.exp`` inside a loop is a call
to scalar libm and blocks vectorization; NumPy's own SIMD exp would then beat a fused kernel. The
exp below is the textbook range reduction

.. math:: e^v = 2^k e^r, \\quad k = \\operatorname{round}(v / \\ln 2), \\quad r = v - k \\ln 2
          \\in [-\\tfrac{\\ln 2}{2}, \\tfrac{\\ln 2}{2}]

with ``e^r`` a polynomial (Cephes' minimax for float32, Taylor to degree 13 for float64) and
``2^k`` assembled from the float's exponent bits. Every step is branch-free arithmetic, so LLVM
turns a loop of it into AVX-512/AVX2 vector code. It stays within 2 ulp of the true value on the
whole line, denormal results, 0 for -inf, inf on overflow and NaN for NaN included.
``exp_normal`` is the same exp without those guards, for callers whose argument is known to give
a normal result (GELU's Gaussian factor): a quarter fewer instructions, the same bits.
``exp_flushed`` clamps its argument into that range and gives 0 below it, where ``fast_exp``
would compute a denormal (softmax, cross-entropy): results under 1.2e-38 in float32 become 0,
and no kernel pays the ~100-cycle microcode assist that x86 charges for arithmetic on one.

Why an ``llvm.maximum`` intrinsic: a ``max`` reduction written in Python (``m = max(m, x[j])``)
never vectorizes, because Numba emits a ``select`` without the fast-math flags LLVM needs; the
``llvm.maximum`` intrinsic vectorizes and propagates NaN, exactly the semantics NumPy's
``np.max`` has.

JIT settings: ``cache=True`` (compile once per machine, on the first call: nothing compiles at
import), ``parallel=True`` with ``prange`` over rows (both cores), and the fast-math flags
``FASTMATH``: reassociation (so sums vectorize), reciprocal division and signed-zero freedom, but
*not* ``nnan``/``ninf``, because masks rely on -inf and NaN must propagate as it does in NumPy.

Note on the cache: Numba keys a kernel's cache on its own file, not on the helpers it inlines
from this one. After editing this file, delete ``autograd/kernels/__pycache__/*.nb?``.

The kernel modules import only this module, the registry, and their reference twins (which they
hand any input they do not compile for: float16, CuPy arrays, unusual shapes).
"""

from __future__ import annotations

import math
import os
from fractions import Fraction

import numba
import numpy as np
from llvmlite import ir as llvm_ir
from numba import types
from numba.extending import intrinsic, overload

# No nnan/ninf: -inf masks and NaN propagation must behave exactly as in NumPy.
FASTMATH = frozenset({"nsz", "arcp", "reassoc"})
JIT_DISABLED = bool(numba.config.DISABLE_JIT)

# Numba's parallel kernels run on GNU OpenMP here, whose idle threads spin for a while after each
# parallel region. While anything else wants the core (OpenBLAS's threads after a matmul,
# another process), that spinning turns each later region into a wait for a scheduler slice:
# measured 8 ms instead of 0.3 ms for a (4096, 128) softmax. Passive waiting (threads sleep
# until woken) costs microseconds instead. This must be set before Numba starts its threads
# (its first parallel call), and a value the user chose wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def row_kernel(fn):
    """Compile ``fn`` lazily as a parallel, cached kernel (``prange`` over rows inside)."""
    return numba.njit(
        cache=True, parallel=True, fastmath=set(FASTMATH), error_model="numpy", nogil=True
    )(fn)


def serial_kernel(fn):
    """Compile ``fn`` lazily as a cached single-threaded kernel, same fast-math flags."""
    return numba.njit(cache=True, fastmath=set(FASTMATH), error_model="numpy", nogil=True)(fn)


def helper(fn):
    """A scalar helper that Numba inlines into each calling kernel (before LLVM sees it), so it
    runs under the kernel's flags and vectorizes with the kernel's loop."""
    return numba.njit(error_model="numpy", inline="always")(fn)


def exact_kernel(fn):
    """Compile ``fn`` lazily, parallel and cached, with *no* fast-math: IEEE order and rounding
    exactly as written (used where float64 must match the reference to the last bit)."""
    return numba.njit(cache=True, parallel=True, error_model="numpy", nogil=True)(fn)


# ----------------------------------------------------------------------------- array plumbing

# Below this many elements a kernel runs on the calling thread alone: waking the second thread
# (10-30 us with passive waiting, more while another process holds the core) costs more than
# half of a small kernel saves. Above it, the second core pays for itself.
PARALLEL_MIN_ELEMENTS = 1 << 16


def launch(kernel, n_elements: int, *args):
    """``kernel(*args)``, on one thread when ``n_elements`` is small (PARALLEL_MIN_ELEMENTS)."""
    if n_elements >= PARALLEL_MIN_ELEMENTS or JIT_DISABLED:
        return kernel(*args)
    threads = numba.get_num_threads()
    if threads == 1:
        return kernel(*args)
    numba.set_num_threads(1)
    try:
        return kernel(*args)
    finally:
        numba.set_num_threads(threads)


def supported(*arrays, min_ndim: int = 0) -> bool:
    """True when every array is a float32 or float64 NumPy array (what the kernels compile for)
    with at least ``min_ndim`` dimensions. Anything else goes to the reference twin."""
    return all(
        isinstance(a, np.ndarray) and a.dtype in (np.float32, np.float64) and a.ndim >= min_ndim
        for a in arrays
    )


def as_rows(x: np.ndarray) -> np.ndarray:
    """(..., N) -> C-contiguous (R, N): a view when ``x`` is contiguous, else one copy."""
    n = x.shape[-1]
    return np.ascontiguousarray(x).reshape(math.prod(x.shape[:-1]), n)  # (..., N) -> (R, N)


def as_flat(x: np.ndarray, dtype=None) -> np.ndarray:
    """Any shape -> C-contiguous 1-D (a view when possible), optionally cast to ``dtype``."""
    return np.ascontiguousarray(x, dtype=dtype).reshape(-1)


# Sums over rows (a bias gradient, LayerNorm's weight and bias gradients) run in a fixed number
# of row chunks, each into its own partial row, and the partials are then added in order: no two
# threads ever add into the same number, and the bits do not depend on how many threads ran.
# Enough chunks to balance a few cores, few enough that the final reduction is negligible.
# Chunk c holds rows [c * R // ROW_CHUNKS, (c + 1) * R // ROW_CHUNKS).
ROW_CHUNKS = 16


def sum_chunks(partial: np.ndarray) -> np.ndarray:
    """partial[0] + partial[1] + ... (the rows of a (C, N) array), added in that order."""
    out = partial[0].copy()
    for c in range(1, partial.shape[0]):
        out += partial[c]
    return out


# ------------------------------------------------------------------------------ LLVM intrinsics
# Under NUMBA_DISABLE_JIT the kernels run as Python, so each intrinsic has a Python twin.

if JIT_DISABLED:

    def fmaximum(a, b):
        """max(a, b) that returns NaN when either is NaN (Python twin of ``llvm.maximum``)."""
        if a != a or b != b:
            return a + b
        return a if a > b else b

    def fma(a, b, c):
        """a * b + c rounded once (Python twin of ``llvm.fma``)."""
        if not (math.isfinite(a) and math.isfinite(b) and math.isfinite(c)):
            return a * b + c
        return type(a)(float(Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))))

else:

    @intrinsic
    def fmaximum(typingctx, a, b):
        """``llvm.maximum``: NaN-propagating max that LLVM vectorizes as a reduction."""
        if a != b or a not in (types.float32, types.float64):
            return None

        def codegen(context, builder, signature, args):
            ty = context.get_value_type(signature.return_type)
            fnty = llvm_ir.FunctionType(ty, [ty, ty])
            fn = builder.module.declare_intrinsic("llvm.maximum", [ty], fnty)
            return builder.call(fn, args)

        return a(a, b), codegen

    @intrinsic
    def fma(typingctx, a, b, c):
        """``llvm.fma``: a * b + c with a single rounding (exact products, Dekker-style)."""
        if not (a == b == c) or a not in (types.float32, types.float64):
            return None

        def codegen(context, builder, signature, args):
            ty = context.get_value_type(signature.return_type)
            fnty = llvm_ir.FunctionType(ty, [ty, ty, ty])
            fn = builder.module.declare_intrinsic("llvm.fma", [ty], fnty)
            return builder.call(fn, args)

        return a(a, b, c), codegen

    @intrinsic
    def _float_bits(typingctx, v):
        """Reinterpret a float's bits as the signed integer of the same width."""
        if v == types.float32:
            sig = types.int32(v)
        elif v == types.float64:
            sig = types.int64(v)
        else:
            return None

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(signature.return_type))

        return sig, codegen

    @intrinsic
    def _bits_float(typingctx, bits):
        """Reinterpret a signed integer's bits as the float of the same width."""
        if bits == types.int32:
            sig = types.float32(bits)
        elif bits == types.int64:
            sig = types.float64(bits)
        else:
            return None

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(signature.return_type))

        return sig, codegen


# ------------------------------------------------------------------------- the vectorizable exp


def fast_exp(v):
    """e**v; inside a kernel, the branch-free polynomial below (this body is the Python twin)."""
    if v != v:
        return v
    if v > 709.782712893384:
        return math.inf
    return math.exp(v)


def exp_normal(v):
    """e**v for a v whose result is a normal float, v in ``NORMAL_EXP_RANGE[dtype]``.

    Inside a kernel: ``fast_exp`` without its guards, no clamping and 2**k as one factor rather
    than two, since a normal result needs neither. About a quarter fewer vector instructions.
    The caller keeps v in range: outside it the result is wrong, not slow. Within it the result
    equals ``fast_exp``'s bit for bit (scaling by a power of two is exact while the result stays
    normal). This body is the Python twin.
    """
    if v != v:
        return v
    return math.exp(v)


def exp_flushed(v):
    """e**v, flushed to 0 where the result would be a denormal (as a CPU's flush-to-zero mode
    does); for softmax and cross-entropy, whose arguments are <= 0.

    Inside a kernel: ``exp_normal`` of v clamped to its range. The same bits as ``fast_exp`` on
    ``NORMAL_EXP_RANGE``; 0 below it (v < -87.33 in float32, where e**v < 1.2e-38: invisible in
    a probability, and arithmetic on denormals costs a ~100-cycle microcode assist each on
    x86). Above the range (v > 88.37 in float32) it gives inf, where the true value still fits
    below 3.4e38 up to v = 88.72: no softmax argument comes near. This body is the Python twin.
    """
    if v != v:
        return v
    lo, hi = NORMAL_EXP_RANGE[np.dtype(type(v)) if isinstance(v, np.floating) else np.dtype(float)]
    if v < lo:
        return type(v)(0.0)
    return math.inf if v > hi else math.exp(v)


_F32 = np.float32
_F64 = np.float64
# float32: Cephes expf. ln 2 split in two (Cody-Waite) so k * ln2_hi is exact.
_LOG2E_F32 = _F32(1.4426950408889634)
_LN2_HI_F32 = _F32(0.693359375)
_LN2_LO_F32 = _F32(-2.12194440e-4)
_MAGIC_F32 = _F32(12582912.0)  # 1.5 * 2**23: adding it rounds to an integer in the low bits
_MAGIC_BITS_F32 = np.int32(0x4B400000)
_LO_F32 = _F32(-104.0)  # e**-104 < half the smallest denormal: the result is 0
_HI_F32 = _F32(88.72283)  # ln(FLT_MAX)
_P0_F32, _P1_F32, _P2_F32 = _F32(1.9875691500e-4), _F32(1.3981999507e-3), _F32(8.3334519073e-3)
_P3_F32, _P4_F32, _P5_F32 = _F32(4.1665795894e-2), _F32(1.6666665459e-1), _F32(5.0000001201e-1)
_ONE_F32, _ZERO_F32, _INF_F32 = _F32(1.0), _F32(0.0), _F32(np.inf)
# float64: Cephes' Cody-Waite split of ln 2, then Taylor to degree 13 (< 1e-17 on |r| <= ln2/2).
_LOG2E_F64 = _F64(1.4426950408889634)
_LN2_HI_F64 = _F64(6.93145751953125e-1)
_LN2_LO_F64 = _F64(1.42860682030941723212e-6)
_MAGIC_F64 = _F64(6755399441055744.0)  # 1.5 * 2**52
_MAGIC_BITS_F64 = np.int64(0x4338000000000000)
_LO_F64 = _F64(-745.2)  # below the smallest denormal
_HI_F64 = _F64(709.782712893384)  # ln(DBL_MAX)
_T_F64 = tuple(_F64(1.0 / math.factorial(n)) for n in range(14))
(_T0, _T1, _T2, _T3, _T4, _T5, _T6, _T7, _T8, _T9, _T10, _T11, _T12, _T13) = _T_F64
_INF_F64 = _F64(np.inf)
# Where exp_normal is exact: from ln(smallest normal) up to where 2**k still has an exponent,
# k = round(v / ln 2) <= 127 (1023 in float64), that is v < 127.5 ln 2.
NORMAL_EXP_RANGE = {
    np.dtype(np.float32): (-87.33, 88.37),
    np.dtype(np.float64): (-708.39, 709.43),
}
_LO_NORMAL_F32 = _F32(NORMAL_EXP_RANGE[np.dtype(np.float32)][0])
_LO_NORMAL_F64 = _F64(NORMAL_EXP_RANGE[np.dtype(np.float64)][0])


def _exp_parts_f32(w):
    """(p, k) with e**w = p * 2**k, p = e**r in [0.7, 1.42]: the range reduction and polynomial."""
    t = w * _LOG2E_F32 + _MAGIC_F32  # round(w / ln 2) sits in t's low mantissa bits
    kf = t - _MAGIC_F32
    r = (w - kf * _LN2_HI_F32) - kf * _LN2_LO_F32
    p = _P0_F32 * r + _P1_F32
    p = p * r + _P2_F32
    p = p * r + _P3_F32
    p = p * r + _P4_F32
    p = p * r + _P5_F32
    p = p * (r * r) + r + _ONE_F32
    return p, np.int32(_float_bits(t) - _MAGIC_BITS_F32)


def _exp_parts_f64(w):
    """(p, k) with e**w = p * 2**k; see ``_exp_parts_f32``."""
    t = w * _LOG2E_F64 + _MAGIC_F64
    kf = t - _MAGIC_F64
    r = (w - kf * _LN2_HI_F64) - kf * _LN2_LO_F64
    # The tail r^2 (1/2 + r/6 + ...) as a tree (Estrin's scheme: 4 multiply-adds deep rather
    # than Horner's 11, so successive vector iterations overlap in the CPU); the last two
    # steps, which set the rounding of the result, stay Horner.
    r2 = r * r
    r4 = r2 * r2
    h0 = (_T2 + _T3 * r) + (_T4 + _T5 * r) * r2
    h1 = (_T6 + _T7 * r) + (_T8 + _T9 * r) * r2
    h2 = (_T10 + _T11 * r) + (_T12 + _T13 * r) * r2
    h = (h0 + h1 * r4) + h2 * (r4 * r4)
    p = _T0 + r * (_T1 + r * h)
    return p, np.int64(_float_bits(t) - _MAGIC_BITS_F64)


# Inlined into the exp functions below before LLVM sees them, so they compile under those
# functions' flags (no reassociation, see the overloads).
if not JIT_DISABLED:
    _exp_parts_f32 = numba.njit(inline="always")(_exp_parts_f32)
    _exp_parts_f64 = numba.njit(inline="always")(_exp_parts_f64)


def _exp_f32(v):
    w = _LO_F32 if v < _LO_F32 else v  # NaN compares false and flows through
    w = _HI_F32 if w > _HI_F32 else w
    p, k = _exp_parts_f32(w)
    # 2**k as two factors 2**k1 * 2**k2, each a normal float even when 2**k is denormal.
    k1 = np.int32(k >> 1)
    k2 = np.int32(k - k1)
    s1 = _bits_float(np.int32((k1 + 127) << 23))
    s2 = _bits_float(np.int32((k2 + 127) << 23))
    result = (p * s1) * s2
    result = _ZERO_F32 if v < _LO_F32 else result
    return _INF_F32 if v > _HI_F32 else result


def _exp_f64(v):
    w = _LO_F64 if v < _LO_F64 else v
    w = _HI_F64 if w > _HI_F64 else w
    p, k = _exp_parts_f64(w)
    k1 = np.int64(k >> 1)
    k2 = np.int64(k - k1)
    s1 = _bits_float(np.int64((k1 + 1023) << 52))
    s2 = _bits_float(np.int64((k2 + 1023) << 52))
    result = (p * s1) * s2
    result = 0.0 if v < _LO_F64 else result
    return _INF_F64 if v > _HI_F64 else result


def _exp_normal_f32(v):
    p, k = _exp_parts_f32(v)
    return p * _bits_float(np.int32((k + 127) << 23))


def _exp_normal_f64(v):
    p, k = _exp_parts_f64(v)
    return p * _bits_float(np.int64((k + 1023) << 52))


def _exp_flushed_f32(v):
    w = _HI_F32 if v > _HI_F32 else v  # 2**128 reads as inf: an overflow gives inf
    p, k = _exp_parts_f32(_LO_NORMAL_F32 if w < _LO_NORMAL_F32 else w)
    result = p * _bits_float(np.int32((k + 127) << 23))
    return _ZERO_F32 if v < _LO_NORMAL_F32 else result  # NaN compares false and flows through


def _exp_flushed_f64(v):
    w = _HI_F64 if v > _HI_F64 else v
    p, k = _exp_parts_f64(_LO_NORMAL_F64 if w < _LO_NORMAL_F64 else w)
    result = p * _bits_float(np.int64((k + 1023) << 52))
    return 0.0 if v < _LO_NORMAL_F64 else result


def _overload_by_dtype(stub, for_float32, for_float64) -> None:
    """Compile ``stub`` inside kernels as ``for_float32`` or ``for_float64`` by its argument's type.

    contract: the Horner steps become FMAs (faster and more accurate). No reassoc: it would fold
    (x + MAGIC) - MAGIC back to x.
    """

    @overload(stub, jit_options={"fastmath": {"contract", "nsz"}})
    def _by_dtype(v):
        if v == types.float32:
            return for_float32
        if v == types.float64:
            return for_float64
        return None


_overload_by_dtype(fast_exp, _exp_f32, _exp_f64)
_overload_by_dtype(exp_normal, _exp_normal_f32, _exp_normal_f64)
_overload_by_dtype(exp_flushed, _exp_flushed_f32, _exp_flushed_f64)
