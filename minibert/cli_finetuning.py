"""``minibert finetune`` and ``minibert predict``: parsing and printing only.

The work is done by ``minibert.finetuning`` (the tasks) and ``minibert.finetuning.trainer``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

PAIRED_TASKS = ("qa",)  # tasks whose command-line inputs always come two by two
TEXT_FIELDS = ("text", "text_pair", "tokens", "words", "question", "context")


def _task(name: str, doc_stride: int | None):
    from minibert.finetuning import get_task

    if doc_stride is not None and name != "qa":
        raise ValueError("--doc-stride only applies to --task qa")
    return get_task(name, **({"doc_stride": doc_stride} if doc_stride is not None else {}))


def training_texts(task, examples) -> list[str]:
    """The texts of ``examples`` a vocabulary is learned from.

    A task may say itself (``task.training_texts(examples)``); otherwise the examples' text
    fields are taken (``text``, ``text_pair``, ``tokens``, ``words``, ``question``,
    ``context``), never the labels.
    """
    if hasattr(task, "training_texts"):
        return list(task.training_texts(examples))
    texts = []
    for example in examples:
        for name in TEXT_FIELDS:
            value = getattr(example, name, None)
            if isinstance(value, str):
                texts.append(value)
            elif isinstance(value, (list, tuple)) and value and isinstance(value[0], str):
                texts.append(" ".join(value))
    return texts


def _tokenizer_and_base(args, task, train):
    """The tokenizer and what the model starts from: a checkpoint directory or a config."""
    from minibert.cli_pretraining import _load_config
    from minibert.tokenization import WordPieceTokenizer

    if args.model:
        if args.tokenizer or args.config_overrides:
            raise ValueError(
                "--tokenizer and --config-overrides go with --config; a --model brings its own "
                "tokenizer and configuration"
            )
        return WordPieceTokenizer.from_pretrained(args.model), args.model
    if args.tokenizer:
        tokenizer = WordPieceTokenizer.from_pretrained(args.tokenizer)
    else:
        texts = training_texts(task, train)
        if not args.quiet:
            print(f"training a WordPiece vocabulary (at most {args.vocab_size} tokens) "
                  f"on the {len(texts)} training texts")  # fmt: skip
        tokenizer = WordPieceTokenizer.train(
            iter(texts), vocab_size=args.vocab_size, show_progress=False
        )
    tokenizer.model_max_length = args.max_seq_length
    config = _load_config(args.config, len(tokenizer), args.max_seq_length)
    return tokenizer, config.with_overrides(args.config_overrides or "")


def _finetune(args: argparse.Namespace) -> int:
    from minibert.finetuning.trainer import (
        FinetuningArguments,
        build_model,
        finetune,
        format_metrics,
        split_examples,
    )

    task = _task(args.task, args.doc_stride)
    train = task.read(args.train)
    if args.validation:
        validation = task.read(args.validation)
    else:
        train, validation = split_examples(train, args.validation_fraction, args.seed)
    tokenizer, base = _tokenizer_and_base(args, task, train)
    learning_rate = args.lr if args.lr is not None else (5e-5 if args.model else 1e-3)
    training = FinetuningArguments(
        epochs=args.epochs, max_steps=args.max_steps, learning_rate=learning_rate,
        batch_size=args.batch_size, max_seq_length=args.max_seq_length, patience=args.patience,
        eval_every=args.eval_every, seed=args.seed,
    )  # fmt: skip
    training.validate()
    model = build_model(task, base, task.label_names(train), seed=args.seed)
    start = f"from {args.model}" if args.model else f"from scratch ({args.config})"
    print(f"fine-tuning {model.num_parameters():,} parameters {start} for {args.task} on "
          f"{len(train)} examples, validating on {len(validation)} -> {args.out}")  # fmt: skip
    summary = finetune(
        task, model, tokenizer, train, validation, training, args.out, progress=not args.quiet
    )
    print(
        f"done in {summary['seconds']:.0f} s, {summary['steps']} steps"
        f"{' (stopped early)' if summary['stopped_early'] else ''}; best at step "
        f"{summary['best_step']}: {format_metrics(summary['best_metrics'])}"
    )
    print(f"baseline ({summary['baseline_name']}): {format_metrics(summary['baseline'])}")
    print(f"model in {Path(args.out) / 'best'}, metrics in {Path(args.out) / 'metrics.json'}")
    return 0


def _model_directory(path: str) -> Path:
    """A fine-tuned checkpoint, given itself or the run directory holding ``best/``."""
    from minibert.finetuning.trainer import BEST, FINETUNE_NAME

    path = Path(path)
    if not (path / FINETUNE_NAME).is_file() and (path / BEST / FINETUNE_NAME).is_file():
        return path / BEST
    return path


def run_pipeline(task, model, tokenizer, texts: list[str], pairs: bool, top_k: int) -> list:
    """The task's pipeline on command-line inputs; ``[(inputs, prediction), ...]``."""
    if (pairs or task.name in PAIRED_TASKS) and len(texts) % 2:
        what = "question, context" if task.name == "qa" else "text, text_pair"
        raise ValueError(f"give the inputs two by two ({what}); got {len(texts)}")
    if task.name in ("classification", "regression"):
        from minibert.finetuning.classification import classify

        firsts, seconds = (texts[0::2], texts[1::2]) if pairs else (texts, None)
        results = classify(model, tokenizer, firsts, seconds, top_k=top_k)
        inputs = [list(p) for p in zip(firsts, seconds, strict=True)] if pairs else firsts
        return list(zip(inputs, results, strict=True))
    if task.name == "token-classification":
        from minibert.finetuning.token_classification import tag

        return [(text, tag(model, tokenizer, text)) for text in texts]
    if task.name == "qa":
        from minibert.finetuning.question_answering import answer

        options = {k: v for k, v in task.settings().items() if k == "doc_stride"}
        return [
            ([q, c], answer(model, tokenizer, q, c, **options))
            for q, c in zip(texts[0::2], texts[1::2], strict=True)
        ]
    raise ValueError(f"task {task.name!r} has no pipeline for command-line texts; use --file")


def _predict(args: argparse.Namespace) -> int:
    from minibert.finetuning.trainer import format_metrics, label_names_of
    from minibert.io import atomic_write_text

    model, tokenizer, task = _load(args)
    if not args.file:
        if not args.texts:
            raise ValueError("give texts to predict, or --file FILE")
        for inputs, prediction in run_pipeline(
            task, model, tokenizer, args.texts, args.pairs, args.top_k
        ):
            print(json.dumps({"input": inputs, "prediction": prediction}))
        return 0
    if args.texts:
        raise ValueError("give texts or --file, not both")
    examples = task.read(args.file)
    labelled = task.is_labelled(examples) if hasattr(task, "is_labelled") else True
    label_names = label_names_of(model)
    label2id = {name: i for i, name in enumerate(label_names)} if label_names else None
    # Encoding the targets of a labelled file checks its labels: one the model does not know
    # is an error naming its line, not a silent miss.
    features = task.encode(
        examples, tokenizer, tokenizer.model_max_length, label2id, with_targets=labelled
    )
    predictions = task.predict(model, features, examples, args.batch_size)
    lines = [
        json.dumps({"example": getattr(e, "where", i), "prediction": p})
        for i, (e, p) in enumerate(zip(examples, predictions, strict=True))
    ]
    if args.out:
        atomic_write_text(Path(args.out), "".join(line + "\n" for line in lines))
        print(f"wrote {len(lines)} predictions to {args.out}")
    else:
        print("\n".join(lines))
    if labelled:
        metrics = task.evaluate(predictions, examples)
        print(f"{args.file}: {format_metrics(metrics)}")
    return 0


def _load(args: argparse.Namespace):
    from minibert.finetuning.trainer import load_finetuned

    model, tokenizer, task = load_finetuned(_model_directory(args.model))
    if args.task and args.task != task.name:
        raise ValueError(f"{args.model} was fine-tuned for {task.name!r}, not {args.task!r}")
    return model, tokenizer, task


def add_commands(commands) -> None:
    """Register ``finetune`` and ``predict`` on ``minibert``'s subparsers."""
    from minibert.finetuning import TASKS
    from minibert.finetuning.trainer import FinetuningArguments

    defaults = FinetuningArguments()
    finetune = commands.add_parser(
        "finetune",
        help="fine-tune a BERT on a task (classification, regression, NER, QA)",
        description="Fine-tune a checkpoint (--model) or a freshly initialized model (--config) "
        "on a task; keep the checkpoint that scores best on the validation set in OUT/best.",
    )
    finetune.add_argument("--task", required=True, choices=list(TASKS))
    finetune.add_argument("--train", required=True, help="training file (CSV/TSV/JSONL, CoNLL, "
                          "SQuAD JSON, as the task reads)")  # fmt: skip
    held_out = finetune.add_mutually_exclusive_group()
    held_out.add_argument("--validation", help="validation file")
    held_out.add_argument(
        "--validation-fraction",
        type=float,
        default=0.1,
        help="without --validation, hold out this share of --train (default: %(default)s)",
    )
    start = finetune.add_mutually_exclusive_group(required=True)
    start.add_argument("--model", help="a pretrained checkpoint directory (with its vocab.txt)")
    start.add_argument("--config", help="start from scratch: a preset (tiny, mini, small, base) "
                       "or a config.json")  # fmt: skip
    finetune.add_argument("--config-overrides", help="with --config: change fields, e.g. "
                          "'hidden_size=64,num_attention_heads=4,hidden_dropout_prob=0' "
                          "(as transformers' run_clm.py --config_overrides)")  # fmt: skip
    finetune.add_argument("--tokenizer", help="with --config: a tokenizer directory (default: "
                          "train a WordPiece vocabulary on the training texts)")  # fmt: skip
    finetune.add_argument("--vocab-size", type=int, default=4000,
                          help="when training a vocabulary (default: %(default)s)")  # fmt: skip
    finetune.add_argument("--out", required=True, help="output directory")
    finetune.add_argument("--epochs", type=float, default=defaults.epochs,
                          help="(default: %(default)s)")  # fmt: skip
    finetune.add_argument("--max-steps", type=int, help="optimizer steps (overrides --epochs)")
    finetune.add_argument("--lr", type=float, help="peak learning rate (default: 5e-5 with "
                          "--model, 1e-3 from scratch with --config)")  # fmt: skip
    finetune.add_argument("--batch-size", type=int, default=defaults.batch_size,
                          help="(default: %(default)s)")  # fmt: skip
    finetune.add_argument("--max-seq-length", type=int, default=defaults.max_seq_length,
                          help="(default: %(default)s)")  # fmt: skip
    finetune.add_argument("--patience", type=int, default=defaults.patience,
                          help="evaluations without improvement before stopping; 0: never "
                          "(default: %(default)s)")  # fmt: skip
    finetune.add_argument("--eval-every", type=int, help="steps between evaluations "
                          "(default: once per epoch)")  # fmt: skip
    finetune.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    finetune.add_argument("--doc-stride", type=int, help="qa: overlap of context windows")
    finetune.add_argument("--quiet", action="store_true", help="no progress bar")
    finetune.set_defaults(handler=_finetune)

    predict = commands.add_parser(
        "predict",
        help="predict with a fine-tuned model, on texts or a file",
        description="Run a fine-tuned model (minibert finetune's OUT or OUT/best) on texts "
        "given on the command line, or on a data file; a labelled file is also scored.",
    )
    predict.add_argument("--model", required=True, help="a fine-tuned model directory")
    predict.add_argument("--task", choices=list(TASKS), help="check the model's task is this")
    predict.add_argument("texts", nargs="*", help="texts (qa: question and context, in pairs)")
    predict.add_argument("--pairs", action="store_true", help="classification/regression: "
                         "the texts are (text, text_pair) pairs")  # fmt: skip
    predict.add_argument("--file", help="a data file in the task's format")
    predict.add_argument("--out", help="with --file: write the predictions here (JSON lines)")
    predict.add_argument("--top-k", type=int, default=1, help="classification: labels per text "
                         "(default: %(default)s)")  # fmt: skip
    predict.add_argument("--batch-size", type=int, default=64, help="(default: %(default)s)")
    predict.set_defaults(handler=_predict)
