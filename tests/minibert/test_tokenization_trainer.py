"""The WordPiece trainer: hand-checked merges for both scores, determinism, errors, the CLI."""

import json
import random
import subprocess
import sys

import pytest

from minibert.cli import main
from minibert.tokenization import WordPieceTokenizer, train_wordpiece
from minibert.tokenization.trainer import corpus_texts, read_text_file

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# The Hugging Face course's example: word counts hug 10, pug 5, pun 12, bun 4, hugs 5.
COURSE = ["hug"] * 10 + ["pug"] * 5 + ["pun"] * 12 + ["bun"] * 4 + ["hugs"] * 5


def train(words, **kwargs):
    kwargs.setdefault("show_progress", False)
    kwargs.setdefault("vocab_size", 100)
    return train_wordpiece(iter([" ".join(words)]), **kwargs)


def test_the_starting_vocabulary_specials_alphabet_then_continuations():
    result = train(COURSE, vocab_size=22)
    assert result.vocab[:5] == SPECIALS
    assert result.vocab[5:12] == ["b", "g", "h", "n", "p", "s", "u"]  # code-point order
    # continuations: in the most distinct words first (##u: 5 words), then by code point
    assert result.vocab[12:16] == ["##u", "##g", "##n", "##s"]
    assert len(result.vocab) == 22


def test_count_merges_the_most_frequent_pair_first():
    # ##u ##g: hug 10 + pug 5 + hugs 5 = 20; then ##u ##n: pun 12 + bun 4 = 16; then h ##ug: 15.
    result = train(COURSE, score="count")
    steps = [(m.left, m.right, m.token, m.count) for m in result.merges[:3]]
    assert steps == [
        ("##u", "##g", "##ug", 20),
        ("##u", "##n", "##un", 16),
        ("h", "##ug", "hug", 15),
    ]


def test_likelihood_prefers_pieces_that_belong_together():
    # score = count(ab) / (count(a) count(b)): ##g ##s = 5 / (20 * 5) = 1/20 is the best, as the
    # Hugging Face course computes; a frequent pair like ##u ##g scores only 20 / (36 * 20).
    result = train(COURSE, score="likelihood")
    first = result.merges[0]
    assert (first.left, first.right, first.token) == ("##g", "##s", "##gs")
    assert first.score == pytest.approx(1 / 20)


def test_min_frequency_stops_training_early():
    result = train(COURSE, vocab_size=1000, min_frequency=5)
    assert all(m.count >= 5 for m in result.merges)
    assert len(result.vocab) < 1000


def test_the_same_corpus_gives_the_same_vocabulary_whatever_the_line_order():
    lines = [
        " ".join(random.Random(i).choices(COURSE + ["hugging", "bugs", "pugs"], k=20))
        for i in range(50)
    ]
    first = train_wordpiece(iter(lines), vocab_size=60, show_progress=False)
    shuffled = lines[:]
    random.Random(1).shuffle(shuffled)
    again = train_wordpiece(iter(shuffled), vocab_size=60, show_progress=False)
    assert first.vocab == again.vocab


def test_limit_alphabet_drops_rare_characters_and_words_close_up():
    result = train(
        ["abc"] * 5 + ["aXc"] * 3 + ["Y"], vocab_size=40, limit_alphabet=3, lowercase=False
    )
    assert result.alphabet == ["a", "b", "c"]
    # Without X, "aXc" reads "a ##c": the pair a ##c is counted (as in the tokenizers library).
    assert ("a", "##c") in {(m.left, m.right) for m in result.merges}


def test_the_trained_tokenizer_knows_every_training_word():
    texts = ["Crème brûlée, s'il vous plaît! 中文 ΟΔΟΣ emoji 😀 done."] * 3
    tok = WordPieceTokenizer.train(iter(texts), vocab_size=60, show_progress=False)
    assert tok.unk_token_id not in tok.encode(texts[0])
    assert tok.training.n_words == 3 * len(tok.basic.tokenize(texts[0]))


def test_files_are_read_in_blocks_without_cutting_characters(tmp_path):
    text = "é中😀 word\n" * 3000
    path = tmp_path / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    blocks = list(read_text_file(path, block_size=1000))
    assert len(blocks) > 10 and "".join(blocks) == text
    from_file = WordPieceTokenizer.train(path, vocab_size=30, show_progress=False)
    from_memory = WordPieceTokenizer.train(iter([text]), vocab_size=30, show_progress=False)
    assert from_file.vocab == from_memory.vocab


def test_a_file_that_is_not_utf8_names_the_file_and_the_byte_offset(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("hello\nwörld\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1\.txt: not valid UTF-8 at byte offset 7"):
        WordPieceTokenizer.train([path], vocab_size=30, show_progress=False)


@pytest.mark.parametrize("text", ["", "   \n\t ", "\x00\u200b\ufeff"])
def test_an_empty_corpus_is_a_clear_error(text):
    with pytest.raises(ValueError, match="empty"):
        WordPieceTokenizer.train(iter([text]), vocab_size=30, show_progress=False)


def test_a_vocab_size_below_specials_plus_alphabet_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 12"):
        train(COURSE, vocab_size=11)  # 5 special tokens + 7 characters


@pytest.mark.parametrize(
    "source, error",
    [
        ("no/such/file.txt", FileNotFoundError),
        (["the cat sat"], FileNotFoundError),
        ([1, 2], TypeError),
        (iter([b"bytes"]), TypeError),
        (42, TypeError),
    ],
)
def test_bad_corpus_sources(source, error):
    with pytest.raises(error):
        list(corpus_texts(source))


def test_bad_settings():
    with pytest.raises(ValueError, match="score"):
        train(COURSE, score="bpe")
    with pytest.raises(ValueError, match="vocab_size"):
        train(COURSE, vocab_size=0)


# --- the command line -------------------------------------------------------------------------


def test_cli_trains_and_saves_a_tokenizer(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(COURSE) + "\nHÉLLO World\n", encoding="utf-8")
    out = tmp_path / "tok"
    args = [str(corpus), "--out", str(out), "--vocab-size", "30", "--quiet"]
    assert main(["train-tokenizer", *args, "--score", "likelihood", "--no-lowercase"]) == 0
    assert "vocab.txt" in capsys.readouterr().out
    config = json.loads((out / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["do_lower_case"] is False
    tok = WordPieceTokenizer.from_pretrained(out)
    assert tok.tokenize("HÉLLO") == ["H", "##É", "##L", "##L", "##O"]  # cased, accents kept


@pytest.mark.parametrize(
    "content, message",
    [(None, "not found"), (b"ok\n\xff\xfe", "byte offset 3"), (b"", "empty")],
    ids=["missing", "not-utf8", "empty"],
)
def test_cli_errors_are_one_line_without_traceback(tmp_path, content, message):
    corpus = tmp_path / "corpus.txt"
    if content is not None:
        corpus.write_bytes(content)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "minibert.cli",
            "train-tokenizer",
            str(corpus),
            "--out",
            str(tmp_path / "t"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and message in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith("minibert train-tokenizer: error:")
