"""``minibert embed``, ``attention`` and ``saliency``: parsing and printing only.

The library does the work (``minibert.pipelines.embed``, ``minibert.interpretability``); these
commands load a model directory, call it, and print or write the result.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from minibert.io import atomic_write_text


def _load(model_dir: str, kind: str = "base"):
    """The model in ``model_dir`` (eval mode) and its tokenizer.

    ``kind``: ``"base"`` loads the encoder alone (any BERT checkpoint); ``"explain"`` loads a
    sequence classifier if the checkpoint is one (its config's ``architectures``), otherwise the
    masked-LM model (a pretraining checkpoint's NSP head is not needed).
    """
    from minibert.config import BertConfig
    from minibert.modeling import BertForMaskedLM, BertForSequenceClassification, BertModel
    from minibert.tokenization import WordPieceTokenizer

    tokenizer = WordPieceTokenizer.from_pretrained(model_dir)
    cls = BertModel
    if kind == "explain":
        architectures = BertConfig.load(model_dir).extra.get("architectures") or []
        is_classifier = "BertForSequenceClassification" in architectures
        cls = BertForSequenceClassification if is_classifier else BertForMaskedLM
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # heads the command does not use, a pooler it does not
        model = cls.from_pretrained(model_dir)
    if model.config.vocab_size != len(tokenizer):
        raise ValueError(
            f"{model_dir}: the model has {model.config.vocab_size} tokens but its tokenizer "
            f"{len(tokenizer)}; the directory mixes two runs"
        )
    return model.eval(), tokenizer


def _read_texts(path: str) -> list[str]:
    """One text per non-blank line of a UTF-8 file."""
    try:
        lines = Path(path).read_bytes().decode("utf-8").splitlines()
    except UnicodeDecodeError as error:
        line = Path(path).read_bytes()[: error.start].count(b"\n") + 1
        raise ValueError(f"{path}, line {line}: not UTF-8 text ({error.reason})") from None
    texts = [line.strip() for line in lines if line.strip()]
    if not texts:
        raise ValueError(f"{path}: no texts (one text per line; blank lines are skipped)")
    return texts


def _similarity_table(texts: list[str], matrix) -> str:
    labels = [f"[{i}]" for i in range(len(texts))]
    lines = ["cosine similarity:", "      " + " ".join(f"{label:>6}" for label in labels)]
    for label, row in zip(labels, matrix, strict=True):
        lines.append(f"{label:>5} " + " ".join(f"{value:6.3f}" for value in row))
    return "\n".join(lines)


def _embed(args: argparse.Namespace) -> int:
    from minibert.pipelines import embed, similarity
    from minibert.scoring import to_host

    texts = list(args.texts) + (_read_texts(args.file) if args.file else [])
    if not texts:
        raise ValueError("give texts as arguments or with --file")
    model, tokenizer = _load(args.model)
    normalize = not args.no_normalize
    vectors = embed(model, tokenizer, texts, pooling=args.pooling, normalize=normalize,
                    batch_size=args.batch_size, max_length=args.max_length)  # fmt: skip
    embeddings = to_host(vectors)  # (N, H)
    state = "normalized" if normalize else "not normalized"
    print(f"{len(texts)} texts -> {embeddings.shape[1]}-dimensional embeddings "
          f"({args.pooling} pooling, {state})")  # fmt: skip
    for i, text in enumerate(texts[:20]):
        print(f"  [{i}] {text[:70]}")
    if len(texts) > 20:
        print(f"  ... and {len(texts) - 20} more")
    if 1 < len(texts) <= 20:
        print(_similarity_table(texts, similarity(embeddings)))
    if args.out:
        record = {
            "model": str(args.model), "pooling": args.pooling,
            "normalize": normalize, "texts": texts,
            "embeddings": embeddings.astype(float).tolist(),
        }  # fmt: skip
        atomic_write_text(Path(args.out), json.dumps(record) + "\n")
        print(f"wrote {args.out}")
    return 0


def _plot(draw, path: str, command: str) -> int:
    """Draw a picture to ``path``; without matplotlib, say what to install and fail."""
    try:
        draw(path)
    except ImportError as error:
        print(f"minibert {command}: error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


def _attention(args: argparse.Namespace) -> int:
    from minibert.interpretability import (
        attention_maps,
        plot_attention,
        render_attention_summary,
        render_attention_text,
    )

    if args.head is not None and args.layer is None:
        raise ValueError("--head needs --layer")
    model, tokenizer = _load(args.model)
    maps = attention_maps(model, tokenizer, args.text, args.pair)
    print(f"{maps.length} tokens, {maps.num_layers} layers x {maps.num_heads} heads")
    if args.out:
        return _plot(
            lambda path: plot_attention(maps, args.layer, args.head, path), args.out, "attention"
        )
    if args.layer is None:
        print(render_attention_summary(maps))
        print("(--layer L --head H shows one head; --out FILE.png draws them all)")
        return 0
    heads = range(maps.num_heads) if args.head is None else [args.head]
    for head in heads:
        print(render_attention_text(maps, args.layer, head, style=args.style, top_k=args.top_k))
    return 0


def _target(text: str | None, model):
    """A classifier's ``--target`` may be a label name or a class index; else a token."""
    from minibert.modeling import BertForSequenceClassification

    if text is None or not isinstance(model, BertForSequenceClassification):
        return text
    names = set((model.config.id2label or {}).values())
    return int(text) if text not in names and text.lstrip("-").isdigit() else text


def _saliency(args: argparse.Namespace) -> int:
    from minibert.interpretability import plot_saliency, render_saliency_text, saliency

    model, tokenizer = _load(args.model, kind="explain")
    result = saliency(model, tokenizer, args.text, target=_target(args.target, model),
                      text_pair=args.pair, position=args.position)  # fmt: skip
    print(f"{type(model).__name__}: explaining {result.target_label!r}")
    print(render_saliency_text(result))
    if args.out:
        return _plot(lambda path: plot_saliency(result, path), args.out, "saliency")
    return 0


def add_commands(commands) -> None:
    """Register ``embed``, ``attention`` and ``saliency`` on ``minibert``'s subparsers."""
    embed = commands.add_parser(
        "embed",
        help="sentence embeddings of texts, and their cosine similarities",
        description="Embed texts as sentence-transformers does for a BERT checkpoint: pool the "
        "last hidden states over the real tokens, then L2-normalize.",
    )
    embed.add_argument("--model", required=True, help="a model directory (with its vocab.txt)")
    embed.add_argument("texts", nargs="*", help="texts to embed")
    embed.add_argument("--file", help="a UTF-8 file with one text per line (added after texts)")
    embed.add_argument("--pooling", choices=("mean", "cls", "max"), default="mean",
                       help="(default: %(default)s)")  # fmt: skip
    embed.add_argument("--no-normalize", action="store_true", help="keep the raw pooled vectors")
    embed.add_argument("--batch-size", type=int, default=32, help="(default: %(default)s)")
    embed.add_argument("--max-length", type=int, help="truncate texts to this many tokens")
    embed.add_argument("--out", help="write texts and embeddings to this JSON file")
    embed.set_defaults(handler=_embed)

    attention = _text_command(
        commands, "attention", _attention, "the text to look at", "draw heat maps to",
        help="attention maps of a text: a per-head summary, one head as text, or a picture",
    )  # fmt: skip
    attention.add_argument("--layer", type=int, help="a layer (0 = first; -1 = last)")
    attention.add_argument("--head", type=int, help="a head of --layer (default: every head)")
    attention.add_argument("--style", choices=("top", "grid"), default="top",
                           help="top: each token's most attended tokens; grid: the whole "
                           "matrix in percent (default: %(default)s)")  # fmt: skip
    attention.add_argument("--top-k", type=int, default=3, help="(default: %(default)s)")

    explain = _text_command(
        commands, "saliency", _saliency, "the text (with a [MASK] for a masked-LM model)",
        "draw the scores to",
        help="which tokens push a prediction up or down (gradient x input)",
        description="Gradient x input on the word embeddings, for a class of a sequence "
        "classifier or for a token at a [MASK] of a masked-LM or pretraining checkpoint.",
    )  # fmt: skip
    explain.add_argument("--target", help="a label name or class index (classifier) or a token "
                         "(masked LM); default: the model's prediction")  # fmt: skip
    explain.add_argument("--position", type=int, help="masked LM: the token position to explain "
                         "(default: the first [MASK])")  # fmt: skip


def _text_command(commands, name, handler, text_help, out_help, **parser_kwargs):
    """A subcommand on one text (or pair) of a model, drawing a picture with --out."""
    command = commands.add_parser(name, **parser_kwargs)
    command.add_argument("--model", required=True, help="a model directory")
    command.add_argument("text", help=text_help)
    command.add_argument("--pair", help="a second segment (text pair)")
    command.add_argument("--out", help=f"{out_help} this picture (.png, .svg, .pdf)")
    command.set_defaults(handler=handler)
    return command
