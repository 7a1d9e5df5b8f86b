"""Parity tests against PyTorch: the same float64 inputs through both, the results compared.

Without torch the whole directory is skipped, with the reason shown in pytest's summary. Every
test here carries the ``reference`` marker (``pytest -m reference`` / ``-m "not reference"``).
At the end of a run, the largest differences measured against torch are printed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

try:
    from tests.reference import torch_helpers
except pytest.skip.Exception:  # no torch: each test module skips itself, with the reason
    torch_helpers = None

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    # This hook sees the whole session's items; mark only the ones that live in this directory.
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.reference)


@pytest.fixture(autouse=True, scope="module")
def torch_float64_single_thread():
    """float64 by default, one intra-op thread and a fixed seed, restored after each module.

    One thread makes torch's reductions sum in the same order on every machine; restoring the
    defaults keeps this directory from changing tests elsewhere in the same session. (Module
    scope, because hypothesis refuses function-scoped fixtures around its examples.)
    """
    if torch_helpers is None:
        yield
        return
    torch = torch_helpers.torch
    dtype, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_default_dtype(dtype)
    torch.set_num_threads(threads)


def pytest_terminal_summary(terminalreporter):
    lines = torch_helpers.difference_summary() if torch_helpers is not None else []
    if lines:
        terminalreporter.section("largest differences against torch (float64)")
        for line in lines:
            terminalreporter.write_line(line)
