r"""Translation metrics: corpus BLEU (Papineni et al. 2002) and exact match.

BLEU compares n-grams of the hypotheses with those of the references, for n = 1..4, over the
whole corpus at once (not sentence by sentence, then averaged):

    p_n = \sum_s \sum_g min(count_hyp(g), count_ref(g)) / \sum_s \sum_g count_hyp(g)
    BP  = 1 if c > r else exp(1 - r / c)       (c, r: total hypothesis and reference lengths)
    BLEU = BP \exp(\frac{1}{4} \sum_n \log p_n)

Clipping a hypothesis count at the reference count stops "the the the" from scoring; the
brevity penalty stops short, safe hypotheses from scoring high precision. With one reference
per sentence and no smoothing (a zero p_n gives BLEU 0), this is sacrebleu's
``corpus_bleu(..., smooth_method="none")`` on pre-tokenized text; like sacrebleu we report
0 to 100.
"""

from __future__ import annotations

import math
from collections import Counter


def _tokens(text) -> list[str]:
    return text.split() if isinstance(text, str) else list(text)


def ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def corpus_bleu(hypotheses, references, max_order: int = 4) -> dict:
    """Corpus-level BLEU of ``hypotheses`` against one reference each.

    Args:
        hypotheses, references: equal-length lists of strings (split on whitespace) or of token
            lists.

    Returns:
        ``bleu`` (0 to 100), ``precisions`` (p_1..p_N, 0 to 100), ``brevity_penalty``,
        ``hypothesis_length`` and ``reference_length``.
    """
    if len(hypotheses) != len(references):
        raise ValueError(
            f"{len(hypotheses)} hypotheses but {len(references)} references; give one each"
        )
    matches, totals = [0] * max_order, [0] * max_order
    hyp_length = ref_length = 0
    for hypothesis, reference in zip(hypotheses, references, strict=True):
        hyp, ref = _tokens(hypothesis), _tokens(reference)
        hyp_length, ref_length = hyp_length + len(hyp), ref_length + len(ref)
        for n in range(1, max_order + 1):
            hyp_counts, ref_counts = ngrams(hyp, n), ngrams(ref, n)
            matches[n - 1] += sum(min(c, ref_counts[g]) for g, c in hyp_counts.items())
            totals[n - 1] += sum(hyp_counts.values())
    precisions = [m / t if t else 0.0 for m, t in zip(matches, totals, strict=True)]
    if hyp_length == 0:
        brevity_penalty = 0.0
    else:
        brevity_penalty = 1.0 if hyp_length > ref_length else math.exp(1 - ref_length / hyp_length)
    if min(precisions) == 0.0:
        bleu = 0.0
    else:
        bleu = brevity_penalty * math.exp(sum(math.log(p) for p in precisions) / max_order)
    return {
        "bleu": 100.0 * bleu,
        "precisions": [100.0 * p for p in precisions],
        "brevity_penalty": brevity_penalty,
        "hypothesis_length": hyp_length,
        "reference_length": ref_length,
    }


def exact_match(hypotheses, references) -> float:
    """The fraction of hypotheses whose tokens equal their reference's, 0 to 1."""
    if len(hypotheses) != len(references) or not references:
        raise ValueError("exact_match needs as many hypotheses as references, at least one")
    same = sum(_tokens(h) == _tokens(r) for h, r in zip(hypotheses, references, strict=True))
    return same / len(references)
