"""A strict numerical gradient checker.

``gradcheck`` compares the gradients autograd computes with central finite differences of a
*random projection* of the output, ``L(x) = sum(f(x) * R)`` with R drawn from a normal
distribution. The projection matters: with a plain ``f(x).sum()`` the gradient of softmax is zero
whatever the backward does (its outputs always sum to 1), and LayerNorm's is nearly so, so a
broken backward would pass. With a random R every output element weighs differently, and a
wrong gradient shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autograd.backend import get_xp
from autograd.engine import no_grad
from autograd.tensor import Tensor


class GradcheckError(AssertionError):
    """Raised when analytic and numerical gradients disagree; the message lists the worst ones."""


@dataclass
class Mismatch:
    input_index: int
    element: tuple[int, ...]
    analytic: float
    numeric: float

    @property
    def error(self) -> float:
        return abs(self.analytic - self.numeric)

    def __str__(self) -> str:
        return (
            f"input {self.input_index} at {self.element}: analytic {self.analytic:.10g}, "
            f"numeric {self.numeric:.10g}, |difference| {self.error:.3g}"
        )


def gradcheck(
    fn,
    *inputs: Tensor,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    max_elements: int = 2000,
    seed: int = 0,
) -> bool:
    """Check ``fn``'s gradients w.r.t. every input that requires grad.

    Args:
        fn: maps the input tensors to one output tensor; must be deterministic (reseed any
            dropout generator inside it).
        inputs: float64 tensors; those with ``requires_grad=True`` are checked.
        eps: the finite-difference step: d L / dx_i ~ (L(x + eps e_i) - L(x - eps e_i)) / (2 eps).
        atol, rtol: element i passes when |analytic - numeric| <= atol + rtol * |numeric|.
        max_elements: an input with more elements has a random sample of this many checked.
        seed: seeds the cotangent R and the sample.

    Returns:
        True when every checked element passes; False (or GradcheckError, by default) otherwise.
    """
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True, so there is nothing to check")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(
                f"gradcheck: input {i} is {inputs[i].dtype}; finite differences need float64 "
                "(cast with .double())"
            )
    rng = np.random.default_rng(seed)

    for i in checked:
        inputs[i].grad = None
    output = fn(*inputs)
    if not isinstance(output, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(output).__name__}")
    xp = get_xp(output.data)
    cotangent = xp.asarray(rng.standard_normal(output.shape))
    if output.requires_grad:
        output.backward(cotangent)

    def projected(*args) -> float:
        with no_grad():
            return float(xp.sum(fn(*args).data * cotangent))

    mismatches: list[Mismatch] = []
    for i in checked:
        tensor = inputs[i]
        analytic = tensor.grad if tensor.grad is not None else xp.zeros_like(tensor.data)
        flat_count = tensor.size
        if flat_count <= max_elements:
            positions = range(flat_count)
        else:
            positions = rng.choice(flat_count, size=max_elements, replace=False)
        for flat in positions:
            element = np.unravel_index(int(flat), tensor.shape)
            original = tensor.data[element].item()
            tensor.data[element] = original + eps
            plus = projected(*inputs)
            tensor.data[element] = original - eps
            minus = projected(*inputs)
            tensor.data[element] = original
            numeric = (plus - minus) / (2 * eps)
            value = float(analytic[element])
            if not abs(value - numeric) <= atol + rtol * abs(numeric):  # NaN fails too
                mismatches.append(Mismatch(i, tuple(int(e) for e in element), value, numeric))

    if not mismatches:
        return True
    if not raise_exception:
        return False
    worst = sorted(mismatches, key=lambda m: -m.error if m.error == m.error else -np.inf)[:10]
    lines = "\n  ".join(str(m) for m in worst)
    raise GradcheckError(
        f"gradcheck failed: {len(mismatches)} elements differ beyond atol={atol}, rtol={rtol}; "
        f"the worst:\n  {lines}"
    )
