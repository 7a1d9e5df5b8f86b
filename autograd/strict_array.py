"""``StrictArray``: a stand-in for a GPU array, to prove code device-safe on a machine without one.

Code that passes every test on NumPy can still break on the GPU wherever it quietly assumes NumPy:
``np.asarray(x)``, a dropout mask drawn with ``np.random`` and multiplied into a device array, an
index array built with ``np.arange``. CuPy refuses all of these, but only where a GPU exists.
A ``StrictArray`` wraps a NumPy array and refuses them the same way, so the bugs show up in an
ordinary CPU test run::

    import numpy as np
    import autograd as ag
    from autograd.strict_array import StrictArray

    for p in model.parameters():           # put a model "on the device"
        p.data = StrictArray(p.data.copy())
    x = ag.Tensor(StrictArray(np.ones((2, 8), np.float32)))
    model(x).sum().backward()               # TypeError wherever the model assumes NumPy
    grad = model.weight.grad.get()          # the explicit way back to NumPy, as CuPy's .get()

Refused, with a TypeError (as CuPy does):

- implicit conversion: ``np.asarray(x)``, ``np.array(x)`` (``__array__`` raises; there is no
  ``__array_interface__`` and no buffer protocol);
- a NumPy array mixed in: as an operand (``x + ndarray``, ``ndarray * x``), an index
  (``x[ndarray]``), an assigned value (``x[i] = ndarray``), or an argument of a namespace
  function (``xp.where(ndarray_mask, x, 0)``).

Also refused, *more strictly than CuPy*: NumPy functions and ufuncs applied to it (``np.sum(x)``,
``np.exp(x)``). CuPy dispatches many of them to itself, but not all, so device-safe code takes
its array module from the array (``get_xp(x).sum(x)``), and here that is enforced.

Allowed, as CuPy allows them: ``float(x)``, ``int(x)``, ``bool(x)``, ``x.item()`` on one-element
arrays (a device sync on a GPU), ``x.tolist()``, Python and NumPy *scalars* as operands, and the
two explicit transfers: ``x.get()`` (device to host, a copy) and ``xp.asarray(ndarray)`` (host to
device, a copy). Reductions and integer indexing return 0-d arrays, never NumPy scalars, as CuPy's.

How the engine sees it: ``get_xp(x)`` returns ``namespace`` (this module's stand-in for ``cupy``),
the kernel registry gives it the plain reference kernels, and a ``Tensor`` holding one reports
``device == "cuda"``: to the engine it *is* a device array, so the GPU-only branches run
(``Tensor.numpy()`` refuses; ``.to("cpu")`` transfers with ``.get()`` and sends the gradient back
with ``xp.asarray``). ``Module.to("cuda")`` still means CuPy; move parameters as shown above.
Dtypes are NumPy's own dtype objects (as in CuPy), so ``x.dtype.type(0.5)`` works.
"""

from __future__ import annotations

import numbers
import types

import numpy as np

_MIXING = (
    "mixes a NumPy array into a device-array computation; transfer it explicitly with "
    "xp.asarray(array) (host to device) or .get() (device to host)"
)


def _unwrap(value, where: str):
    """The NumPy array inside ``value`` (recursing into lists and tuples); refuses NumPy arrays."""
    if isinstance(value, StrictArray):
        return value._array
    if isinstance(value, np.ndarray):
        raise TypeError(f"{where} {_MIXING}")
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, where) for v in value)
    return value  # Python and NumPy scalars, dtypes, slices, None, Ellipsis, strings


def _wrap(value):
    """NumPy results back as StrictArrays (scalars as 0-d arrays, as CuPy returns them)."""
    if isinstance(value, (np.ndarray, np.generic)):
        return StrictArray(np.asarray(value))
    if isinstance(value, (list, tuple)):
        return type(value)(_wrap(v) for v in value)
    return value


def _method(name: str):
    """An ndarray method, on the wrapped array."""

    def method(self, *args, **kwargs):
        where = f"StrictArray.{name}()"
        kwargs = {key: _unwrap(v, where) for key, v in kwargs.items()}
        return _wrap(getattr(self._array, name)(*_unwrap(args, where), **kwargs))

    method.__name__ = name
    return method


def _operator(dunder: str):
    """A binary operator: StrictArrays and scalars are fine, a NumPy array raises TypeError."""

    def operator(self, other):
        if not isinstance(other, (StrictArray, np.ndarray, np.generic, numbers.Number)):
            return NotImplemented  # e.g. a Tensor, whose reflected operator takes over
        result = getattr(self._array, dunder)(_unwrap(other, f"StrictArray {dunder}"))
        if dunder.startswith("__i"):  # in place: the wrapped array itself was updated
            return self
        return _wrap(result)

    operator.__name__ = dunder
    return operator


def _scalar_of(array: StrictArray, kind: str):
    if array.size != 1:
        raise TypeError(f"only one-element arrays can be converted to Python {kind}s")
    return array._array.item()


class StrictArray:
    """A NumPy array dressed as a device array; see the module docstring for what it refuses.

    Args:
        array: the ``numpy.ndarray`` to wrap. It is *not* copied (copy first if the original must
            stay untouched by in-place updates); ``namespace.asarray(array)`` copies.
    """

    __slots__ = ("_array",)
    __array_ufunc__ = None  # NumPy ufuncs and ndarray operators defer to us, and we refuse
    __hash__ = None  # mutable, like ndarray

    def __init__(self, array):
        if not isinstance(array, np.ndarray):
            raise TypeError(
                f"StrictArray wraps a numpy.ndarray, got {type(array).__name__}; "
                "use autograd.strict_array.namespace.asarray(...) for other data"
            )
        self._array = array

    # ------------------------------------------------------------------ array protocols
    def __array_namespace__(self, *, api_version=None):
        return namespace

    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            "Implicit conversion to a NumPy array is not allowed. "
            "Please use `.get()` to construct a NumPy array explicitly."
        )

    def __array_function__(self, func, relevant_types, args, kwargs):
        name = getattr(func, "__name__", "function")
        raise TypeError(
            f"numpy.{name} was called on a device array; take the array module from the array "
            f"instead: get_xp(x).{name}(...)"
        )

    def get(self) -> np.ndarray:
        """A NumPy copy: the explicit device-to-host transfer (CuPy's ``ndarray.get``)."""
        return self._array.copy()

    # ----------------------------------------------------------------------- properties
    shape = property(lambda self: self._array.shape)
    ndim = property(lambda self: self._array.ndim)
    size = property(lambda self: self._array.size)
    dtype = property(lambda self: self._array.dtype)
    nbytes = property(lambda self: self._array.nbytes)
    itemsize = property(lambda self: self._array.itemsize)
    T = property(lambda self: StrictArray(self._array.T))
    # No ``mT``: NumPy 2 arrays have it, CuPy arrays do not (use xp.swapaxes(x, -1, -2)).

    # ---------------------------------------------------------- methods, as ndarray's
    reshape = _method("reshape")
    astype = _method("astype")
    copy = _method("copy")
    squeeze = _method("squeeze")
    transpose = _method("transpose")
    swapaxes = _method("swapaxes")
    ravel = _method("ravel")
    flatten = _method("flatten")
    fill = _method("fill")
    sum = _method("sum")
    mean = _method("mean")
    var = _method("var")
    std = _method("std")
    max = _method("max")
    min = _method("min")
    argmax = _method("argmax")
    argmin = _method("argmin")
    all = _method("all")
    any = _method("any")
    cumsum = _method("cumsum")
    clip = _method("clip")
    tolist = _method("tolist")  # an explicit transfer to Python lists, as in CuPy

    # --------------------------------------------------------------- scalars, iteration
    def item(self):
        if self.size != 1:
            raise ValueError("can only convert an array of size 1 to a Python scalar")
        return self._array.item()

    def __float__(self) -> float:
        return float(_scalar_of(self, "float"))

    def __int__(self) -> int:
        return int(_scalar_of(self, "int"))

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(
                f"the truth value of an array with {self.size} elements is ambiguous; "
                "use .any() or .all()"
            )
        return bool(self._array.item())

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d array")
        return len(self._array)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (StrictArray(row) for row in self._array)

    def __repr__(self) -> str:
        body = np.array2string(self._array, separator=", ", prefix="StrictArray(")
        return f"StrictArray({body}, dtype={self.dtype})"

    # ------------------------------------------------------------------------- indexing
    def __getitem__(self, index):
        return _wrap(self._array[_unwrap(index, "an index")])

    def __setitem__(self, index, value) -> None:
        self._array[_unwrap(index, "an index")] = _unwrap(value, "an assigned value")

    # ------------------------------------------------------------------- unary operators
    def __neg__(self):
        return _wrap(-self._array)  # 0-d NumPy gives scalars: rewrap

    def __pos__(self):
        return _wrap(+self._array)

    def __abs__(self):
        return _wrap(abs(self._array))

    def __invert__(self):
        return _wrap(~self._array)


# Binary operators, reflected and in place, and comparisons: all through ``_operator``.
for _name in "add sub mul truediv floordiv mod pow matmul and or xor".split():
    for _dunder in (f"__{_name}__", f"__r{_name}__", f"__i{_name}__"):
        setattr(StrictArray, _dunder, _operator(_dunder))
for _dunder in ("__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"):
    setattr(StrictArray, _dunder, _operator(_dunder))


# --------------------------------------------------------------------------- the namespace

# NumPy functions offered on StrictArrays (arguments unwrapped, results wrapped); anything else
# is missing on purpose, so code reaching for it fails here as it would on a module without it.
_FUNCTIONS = """
    abs absolute exp expm1 log log1p sqrt square tanh sin cos sign floor ceil round negative
    maximum minimum multiply subtract divide power where clip isfinite isnan isinf
    logical_and logical_or logical_not equal not_equal less less_equal greater greater_equal
    sum mean var std max min amax amin argmax argmin prod cumsum all any count_nonzero
    matmul dot einsum outer tensordot swapaxes transpose moveaxis broadcast_to broadcast_arrays
    expand_dims squeeze reshape ravel concatenate stack split flip repeat tile tril triu
    take take_along_axis argsort sort nonzero allclose isclose array_equal
    zeros ones empty full arange eye linspace zeros_like ones_like empty_like full_like
    result_type can_cast
""".split()


def _function(name: str, module=np):
    numpy_function = getattr(module, name)

    def function(*args, **kwargs):
        where = f"xp.{name}()"
        kwargs = {key: _unwrap(v, where) for key, v in kwargs.items()}
        return _wrap(numpy_function(*_unwrap(args, where), **kwargs))

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"``{module.__name__}.{name}`` on StrictArrays."
    return function


class _Add:
    """``xp.add``, with ``xp.add.at``: the unbuffered scatter-add (CuPy >= 12 has it too)."""

    __call__ = staticmethod(_function("add"))

    def at(self, target, indices, values=None) -> None:
        if not isinstance(target, StrictArray):
            raise TypeError(f"xp.add.at needs a StrictArray to update, got {type(target).__name__}")
        np.add.at(target._array, _unwrap(indices, "xp.add.at()"), _unwrap(values, "xp.add.at()"))


def asarray(obj, dtype=None, copy=None) -> StrictArray:
    """A StrictArray of ``obj``. A NumPy array is copied: the explicit host-to-device transfer."""
    if isinstance(obj, StrictArray):
        if copy:
            return StrictArray(obj._array.astype(dtype or obj.dtype, copy=True))
        return obj if dtype is None or obj.dtype == dtype else obj.astype(dtype)
    if isinstance(obj, (np.ndarray, np.generic)):
        return StrictArray(np.array(obj, dtype=dtype, copy=True))
    return StrictArray(np.array(_unwrap(obj, "xp.asarray()"), dtype=dtype))


namespace = types.ModuleType(
    "autograd.strict_array", "The array module of StrictArrays (what ``get_xp`` returns for one)."
)
namespace.__dict__.update({name: _function(name) for name in _FUNCTIONS})
# Dtypes, dtype helpers and constants are NumPy's own objects, as in CuPy: metadata, not data.
_NUMPY_OWN = "dtype finfo iinfo float16 float32 float64 int8 int32 int64 uint8 bool_ nan inf pi e"
namespace.__dict__.update({name: getattr(np, name) for name in _NUMPY_OWN.split()})
namespace.__dict__.update(
    asarray=asarray,
    array=lambda obj, dtype=None: asarray(obj, dtype=dtype, copy=True),
    add=_Add(),
    linalg=types.SimpleNamespace(norm=_function("norm", np.linalg)),
    ndarray=StrictArray,
    bool=np.bool_,
    newaxis=None,
)

__all__ = ["StrictArray", "asarray", "namespace"]
