"""Token classification (named-entity recognition): a tag for every word.

BERT reads ``[CLS] w1 w2 ... [SEP]`` and ``BertForTokenClassification`` puts one linear layer on
every token's final state. Words are cut into WordPiece sub-tokens, but tags belong to words, so
(as transformers' ``run_ner`` example does) a word's tag is the label of its *first* sub-token
and every other sub-token, like ``[CLS]`` and ``[SEP]``, gets the ignore index -100: no loss in
training, no vote in prediction. "Washingtonian" -> ``washington ##ian`` -> ``B-PER, -100``.

Files are CoNLL-style: one token and its tag per line, separated by whitespace; a blank line ends
a sentence; ``-DOCSTART-`` lines are skipped. A line with more than two columns (CoNLL-2003 has
token, part of speech, chunk, tag) takes its first column as the token and its last as the tag.
Tags follow the BIO scheme (``O``, ``B-X``, ``I-X``). An ``I-X`` after ``O`` (or after another
type) is accepted as it is and, as in seqeval's default mode, begins an entity: so CoNLL-2003's
own IOB1 files, where ``I-`` starts most entities, are read and scored without conversion (see
``metrics_entities``).

Long sentences are not truncated: a sentence longer than ``max_seq_length`` is cut, between
words, into consecutive windows that each fit, and every word is tagged from the window that
holds it (a word would lose the context beyond its window's edge, nothing more). Only a single
word longer than a whole window loses its last sub-tokens, which carry no tag anyway.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autograd import no_grad
from minibert.finetuning.metrics_entities import entity_scores, split_tag
from minibert.finetuning.task import DatasetError, Features, Task
from minibert.finetuning.trainer import label_names_of
from minibert.modeling import BertForTokenClassification
from minibert.modeling.models import IGNORE_INDEX
from minibert.scoring import softmax, to_host
from minibert.tokenization.wordpiece import CLEAN_UP, CONTINUATION

DOCSTART = "-DOCSTART-"
AGGREGATIONS = ("first", "simple")


@dataclass
class TaggedSentence:
    """One sentence: its words and their tags (None when unlabelled).

    ``path`` and ``line`` say where its first word was read; word ``i`` is on ``line + i``.
    """

    words: list[str]
    tags: list[str] | None
    path: str = "<memory>"
    line: int | None = None

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line is not None else self.path

    def error(self, index: int, problem: str) -> DatasetError:
        """A ``DatasetError`` naming the line of word ``index``."""
        return DatasetError(self.path, None if self.line is None else self.line + index, problem)


def read_conll(path: str | os.PathLike) -> list[TaggedSentence]:
    """The sentences of a CoNLL-style file (see the module docstring for the format).

    Raises:
        DatasetError: naming the file and line, for a line that is not UTF-8, a line with a
            token but no tag, a tag outside the BIO scheme, and a file without sentences.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    sentences: list[TaggedSentence] = []
    words: list[str] = []
    tags: list[str] = []
    first = 0

    def end_sentence() -> None:
        if words:
            sentences.append(TaggedSentence(list(words), list(tags), str(path), first))
            words.clear()
            tags.clear()

    # bytes.splitlines cuts at \n, \r\n and \r only, so the numbers are the lines an editor shows
    # (str.splitlines would also cut at U+2028 and friends inside a token).
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            columns = raw.decode("utf-8").split()
        except UnicodeDecodeError as error:
            raise DatasetError(path, number, f"not UTF-8 text ({error.reason})") from None
        if not columns or columns[0] == DOCSTART:
            end_sentence()
            continue
        if len(columns) == 1:
            raise DatasetError(
                path,
                number,
                f"one column ({columns[0]!r}): every line needs a token and its tag separated by "
                "whitespace, and a blank line between sentences",
            )
        try:
            split_tag(columns[-1])
        except ValueError as error:
            raise DatasetError(path, number, str(error)) from None
        if not words:
            first = number
        words.append(columns[0])
        tags.append(columns[-1])
    end_sentence()
    if not sentences:
        raise DatasetError(
            path, None, "no sentences: the file is empty or holds only blank and -DOCSTART- lines"
        )
    return sentences


def word_windows(word_ids: Sequence[int | None], budget: int) -> list[tuple[int, int]]:
    """Cut a sentence's tokens into consecutive windows of at most ``budget`` tokens.

    Windows end only between words, so every word is whole in one window. A word longer than
    ``budget`` on its own keeps its first ``budget`` tokens and its other tokens are left out
    (they belong to no window); its first token, the one that carries the tag, is always kept.

    Args:
        word_ids: the word of every token (no special tokens), as ``BatchEncoding.word_ids``.
        budget: the tokens a window may hold (``max_length`` less the special tokens).

    Returns:
        ``(start, end)`` token ranges, in order; one ``(0, n)`` when everything fits.

    Shapes:
        word_ids (n_tokens,); every window holds at most ``budget`` of those tokens.

    Example:
        >>> word_windows([0, 0, 1, 2, 2, 2, 3], 4)
        [(0, 3), (3, 7)]
    """
    if budget < 1:
        raise ValueError(f"a window must hold at least one token, got a budget of {budget}")
    windows = []
    start, n = 0, len(word_ids)
    while start < n:
        end = min(start + budget, n)
        cut = end
        while start < cut < n and word_ids[cut] == word_ids[cut - 1]:
            cut -= 1  # back to the start of the word the budget would split
        if cut > start:
            end = cut
        windows.append((start, end))
        start = end
        while 0 < start < n and word_ids[start] == word_ids[start - 1]:
            start += 1  # the rest of a word longer than a window: left out
    return windows


def first_subtoken_mask(word_ids: Sequence[int | None]) -> list[bool]:
    """True at the first sub-token of every word: where a word's tag is learnt and read."""
    return [w is not None and (k == 0 or w != word_ids[k - 1]) for k, w in enumerate(word_ids)]


class TokenClassificationTask(Task):
    """Named-entity recognition: a BIO tag per word, scored on whole entities.

    The validation metric is the entity-level micro F1 (CoNLL-2003's figure). The trivial
    baseline tags every word ``O`` (entity F1 0); ``baseline`` also reports, under the prefix
    ``per_word_``, a stronger one that gives every word the tag it had most often in training:
    a model must beat that to show it reads context and not just a list of names.
    """

    name = "token-classification"
    model_class = BertForTokenClassification
    metric = "f1"
    baseline_name = "all-O tags"

    def read(self, path: str | os.PathLike) -> list[TaggedSentence]:
        return read_conll(path)

    def label_names(self, examples: Sequence[TaggedSentence]) -> list[str]:
        """``O``, then ``B-X`` and ``I-X`` for every type X of the data, types sorted.

        Both tags of every type are kept even when the data has only one of them, so that a
        validation file may use any tag of a type the training file has.
        """
        kinds = sorted({split_tag(tag)[1] for e in examples for tag in e.tags or ()} - {""})
        if not kinds:
            raise ValueError("the data has no entity tags (every tag is O): nothing to learn")
        return ["O"] + [f"{prefix}-{kind}" for kind in kinds for prefix in ("B", "I")]

    def check_tags(self, examples: Sequence[TaggedSentence], label2id: dict[str, int]) -> None:
        """Every tag of the examples is one the model knows; else an error naming its line."""
        for example in examples:
            for i, tag in enumerate(example.tags or ()):
                if tag not in label2id:
                    known = sorted({split_tag(label)[1] for label in label2id} - {""})
                    raise example.error(
                        i,
                        f"tag {tag!r}: the model does not know it (it knows the types "
                        f"{', '.join(known)}); fine-tune a model on data with this type, or map "
                        "the tag to one of those",
                    )

    def encode(
        self,
        examples: Sequence[TaggedSentence],
        tokenizer,
        max_seq_length: int,
        label2id: dict[str, int] | None,
        with_targets: bool = True,
    ) -> Features:
        """One row per window of every sentence: ``[CLS] tokens [SEP]``, labels on first pieces.

        ``extra["word_ids"]`` keeps every row's word index per token (None for specials), and
        ``example_index`` the sentence of every row, for ``predict``.

        Shapes:
            each row of ``input_ids``, ``token_type_ids``, ``attention_mask``, ``labels`` and
            ``extra["word_ids"]``: (T_i,) with T_i <= max_seq_length; example_index (N,).
        """
        budget = max_seq_length - tokenizer.num_special_tokens_to_add()
        if budget < 1:
            raise ValueError(f"max_seq_length={max_seq_length} leaves no room for any token")
        if with_targets and not label2id:
            raise ValueError("token classification needs the model's label2id to encode tags")
        if label2id:
            self.check_tags(examples, label2id)
        columns: dict[str, list] = defaultdict(list)
        example_index = []
        encoded = (
            tokenizer(
                [e.words for e in examples], is_split_into_words=True, add_special_tokens=False
            )
            if examples
            else {"input_ids": []}
        )
        for i, example in enumerate(examples):
            ids, word_ids = encoded["input_ids"][i], encoded.word_ids(i)
            first = first_subtoken_mask(word_ids)
            if with_targets:
                if example.tags is None:
                    raise example.error(0, "the sentence has no tags to train or score on")
                labels = [
                    label2id[example.tags[w]] if is_first else IGNORE_INDEX
                    for w, is_first in zip(word_ids, first, strict=True)
                ]
            for start, end in word_windows(word_ids, budget):
                row = tokenizer.build_inputs_with_special_tokens(ids[start:end])
                columns["input_ids"].append(row)
                columns["token_type_ids"].append([0] * len(row))
                columns["attention_mask"].append([1] * len(row))
                if with_targets:
                    columns["labels"].append([IGNORE_INDEX, *labels[start:end], IGNORE_INDEX])
                columns["word_ids"].append([None, *word_ids[start:end], None])
                example_index.append(i)
        word_id_rows = columns.pop("word_ids", [])
        if not columns:
            columns = {"input_ids": [], "token_type_ids": [], "attention_mask": []}
        return Features(
            tokens=dict(columns),
            example_index=np.array(example_index, dtype=np.int64),
            extra={"word_ids": word_id_rows},
            pad_token_id=tokenizer.pad_token_id,
        )

    @no_grad()
    def predict(
        self, model, features: Features, examples: Sequence[TaggedSentence], batch_size: int
    ) -> list[list[str]]:
        """Per sentence, one tag per word: the best label of the word's first sub-token.

        A word that the tokenizer turned into no token at all (one made only of characters
        BERT's normalization deletes) gets ``O``.

        Shapes:
            logits (B, T, L) per batch; returns (n_words_i,) tags for sentence i.
        """
        labels = label_names_of(model)
        if labels is None:
            raise ValueError("the model has no id2label: it was not fine-tuned for tagging")
        tags = [["O"] * len(e.words) for e in examples]
        was_training = model.training
        model.eval()
        for rows, batch in features.batches(batch_size):
            batch.pop("labels", None)
            best = to_host(model(**batch).logits.data).argmax(axis=-1)  # (B, T, L) -> (B, T)
            for b, row in enumerate(rows):
                word_ids = features.extra["word_ids"][row]
                sentence = tags[features.example_index[row]]
                for t, is_first in enumerate(first_subtoken_mask(word_ids)):
                    if is_first:
                        sentence[word_ids[t]] = labels[best[b, t]]
        model.train(was_training)
        return tags

    def evaluate(
        self, predictions: list[list[str]], examples: Sequence[TaggedSentence]
    ) -> dict[str, float]:
        """``entity_scores``: precision, recall, F1 (micro), per type, token accuracy."""
        for example in examples:
            if example.tags is None:
                raise example.error(0, "the sentence has no tags to score against")
        return entity_scores([e.tags for e in examples], predictions)

    def baseline(
        self, train_examples: Sequence[TaggedSentence], eval_examples: Sequence[TaggedSentence]
    ) -> dict[str, float]:
        """All-O tags (the plain names), and the most frequent tag per word (``per_word_*``).

        The per-word baseline tags a word as it was tagged most often in training (ties go to
        the tag that sorts first), looking the word up as written and then lowercased, and
        tags words never seen in training ``O``.
        """
        all_o = [["O"] * len(e.words) for e in eval_examples]
        scores = self.evaluate(all_o, eval_examples)
        exact: dict[str, Counter] = defaultdict(Counter)
        lowered: dict[str, Counter] = defaultdict(Counter)
        for example in train_examples:
            for word, tag in zip(example.words, example.tags or (), strict=False):
                exact[word][tag] += 1
                lowered[word.lower()][tag] += 1

        def most_frequent(word: str) -> str:
            counts = exact.get(word) or lowered.get(word.lower())
            return min(counts, key=lambda tag: (-counts[tag], tag)) if counts else "O"

        per_word = self.evaluate(
            [[most_frequent(w) for w in e.words] for e in eval_examples], eval_examples
        )
        for name in ("precision", "recall", "f1", "accuracy"):
            scores[f"per_word_{name}"] = per_word[name]
        return scores


# ------------------------------------------------------------------------------ the pipeline
def tokens_to_string(tokens: Sequence[str]) -> str:
    """Tokens back to text as transformers 5's ``convert_tokens_to_string`` does for BERT.

    That is the tokenizers library's WordPiece decoder with its clean-up, applied token by
    token: a ``##`` continuation is glued to the token before, any other token gets a space in
    front, and a space before ``.``, ``?``, ``!`` or ``,`` is dropped ("zurich!", not
    "zurich !"). The pipeline's ``word`` fields are built with it, as transformers builds them.
    """
    parts = []
    for i, token in enumerate(tokens):
        if i and token.startswith(CONTINUATION):
            token = token[len(CONTINUATION) :]
        elif i:
            token = " " + token
        for old, new in CLEAN_UP:
            token = token.replace(old, new)
        parts.append(token)
    return "".join(parts)


def _group_entities(entities: list[dict]) -> list[dict]:
    """transformers' ``group_entities``: runs of one type where no ``B-`` restarts it.

    A tag without a ``B-``/``I-`` prefix (``O``) counts as a continuation of its own "type", so
    runs of ``O`` form groups too; the caller drops them.
    """

    def prefix_and_type(tag: str) -> tuple[str, str]:
        return (tag[0], tag[2:]) if tag[:2] in ("B-", "I-") else ("I", tag)

    groups: list[list[dict]] = []
    for entity in entities:
        prefix, kind = prefix_and_type(entity["entity"])
        if groups and prefix != "B" and kind == prefix_and_type(groups[-1][-1]["entity"])[1]:
            groups[-1].append(entity)
        else:
            groups.append([entity])
    return [
        {
            "entity_group": prefix_and_type(group[0]["entity"])[1],
            "score": float(np.mean([e["score"] for e in group])),
            "word": tokens_to_string([e["word"] for e in group]),
            "start": group[0]["start"],
            "end": group[-1]["end"],
        }
        for group in groups
    ]


@no_grad()
def tag(model, tokenizer, text: str, aggregation: str = "first") -> list[dict]:
    """transformers' token-classification ("ner") pipeline: the entities of ``text``.

    The text is split into words by the tokenizer's basic tokenizer (whitespace and
    punctuation), each word into sub-tokens; character offsets map every token back to
    ``text``. Texts longer than the model's window are cut into windows between words.

    Args:
        model: a ``BertForTokenClassification`` with ``config.id2label`` (BIO tags).
        tokenizer: its ``WordPieceTokenizer``.
        aggregation: ``"first"``: a word takes the tag (and the probability, as its score) of
            its first sub-token, so entities are whole words; ``"simple"``: every sub-token
            keeps its own best tag and runs of one type are grouped (an entity may then end
            inside a word). transformers' ``aggregation_strategy`` of the same names.

    Returns:
        The entities in order, each ``{"entity_group", "score", "word", "start", "end"}``:
        the type, the mean score of its words (or sub-tokens), its (normalized) text, and
        ``text[start:end]``, the characters it spans.

    Shapes:
        per window, logits (B, T, L) -> probabilities (B, T, L); one score vector (L,) per
        sub-token of the text.
    """
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation={aggregation!r}: use one of {', '.join(AGGREGATIONS)}")
    labels = label_names_of(model)
    if labels is None:
        raise ValueError("the model has no id2label: it was not fine-tuned for tagging")
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets, word_ids = encoded["input_ids"], encoded["offset_mapping"], encoded.word_ids()
    max_length = min(tokenizer.model_max_length, model.config.max_position_embeddings)
    windows = word_windows(word_ids, max_length - tokenizer.num_special_tokens_to_add())
    if not windows:
        return []
    rows = [tokenizer.build_inputs_with_special_tokens(ids[s:e]) for s, e in windows]
    was_training = model.training
    model.eval()
    features = Features(
        tokens={
            "input_ids": rows,
            "token_type_ids": [[0] * len(r) for r in rows],
            "attention_mask": [[1] * len(r) for r in rows],
        },
        pad_token_id=tokenizer.pad_token_id,
    )
    scores: list[np.ndarray | None] = [None] * len(ids)  # left None: tokens no window holds
    for window_rows, batch in features.batches(64):
        probabilities = softmax(model(**batch).logits.data)  # (B, T, L)
        for b, row in enumerate(window_rows):
            start, end = windows[row]
            scores[start:end] = probabilities[b, 1 : 1 + end - start]  # past [CLS]
    model.train(was_training)

    tokens = []  # transformers' "pre-entities": one per sub-token
    for k, token_id in enumerate(ids):
        start, end = offsets[k]
        # As transformers does, an [UNK] shows the characters it stands for.
        piece = text[start:end] if token_id == tokenizer.unk_token_id else None
        piece = piece or tokenizer.convert_ids_to_tokens(token_id)
        tokens.append({"word": piece, "scores": scores[k], "start": start, "end": end})

    def labelled(token: dict, word: str, end: int) -> dict:
        best = int(np.argmax(token["scores"]))
        score = float(token["scores"][best])
        return {
            "entity": labels[best],
            "score": score,
            "word": word,
            "start": token["start"],
            "end": end,
        }

    entities = []
    if aggregation == "simple":
        for token in tokens:
            if token["scores"] is not None:
                entities.append(labelled(token, token["word"], token["end"]))
    else:
        first = first_subtoken_mask(word_ids)
        for k, is_first in enumerate(first):
            if not is_first:
                continue
            last = k
            while last + 1 < len(ids) and not first[last + 1]:
                last += 1
            word = tokens_to_string([t["word"] for t in tokens[k : last + 1]])
            entities.append(labelled(tokens[k], word, tokens[last]["end"]))
    return [e for e in _group_entities(entities) if e["entity_group"] != "O"]


__all__ = [
    "TaggedSentence",
    "TokenClassificationTask",
    "first_subtoken_mask",
    "read_conll",
    "tag",
    "tokens_to_string",
    "word_windows",
]
