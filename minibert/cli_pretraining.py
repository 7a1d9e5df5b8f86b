"""``minibert pretrain``, ``fill-mask`` and ``evaluate``: parsing and printing only."""

from __future__ import annotations

import argparse
import json
from importlib import resources
from pathlib import Path

from minibert.io import atomic_write_text

EMBEDDED_CORPUS = "jargon"  # minibert/data/corpora/jargon: the Jargon File, public domain


def embedded_corpus(split: str) -> Path:
    """A split (``"train"`` or ``"heldout"``) of the corpus that ships with minibert."""
    return Path(
        str(resources.files("minibert.data") / "corpora" / EMBEDDED_CORPUS / f"{split}.txt")
    )


def _load_config(name_or_path: str, vocab_size: int, max_seq_length: int):
    from minibert.config import PRESETS, BertConfig

    if name_or_path in PRESETS:
        config = BertConfig.preset(name_or_path, vocab_size=vocab_size)
    elif Path(name_or_path).is_file() or Path(name_or_path).is_dir():
        config = BertConfig.load(name_or_path)
        if config.vocab_size != vocab_size:
            raise ValueError(
                f"config {name_or_path} has vocab_size {config.vocab_size} but the tokenizer has "
                f"{vocab_size} tokens; use a config that matches the tokenizer"
            )
    else:
        raise ValueError(
            f"unknown config {name_or_path!r}: use a preset ({', '.join(PRESETS)}) or a config.json"
        )
    if max_seq_length > config.max_position_embeddings:
        raise ValueError(
            f"--max-seq-length {max_seq_length} exceeds the config's max_position_embeddings "
            f"{config.max_position_embeddings}"
        )
    return config


def _pretrain(args: argparse.Namespace) -> int:
    from minibert.data.dataset import DataConfig, PretrainingData
    from minibert.modeling import BertForPreTraining
    from minibert.tokenization import WordPieceTokenizer
    from minibert.training import TrainingArguments, pretrain

    data_parallel = _data_parallel(args) if args.distributed else None
    ranks = 1 if data_parallel is None else data_parallel.world_size
    # Under mpiexec every rank runs this function; rank 0 alone speaks and writes.
    say = print if data_parallel is None or data_parallel.is_writer else _silent
    corpus = args.corpus or [embedded_corpus("train")]
    eval_corpus = args.eval_corpus or ([] if args.corpus else [embedded_corpus("heldout")])
    out = Path(args.out)
    if args.resume:
        tokenizer = WordPieceTokenizer.from_pretrained(_latest_model_dir(out))
    elif args.tokenizer:
        tokenizer = WordPieceTokenizer.from_pretrained(args.tokenizer)
    else:
        say(
            f"training a {args.vocab_size}-token WordPiece vocabulary on "
            f"{', '.join(map(str, corpus))}"
        )
        tokenizer = WordPieceTokenizer.train(
            corpus, vocab_size=args.vocab_size, show_progress=not args.quiet and ranks == 1
        )
    config = _load_config(args.config, len(tokenizer), args.max_seq_length)
    # With N ranks the data stream is made of global batches of N x --batch-size rows, the
    # batches one process would read with that batch size; each rank computes its own rows.
    data_config = DataConfig(
        max_seq_length=args.max_seq_length, batch_size=args.batch_size * ranks,
        nsp=not args.no_nsp,
        whole_word_mask=args.whole_word_mask, corpus_format=args.corpus_format,
    )  # fmt: skip
    train_data = PretrainingData(corpus, tokenizer, data_config, seed=args.seed)
    eval_data = (
        PretrainingData(eval_corpus, tokenizer, data_config, seed=args.seed + 1)
        if eval_corpus
        else None
    )
    training = TrainingArguments(
        max_steps=args.steps, learning_rate=args.lr,
        warmup_steps=min(args.warmup_steps, args.steps),
        gradient_accumulation_steps=args.grad_accum, eval_every=args.eval_every,
        save_every=args.save_every, eval_batches=args.eval_batches, seed=args.seed,
    )  # fmt: skip
    model = BertForPreTraining(config, seed=args.seed)
    say(
        f"pretraining {model.num_parameters():,} parameters for {args.steps} steps -> {out}"
        + (f" on {ranks} ranks, {args.batch_size} rows each" if data_parallel else "")
    )
    try:
        summary = pretrain(model, tokenizer, train_data, training, out, eval_data=eval_data,
                           resume=args.resume, progress=not args.quiet,
                           data_parallel=data_parallel)  # fmt: skip
    except Exception as error:
        if ranks == 1:
            raise
        _abort_all_ranks(data_parallel, error)
    if data_parallel is not None and data_parallel.world_size > 1:
        summary["allreduce_seconds"] = data_parallel.allreduce_seconds
    if not (data_parallel is None or data_parallel.is_writer):
        return 0
    print(
        f"done in {summary['seconds']:.0f} s ({summary['tokens_per_second']:.0f} tokens/s); "
        f"model in {out / 'model'}"
    )
    if "eval_mlm_accuracy" in summary:
        print(
            f"held-out MLM accuracy {summary['eval_mlm_accuracy']:.3f} "
            f"(most-frequent-token baseline {summary['eval_mlm_baseline_accuracy']:.3f}), "
            f"perplexity {summary['eval_mlm_perplexity']:.1f}"
        )
        if "eval_nsp_accuracy" in summary:
            print(
                f"held-out NSP accuracy {summary['eval_nsp_accuracy']:.3f} "
                f"(majority-class baseline {summary['eval_nsp_baseline_accuracy']:.3f})"
            )
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return 0


def _silent(*args, **kwargs) -> None:
    """``print`` on the ranks that must not speak."""


def _data_parallel(args: argparse.Namespace):
    from minibert.training.distributed import DataParallel

    try:
        return DataParallel(collective_timeout=args.collective_timeout)
    except ImportError as error:
        raise ValueError(str(error)) from None


def _abort_all_ranks(data_parallel, error: Exception) -> None:
    """One rank failed alone (a full disk on rank 0, say): stop the job now, since the others
    would wait for it in the next allreduce until --collective-timeout."""
    import traceback

    from minibert.training import TrainingDiverged

    if not isinstance(error, (ValueError, TypeError, OSError, TrainingDiverged)):
        traceback.print_exc()  # a bug, not a user's mistake: keep the traceback
    data_parallel.abort(f"error: {error}")


def _latest_model_dir(out: Path) -> Path:
    from minibert.training.state import latest_checkpoint

    latest = latest_checkpoint(out)
    if latest is None:
        raise ValueError(f"--resume: {out} has no checkpoint to resume from")
    return latest


def _load_for_inference(model_dir: str):
    from minibert.modeling import BertForMaskedLM
    from minibert.tokenization import WordPieceTokenizer

    tokenizer = WordPieceTokenizer.from_pretrained(model_dir)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the NSP head of a pretraining checkpoint is not needed
        model = BertForMaskedLM.from_pretrained(model_dir)
    if model.config.vocab_size != len(tokenizer):
        raise ValueError(
            f"{model_dir}: the model has {model.config.vocab_size} tokens but its tokenizer "
            f"{len(tokenizer)}; the directory mixes two runs"
        )
    return model.eval(), tokenizer


def _fill_mask(args: argparse.Namespace) -> int:
    from minibert.pipelines import fill_mask

    model, tokenizer = _load_for_inference(args.model)
    for text in args.texts:
        print(text)
        predictions = fill_mask(model, tokenizer, text, top_k=args.top_k)
        for index, candidates in enumerate(predictions):
            if len(predictions) > 1:
                print(f"  [MASK] #{index + 1}")
            for c in candidates:
                print(f"  {c['score']:.3f}  {c['token_str']:<16} {c['sequence']}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from minibert.data.dataset import DataConfig, PretrainingData
    from minibert.modeling import BertForPreTraining
    from minibert.tokenization import WordPieceTokenizer
    from minibert.training.evaluation import evaluate

    tokenizer = WordPieceTokenizer.from_pretrained(args.model)
    model = BertForPreTraining.from_pretrained(args.model)
    corpus = args.corpus or [embedded_corpus("heldout")]
    max_length = min(args.max_seq_length, model.config.max_position_embeddings)
    config = DataConfig(max_seq_length=max_length,
                        batch_size=args.batch_size, nsp=not args.no_nsp)  # fmt: skip
    metrics = evaluate(model, PretrainingData(corpus, tokenizer, config, seed=args.seed))
    print(json.dumps(metrics, indent=2))
    return 0


def add_commands(commands) -> None:
    """Register the pretraining subcommands on ``minibert``'s subparsers."""
    pretrain = commands.add_parser(
        "pretrain",
        help="pretrain a BERT with MLM (+NSP) on a corpus",
        description="Pretrain BertForPreTraining. Without --corpus it trains on the embedded "
        "corpus (the Jargon File) and evaluates on its held-out split.",
    )
    pretrain.add_argument(
        "--config",
        default="tiny",
        help="a preset (tiny, mini, small, base) or a config.json (default: %(default)s)",
    )
    pretrain.add_argument("--corpus", nargs="+", help="corpus files (default: the embedded corpus)")
    pretrain.add_argument("--eval-corpus", nargs="+", help="held-out corpus files")
    pretrain.add_argument("--corpus-format", choices=("google", "plain"), default="google",
                          help="google: a sentence per line, blank line between documents; "
                          "plain: running text (default: %(default)s)")  # fmt: skip
    pretrain.add_argument(
        "--tokenizer", help="a tokenizer directory (default: train one on the corpus)"
    )
    pretrain.add_argument(
        "--vocab-size",
        type=int,
        default=8192,
        help="when training a tokenizer (default: %(default)s)",
    )
    pretrain.add_argument(
        "--steps", type=int, default=1000, help="optimizer steps (default: %(default)s)"
    )
    pretrain.add_argument("--batch-size", type=int, default=32, help="(default: %(default)s)")
    pretrain.add_argument("--max-seq-length", type=int, default=128, help="(default: %(default)s)")
    pretrain.add_argument(
        "--lr", type=float, default=1e-3, help="peak learning rate (default: %(default)s)"
    )
    pretrain.add_argument("--warmup-steps", type=int, default=100, help="(default: %(default)s)")
    pretrain.add_argument(
        "--grad-accum",
        type=int,
        default=1,
        help="gradient accumulation steps (default: %(default)s)",
    )
    pretrain.add_argument("--eval-every", type=int, default=200, help="(default: %(default)s)")
    pretrain.add_argument(
        "--eval-batches",
        type=int,
        default=None,
        help="held-out batches per evaluation (default: all)",
    )
    pretrain.add_argument("--save-every", type=int, default=200, help="(default: %(default)s)")
    pretrain.add_argument(
        "--no-nsp", action="store_true", help="MLM only, on full-length segments (RoBERTa's recipe)"
    )
    pretrain.add_argument("--whole-word-mask", action="store_true", help="mask whole words")
    pretrain.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    pretrain.add_argument("--out", required=True, help="output directory")
    pretrain.add_argument(
        "--resume", action="store_true", help="continue from --out's latest checkpoint"
    )
    pretrain.add_argument("--quiet", action="store_true", help="no progress bars")
    pretrain.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel training under mpiexec -n N (needs the mpi extra): each of the N "
        "ranks computes --batch-size rows of a global batch of N x --batch-size",
    )
    pretrain.add_argument(
        "--collective-timeout",
        type=float,
        default=300.0,
        help="with --distributed: seconds a rank waits for the others in an allreduce before "
        "it declares one dead and stops the job (default: %(default)s)",
    )
    pretrain.set_defaults(handler=_pretrain)

    fill = commands.add_parser("fill-mask", help="predict the [MASK] tokens of a text")
    fill.add_argument("--model", required=True, help="a model directory (with its vocab.txt)")
    fill.add_argument("--top-k", type=int, default=5, help="(default: %(default)s)")
    fill.add_argument(
        "texts", nargs="+", help='texts with [MASK], e.g. "the [MASK] sat on the mat"'
    )
    fill.set_defaults(handler=_fill_mask)

    evaluate = commands.add_parser(
        "evaluate", help="held-out MLM/NSP metrics of a pretrained model"
    )
    evaluate.add_argument("--model", required=True, help="a pretraining model directory")
    evaluate.add_argument(
        "--corpus", nargs="+", help="held-out corpus files (default: the embedded held-out split)"
    )
    evaluate.add_argument("--batch-size", type=int, default=32, help="(default: %(default)s)")
    evaluate.add_argument("--max-seq-length", type=int, default=128, help="(default: %(default)s)")
    evaluate.add_argument("--no-nsp", action="store_true", help="evaluate MLM only")
    evaluate.add_argument(
        "--seed", type=int, default=1, help="seeds the held-out masks (default: %(default)s)"
    )
    evaluate.set_defaults(handler=_evaluate)
