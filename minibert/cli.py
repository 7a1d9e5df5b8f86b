"""The ``minibert`` command: a thin shell over the library.

Each subcommand parses its arguments, calls library functions, and turns a library error into a
one-line message and a non-zero exit code (no traceback for a user's mistake).
"""

from __future__ import annotations

import argparse
import platform
import sys

import minibert
from minibert.cli_finetuning import add_commands as add_finetuning_commands
from minibert.cli_inspect import add_commands as add_inspect_commands
from minibert.cli_pretraining import add_commands as add_pretraining_commands
from minibert.cli_seq2seq import add_commands as add_seq2seq_commands


def _info(args: argparse.Namespace) -> int:
    """Print what this installation runs on: versions, kernel backends, JIT state."""
    import numpy as np

    from autograd import kernels

    print(
        f"minibert {minibert.__version__}, Python {platform.python_version()}, "
        f"NumPy {np.__version__}"
    )
    print(f"Numba JIT: {'enabled' if kernels.jit_enabled() else 'disabled'}")
    for name in kernels.names():
        print(f"  kernel {name:24s} backends: {', '.join(kernels.available(name))}")
    return 0


def _train_tokenizer(args: argparse.Namespace) -> int:
    """Learn a WordPiece vocabulary from text files and save it as a tokenizer directory."""
    from minibert.tokenization import WordPieceTokenizer

    tokenizer = WordPieceTokenizer.train(
        args.files,
        vocab_size=args.vocab_size,
        min_frequency=args.min_frequency,
        limit_alphabet=args.limit_alphabet,
        lowercase=args.lowercase,
        score=args.score,
        show_progress=not args.quiet,
    )
    config_path, vocab_path = tokenizer.save_pretrained(args.out)
    print(f"wrote {vocab_path} ({len(tokenizer)} tokens) and {config_path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minibert", description="Learn BERT by building one: train and use tiny BERTs."
    )
    parser.add_argument("--version", action="version", version=f"minibert {minibert.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    info = commands.add_parser("info", help="show versions and which kernels are in use")
    info.set_defaults(handler=_info)
    add_pretraining_commands(commands)
    add_finetuning_commands(commands)
    add_inspect_commands(commands)
    add_seq2seq_commands(commands)

    train = commands.add_parser(
        "train-tokenizer",
        help="learn a WordPiece vocabulary from UTF-8 text files",
        description="Learn a WordPiece vocabulary and save vocab.txt and tokenizer_config.json "
        "(loadable by WordPieceTokenizer.from_pretrained and transformers' BertTokenizer).",
    )
    train.add_argument("files", nargs="+", help="UTF-8 text files")
    train.add_argument("--out", required=True, help="directory to write the tokenizer to")
    train.add_argument("--vocab-size", type=int, default=30000, help="(default: %(default)s)")
    train.add_argument(
        "--min-frequency",
        type=int,
        default=2,
        help="never merge a pair seen fewer times (default: %(default)s)",
    )
    train.add_argument(
        "--limit-alphabet",
        type=int,
        default=1000,
        help="keep at most this many distinct characters (default: %(default)s)",
    )
    train.add_argument(
        "--score",
        choices=("count", "likelihood"),
        default="count",
        help="count: what the tokenizers library runs; likelihood: count(ab)/(count(a)count(b)) "
        "of the WordPiece papers (default: %(default)s)",
    )
    train.add_argument(
        "--lowercase",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="lowercase and strip accents, as uncased BERT (default: on)",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(handler=_train_tokenizer)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except (ValueError, TypeError, OSError) as error:
        print(f"minibert {args.command}: error: {error}", file=sys.stderr)
        return 1
    except RuntimeError as error:
        from minibert.training import TrainingDiverged

        if not isinstance(error, TrainingDiverged):
            raise  # a bug, not a user's mistake: keep the traceback
        print(f"minibert {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
