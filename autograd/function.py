"""``Function``: one differentiable operation, written on raw arrays.

A subclass defines two static methods::

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):            # arrays in, one array out
            y = get_xp(x).exp(x)
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad_out):    # d(loss)/d(output) in, one gradient per input out
            (y,) = ctx.saved_arrays
            return grad_out * y

and is called as ``Exp.apply(tensor)``. Positional arguments are the differentiable inputs
(tensors, or ``None`` for an absent optional input); keyword arguments are static values (axis,
eps, index arrays) passed to ``forward`` unchanged. ``backward`` returns gradients shaped like
the *output's broadcast*; the engine sums them back to each input's shape in one place
(``engine.unbroadcast``), so no op repeats that logic.
"""

from __future__ import annotations

from autograd.backend import get_xp, is_floating
from autograd.engine import will_record


class Context:
    """What one call of ``forward`` leaves for its ``backward``.

    Attributes:
        saved_arrays: arrays stored by ``save_for_backward``.
        needs_input_grad: one bool per positional input; a backward may skip work for False.
        Any other attribute a forward sets (``ctx.axis = axis``) is kept too.
    """

    def __init__(self, function: type, inputs: tuple, needs_input_grad: tuple[bool, ...]):
        self.function = function
        self.inputs = inputs
        self.needs_input_grad = needs_input_grad
        self.saved_arrays: tuple = ()

    def save_for_backward(self, *arrays) -> None:
        self.saved_arrays = arrays


class Function:
    """Base class of every differentiable op; see the module docstring.

    ``extra_outputs``: how many arrays ``forward`` returns after the differentiable output (then
    it returns a tuple). ``apply`` hands them back as constant tensors, through which no gradient
    flows: attention's probabilities, for looking at them.
    """

    extra_outputs = 0

    @staticmethod
    def forward(ctx: Context, *arrays, **static):
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad_out):
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **static):
        """Run ``forward`` on the inputs' arrays and, in grad mode, record the graph node."""
        from autograd.tensor import Tensor  # tensor.py builds on this module

        check_compatible(cls.__name__, inputs)
        arrays = [t.data if t is not None else None for t in inputs]
        needs_input_grad = tuple(t is not None and t.requires_grad for t in inputs)
        record = will_record(*inputs)
        ctx = Context(cls, inputs if record else (), needs_input_grad)
        result = cls.forward(ctx, *arrays, **static)
        extras = ()
        if cls.extra_outputs:
            result, *extras = result
        out = Tensor(result)
        if record:
            out.requires_grad = True
            out._ctx = ctx
        if cls.extra_outputs:
            return (out, *(None if e is None else Tensor(e) for e in extras))
        return out


def check_compatible(name: str, inputs: tuple) -> None:
    """Inputs of one op (tensors, or None) must share an array module and a floating dtype.

    NumPy would silently promote float32 + float64 to float64; in a float32 training run that
    doubles memory and halves speed without a word, so we refuse and say how to fix it.
    """
    xp_name = float_dtype = None
    for t in inputs:
        if t is None:
            continue
        module = get_xp(t.data).__name__
        if xp_name is None:
            xp_name = module
        elif module != xp_name:
            raise TypeError(
                f"{name}: inputs live in different array modules ({xp_name} and {module}); "
                "move them to one device with .to('cpu') or .to('cuda')"
            )
        if is_floating(t.dtype):
            if float_dtype is None:
                float_dtype = t.dtype
            elif t.dtype != float_dtype:
                raise TypeError(
                    f"{name}: inputs have dtypes {float_dtype} and {t.dtype}; cast one with "
                    f".astype('{float_dtype}') so float64 does not creep into a float32 run"
                )


def check_in_place(name: str, target, inputs: tuple, overwritten: str) -> None:
    """Before an op writes its result over ``target`` (one of ``inputs``, tensors or None):
    ``check_compatible``, no graph recorded (``will_record``: with no version counters, nothing
    could tell a backward that its saved input changed; ``overwritten`` names what would be
    lost), and a floating ``target`` to write into."""
    check_compatible(name, inputs)
    if will_record(*inputs):
        raise RuntimeError(
            f"{name}(inplace=True) would overwrite {overwritten} while a graph is recorded; use "
            "inplace=False there, or run under autograd.no_grad()"
        )
    if not is_floating(target.dtype):
        raise TypeError(
            f"{name}(inplace=True) needs a floating tensor to write into, got {target.dtype}"
        )
