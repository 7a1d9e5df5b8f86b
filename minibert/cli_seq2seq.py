"""``minibert train-seq2seq``, ``translate``, ``train-causal-lm`` and ``generate``: parsing and
printing only (the work is in ``minibert.seq2seq`` and ``minibert.generation``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _model_sizes(args) -> dict:
    """The layer sizes both halves share, from the command line."""
    return dict(
        hidden_size=args.hidden_size, num_hidden_layers=args.layers, num_attention_heads=args.heads,
        intermediate_size=args.intermediate_size or 4 * args.hidden_size,
        max_position_embeddings=args.max_length, hidden_dropout_prob=args.dropout,
        attention_probs_dropout_prob=args.dropout,
    )  # fmt: skip


def _write_summary(out: Path, summary: dict) -> None:
    from minibert.io import atomic_write_text

    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")


def _tokenizer_for(args, out: Path, build):
    """The run's tokenizer: the checkpoint's when resuming, the encoder's, or a new one."""
    from minibert.tokenization import WordPieceTokenizer
    from minibert.training.state import latest_checkpoint

    if args.resume:
        latest = latest_checkpoint(out)
        if latest is None:
            raise ValueError(f"--resume: {out} has no checkpoint to resume from")
        return WordPieceTokenizer.from_pretrained(latest)
    if getattr(args, "encoder", None) or getattr(args, "tokenizer", None):
        return WordPieceTokenizer.from_pretrained(args.encoder or args.tokenizer)
    return build()


def _training_arguments(args):
    from minibert.training import TrainingArguments

    return TrainingArguments(
        max_steps=args.steps, learning_rate=args.lr,
        warmup_steps=min(args.warmup_steps, args.steps), eval_every=0,
        save_every=args.save_every, log_every=10, seed=args.seed,
    )  # fmt: skip


def _train_seq2seq(args: argparse.Namespace) -> int:
    from minibert.config import BertConfig
    from minibert.modeling.decoder_config import DecoderConfig, EncoderDecoderConfig
    from minibert.modeling.encoder_decoder import BertEncoderDecoder
    from minibert.seq2seq import Seq2SeqData, build_tokenizer, read_pairs, train_seq2seq
    from minibert.seq2seq.data import TranslationPair, embedded_task

    train_path = args.train or embedded_task("train")
    eval_path = args.validation or (None if args.train else embedded_task("validation"))
    train_pairs = read_pairs(train_path)
    eval_pairs = read_pairs(eval_path) if eval_path else None
    if args.reverse:
        train_pairs, eval_pairs = [
            [TranslationPair(p.target, p.source) for p in pairs] if pairs else pairs
            for pairs in (train_pairs, eval_pairs)
        ]
    out = Path(args.out)
    tokenizer = _tokenizer_for(args, out, lambda: build_tokenizer(train_pairs))
    sizes = _model_sizes(args)
    if args.resume:  # the architecture is the checkpoint's, whatever built it first
        from minibert.training.state import latest_checkpoint

        config = EncoderDecoderConfig.load(latest_checkpoint(out))
        model = BertEncoderDecoder(config, seed=args.seed)
    elif args.encoder:
        width = BertConfig.load(args.encoder).hidden_size
        decoder = DecoderConfig.for_tokenizer(
            tokenizer, add_cross_attention=True, encoder_hidden_size=width, **sizes
        )
        model = BertEncoderDecoder.from_encoder_pretrained(args.encoder, decoder, seed=args.seed)
    else:
        decoder = DecoderConfig.for_tokenizer(tokenizer, add_cross_attention=True, **sizes)
        encoder = BertConfig(
            vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, **sizes
        )
        config = EncoderDecoderConfig(encoder=encoder, decoder=decoder)
        model = BertEncoderDecoder(config, seed=args.seed)
    data = Seq2SeqData(train_pairs, tokenizer, args.batch_size, args.seed, args.label_smoothing,
                       max_length=args.max_length)  # fmt: skip
    print(
        f"training a {model.num_parameters():,}-parameter encoder-decoder on {len(data)} pairs "
        f"({train_path}) for {args.steps} steps -> {out}"
    )
    summary = train_seq2seq(model, tokenizer, data, _training_arguments(args), out, eval_pairs,
                            resume=args.resume, progress=not args.quiet,
                            num_beams=args.num_beams)  # fmt: skip
    print(f"done in {summary['seconds']:.0f} s; model in {out / 'model'}")
    if "eval_exact_match" in summary:
        print(
            f"held-out exact match {summary['eval_exact_match']:.3f} "
            f"(copy baseline {summary['eval_copy_exact_match']:.3f}), BLEU "
            f"{summary['eval_bleu']:.1f} (copy baseline {summary['eval_copy_bleu']:.1f}) on "
            f"{summary['eval_pairs']} pairs"
        )
    _write_summary(out, summary)
    return 0


def _load(model_dir: str, cls):
    from minibert.tokenization import WordPieceTokenizer

    model = cls.from_pretrained(model_dir).eval()
    tokenizer = WordPieceTokenizer.from_pretrained(model_dir)
    vocab_size = getattr(model.config, "decoder", model.config).vocab_size
    if vocab_size != len(tokenizer):
        raise ValueError(
            f"{model_dir}: the model has {vocab_size} tokens but its tokenizer {len(tokenizer)}; "
            "the directory mixes two runs"
        )
    return model, tokenizer


def _translate(args: argparse.Namespace) -> int:
    from minibert.modeling.encoder_decoder import BertEncoderDecoder
    from minibert.seq2seq import translate

    model, tokenizer = _load(args.model, BertEncoderDecoder)
    translations = translate(
        model, tokenizer, args.texts, num_beams=args.num_beams, max_new_tokens=args.max_new_tokens
    )
    for text, translation in zip(args.texts, translations, strict=True):
        print(f"{text}\t{translation}")
    return 0


def _train_causal_lm(args: argparse.Namespace) -> int:
    from minibert.cli_pretraining import embedded_corpus
    from minibert.modeling.causal_lm import MiniGPT
    from minibert.modeling.decoder_config import DecoderConfig
    from minibert.seq2seq.lm_data import LanguageModelingData
    from minibert.tokenization import WordPieceTokenizer
    from minibert.training import pretrain

    corpus = args.corpus or [embedded_corpus("train")]
    out = Path(args.out)

    def build():
        print(f"training a {args.vocab_size}-token WordPiece vocabulary on the corpus")
        return WordPieceTokenizer.train(
            corpus, vocab_size=args.vocab_size, show_progress=not args.quiet
        )

    tokenizer = _tokenizer_for(args, out, build)
    config = DecoderConfig.for_tokenizer(tokenizer, **_model_sizes(args))
    data = LanguageModelingData(corpus, tokenizer, args.max_length, args.batch_size, args.seed)
    model = MiniGPT(config, seed=args.seed)
    print(f"training a {model.num_parameters():,}-parameter MiniGPT on {len(data)} blocks -> {out}")
    summary = pretrain(model, tokenizer, data, _training_arguments(args), out,
                       resume=args.resume, progress=not args.quiet,
                       description="causal LM training")  # fmt: skip
    print(
        f"done in {summary['seconds']:.0f} s, loss {summary['loss']:.3f}; model in {out / 'model'}"
    )
    _write_summary(out, summary)
    return 0


def _generate(args: argparse.Namespace) -> int:
    import numpy as np

    from minibert.generation import generate
    from minibert.modeling.causal_lm import MiniGPT

    model, tokenizer = _load(args.model, MiniGPT)
    generator = np.random.default_rng(args.seed) if args.do_sample else None
    for prompt in args.prompts:
        ids = [tokenizer.cls_token_id] + tokenizer.encode(prompt, add_special_tokens=False)
        room = model.config.max_position_embeddings - len(ids)  # positions left after the prompt
        if room < 1:
            raise ValueError(
                f"the prompt has {len(ids)} tokens with [CLS]; the model has "
                f"{model.config.max_position_embeddings} positions in all: shorten it"
            )
        out = generate(
            model, np.array([ids]), max_new_tokens=min(args.max_new_tokens, room),
            num_beams=args.num_beams, do_sample=args.do_sample, temperature=args.temperature,
            top_k=args.top_k, generator=generator,
        )  # fmt: skip
        print(tokenizer.decode(out[0].tolist(), skip_special_tokens=True))
    return 0


def _add_training_options(parser, steps, hidden, layers, heads, lr, batch, max_length) -> None:
    parser.add_argument("--hidden-size", type=int, default=hidden, help="(default: %(default)s)")
    parser.add_argument("--layers", type=int, default=layers, help="layers on each side "
                        "(default: %(default)s)")  # fmt: skip
    parser.add_argument("--heads", type=int, default=heads, help="(default: %(default)s)")
    parser.add_argument("--intermediate-size", type=int, help="(default: 4 x hidden size)")
    parser.add_argument("--dropout", type=float, default=0.0, help="(default: %(default)s)")
    parser.add_argument("--max-length", type=int, default=max_length,
                        help="positions of the model (default: %(default)s)")  # fmt: skip
    parser.add_argument("--steps", type=int, default=steps, help="(default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=batch, help="(default: %(default)s)")
    parser.add_argument("--lr", type=float, default=lr, help="peak learning rate "
                        "(default: %(default)s)")  # fmt: skip
    parser.add_argument("--warmup-steps", type=int, default=steps // 10,
                        help="(default: %(default)s)")  # fmt: skip
    parser.add_argument("--save-every", type=int, default=500, help="(default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--resume", action="store_true",
                        help="continue from --out's latest checkpoint")  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def add_commands(commands) -> None:
    """Register the sequence-to-sequence and causal-LM subcommands on ``minibert``'s
    subparsers."""
    train = commands.add_parser(
        "train-seq2seq",
        help="train a BERT encoder-decoder on translation pairs",
        description="Train a BertEncoderDecoder with teacher forcing. Without --train it learns "
        "the embedded toy task (English number words to digits) and scores the held-out split "
        "against the copy baseline (exact match and BLEU).",
    )
    train.add_argument("--train", help="a source<TAB>target file (default: the embedded task)")
    train.add_argument("--validation", help="held-out pairs to score after training")
    train.add_argument("--reverse", action="store_true", help="translate target to source")
    train.add_argument(
        "--encoder", help="start the encoder from this minibert checkpoint (and its tokenizer)"
    )
    train.add_argument("--label-smoothing", type=float, default=0.1, help="(default: %(default)s)")
    train.add_argument("--num-beams", type=int, default=1,
                       help="beams for the final held-out decoding (default: greedy)")  # fmt: skip
    _add_training_options(train, steps=1500, hidden=32, layers=1, heads=4, lr=5e-3, batch=32,
                          max_length=32)  # fmt: skip
    train.set_defaults(handler=_train_seq2seq)

    translate = commands.add_parser("translate", help="translate texts with a trained model")
    translate.add_argument("--model", required=True, help="a train-seq2seq model directory")
    translate.add_argument("--num-beams", type=int, default=1, help="(default: greedy)")
    translate.add_argument("--max-new-tokens", type=int, help="(default: the model's limit)")
    translate.add_argument("texts", nargs="+", help='e.g. "three hundred and forty-two"')
    translate.set_defaults(handler=_translate)

    lm = commands.add_parser(
        "train-causal-lm",
        help="train a MiniGPT (left-to-right LM) on a corpus",
        description="Train a MiniGPT on next-token prediction; without --corpus, on the "
        "embedded corpus (the Jargon File).",
    )
    lm.add_argument("--corpus", nargs="+", help="corpus files (default: the embedded corpus)")
    lm.add_argument("--tokenizer", help="a tokenizer directory (default: train one)")
    lm.add_argument("--vocab-size", type=int, default=8192, help="(default: %(default)s)")
    _add_training_options(lm, steps=1000, hidden=128, layers=2, heads=2, lr=1e-3, batch=32,
                          max_length=64)  # fmt: skip
    lm.set_defaults(handler=_train_causal_lm)

    gen = commands.add_parser("generate", help="continue a prompt with a MiniGPT")
    gen.add_argument("--model", required=True, help="a train-causal-lm model directory")
    gen.add_argument("--max-new-tokens", type=int, default=20, help="(default: %(default)s)")
    gen.add_argument("--num-beams", type=int, default=1, help="(default: greedy)")
    gen.add_argument("--do-sample", action="store_true", help="sample instead of the best token")
    gen.add_argument("--temperature", type=float, default=1.0, help="(default: %(default)s)")
    gen.add_argument("--top-k", type=int, help="sample among the k most likely tokens only")
    gen.add_argument("--seed", type=int, default=0, help="seeds sampling (default: %(default)s)")
    gen.add_argument("prompts", nargs="+", help='e.g. "a hacker is"')
    gen.set_defaults(handler=_generate)
