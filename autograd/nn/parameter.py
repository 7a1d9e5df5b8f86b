"""``Parameter``: a tensor that a ``Module`` owns and an optimizer updates."""

from __future__ import annotations

from autograd.tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that requires grad by default and registers itself on a ``Module``.

    Assigning a ``Parameter`` to a module attribute (``self.weight = Parameter(...)``) is what
    makes it appear in ``module.parameters()`` and ``module.state_dict()``; a plain ``Tensor``
    assigned the same way is just an attribute. Ops on a parameter return ordinary tensors.

    Args:
        data: an array, a ``Tensor`` (its array is shared, not copied, as in PyTorch), or a
            Python number or nested list (becomes float32).
        requires_grad: False freezes the parameter (it stays in ``parameters()``, but gets no
            gradient, so optimizers skip it).
    """

    def __init__(self, data, requires_grad: bool = True):
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
