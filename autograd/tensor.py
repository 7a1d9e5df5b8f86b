"""``Tensor``: an array (NumPy or CuPy) plus what autograd needs to differentiate through it."""

from __future__ import annotations

import numpy as np

from autograd import engine
from autograd.backend import get_xp, is_floating

DEFAULT_FLOAT = np.float32  # training default; gradient checks use float64


def _as_array(data, dtype=None):
    """Wrap ``data`` as an array without ever moving it between devices.

    Arrays keep their module (and their dtype unless one is given). Python numbers and lists
    become NumPy arrays: floats as float32 (the training default), integers as int64.
    """
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (np.ndarray, np.generic)) or hasattr(data, "__array_namespace__"):
        xp = get_xp(data)
        array = xp.asarray(data)
        return array if dtype is None else array.astype(dtype, copy=False)
    if type(data).__module__.partition(".")[0] == "cupy":
        return data if dtype is None else data.astype(dtype, copy=False)
    array = np.asarray(data)
    if dtype is not None:
        return array.astype(dtype, copy=False)
    if array.dtype.kind == "f":
        return array.astype(DEFAULT_FLOAT, copy=False)
    if array.dtype.kind in "iu":
        return array.astype(np.int64, copy=False)
    if array.dtype.kind == "b":
        return array
    raise TypeError(f"cannot make a tensor from {type(data).__name__} of dtype {array.dtype}")


class Tensor:
    """An n-d array that can record the operations applied to it and differentiate them.

    Args:
        data: a NumPy or CuPy array (kept as is, never copied to another device), or a Python
            number or nested list (becomes a NumPy array: float32 for floats, int64 for ints).
        requires_grad: accumulate ``d(output)/d(self)`` into ``self.grad`` on ``backward``.
            Only floating tensors may require grad.
        dtype: cast to this dtype first.

    Attributes:
        data: the array. ``grad``: the accumulated gradient (an array of the same shape and
        dtype), or None before the first backward.
    """

    # NumPy defers to our reflected operators (ndarray * Tensor -> Tensor.__rmul__).
    __array_priority__ = 1000

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self.data = _as_array(data, dtype)
        self.grad = None
        self._ctx = None  # the Context of the Function that produced this tensor, if any
        self._retains_grad = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # -------------------------------------------------------------------------- properties
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return int(self.data.size)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self) -> str:
        """``"cpu"`` for NumPy arrays, ``"cuda"`` for CuPy arrays (and for the tests' stand-in for
        them, ``autograd.strict_array.StrictArray``)."""
        return "cpu" if get_xp(self.data).__name__ == "numpy" else "cuda"

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by an op."""
        return self._ctx is None

    @property
    def T(self) -> Tensor:
        """All axes reversed (as NumPy's ``.T``)."""
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self) -> Tensor:
        """The last two axes swapped (a batch of transposed matrices)."""
        return self.swapaxes(-1, -2)

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        where = "" if self.device == "cpu" else ", device='cuda'"
        return f"Tensor({self.data!r}{where}{grad})"

    # Comparisons return plain boolean arrays, so identity is what makes a tensor hashable.
    __hash__ = object.__hash__

    # --------------------------------------------------------------------------- autograd
    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and not is_floating(self.dtype):
            raise TypeError(
                f"only floating tensors can require grad, but this one is {self.dtype}; "
                "integer tensors hold indices and labels, which have no gradient"
            )
        self.requires_grad = requires_grad
        return self

    def backward(self, grad=None) -> None:
        """Accumulate gradients into every leaf this tensor depends on (see ``engine.backward``)."""
        engine.backward(self, grad)

    def retain_grad(self) -> Tensor:
        """Keep ``.grad`` on this non-leaf tensor too (leaves always keep theirs)."""
        self._retains_grad = True
        return self

    def zero_grad(self) -> None:
        self.grad = None

    def detach(self) -> Tensor:
        """The same array, cut from the graph."""
        return Tensor(self.data)

    # ------------------------------------------------------------------------ conversion
    def numpy(self) -> np.ndarray:
        """The array as NumPy. A tensor on the GPU must be moved first: ``.to('cpu').numpy()``."""
        if self.device != "cpu":
            raise TypeError("this tensor lives on the GPU; call .to('cpu') before .numpy()")
        return self.data

    def item(self):
        if self.size != 1:
            raise ValueError(
                f"item() needs a tensor with one element, this one has shape {self.shape}"
            )
        return self.data.reshape(()).item()

    def tolist(self):
        return self.data.tolist()

    def to(self, device: str) -> Tensor:
        """A copy on ``"cpu"`` (NumPy) or ``"cuda"`` (CuPy); the explicit way between devices.

        Differentiable: the gradient flows back to the original device.
        """
        from autograd.ops.shape import to_device

        return to_device(self, device)

    def astype(self, dtype) -> Tensor:
        """Cast to ``dtype`` (differentiable between floating dtypes)."""
        from autograd.ops.elementwise import cast

        return cast(self, dtype)

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    # -------------------------------------------------------------------------- operators
    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.sub(self, other)

    def __rsub__(self, other):
        return ops.sub(other, self)

    def __mul__(self, other):
        return ops.mul(self, other)

    def __rmul__(self, other):
        return ops.mul(other, self)

    def __truediv__(self, other):
        return ops.div(self, other)

    def __rtruediv__(self, other):
        return ops.div(other, self)

    def __pow__(self, exponent):
        return ops.pow(self, exponent)

    def __rpow__(self, base):
        return ops.pow(base, self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __neg__(self):
        return ops.neg(self)

    def __getitem__(self, index):
        return ops.getitem(self, index)

    # Comparisons are not differentiable: they return plain boolean arrays.
    def __lt__(self, other):
        return self.data < _raw(other)

    def __le__(self, other):
        return self.data <= _raw(other)

    def __gt__(self, other):
        return self.data > _raw(other)

    def __ge__(self, other):
        return self.data >= _raw(other)

    def __eq__(self, other):
        return self.data == _raw(other)

    def __ne__(self, other):
        return self.data != _raw(other)

    # ---------------------------------------------------------------------------- methods
    def exp(self):
        return ops.exp(self)

    def log(self):
        return ops.log(self)

    def sqrt(self):
        return ops.sqrt(self)

    def tanh(self):
        return ops.tanh(self)

    def sigmoid(self):
        return ops.sigmoid(self)

    def relu(self):
        return ops.relu(self)

    def gelu(self, approximate: str = "none"):
        return ops.gelu(self, approximate=approximate)

    def sum(self, axis=None, keepdims: bool = False):
        return ops.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims: bool = False):
        return ops.mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims: bool = False):
        return ops.max(self, axis=axis, keepdims=keepdims)

    def var(self, axis=None, keepdims: bool = False, ddof: int = 0):
        return ops.var(self, axis=axis, keepdims=keepdims, ddof=ddof)

    def argmax(self, axis=None):
        """Indices of the maxima (a plain array: not differentiable)."""
        return self.data.argmax(axis=axis)

    def reshape(self, *shape):
        return ops.reshape(self, *shape)

    def view(self, *shape):
        """Alias of ``reshape`` for PyTorch users."""
        return ops.reshape(self, *shape)

    def flatten(self, start_axis: int = 0):
        return ops.reshape(self, *self.shape[:start_axis], -1)

    def permute(self, *axes):
        return ops.permute(self, *axes)

    def transpose(self, axis0: int | None = None, axis1: int | None = None):
        """Swap two axes (PyTorch's meaning); with no arguments, reverse all axes."""
        if axis0 is None and axis1 is None:
            return self.T
        return ops.swapaxes(self, axis0, axis1)

    def swapaxes(self, axis0: int, axis1: int):
        return ops.swapaxes(self, axis0, axis1)

    def unsqueeze(self, axis: int):
        return ops.unsqueeze(self, axis)

    def squeeze(self, axis=None):
        return ops.squeeze(self, axis)

    def broadcast_to(self, shape):
        return ops.broadcast_to(self, shape)

    def expand(self, *shape):
        """PyTorch's name for ``broadcast_to``."""
        return ops.broadcast_to(self, shape[0] if len(shape) == 1 else shape)

    def softmax(self, axis: int = -1):
        return ops.softmax(self, axis=axis)

    def log_softmax(self, axis: int = -1):
        return ops.log_softmax(self, axis=axis)

    def masked_fill(self, mask, value: float):
        return ops.masked_fill(self, mask, value)


def _raw(value):
    return value.data if isinstance(value, Tensor) else value


from autograd import ops  # noqa: E402  (the ops build on Tensor, so they come after it)
