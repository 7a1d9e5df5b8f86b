"""The benchmark harness: run the sections, print one table, save JSON, compare with a past run.

A *section* is a module ``benchmarks.<name>`` with ``run(ctx) -> list[dict]``; each row is::

    {"section": "kernels", "name": "softmax fwd+bwd (8192,128) f32", "impl": "numba",
     "median_s": 0.0006, "min_s": 0.0005, "runs": 15, "ratio_vs_reference": 5.1, "note": ""}

``impl`` is one of "reference" (the NumPy twin), "numba", "torch", "blas", ...; ``ctx.time(fn)``
gives the timing fields. ``ratio_vs_reference`` is the reference's median time divided by this
row's (higher is faster; the harness fills it in from the row named alike with impl
"reference" when a section leaves it out).

Timing: warm-up calls first (Numba compilation and first-touch page faults are excluded), then
the median of ``--repeat`` calls, fewer for a slow call once ``--budget`` seconds are spent on
one measurement. Figures on a shared 2-core machine vary by 30-50% between runs and more while
another process holds a core (a parallel kernel then waits for its second thread): compare
within one run, and look at ``min`` as well as the median when the load average is high.

Also measured, in fresh subprocesses: the warm ``import autograd`` time, and the cold compile
time of every Numba kernel (an empty ``NUMBA_CACHE_DIR``) next to the load time from that cache.

Usage::

    python -m benchmarks                       # everything; saves results/<UTC time>.json
    python -m benchmarks --only kernels --repeat 20
    python -m benchmarks --only train-step,inference --threads 1
    python -m benchmarks --compare benchmarks/results/20250101T120000Z.json
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO_ROOT = Path(__file__).resolve().parent.parent
# benchmarks.<name>; a missing module is skipped with a note
SECTIONS = ["kernels", "matmul", "tokenizer", "train-step", "inference", "distributed"]
THREAD_VARIABLES = (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
)  # fmt: skip


@dataclass
class Context:
    """What a section gets: timing settings, and torch (2 threads) when it can be imported."""

    repeat: int = 15
    warmup: int = 2
    budget_s: float = 3.0
    pause_s: float = 0.2
    torch: object | None = None
    threads: int = 2
    rewarm: int = 1  # model sections: untimed steps after each pause (model_workers)

    def time(self, fn) -> dict:
        """Median (and min) seconds of ``fn()`` after warm-up; see the module docstring."""
        # Thread pools spin-wait after a call (OpenMP a few ms, OpenBLAS and torch up to ~0.2 s):
        # let the previous measurement's threads go to sleep before this one starts.
        time.sleep(self.pause_s)
        t0 = time.perf_counter()
        fn()  # compiles (Numba), touches memory, fills caches
        first = time.perf_counter() - t0
        for _ in range(self.warmup - 1 if first < self.budget_s / 4 else 0):
            fn()
        times: list[float] = []
        start = time.perf_counter()
        while len(times) < self.repeat:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
            if len(times) >= 3 and time.perf_counter() - start > self.budget_s:
                break
        return {"median_s": statistics.median(times), "min_s": min(times), "runs": len(times)}


def load_torch(threads: int = 2):
    """torch with ``threads`` intra-op threads (2: this machine's cores), or None when it is not
    installed.

    torch ships the same ``libgomp.so.1`` that Numba's OpenMP layer loads, so whichever imports
    first fixes the wait policy of both: autograd is imported first, so both run with the
    passive policy ``autograd.kernels.numba_common`` sets (see there for why).
    """
    import autograd  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads libgomp)

    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def fill_ratios(rows: list[dict]) -> None:
    """Set ``ratio_vs_reference`` (reference median / row median) where a section left it out."""
    reference = {
        (r["section"], r["name"]): r["median_s"] for r in rows if r.get("impl") == "reference"
    }
    for r in rows:
        ref = reference.get((r["section"], r["name"]))
        if r.get("ratio_vs_reference") is None and ref is not None and r.get("median_s"):
            r["ratio_vs_reference"] = ref / r["median_s"]


def format_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1.0:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def format_table(rows: list[dict]) -> str:
    """One line per (kernel, impl): median, min, and speed against the reference twin."""
    name_width = max([len(r["name"]) for r in rows] + [10])
    header = f"{'section':<8} {'benchmark':<{name_width}} {'impl':<10} {'median':>10} "
    header += f"{'min':>10} {'vs ref':>8}  note"
    lines = [header, "-" * len(header)]
    previous = None
    for r in rows:
        key = (r["section"], r["name"])
        section, name = (r["section"], r["name"]) if key != previous else ("", "")
        previous = key
        ratio = r.get("ratio_vs_reference")
        ratio_text = f"{ratio:.2f}x" if ratio is not None else "-"
        median, best = format_time(r.get("median_s")), format_time(r.get("min_s"))
        lines.append(
            f"{section:<8} {name:<{name_width}} {r['impl']:<10} {median:>10} {best:>10} "
            f"{ratio_text:>8}  {r.get('note', '')}"
        )
    return "\n".join(lines)


def format_comparison(rows: list[dict], earlier: dict) -> str:
    """This run against an earlier JSON: median times and their ratio, per (kernel, impl)."""
    before = {(r["section"], r["name"], r["impl"]): r for r in earlier.get("rows", [])}
    lines = [f"compared with {earlier.get('timestamp', '?')} (time ratio < 1: faster now)"]
    for r in rows:
        old = before.get((r["section"], r["name"], r["impl"]))
        if old is None or not old.get("median_s") or not r.get("median_s"):
            continue
        ratio = r["median_s"] / old["median_s"]
        lines.append(
            f"  {r['name']:<44} {r['impl']:<10} {format_time(old['median_s']):>10} -> "
            f"{format_time(r['median_s']):>10}  {ratio:.2f}x time"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------- startup figures


def _python(code: str, env: dict | None = None, timeout: float = 900) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def measure_import(runs: int = 5) -> float:
    """Median seconds of ``import autograd`` in a fresh interpreter (after one warm-up run)."""
    code = "import time; t = time.perf_counter(); import autograd; print(time.perf_counter() - t)"
    times = [float(_python(code)) for _ in range(runs + 1)][1:]
    return statistics.median(times)


def measure_compile() -> dict:
    """Cold compile of every Numba kernel (empty cache dir), then the load from that cache."""
    code = (
        "import json; from benchmarks.kernels import compile_probe; "
        "print(json.dumps(compile_probe()))"
    )
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache_dir:
        env = {"NUMBA_CACHE_DIR": cache_dir, "MINIBERT_DISABLE_JIT": "0"}
        cold = json.loads(_python(code, env))
        cached = json.loads(_python(code, env))
    return {
        "cold_total_s": sum(cold.values()),
        "cached_total_s": sum(cached.values()),
        "cold_s": cold,
        "cached_s": cached,
    }


def cpu_description() -> str:
    """The CPU as Linux reports it: model name, family/model numbers and the vector extensions
    that decide which kernels BLAS libraries pick ("" where /proc/cpuinfo is absent)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
        if not line.strip():
            break  # the first processor is enough
    flags = set(fields.get("flags", "").split())
    extensions = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f in flags]
    return (
        f"{fields.get('model name', '?')} (family {fields.get('cpu family', '?')}, "
        f"model {fields.get('model', '?')}; {' '.join(extensions) or 'no AVX2'})"
    )


def blas_description() -> str:
    """NumPy's BLAS, its version and, for OpenBLAS, the CPU kernels it runs."""
    import numpy

    from autograd.kernels import blas_threads

    try:
        blas = numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]
        name = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except (KeyError, TypeError, ValueError):
        name = "unknown"
    core = blas_threads.core_name()
    return f"{name}, {core} kernels" if core else name


def machine_info() -> dict:
    import numba
    import numpy

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu": cpu_description(),
        "numpy_blas": blas_description(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "load_average_at_start": os.getloadavg(),
    }


# ------------------------------------------------------------------------------------ main


def run_sections(names: list[str], ctx: Context) -> tuple[list[dict], list[str]]:
    rows: list[dict] = []
    notes: list[str] = []
    for name in names:
        module_name = f"benchmarks.{name.replace('-', '_')}"
        if importlib.util.find_spec(module_name) is None:
            notes.append(f"section {name!r} skipped: no module {module_name}")
            continue
        section_rows = importlib.import_module(module_name).run(ctx)
        for r in section_rows:
            r.setdefault("section", name)
            r.setdefault("note", "")
        rows.extend(section_rows)
    fill_ratios(rows)
    return rows, notes


def save(result: dict) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{result['timestamp']}.json"
    text = json.dumps(result, indent=1)
    path.write_text(text)
    (RESULTS_DIR / "latest.json").write_text(text)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--only", action="append", help=f"sections to run (of {SECTIONS})")
    parser.add_argument("--repeat", type=int, default=15, help="timed calls per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls first")
    parser.add_argument(
        "--budget", type=float, default=3.0, help="seconds per measurement, at most"
    )
    parser.add_argument(
        "--threads", type=int, default=2, help="threads of every pool (BLAS, Numba, torch)"
    )
    parser.add_argument("--compare", type=Path, help="an earlier results JSON to compare with")
    parser.add_argument(
        "--rewarm",
        type=int,
        default=1,
        help="train-step and inference: untimed steps at the start of each turn (0: time them)",
    )
    parser.add_argument("--no-startup", action="store_true", help="skip import/compile timings")
    parser.add_argument("--no-save", action="store_true", help="do not write results/*.json")
    args = parser.parse_args(argv)

    names = [n for group in (args.only or SECTIONS) for n in group.split(",")]
    unknown = sorted(set(names) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {SECTIONS}")
    earlier = json.loads(args.compare.read_text()) if args.compare else None
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    # Thread pools read these when they start (NumPy's BLAS on import): set them first, for this
    # process and the workers it starts.
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(args.threads)

    info = machine_info()
    if info["load_average_at_start"][0] > 0.5 * (info["cpu_count"] or 1):
        print(
            f"warning: load average {info['load_average_at_start'][0]:.1f}: another process is "
            "using the CPU; parallel kernels will look slower than they are (see 'min')"
        )
    ctx = Context(
        repeat=args.repeat,
        warmup=args.warmup,
        budget_s=args.budget,
        torch=load_torch(args.threads),
        threads=args.threads,
        rewarm=max(0, args.rewarm),
    )
    rows, notes = run_sections(names, ctx)
    info["load_average_at_end"] = os.getloadavg()
    notes.append(f"CPU: {info['cpu']}; NumPy's BLAS: {info['numpy_blas']}")
    if ctx.torch is None:
        notes.append("torch not importable: no torch rows")
    else:
        torch_blas = "MKL" if ctx.torch.backends.mkl.is_available() else "its own build's BLAS"
        notes.append(f"torch {ctx.torch.__version__} multiplies with {torch_blas}")
        notes.append(
            f"in-process torch rows (kernels, matmul) share libgomp with Numba: both ran with "
            f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')} (torch alone, spinning, can be "
            "faster); train-step and inference run torch in its own process, default policy"
        )
    if {"train-step", "inference"} & set(names):
        notes.append(
            f"train-step and inference: each model runs in turns after a pause; the first "
            f"{ctx.rewarm} step(s) of a turn (waking idle cores) run untimed, for every model "
            "alike (--rewarm)"
        )

    startup = {}
    if not args.no_startup:
        startup["import_autograd_s"] = measure_import()
        startup["compile"] = measure_compile()

    print(format_table(rows))
    for note in notes:
        print(f"note: {note}")
    if startup:
        compile_info = startup["compile"]
        import_time = format_time(startup["import_autograd_s"])
        print(f"import autograd (warm, fresh interpreter): {import_time}")
        print(
            f"Numba kernels: cold compile {compile_info['cold_total_s']:.1f} s in all "
            f"({len(compile_info['cold_s'])} kernel signatures), "
            f"load from cache {compile_info['cached_total_s']:.2f} s"
        )
        slowest = sorted(compile_info["cold_s"].items(), key=lambda kv: -kv[1])[:5]
        print("  slowest to compile: " + ", ".join(f"{k} {v:.1f} s" for k, v in slowest))

    timestamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    result = {
        "timestamp": timestamp,
        "machine": info,
        "args": {**vars(args), "compare": str(args.compare) if args.compare else None},
        "startup": startup,
        "notes": notes,
        "rows": rows,
    }
    if earlier is not None:
        print(format_comparison(rows, earlier))
    if not args.no_save:
        print(f"saved {save(result)} (and results/latest.json)")
    return 0
