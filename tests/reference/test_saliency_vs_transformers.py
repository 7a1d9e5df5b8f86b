"""``inputs_embeds`` and gradient x input saliency against transformers, in float64.

transformers' models take ``inputs_embeds`` (the word embeddings, in place of ``input_ids``);
ours do too. The same embeddings must give the same outputs, and the gradient of one logit with
respect to them (summed with the embeddings over the hidden axis: the saliency scores) must be
the same as torch's.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tests.reference.torch_helpers import assert_arrays_match, torch

transformers = pytest.importorskip("transformers", reason="install the ref extra: make test-ref")

from minibert import modeling  # noqa: E402
from minibert.interpretability import saliency  # noqa: E402
from minibert.tokenization import WordPieceTokenizer  # noqa: E402

TOL = dict(atol=1e-9, rtol=1e-9)
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "a",
         "dog", "ran", "in", "park", ".", "##s", "big", "red", "ball"]  # fmt: skip


def models(class_name, tmp_path, **overrides):
    """transformers' model (float64, eval) and ours loaded from the checkpoint it wrote."""
    config = transformers.BertConfig(
        vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=24, max_position_embeddings=24, attn_implementation="eager",
        num_labels=3, **overrides,
    )  # fmt: skip
    torch.manual_seed(0)
    hf = getattr(transformers, class_name)(config).to(torch.float64).eval()
    hf.save_pretrained(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = getattr(modeling, class_name).from_pretrained(tmp_path, dtype=np.float64).eval()
    return hf, ours


@pytest.mark.parametrize(
    "class_name", ["BertModel", "BertForMaskedLM", "BertForSequenceClassification"]
)
def test_inputs_embeds_outputs_match(tmp_path, class_name):
    hf, ours = models(class_name, tmp_path)
    rng = np.random.default_rng(0)
    embeds = rng.standard_normal((2, 7, 16))  # any vectors, not only rows of the table
    mask = np.array([[1] * 7, [1] * 5 + [0] * 2])
    types = np.array([[0] * 4 + [1] * 3] * 2)
    theirs = hf(inputs_embeds=torch.tensor(embeds), attention_mask=torch.tensor(mask),
                token_type_ids=torch.tensor(types))  # fmt: skip
    mine = ours(inputs_embeds=embeds, attention_mask=mask, token_type_ids=types)
    name = "last_hidden_state" if class_name == "BertModel" else "logits"
    assert_arrays_match(getattr(mine, name).data, getattr(theirs, name).detach().numpy(),
                        what=f"{class_name} {name}", kind="forward", **TOL)  # fmt: skip


def test_masked_lm_saliency_matches_torch(tmp_path):
    hf, ours = models("BertForMaskedLM", tmp_path)
    tokenizer = WordPieceTokenizer(VOCAB)
    text = "the big [MASK] sat on the red mat ."
    result = saliency(ours, tokenizer, text, target="dog")
    ids = torch.tensor([tokenizer(text)["input_ids"]])
    embeds = hf.bert.embeddings.word_embeddings(ids).detach().requires_grad_(True)  # (1, T, H)
    logits = hf(inputs_embeds=embeds).logits  # (1, T, V)
    logits[0, result.position, result.target].backward()
    expected = (embeds.grad * embeds).sum(-1)[0].detach().numpy()  # (T,)
    assert result.position == 3
    assert_arrays_match(result.scores, expected, what="saliency scores", kind="grad", **TOL)
    assert result.output == pytest.approx(logits[0, 3, result.target].item(), abs=1e-12)


def test_classifier_saliency_matches_torch(tmp_path):
    hf, ours = models("BertForSequenceClassification", tmp_path)
    tokenizer = WordPieceTokenizer(VOCAB)
    encoded = tokenizer("the cat ran", "a dog sat in the park")
    result = saliency(ours, tokenizer, "the cat ran", target=2, text_pair="a dog sat in the park")
    ids, types = (torch.tensor([encoded[k]]) for k in ("input_ids", "token_type_ids"))
    embeds = hf.bert.embeddings.word_embeddings(ids).detach().requires_grad_(True)
    hf(inputs_embeds=embeds, token_type_ids=types).logits[0, 2].backward()
    expected = (embeds.grad * embeds).sum(-1)[0].detach().numpy()
    assert_arrays_match(result.scores, expected, what="saliency scores", kind="grad", **TOL)
