"""``assert_matches_torch``: one computation, the same float64 inputs, through autograd and torch.

In the manner of tinygrad's ``helper_test_op``: a parity test is one line naming our function,
torch's function and the inputs, and it checks the forward output and every input's gradient::

    assert_matches_torch(lambda x: x.tanh(), torch.tanh, rng.standard_normal((3, 4)))

Every comparison also records its largest absolute difference, so a run can print how close to
torch we actually are (``difference_summary``, shown by this directory's conftest).
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

import autograd as ag

# Importing this module from a test module skips that whole module when torch is absent (the
# reason shows in pytest's summary), so the parity tests never fail for want of the ref extra.
torch = pytest.importorskip(
    "torch", reason="the parity tests need PyTorch: install the ref extra with `make test-ref`"
)

# (test name, "forward" | "grad") -> the largest |ours - torch| seen
_largest: dict[tuple[str, str], float] = defaultdict(float)


def assert_arrays_match(actual, expected, *, atol: float, rtol: float, what: str, kind: str):
    """``actual`` equals ``expected`` elementwise within ``atol + rtol * |expected|``.

    NaN matches NaN (both libraries give NaN for the same undefined results). The failure message
    names ``what`` differs, where, by how much, and how many elements are out of tolerance.
    ``kind`` ("forward", "grad", "param", "lr") only labels the recorded difference.

    Returns:
        The largest absolute difference (0.0 for arrays that match exactly).
    """
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (
        f"{what}: ours has shape {actual.shape}, torch's {expected.shape}"
    )
    actual, expected = actual.astype(np.float64), expected.astype(np.float64)
    with np.errstate(invalid="ignore"):  # inf - inf, compared below as equal or not
        same = (actual == expected) | (np.isnan(actual) & np.isnan(expected))
        error = np.where(same, 0.0, np.abs(actual - expected))
    error = np.where(np.isnan(error), np.inf, error)  # NaN on one side only: infinitely wrong
    largest = float(error.max()) if error.size else 0.0
    _largest[(_current_test(), kind)] = max(_largest[(_current_test(), kind)], largest)
    scale = np.where(np.isfinite(expected), np.abs(expected), 0.0)
    beyond = error > atol + rtol * scale
    if beyond.any():
        where = np.unravel_index(int(np.argmax(error)), error.shape)
        raise AssertionError(
            f"{what}: max |ours - torch| = {largest:.3g} at index {tuple(map(int, where))} "
            f"(ours {actual[where]:.17g}, torch {expected[where]:.17g}); {int(beyond.sum())} of "
            f"{error.size} elements beyond atol={atol:g}, rtol={rtol:g}"
        )
    return largest


def assert_matches_torch(
    our_fn,
    torch_fn,
    *arrays,
    atol: float = 1e-10,
    rtol: float = 1e-10,
    cotangent_seed: int = 0,
    grad: bool = True,
) -> dict[str, float]:
    """``our_fn`` on autograd tensors matches ``torch_fn`` on torch tensors, forward and backward.

    Args:
        our_fn, torch_fn: map the input tensors (one per array, in order) to one output tensor.
        arrays: NumPy arrays (or nested lists). Floating arrays become float64 tensors that
            require grad on both sides; integer and boolean arrays (indices, masks, targets) are
            passed as constant tensors of their own dtype.
        atol, rtol: element i matches when |ours - torch| <= atol + rtol * |torch|.
        cotangent_seed: seeds the random cotangent R pulled back through both graphs: the
            gradients compared are those of sum(output * R), so no output element is spared
            (a plain .sum() would hide a wrong softmax backward).
        grad: also compare the gradients (False for forward-only parity).

    Returns:
        The largest absolute difference of the forward output and of each input's gradient.
    """
    ours_in, torch_in, differentiable = [], [], []
    for array in arrays:
        array = np.asarray(array)
        floating = array.dtype.kind == "f"
        if floating:
            array = array.astype(np.float64)
        differentiable.append(grad and floating)
        ours_in.append(ag.Tensor(array.copy(), requires_grad=differentiable[-1]))
        torch_in.append(torch.tensor(array.copy(), requires_grad=differentiable[-1]))

    ours = our_fn(*ours_in)
    theirs = torch_fn(*torch_in)
    assert isinstance(ours, ag.Tensor), f"our_fn returned {type(ours).__name__}, not a Tensor"
    if theirs.dtype == torch.float64:
        assert ours.dtype == np.float64, f"ours computed in {ours.dtype}, torch in float64"
    differences = {
        "forward": assert_arrays_match(
            ours.data,
            theirs.detach().numpy(),
            atol=atol,
            rtol=rtol,
            what="forward output",
            kind="forward",
        )
    }
    if not any(differentiable):
        return differences

    cotangent = np.asarray(np.random.default_rng(cotangent_seed).standard_normal(ours.shape))
    ours.backward(cotangent)
    theirs.backward(torch.from_numpy(cotangent.copy()))
    for i, (mine, reference) in enumerate(zip(ours_in, torch_in, strict=True)):
        if not differentiable[i]:
            continue
        # No gradient at all means the output does not depend on the input: zeros, on both sides.
        our_grad = mine.grad if mine.grad is not None else np.zeros(mine.shape)
        torch_grad = reference.grad.numpy() if reference.grad is not None else np.zeros(mine.shape)
        differences[f"grad[{i}]"] = assert_arrays_match(
            our_grad,
            torch_grad,
            atol=atol,
            rtol=rtol,
            what=f"gradient of input {i} (shape {mine.shape})",
            kind="grad",
        )
    return differences


def _current_test() -> str:
    """``"ops: layer_norm_matches_torch"`` for ``test_ops_vs_torch.py::test_layer_norm_...[...]``.

    PYTEST_CURRENT_TEST is "path::test_name[params] (call)"; the summary groups by file and test.
    """
    node = os.environ.get("PYTEST_CURRENT_TEST", "outside pytest").split(" ")[0]
    path, _, test = node.rpartition("::")
    module = Path(path).stem.removeprefix("test_").removesuffix("_vs_torch")
    return f"{module}: {test.split('[')[0].removeprefix('test_')}"


def difference_summary() -> list[str]:
    """One line per test function: the largest differences it measured, worst first."""
    if not _largest:
        return []
    tests = sorted({test for test, _ in _largest})
    rows = []
    for test in tests:
        kinds = {kind: value for (name, kind), value in _largest.items() if name == test}
        rows.append((max(kinds.values()), test, kinds))
    rows.sort(key=lambda row: -row[0])
    lines = [f"{'test':<60} largest |ours - torch| by what was compared"]
    for _, test, kinds in rows:
        detail = ", ".join(f"{kind} {value:.2e}" for kind, value in sorted(kinds.items()))
        lines.append(f"{test:<60} {detail}")
    worst = rows[0]
    lines.append(f"overall largest: {worst[0]:.2e} ({worst[1]})")
    return lines
