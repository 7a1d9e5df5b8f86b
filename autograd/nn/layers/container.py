"""Containers: ``Sequential``, ``ModuleList``, ``ModuleDict``, as in ``torch.nn``.

They exist so that modules held in a list or dict are *registered*: a plain Python list of layers
would hide their parameters from ``parameters()`` and ``state_dict()``. Children of a list are
named ``"0"``, ``"1"``, ..., which gives the ``encoder.layer.0.`` part of BERT's weight names.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from autograd.nn.module import Module, _indent


class ModuleList(Module):
    """A list of modules, registered as children ``"0"``, ``"1"``, ...

    Args:
        modules: the initial modules.

    Returns:
        No ``forward``: iterate over it (``for layer in self.layer: x = layer(x)``).

    Shapes:
        not applicable (a container).
    """

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _index(self, index: int) -> int:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for a ModuleList of {len(self)}")
        return index % len(self)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList(list(self._modules.values())[index])
        return self._modules[str(self._index(index))]

    def __setitem__(self, index: int, module: Module) -> None:
        self.add_module(str(self._index(index)), module)

    def __delitem__(self, index) -> None:
        modules = list(self._modules.values())
        del modules[index if isinstance(index, slice) else self._index(index)]
        # Renumber, so the names stay 0..n-1 (what state_dict keys and torch expect).
        self._modules.clear()
        self.extend(modules)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._modules.clear()
        self.extend(modules)

    def __repr__(self) -> str:
        # As torch: runs of identical children print once, "(0-11): 12 x BertLayer(...)".
        reprs = [repr(module) for module in self]
        if not reprs:
            return f"{type(self).__name__}()"
        runs: list[list] = []  # [first index, last index, repr]
        for i, text in enumerate(reprs):
            if runs and runs[-1][2] == text:
                runs[-1][1] = i
            else:
                runs.append([i, i, text])
        lines = []
        for first, last, text in runs:
            count = last - first + 1
            line = f"({first}): {text}" if count == 1 else f"({first}-{last}): {count} x {text}"
            lines.append(_indent(line, 2))
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


class Sequential(Module):
    """Modules applied one after another: ``Sequential(a, b)(x) == b(a(x))``.

    Args:
        modules: the modules in order, as positional arguments, or one dict name -> module
            (the names become the children's names instead of ``"0"``, ``"1"``, ...).

    Returns:
        ``forward(x)``: the last module's output.

    Shapes:
        whatever the chain maps: x (first module's input) -> (last module's output).
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(modules):
                self.add_module(str(index), module)

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def __getitem__(self, index):
        modules = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(dict(modules[index]))
        if not -len(modules) <= index < len(modules):
            raise IndexError(f"index {index} is out of range for a Sequential of {len(modules)}")
        return modules[index][1]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self


class ModuleDict(Module):
    """A dict of modules, registered as children under their keys (insertion order kept).

    Args:
        modules: the initial name -> module mapping (or iterable of pairs).

    Returns:
        No ``forward``: index it (``self.heads[task](x)``).

    Shapes:
        not applicable (a container).
    """

    def __init__(self, modules: Mapping[str, Module] | Iterable | None = None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def update(self, modules) -> None:
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for key, module in pairs:
            self[key] = module
