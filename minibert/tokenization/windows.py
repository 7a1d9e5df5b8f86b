"""Overflowing windows: how a text too long for ``max_length`` becomes several overlapping rows.

This is what ``tokenizer(question, context, truncation="only_second", max_length=384,
stride=128, return_overflowing_tokens=True)`` does for SQuAD: the context is cut into windows of
the room left beside the question, each window starting ``stride`` tokens before the previous one
ended, so that an answer cut by one window boundary is whole in the next window.

The rules are those of the Rust ``tokenizers`` library (``Encoding::truncate`` and
``Encoding::merge_with``), which ``BertTokenizerFast`` runs, so that the rows, their order and
the errors are the same here and there.
"""

from __future__ import annotations

Span = tuple[int, int]  # [start, stop) of the tokens one row keeps of one sequence


def check_stride(stride: int, max_length: int) -> None:
    """The first check transformers makes: ``stride`` must fit in ``max_length`` less 2 specials.

    The tokenizers library checks this when truncation is set up, against the special tokens
    of a *single* sequence (2), whether or not the input is a pair: the stricter check, against
    the room each sequence really gets, comes in ``windows``.
    """
    if not isinstance(stride, int) or isinstance(stride, bool) or stride < 0:
        raise ValueError(f"stride={stride!r}: use a whole number of tokens >= 0")
    if max_length >= 2 and stride > max_length - 2:
        raise ValueError(
            f"stride={stride} is larger than max_length={max_length} less the 2 special tokens "
            f"({max_length - 2}); use a smaller stride or a larger max_length"
        )


def windows(n_tokens: int, max_len: int, stride: int, first_only: bool = False) -> list[Span]:
    """The windows of ``max_len`` tokens that a sequence of ``n_tokens`` is cut into.

    Consecutive windows overlap by ``stride`` tokens (each starts ``max_len - stride`` after the
    previous one), and the last one ends at the last token, so it may be shorter. A sequence
    that fits is one window. ``max_len == 0`` (no room at all) gives the tokenizers library's
    two rows: an empty window, then the whole sequence. ``first_only``: just the first window
    (what a call without ``return_overflowing_tokens`` keeps), with the same checks.

    Example:
        >>> windows(10, 4, 1)
        [(0, 4), (3, 7), (6, 10)]
    """
    if max_len >= n_tokens:
        return [(0, n_tokens)]
    if max_len == 0:
        return [(0, 0), (0, n_tokens)]
    if stride >= max_len:
        raise ValueError(
            f"stride={stride} leaves no progress: a sequence of {n_tokens} tokens is cut into "
            f"windows of {max_len} (max_length less the special tokens and the other sequence), "
            "and the stride must be smaller than that; use a smaller stride or a larger max_length"
        )
    if first_only:
        return [(0, max_len)]
    step = max_len - stride
    spans = []
    for start in range(0, n_tokens, step):
        stop = min(start + max_len, n_tokens)
        spans.append((start, stop))
        if stop == n_tokens:
            break
    return spans


def pair_windows(spans_a: list[Span], spans_b: list[Span] | None) -> list[tuple[Span, Span | None]]:
    """The rows of a (pair of) windowed sequence(s), in the order the tokenizers library gives.

    Row 0 pairs the first windows. Then each further window of the first sequence comes with
    the first window of the second, followed by the same window with every further window of the
    second; last, the first window of the first sequence with every further window of the second.
    With only one sequence cut (``only_first``/``only_second``, or ``longest_first`` when one
    side fits) this is simply one row per window.
    """
    if spans_b is None:
        return [(span, None) for span in spans_a]
    first_a, first_b = spans_a[0], spans_b[0]
    rows = [(first_a, first_b)]
    for span_a in spans_a[1:]:
        rows.append((span_a, first_b))
        rows += [(span_a, span_b) for span_b in spans_b[1:]]
    rows += [(first_a, span_b) for span_b in spans_b[1:]]
    return rows
