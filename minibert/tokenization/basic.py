"""BERT's basic tokenizer: clean the text, then cut it into words and punctuation marks.

This is the first half of BERT's tokenization; the second half, WordPiece, cuts each word into
pieces from a vocabulary (``wordpiece.py``). The basic tokenizer, step by step:

1. drop NUL, U+FFFD and the invisible control and format characters (zero-width spaces and
   joiners, byte-order marks, private-use characters), and turn every kind of whitespace into a
   plain space;
2. put spaces around CJK ideographs, so each becomes a word of its own (Chinese has no spaces
   between words);
3. with ``strip_accents``: decompose each character (Unicode NFD, ``é`` -> ``e`` + U+0301) and drop
   the combining marks (category Mn);
4. with ``do_lower_case``: lowercase;
5. split on spaces, and make every punctuation character a word of its own.

**One character at a time.** Every step looks at one character and nothing else, so the whole
pipeline is a function from a character to a short string: ``"É"`` -> ``"e"``, ``"!"`` ->
``" ! "`` (punctuation padded with spaces), ``"中"`` -> ``" 中 "``, a zero-width space -> ``""``.
We compute that string once per distinct character, the first time we meet it, and keep it in a
table; ``str.translate`` then applies the table to a whole text in C, and ``str.split`` does
step 5. So ``text.translate(table).split()`` *is* the basic tokenizer, and runs at about 10 MB/s.

**Which BERT?** transformers ships two BERT tokenizers that mostly agree: ``BertTokenizerFast``
(Rust, the ``tokenizers`` library; transformers 5 calls it plain ``BertTokenizer``) and the
legacy pure-Python one (``transformers.models.bert.tokenization_bert_legacy.BertTokenizerLegacy``
in transformers 5, written after google-research/bert). Where they disagree we follow the Rust
one, which is what nearly everyone runs:

- unassigned code points (category Cn) are kept; the legacy tokenizer drops them, as
  google-research/bert did;
- lowercasing works character by character, so a final capital sigma becomes σ, not ς (Python's
  ``str.lower`` on a whole word gives ς; the legacy tokenizer uses that);
- no NFC composition: transformers 5's legacy tokenizer composes the text with NFC first, which
  changes the output of *cased* models (``do_lower_case=False``) on decomposed input such as
  ``"e" + U+0301``; with accent stripping the two agree.

Character categories come from Python's ``unicodedata`` (Unicode 14 on Python 3.11). The Rust
library uses older tables, so about a hundred rare-script characters (new punctuation marks, new
format characters) are classified differently; real text does not meet them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator

# The CJK Unified Ideograph blocks, exactly as BERT lists them. Hangul, hiragana and katakana
# are not here: Korean and Japanese write spaces (or kana) between words.
CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def is_chinese_char(char: str) -> bool:
    """True for a CJK ideograph (the blocks BERT puts spaces around)."""
    code = ord(char)
    return any(low <= code <= high for low, high in CJK_RANGES)


def is_control(char: str) -> bool:
    """Characters BERT deletes: control (Cc), format (Cf), private use (Co), lone surrogates (Cs).

    Tab, newline and carriage return are whitespace, not control. Unassigned code points (Cn) are
    kept, as the Rust tokenizer keeps them (the legacy Python tokenizer deletes them).
    """
    if char in "\t\n\r":
        return False
    return unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs")


def is_whitespace(char: str) -> bool:
    """Space, tab, newline, carriage return, and the Unicode space and separator categories."""
    return char in " \t\n\r" or unicodedata.category(char) in ("Zs", "Zl", "Zp")


def is_punctuation(char: str) -> bool:
    """Every ASCII character that is not a letter, digit or space, and Unicode category P*.

    ASCII counts more broadly than Unicode: ``$ + < = > ^ ` | ~`` are symbols (S*) in Unicode,
    punctuation for BERT.
    """
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def strip_accents(text: str) -> str:
    """Decompose (NFD) and drop the non-spacing combining marks: ``"Crème"`` -> ``"Creme"``."""
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


class CharTable(dict):
    """A ``str.translate`` table that fills itself: code point -> what that character becomes.

    ``str.translate`` looks every character up in the table; a character it has not seen yet
    reaches ``__missing__``, which computes its string once and stores it.
    """

    def __init__(self, char_to_text: Callable[[str], str]):
        super().__init__()
        self.char_to_text = char_to_text

    def __missing__(self, code: int) -> str:
        text = self[code] = self.char_to_text(chr(code))
        return text


class BasicTokenizer:
    """Clean, lowercase and strip accents, then split into words and punctuation marks.

    Args:
        do_lower_case: lowercase the text.
        strip_accents: drop accents (NFD, then delete combining marks). ``None`` follows
            ``do_lower_case``, as in BERT: the uncased models strip accents, the cased keep them.
        tokenize_chinese_chars: make every CJK ideograph a word of its own.
        never_split: strings kept whole wherever they appear in the raw text (matched before
            any cleaning, longest first), as transformers does with special tokens such as
            ``[MASK]``.

    Example:
        >>> BasicTokenizer().tokenize("Héllo, WORLD!\u200b 你好")
        ['hello', ',', 'world', '!', '你', '好']
    """

    def __init__(
        self,
        do_lower_case: bool = True,
        strip_accents: bool | None = None,
        tokenize_chinese_chars: bool = True,
        never_split: Iterable[str] | None = None,
    ):
        self.do_lower_case = bool(do_lower_case)
        self.strip_accents = strip_accents
        self.tokenize_chinese_chars = bool(tokenize_chinese_chars)
        self.never_split = tuple(dict.fromkeys(t for t in (never_split or ()) if t))
        # Longest first, so that at any position the longest protected string wins.
        by_length = sorted(self.never_split, key=len, reverse=True)
        self._protected = re.compile("|".join(map(re.escape, by_length))) if by_length else None
        self.table = CharTable(self.normalize_char)

    @property
    def strips_accents(self) -> bool:
        """Whether accents are stripped (``strip_accents=None`` follows ``do_lower_case``)."""
        return self.do_lower_case if self.strip_accents is None else bool(self.strip_accents)

    def normalize_char(self, char: str) -> str:
        """What one character becomes: ``""`` (deleted), ``" "``, or text with punctuation padded.

        The order of the steps is BERT's (the Rust tokenizer's): clean, CJK, accents, lowercase;
        punctuation is judged on the result, so U+1FEF (Greek varia, a symbol) strips to the
        backtick and splits like one.
        """
        if char in "\x00\ufffd" or is_control(char):
            return ""
        if is_whitespace(char):
            return " "
        text = strip_accents(char) if self.strips_accents else char
        if self.do_lower_case:
            # Character by character: str.lower() on "Σ" at the end of a string would give "ς".
            text = "".join(c.lower() for c in text)
        text = "".join(f" {c} " if is_punctuation(c) else c for c in text)
        if self.tokenize_chinese_chars and is_chinese_char(char):
            text = f" {text} "
        return text

    def normalize(self, text: str) -> str:
        """Steps 1-4 on a whole text, with punctuation padded by spaces (see the module doc)."""
        return text.translate(self.table)

    def split_protected(self, text: str) -> Iterator[tuple[int, int, bool]]:
        """Cut ``text`` around the ``never_split`` strings: ``(start, end, is_protected)`` spans."""
        start = 0
        if self._protected is not None:
            for match in self._protected.finditer(text):
                if match.start() > start:
                    yield start, match.start(), False
                yield match.start(), match.end(), True
                start = match.end()
        if start < len(text) or start == 0:
            yield start, len(text), False

    def tokenize(self, text: str) -> list[str]:
        """The words and punctuation marks of ``text``, cleaned (``never_split`` strings whole)."""
        if self._protected is None or self._protected.search(text) is None:
            return text.translate(self.table).split()
        words: list[str] = []
        for start, end, protected in self.split_protected(text):
            if protected:
                words.append(text[start:end])
            else:
                words += text[start:end].translate(self.table).split()
        return words

    def words_with_origins(self, text: str) -> Iterator[tuple[str, list[int], bool]]:
        """Like ``tokenize``, but each word comes with where its characters came from.

        Yields:
            ``(word, origins, is_protected)``, where ``origins[i]`` is the index in ``text`` of
            the character that produced ``word[i]``. Lowercasing can turn one character into
            two (``"İ"`` -> ``"i"`` + U+0307); both then point at the ``"İ"``. A word spans
            ``text[origins[0] : origins[-1] + 1]``, deleted characters inside it included.
        """
        for start, end, protected in self.split_protected(text):
            if protected:
                yield text[start:end], list(range(start, end)), True
                continue
            pieces = [self.table[ord(c)] for c in text[start:end]]
            normalized = "".join(pieces)
            # origin[j] = the index in `text` of the character that produced normalized[j]
            origin = [start + i for i, piece in enumerate(pieces) for _ in piece]
            for match in _WORD.finditer(normalized):
                yield match.group(), origin[match.start() : match.end()], False

    def tokenize_with_offsets(self, text: str) -> list[tuple[str, int, int]]:
        """``(word, start, end)`` for each word: ``text[start:end]`` is where it came from.

        Example:
            >>> BasicTokenizer().tokenize_with_offsets("Héllo, world")
            [('hello', 0, 5), (',', 5, 6), ('world', 7, 12)]
        """
        return [(w, o[0], o[-1] + 1) for w, o, _ in self.words_with_origins(text)]


# After normalization the only whitespace left is the plain space.
_WORD = re.compile(r"[^ ]+")
