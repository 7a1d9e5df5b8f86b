"""Training a translation model with the pretraining loop, decoding with it, and scoring it
against the copy baseline."""

from __future__ import annotations

import numpy as np

from minibert.generation import generate
from minibert.seq2seq.data import Seq2SeqData, TranslationPair, pad
from minibert.seq2seq.metrics import corpus_bleu, exact_match
from minibert.training.pretrain import TrainingArguments, pretrain


def train_seq2seq(
    model,
    tokenizer,
    train_data: Seq2SeqData,
    args: TrainingArguments,
    output_dir,
    eval_pairs: list[TranslationPair] | None = None,
    resume: bool = False,
    progress: bool = True,
    num_beams: int = 1,
) -> dict:
    """Train ``model`` (a ``BertEncoderDecoder``) with teacher forcing, then score it.

    The loop, AdamW with warm-up and linear decay, clipping, the metrics log and the resumable
    checkpoints are pretraining's own (``minibert.training.pretrain``): a batch is the model's
    keyword arguments and the model returns its loss, whatever the task. The held-out scores
    (``eval_`` keys) come from decoding ``eval_pairs`` once training has finished.
    """
    summary = pretrain(
        model, tokenizer, train_data, args, output_dir, resume=resume, progress=progress,
        description="seq2seq training",
    )  # fmt: skip
    if eval_pairs:
        metrics = evaluate_translation(model, tokenizer, eval_pairs, num_beams=num_beams)
        summary.update({f"eval_{k}": v for k, v in metrics.items()})
    return summary


def translate(
    model, tokenizer, sources: list[str], num_beams=1, batch_size=64, max_new_tokens=None, **kwargs
) -> list[str]:
    """Decode a translation of every source (greedy, or beam search with ``num_beams``).

    ``kwargs`` go to ``generate`` (``length_penalty``, ``use_cache``, sampling settings).
    """
    if max_new_tokens is None:
        max_new_tokens = model.config.decoder.max_position_embeddings - 1
    outputs = []
    for start in range(0, len(sources), batch_size):
        encoded = [tokenizer.encode(text) for text in sources[start : start + batch_size]]
        ids = pad(encoded, tokenizer.pad_token_id)  # (B, S)
        mask = pad([[1] * len(e) for e in encoded], 0)  # (B, S)
        generated = generate(
            model, ids, mask, max_new_tokens=max_new_tokens, num_beams=num_beams, **kwargs
        )
        outputs += [normalize(tokenizer, row) for row in generated]
    return outputs


def normalize(tokenizer, ids_or_text) -> str:
    """Text as the tokenizer sees it, tokens joined by spaces, special tokens dropped: both
    sides of a comparison go through it, so "forty-two" and "forty - two" are equal."""
    if isinstance(ids_or_text, str):
        ids_or_text = tokenizer.encode(ids_or_text, add_special_tokens=False)
    return tokenizer.decode(
        np.asarray(ids_or_text).tolist(),
        skip_special_tokens=True,
        clean_up_tokenization_spaces=False,
    )


def evaluate_translation(model, tokenizer, pairs: list[TranslationPair], num_beams=1) -> dict:
    """Exact match (0 to 1) and corpus BLEU (0 to 100) of the model's translations, and of the
    copy baseline (the source itself as the translation), on ``pairs``."""
    references = [normalize(tokenizer, p.target) for p in pairs]
    copies = [normalize(tokenizer, p.source) for p in pairs]
    hypotheses = translate(model, tokenizer, [p.source for p in pairs], num_beams=num_beams)
    return {
        "exact_match": exact_match(hypotheses, references),
        "bleu": corpus_bleu(hypotheses, references)["bleu"],
        "copy_exact_match": exact_match(copies, references),
        "copy_bleu": corpus_bleu(copies, references)["bleu"],
        "pairs": len(pairs),
    }
