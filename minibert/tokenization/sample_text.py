"""Text to practise on without downloading anything: the Python standard library's own docs.

Every Python installation carries megabytes of English prose: the docstrings and comments of the
standard library's modules (PSF license). ``python_docs_text`` collects them, in a fixed order,
so the same Python gives the same text; the tutorials and ``make bench`` train tokenizers on it.
"""

from __future__ import annotations

import glob
import os
import re
import sysconfig
from pathlib import Path

# Triple-quoted strings (docstrings, mostly) and whole-line comments.
_PROSE = re.compile(r'"""(.*?)"""|\'\'\'(.*?)\'\'\'|^[ \t]*#+ ?(.*?)$', re.S | re.M)


def python_docs_text(max_bytes: int = 1_000_000, include_tests: bool = True) -> str:
    """Docstrings and comments of the standard library, up to about ``max_bytes`` of UTF-8.

    Files are read in sorted path order (``Lib/test/`` last, and only with ``include_tests``:
    its strings hold many languages and odd characters), one docstring or comment per line.
    """
    stdlib = sysconfig.get_paths()["stdlib"]
    files = sorted(glob.glob(os.path.join(glob.escape(stdlib), "**", "*.py"), recursive=True))
    files = [Path(p) for p in files if "site-packages" not in p]
    tests = [p for p in files if p.relative_to(stdlib).parts[0] == "test"]
    test_set = set(tests)
    files = [p for p in files if p not in test_set] + (tests if include_tests else [])
    pieces, size = [], 0
    for path in files:
        try:
            source = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for match in _PROSE.finditer(source):
            prose = next((g for g in match.groups() if g), "").strip()
            if prose:
                pieces.append(prose)
                size += len(prose.encode("utf-8")) + 1
        if size >= max_bytes:
            break
    return "\n".join(pieces)
