"""``Module``: the base class of every layer and model, as ``torch.nn.Module``.

A module owns three ordered registries, filled by plain attribute assignment:

- ``_parameters``: ``Parameter`` objects (what the optimizer updates);
- ``_buffers``: arrays that are state but not parameters (BERT's ``position_ids``), registered
  with ``register_buffer``;
- ``_modules``: sub-modules, whose parameters and buffers are reached recursively under dotted
  names (``encoder.layer.0.attention.self.query.weight``).

Those names are the keys of ``state_dict``, which is how weights move between this library,
checkpoints on disk and Hugging Face models.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from autograd.backend import get_xp, is_floating
from autograd.nn.parameter import Parameter
from autograd.ops.shape import _move
from autograd.tensor import Tensor

_DEVICES = ("cpu", "cuda")


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` found: model keys the checkpoint lacks, and the reverse."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of layers and models: subclass it, assign parameters and sub-modules in
    ``__init__``, and compute the output in ``forward``::

        class TwoLayer(Module):
            def __init__(self):
                super().__init__()
                self.hidden = Linear(4, 8)
                self.out = Linear(8, 1)

            def forward(self, x):
                return self.out(self.hidden(x).relu())

    Attributes:
        training: True in training mode (dropout active), False after ``eval()``.
    """

    def __init__(self):
        # object.__setattr__: our own __setattr__ needs these registries to exist already.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", {})

    def forward(self, *args, **kwargs):
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------------ registration
    def __setattr__(self, name: str, value) -> None:
        initialized = "_parameters" in self.__dict__
        if not initialized and isinstance(value, (Parameter, Module)):
            raise AttributeError(
                f"cannot assign {type(value).__name__} '{name}' before Module.__init__() call; "
                "call super().__init__() first in your __init__"
            )
        if isinstance(value, Parameter):
            self._forget(name, keep=self._parameters)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._forget(name, keep=self._modules)
            self._modules[name] = value
        elif initialized and name in self._parameters:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as parameter '{name}': wrap it in "
                    "autograd.nn.Parameter (or assign None)"
                )
            self._parameters[name] = None
        elif initialized and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module '{name}'")
            self._modules[name] = None
        elif initialized and name in self._buffers:
            self._buffers[name] = _check_buffer(name, value)
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str):
        # Only called when normal lookup fails: the registered things live in the registries.
        # Reading through __dict__ avoids infinite recursion while unpickling or deep-copying,
        # when the registries do not exist yet.
        for registry in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(registry)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def _forget(self, name: str, keep: dict | None = None) -> None:
        """Remove ``name`` from the instance dict and every registry but ``keep``, before
        registering it again (in ``keep`` it is overwritten, so it keeps its place in order)."""
        self.__dict__.pop(name, None)
        for registry in (self._parameters, self._buffers, self._modules):
            if registry is not keep:
                registry.pop(name, None)
        self._non_persistent_buffers.discard(name)

    def _check_new_name(self, kind: str, name: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot register a {kind} before Module.__init__() call")
        if not isinstance(name, str) or not name:
            raise KeyError(f"{kind} name must be a non-empty string, got {name!r}")
        if "." in name:
            raise KeyError(
                f"{kind} name can't contain '.', got {name!r} (dots separate submodules)"
            )
        registered = name in self._parameters or name in self._buffers or name in self._modules
        if hasattr(self, name) and not registered:
            raise KeyError(f"attribute '{name}' already exists on {type(self).__name__}")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add ``param`` (or None: a declared but absent parameter, such as a disabled bias)."""
        self._check_new_name("parameter", name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot register {type(param).__name__} as parameter '{name}'")
        self._forget(name, keep=self._parameters)
        self._parameters[name] = param

    def register_buffer(self, name: str, array, persistent: bool = True) -> None:
        """Add an array that is module state but not a parameter (never updated by optimizers).

        Args:
            name: the attribute name, also its ``state_dict`` key.
            array: a NumPy/CuPy array, or None.
            persistent: False keeps it out of ``state_dict`` (state rebuilt at construction).
        """
        self._check_new_name("buffer", name)
        array = _check_buffer(name, array)
        self._forget(name, keep=self._buffers)
        self._buffers[name] = array
        if not persistent:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module under ``name`` (what ``self.name = module`` does)."""
        self._check_new_name("module", name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._forget(name, keep=self._modules)
        self._modules[name] = module

    register_module = add_module

    # --------------------------------------------------------------------------- traversal
    def named_modules(
        self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True
    ):
        """Yield ``(dotted_name, module)`` for this module (name ``prefix``) and every descendant,
        parents before children; a module reachable twice is yielded once."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            child_prefix = f"{prefix}.{name}" if prefix else name
            yield from module.named_modules(memo, child_prefix, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry: str, prefix: str, recurse: bool, remove_duplicate: bool):
        seen: set[int] = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
        for module_prefix, module in modules if recurse else [(prefix, self)]:
            for name, value in getattr(module, registry).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ):
        """Yield ``(dotted_name, parameter)``; a parameter shared by two layers (tied embeddings)
        comes once, under the first name that reaches it."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True):
        for _, array in self.named_buffers(recurse=recurse):
            yield array

    def num_parameters(self, only_trainable: bool = False) -> int:
        """How many numbers the parameters hold (shared ones counted once)."""
        return sum(p.size for p in self.parameters() if p.requires_grad or not only_trainable)

    def apply(self, fn) -> Module:
        """Call ``fn(module)`` on every sub-module, children first, then on self (weight init)."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # ----------------------------------------------------------------------------- state
    def state_dict(self, prefix: str = "") -> dict:
        """Every parameter and persistent buffer by dotted name, as the arrays themselves.

        Not copies: saving them (or copying) is the caller's choice. As in PyTorch, a tied
        parameter appears under each name that reaches it, and a module's own entries come
        before its children's.
        """
        result: dict = {}
        for name, param in self._parameters.items():
            if param is not None:
                result[prefix + name] = param.data
        for name, array in self._buffers.items():
            if array is not None and name not in self._non_persistent_buffers:
                result[prefix + name] = array
        for name, module in self._modules.items():
            if module is not None:
                result.update(module.state_dict(prefix=f"{prefix}{name}."))
        return result

    def load_state_dict(self, state_dict: dict, strict: bool = True) -> IncompatibleKeys:
        """Copy ``state_dict``'s arrays into this module's parameters and buffers, in place.

        Everything is checked before anything is copied, so a failed load leaves the module as
        it was. Values are cast to each parameter's dtype and moved to its device.

        Args:
            state_dict: name -> array (NumPy, CuPy, a ``Tensor``, or anything ``np.asarray``
                takes), as made by ``state_dict()``.
            strict: also fail on keys the model has and the checkpoint lacks (missing) and the
                reverse (unexpected). Shape mismatches always fail.

        Returns:
            ``IncompatibleKeys(missing_keys, unexpected_keys)``.

        Raises:
            ValueError: listing every missing, unexpected and mis-shaped key
                (``"fc.weight: checkpoint (3, 4) vs model (4, 3)"``).
        """
        targets = self.state_dict()
        missing = [name for name in targets if name not in state_dict]
        unexpected = [name for name in state_dict if name not in targets]
        values, misshaped = {}, []
        for name, target in targets.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            value = value.data if isinstance(value, Tensor) else value
            if not hasattr(value, "shape"):
                value = np.asarray(value)
            if tuple(value.shape) != tuple(target.shape):
                misshaped.append(
                    f"{name}: checkpoint {tuple(value.shape)} vs model {tuple(target.shape)}"
                )
            values[name] = value
        problems = []
        if strict and missing:
            problems.append(
                "missing keys (in the model, not the checkpoint): " + ", ".join(missing)
            )
        if strict and unexpected:
            problems.append(
                "unexpected keys (in the checkpoint, not the model): " + ", ".join(unexpected)
            )
        if misshaped:
            problems.append("mis-shaped keys: " + "; ".join(misshaped))
        if problems:
            raise ValueError(
                f"load_state_dict into {type(self).__name__} failed, nothing was loaded:\n  "
                + "\n  ".join(problems)
            )
        for name, value in values.items():
            target = targets[name]
            if isinstance(target, np.ndarray) and _on_device(value):
                value = value.get()  # NumPy refuses to convert a GPU array implicitly
            target[...] = get_xp(target).asarray(value, dtype=target.dtype)
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout on) on this module and every descendant; returns self."""
        if not isinstance(mode, bool):
            raise ValueError(f"training mode is expected to be a bool, got {mode!r}")
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        """Evaluation mode (dropout off); the same as ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (False) or unfreeze every parameter; returns self."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (None), or zero it in place if ``set_to_none=False``."""
        for param in self.parameters():
            if set_to_none:
                param.grad = None
            elif param.grad is not None:
                param.grad[...] = 0

    # ------------------------------------------------------------------- dtype and device
    def _convert(self, fn, floating_buffers_only: bool) -> Module:
        # Replace the arrays inside the existing Parameter objects, so references to them (an
        # optimizer's param groups, tied weights) stay valid.
        for param in self.parameters():
            param.data = fn(param.data)
            if param.grad is not None:
                param.grad = fn(param.grad)
        for module in self.modules():
            for name, array in module._buffers.items():
                if array is not None and (is_floating(array.dtype) or not floating_buffers_only):
                    module._buffers[name] = fn(array)
        return self

    def astype(self, dtype) -> Module:
        """Cast every parameter and floating buffer to the floating ``dtype``, in place; returns
        self (``model.double()`` before a gradient check)."""
        dtype = np.dtype(dtype)
        if not is_floating(dtype):
            raise TypeError(f"Module.astype only takes floating dtypes, got {dtype}")
        return self._convert(lambda a: a.astype(dtype, copy=False), floating_buffers_only=True)

    def float(self) -> Module:
        return self.astype(np.float32)

    def double(self) -> Module:
        return self.astype(np.float64)

    def to(self, device_or_dtype) -> Module:
        """Move every parameter and buffer to ``"cpu"`` or ``"cuda"`` (or cast, given a dtype).

        Make the optimizer after moving the model: its state arrays are not moved.
        """
        if isinstance(device_or_dtype, str) and device_or_dtype in _DEVICES:
            try:
                return self._convert(lambda a: _move(a, device_or_dtype), False)
            except ImportError:
                raise RuntimeError(
                    "Module.to('cuda') needs CuPy and a GPU (pip install cupy-cuda12x)"
                ) from None
        try:
            dtype = np.dtype(device_or_dtype)
        except TypeError:
            raise ValueError(
                f"Module.to takes 'cpu', 'cuda' or a floating dtype, got {device_or_dtype!r}"
            ) from None
        return self.astype(dtype)

    # ------------------------------------------------------------------------------ repr
    def extra_repr(self) -> str:
        """The text inside this module's parentheses in ``repr`` (layers override it)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [
            f"({name}): {_indent(repr(module), 2)}" for name, module in self._modules.items()
        ]
        lines = extra_lines + child_lines
        body = ""
        if len(extra_lines) == 1 and not child_lines:
            body = extra_lines[0]
        elif lines:
            body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{type(self).__name__}({body})"


def _indent(text: str, spaces: int) -> str:
    """Indent every line but the first (the first follows ``(name): `` on its line)."""
    first, *rest = text.split("\n")
    return "\n".join([first] + [" " * spaces + line for line in rest])


def _on_device(array) -> bool:
    """A device array (CuPy, or a stand-in with CuPy's explicit ``.get()`` back to the host)."""
    return not isinstance(array, (np.ndarray, np.generic)) and hasattr(array, "get")


def _check_buffer(name: str, array):
    if array is None:
        return None
    if isinstance(array, Tensor):
        raise TypeError(
            f"buffer '{name}' must be an array, not a Tensor (buffers are not differentiated); "
            "pass tensor.data"
        )
    if not hasattr(array, "shape") or not hasattr(array, "dtype"):
        raise TypeError(
            f"buffer '{name}' must be a NumPy or CuPy array, got {type(array).__name__}"
        )
    return array
