"""Tokenizer benchmarks: our WordPiece trainer and encoder against Hugging Face's.

The text: about 5 MB of the docstrings and comments of the Python standard library installed on
this machine (PSF license), collected at bench time by
``minibert.tokenization.sample_text.python_docs_text``: nothing is downloaded or cached.

- training (vocabulary 8192, the tiny BERT recipe's; min_frequency 2, limit_alphabet 1000): our
  count trainer against the Rust trainer of the ``tokenizers`` package
  (``BertWordPieceTokenizer.train``, which runs 2 threads here); our likelihood trainer once, for
  scale. The note gives how much of the Rust vocabulary we reproduce (ties aside, all of it).
- encoding the text line by line, with the vocabulary we trained: ours called per line (warm
  word cache, as in any long run, and cold: cache cleared before every pass) and on the whole
  batch, against transformers' ``BertTokenizerFast`` (per line and batched) and the legacy
  pure-Python ``BertTokenizer`` (``BertTokenizerLegacy`` in transformers 5), per line.

Targets (issue 5): training within 5x of the Rust trainer's time; encoding at least 3x the
pure-Python tokenizer's throughput and as fast as ``BertTokenizerFast`` called per text.
``ratio_vs_reference`` is the reference's time over this row's (higher is faster): the Rust
trainer for training, ``BertTokenizerFast`` per line for encoding.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from minibert.tokenization import WordPieceTokenizer
from minibert.tokenization.sample_text import python_docs_text

CORPUS_BYTES = 5_000_000
VOCAB_SIZE = 8192
ENCODE_LINES = 10_000


def _timer(ctx):
    """ctx.time from the harness, or a plain median of ``repeat`` calls without it."""
    if hasattr(ctx, "time"):
        return ctx.time

    def time_fn(fn):
        times = []
        for _ in range(max(1, getattr(ctx, "repeat", 3))):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return {"median_s": statistics.median(times), "min_s": min(times), "runs": len(times)}

    return time_fn


def _once(fn) -> dict:
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    return {"median_s": seconds, "min_s": seconds, "runs": 1}


def run(ctx) -> list[dict]:
    timer = _timer(ctx)
    rows: list[dict] = []
    text = python_docs_text(CORPUS_BYTES)
    size = len(text.encode("utf-8"))
    source = f"{size / 1e6:.1f} MB of Python stdlib docs"
    with tempfile.TemporaryDirectory(prefix="minibert-bench-") as tmp:
        corpus = Path(tmp) / "corpus.txt"
        corpus.write_text(text, encoding="utf-8")
        rows += _training_rows(timer, corpus, size, source, Path(tmp))
        rows += _encoding_rows(timer, text, Path(tmp))
    return rows


def _training_rows(timer, corpus: Path, size: int, source: str, tmp: Path) -> list[dict]:
    name = f"train vocab {VOCAB_SIZE}, {source}"
    trained: dict[str, WordPieceTokenizer] = {}

    def ours():
        trained["tok"] = WordPieceTokenizer.train(
            [corpus], vocab_size=VOCAB_SIZE, show_progress=False
        )

    rows = [{"name": name, "impl": "minibert", **timer(ours)}]
    trained["tok"].save_pretrained(tmp / "tok")
    try:
        from tokenizers import BertWordPieceTokenizer
    except ImportError:
        rows[0]["note"] = "tokenizers not installed: no Rust row"
        return rows
    rust: dict = {}

    def theirs():
        rust["tok"] = BertWordPieceTokenizer()
        rust["tok"].train(
            [str(corpus)], vocab_size=VOCAB_SIZE, min_frequency=2, limit_alphabet=1000,
            show_progress=False,
        )  # fmt: skip

    rows.append({"name": name, "impl": "rust", "ratio_vs_reference": 1.0, **timer(theirs)})
    ours_set, rust_set = set(trained["tok"].vocab), set(rust["tok"].get_vocab())
    ratio = rows[1]["median_s"] / rows[0]["median_s"]
    rows[0]["ratio_vs_reference"] = ratio
    rows[0]["throughput_mb_s"] = size / 1e6 / rows[0]["median_s"]
    rows[0]["note"] = (
        f"{len(ours_set & rust_set)}/{len(rust_set)} tokens the same as rust's "
        f"(the rest: ties); {1 / ratio:.1f}x rust's time (target <= 5x)"
    )
    likelihood = _once(
        lambda: WordPieceTokenizer.train(
            [corpus], vocab_size=VOCAB_SIZE, score="likelihood", show_progress=False
        )
    )
    rows.append(
        {
            "name": name,
            "impl": "likelihood",
            "ratio_vs_reference": rows[1]["median_s"] / likelihood["median_s"],
            "note": "score='likelihood', one run",
            **likelihood,
        }
    )
    return rows


def _encoding_rows(timer, text: str, tmp: Path) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()][:ENCODE_LINES]
    size = sum(len(line.encode("utf-8")) for line in lines)
    name = f"encode {len(lines)} lines ({size / 1e6:.2f} MB), one call each"
    batch_name = f"encode {len(lines)} lines ({size / 1e6:.2f} MB), one batch"
    ours = WordPieceTokenizer.from_pretrained(tmp / "tok")

    def cold():
        ours._cache.clear()
        for line in lines:
            ours(line)

    measured = [
        (name, "minibert", "word cache warm", timer(lambda: [ours(line) for line in lines])),
        (name, "mb-cold", "minibert, word cache cleared first", timer(cold)),
        (batch_name, "minibert", "", timer(lambda: ours(lines))),
    ]
    same = ""
    try:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import BertTokenizerFast
        from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy
    except ImportError:
        fast = legacy = None
    else:
        fast = BertTokenizerFast.from_pretrained(tmp / "tok")
        legacy = BertTokenizerLegacy(vocab_file=str(tmp / "tok" / "vocab.txt"))
        measured += [
            (name, "hf-fast", "BertTokenizerFast", timer(lambda: [fast(line) for line in lines])),
            (batch_name, "hf-fast", "BertTokenizerFast", timer(lambda: fast(lines))),
            (name, "hf-legacy", "pure Python", timer(lambda: [legacy(line) for line in lines])),
        ]
        agree = sum(ours(x)["input_ids"] == fast(x)["input_ids"] for x in lines)
        same = f"; same ids as BertTokenizerFast on {agree}/{len(lines)} lines"
    reference = next((m for n, impl, _, m in measured if impl == "hf-fast" and n == name), None)
    legacy_row = next((m for _, impl, _, m in measured if impl == "hf-legacy"), None)
    rows = []
    for row_name, impl, note, timing in measured:
        row = {"name": row_name, "impl": impl, **timing, "note": note}
        row["throughput_mb_s"] = size / 1e6 / timing["median_s"]
        row["texts_per_s"] = len(lines) / timing["median_s"]
        if reference is not None:
            row["ratio_vs_reference"] = reference["median_s"] / timing["median_s"]
        if legacy_row is not None and impl in ("minibert", "mb-cold") and row_name == name:
            versus = legacy_row["median_s"] / timing["median_s"]
            row["note"] += f"; {versus:.1f}x the legacy tokenizer (target >= 3x)" + same
        rows.append(row)
    return rows
