# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 11 · Looking inside
#
# A trained BERT is a few million numbers. This tutorial looks at three views of what it does
# with a text, and is honest about what each view can and cannot tell you: **sentence
# embeddings** (one vector per text), **attention maps** (where each token reads from) and
# **saliency** (which input tokens move one output). To have something worth looking at, we
# first train a tiny model on a toy language whose rule we know, so we can check whether the
# views find it.
#
# **Goals.** By the end you can
#
# 1. compute sentence embeddings with `minibert.pipelines.embed` exactly as
#    sentence-transformers does (mean over the real tokens, then L2-normalize), and say why
#    padding must not count;
# 2. get every layer's and head's attention map with `attention_maps`, read one head as text
#    and as a picture, and summarize what each head attends to ([CLS], [SEP], itself, its
#    neighbours);
# 3. compute gradient x input saliency with `saliency` for a masked-LM prediction, check it by
#    finite differences, and know which embedding it is taken on and why;
# 4. say what these views do *not* show: attention is not explanation, and gradient x input is
#    a local, linear view (LayerNorm and saturation make it small where the model relies most).
#
# **Prerequisites.** Tutorials 04 (attention and its maps), 05 (BERT's layers, pooling) and 08
# (training a model, `fill_mask`). Gradients as in tutorials 01 and 02.
#
# **Run time.** About 15 to 25 seconds as a script
# (`.venv/bin/python tutorials/11_looking_inside.py`), most of it the 150 training steps.
#
# Cells marked **checkpoint** end in `assert`s: if they pass, what the text claims is true on
# your machine too.

# %%
from course import pyplot, save_figure, use_one_thread  # tutorials/course.py

# One thread for NumPy's BLAS and Numba: a model this small gains nothing from a second core
# (tutorial 08 measured why), and must be set before NumPy loads.
use_one_thread()

import time  # noqa: E402

import numpy as np  # noqa: E402

from autograd import Tensor, no_grad  # noqa: E402
from autograd.optim import AdamW  # noqa: E402
from minibert.config import BertConfig  # noqa: E402
from minibert.interpretability import (  # noqa: E402
    attention_maps,
    attention_summary,
    gradient_x_input,
    plot_attention,
    plot_saliency,
    render_attention_summary,
    render_attention_text,
    render_saliency_text,
    saliency,
)
from minibert.interpretability.saliency import word_embeddings  # noqa: E402
from minibert.modeling import BertForMaskedLM  # noqa: E402
from minibert.pipelines import embed, similarity  # noqa: E402
from minibert.tokenization import WordPieceTokenizer  # noqa: E402

HAVE_MATPLOTLIB = pyplot() is not None  # pictures are optional

SEED = 0

# %% [markdown]
# ## 1. A toy language with a known rule
#
# Every sentence names animals, a few small words and exactly **one colour**, in random order,
# and ends with "`. it was [MASK]`": the masked word is always that colour. To fill the mask
# the model must find the colour wherever it stands, which is a job for attention: the
# `[MASK]` query has to pick out one key by its content. We know the rule, so we can check
# whether the views below find it. (With a real corpus nobody knows the rule, which is
# exactly why these views are used, and why they must be read with care.)
#
# The vocabulary is a word list, so every word is one token.

# %%
ANIMALS = ["cat", "dog", "bird", "fish", "fox", "owl"]
COLOURS = ["red", "blue", "green", "black", "white", "grey"]
SMALL_WORDS = ["the", "a", "saw", "and", "with"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
tokenizer = WordPieceTokenizer([*SPECIAL, *ANIMALS, *COLOURS, *SMALL_WORDS, "it", "was", "."])


def toy_sentence(rng: np.random.Generator) -> tuple[str, str]:
    """(text, its colour): 3 to 7 animals and small words, one colour inserted at random."""
    words = list(rng.choice(ANIMALS + SMALL_WORDS, size=rng.integers(3, 8)))
    colour = str(rng.choice(COLOURS))
    words.insert(int(rng.integers(0, len(words) + 1)), colour)
    return " ".join(words) + " . it was [MASK]", colour


def toy_batch(size: int, rng: np.random.Generator):
    """input_ids, attention_mask (B, T) and MLM labels (B, T): the colour at [MASK], -100 else."""
    sentences = [toy_sentence(rng) for _ in range(size)]
    encoded = tokenizer([text for text, _ in sentences], padding=True, return_tensors="np")
    ids = encoded["input_ids"]
    colours = np.array(tokenizer.convert_tokens_to_ids([c for _, c in sentences]))  # (B,)
    labels = np.where(ids == tokenizer.mask_token_id, colours[:, None], -100)  # (B, T)
    return ids, encoded["attention_mask"], labels


example_rng = np.random.default_rng(1)
for _ in range(3):
    print(toy_sentence(example_rng))

# %% [markdown]
# ## 2. Train a tiny BERT on it
#
# Two layers, two heads, hidden size 32, no dropout; AdamW at a constant 3e-3, 150 steps of 32
# sentences. Guessing a colour at random is right 1 time in 6; the rule is easy for attention,
# so the model should end up right every time.

# %%
config = BertConfig(
    vocab_size=len(tokenizer),
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=16,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
)
untrained = BertForMaskedLM(config, seed=SEED)  # kept as it is, for comparison
model = BertForMaskedLM(config, seed=SEED)
optimizer = AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
train_rng = np.random.default_rng(SEED)
started = time.perf_counter()
for step in range(150):
    ids, mask, labels = toy_batch(32, train_rng)
    loss = model(ids, attention_mask=mask, labels=labels).loss
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % 25 == 0 or step == 149:
        print(f"step {step:3d}  loss {loss.item():.3f}")
print(f"trained in {time.perf_counter() - started:.1f} s")
model.eval()


def colour_accuracy(net, size: int = 500, seed: int = 99) -> float:
    """Accuracy at [MASK] on fresh sentences (another seed: none of them was trained on)."""
    ids, mask, labels = toy_batch(size, np.random.default_rng(seed))
    with no_grad():
        logits = net.eval()(ids, attention_mask=mask).logits.data  # (B, T, V)
    at_mask = labels != -100
    return float((logits.argmax(axis=-1)[at_mask] == labels[at_mask]).mean())


accuracy, untrained_accuracy = colour_accuracy(model), colour_accuracy(untrained)
print(f"held-out accuracy: trained {accuracy:.3f}, untrained {untrained_accuracy:.3f}, "
      f"random colour {1 / len(COLOURS):.3f}")  # fmt: skip

# %% [markdown]
# **Checkpoint.** The trained model fills the mask correctly (nearly) always; the untrained one
# does no better than chance.

# %%
assert accuracy > 0.95
assert untrained_accuracy < 0.35

# %% [markdown]
# ## 3. Sentence embeddings
#
# `embed(model, tokenizer, texts)` turns each text into one vector the way
# sentence-transformers does for a BERT checkpoint: run the encoder on a padded batch, average
# the last hidden states over the **real** tokens (the attention mask says which), and divide
# by the L2 norm. With unit vectors, a dot product is the cosine similarity. For a real
# sentence-embedding checkpoint in safetensors, `embed` gives the same vectors as
# sentence-transformers (`make test-ref` checks it against transformers to 1e-5).
#
# Padding must not count: a text's vector cannot depend on which other texts share its batch.
# Here is the mean by hand, on the text alone, against `embed` in a batch with a longer text
# (so the short one is padded).

# %%
texts = [
    "the red fox saw a cat . it was [MASK]",
    "a red owl and the dog . it was [MASK]",
    "the blue fox saw a cat . it was [MASK]",
    "fish with a bird and the grey owl . it was [MASK]",
]
vectors = embed(model, tokenizer, texts)  # (4, 32), one padded batch
with no_grad():
    alone = tokenizer(texts[0], return_tensors="np")
    states = model.bert(**alone).last_hidden_state.data[0]  # (T, H): no padding at all
by_hand = states.mean(axis=0) / np.linalg.norm(states.mean(axis=0))
print("largest difference, by hand vs embed:", np.abs(by_hand - vectors[0]).max())
print(np.round(similarity(vectors), 3))

# %% [markdown]
# **Checkpoint.** The vectors have unit length, and the padded batch gives the text's own mean.

# %%
assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
assert np.allclose(by_hand, vectors[0], atol=1e-5)

# %% [markdown]
# Which texts come out close? Our model was trained for one thing only, finding the colour,
# and its vectors show it: the two red sentences (different animals, different words) get
# nearly the same vector, while the red fox and the blue fox (the same words but the colour)
# are far apart. Everything else in the sentence barely counts.
#
# Do not read more into it. A masked-LM model is not a sentence encoder: sentence-embedding
# models (Sentence-BERT, Reimers and Gurevych 2019) are BERTs *fine-tuned* so that cosine
# similarity means similar meaning. Mean pooling of a model trained for something else
# measures whatever that model cares about, here the colour and nothing else.

# %%
cosines = similarity(vectors)  # (4, 4)
print(f"red fox / red owl: {cosines[0, 1]:.3f}   red fox / blue fox: {cosines[0, 2]:.3f}")
assert cosines[0, 1] > cosines[0, 2] + 0.3  # checkpoint: the colour decides

# %% [markdown]
# ## 4. Attention maps
#
# `attention_maps` runs the model with `output_attentions=True` and returns the probabilities
# of every layer and head, shape `(L, nh, T, T)`: row $i$ of a head is query token $i$'s
# distribution over the keys it reads. As text, each token with the three keys it reads most:

# %%
text = "the fox saw a blue owl . it was [MASK]"
maps = attention_maps(model, tokenizer, text)
print(maps.attentions.shape)
print(render_attention_text(maps, layer=0, head=0))

# %% [markdown]
# In layer 0 the `[MASK]` token (and, it turns out, nearly every token) reads the colour word.
# The grid view shows the whole matrix in percent:

# %%
print(render_attention_text(maps, layer=0, head=1, style="grid"))

mask_position = maps.tokens.index("[MASK]")
colour_position = maps.tokens.index("blue")
weights_on_colour = maps.attentions[:, :, mask_position, colour_position]  # (L, nh)
print("weight of [MASK] on 'blue', per layer and head:\n", np.round(weights_on_colour, 3))

# %% [markdown]
# **Checkpoint.** Rows are probability distributions, and in layer 0 both heads put nearly all
# of the `[MASK]` row on the colour word; the untrained model spreads it almost evenly.

# %%
before = attention_maps(untrained, tokenizer, text)
assert np.allclose(maps.attentions.sum(axis=-1), 1.0, atol=1e-5)
assert weights_on_colour[0].min() > 0.9
assert before.attentions[:, :, mask_position, colour_position].max() < 0.2

# %% [markdown]
# All heads at once, as a picture (saved under `tutorials/figures/`):

# %%
if HAVE_MATPLOTLIB:
    save_figure(plot_attention(maps), "11_attention_maps.png")

# %% [markdown]
# ### What do heads attend to?
#
# In BERT-base, Clark et al. (2019, "What Does BERT Look At?") found recurring patterns: heads
# that put most of their weight on `[SEP]` or `[CLS]`, heads that read the previous or the next
# token, heads that read the token itself. `attention_summary` measures these for every head
# (the average weight, over the real query tokens, on each pattern):

# %%
print("untrained:")
print(render_attention_summary(before))
print("trained:")
print(render_attention_summary(maps))

# %% [markdown]
# Untrained, every head is nearly uniform: about $1/T$ on each pattern ($T = 12$ tokens here).
# Trained, none of Clark's patterns stands out (the 0.10 on "previous" and "next" is the
# colour's two neighbours reading it), because our task needs none of them: the heads read the
# colour. A summary only finds the patterns you thought of measuring.
#
# **Attention is not explanation.** A head that reads a token does not make that token the
# reason for a prediction: the value vectors it mixes and the layers after it matter as much,
# heads that park weight on `[SEP]` often do nothing at all, and Jain and Wallace (2019) show
# that attention weights can often be changed a lot without changing the prediction
# (Wiegreffe and Pinter, 2019, answer that it depends on the model and the question). Here we
# *know* the colour matters because we wrote the rule; attention alone would not prove it.

# %%
summary = attention_summary(maps)
uniform = attention_summary(before)
T = maps.length
assert np.allclose(uniform["self"], 1 / T, atol=0.05)  # checkpoint: untrained is near uniform
assert summary["self"][0].max() < 0.05  # trained layer 0 no longer reads tokens themselves

# %% [markdown]
# ## 5. Saliency: gradient x input
#
# Attention shows where information *could* flow. Saliency asks a causal-looking question of
# the output itself: how much does each input token move the logit of the predicted word?
# For the logit $f$ and the word embedding $x_t$ of token $t$,
# $s_t = \sum_k \frac{\partial f}{\partial x_{t,k}} x_{t,k}$ ("gradient x input", Captum's
# `InputXGradient`), straight from our autograd: `saliency` feeds the word embeddings as
# `inputs_embeds` (the argument transformers' models have too), asks for the gradient of one
# logit, and multiplies.

# %%
result = saliency(model, tokenizer, text)  # default target: the model's top prediction
print(render_saliency_text(result))
if HAVE_MATPLOTLIB:
    save_figure(plot_saliency(result), "11_saliency.png")

# %% [markdown]
# **Checkpoint.** The model predicts "blue", and among the other tokens the colour word has the
# largest score (the `[MASK]` token itself gets a score too: its embedding is input like any
# other).

# %%
others = [i for i, token in enumerate(result.tokens) if token != "[MASK]"]
assert result.target_label == "blue"
assert max(others, key=lambda i: result.scores[i]) == colour_position

# %% [markdown]
# ### What the scores add up to
#
# The scores are one derivative taken apart: scaling *every* word embedding by $1 + \epsilon$
# moves the logit at rate $\sum_t s_t$. A finite difference of the forward pass alone checks
# that (float32 here, so a loose tolerance; the tests do it per token in float64).

# %%
x = word_embeddings(model, tokenizer(text, return_tensors="np")["input_ids"])  # (1, T, H)


def blue_logit(embeds):
    return model(inputs_embeds=embeds).logits[0, mask_position, result.target]


eps = 1e-2
with no_grad():
    rate = blue_logit(Tensor(x * (1 + eps))).item() - blue_logit(Tensor(x * (1 - eps))).item()
rate /= 2 * eps
print(f"sum of scores {result.scores.sum():+.4f}, finite difference {rate:+.4f}")
assert abs(result.scores.sum() - rate) < 1e-2 + 0.05 * abs(rate)

# %% [markdown]
# ### Why so small? LayerNorm, and a local view
#
# The logit of "blue" is large, the model relies on the colour completely, and yet its score
# is tiny. Two reasons, both worth knowing before you trust a saliency map.
#
# **LayerNorm.** The first thing BERT does with $e_t = x_t + p_t + \tau_t$ (word, position and
# token type) is LayerNorm, which does not change when $e_t$ is scaled. So the derivative along
# $e_t$ itself is zero: gradient x input on the *sum* would give 0 for every token. That is why
# minibert takes it on the word embedding alone (as transformers' `inputs_embeds` and Captum
# do); and since the derivative along $e_t$ is zero, $g_t \cdot x_t = -g_t \cdot (p_t + \tau_t)$:
# the score only sees the word embedding *against* the position and type embeddings.

# %%
_, gradient, _ = gradient_x_input(blue_logit, x)  # gradient (1, T, H)
embeddings = model.bert.embeddings
position_and_type = (
    embeddings.position_embeddings.weight.data[: x.shape[1]]
    + embeddings.token_type_embeddings.weight.data[0]
)  # (T, H)
on_the_sum = (gradient[0] * (x[0] + position_and_type)).sum(axis=-1)  # (T,)
print("scores on the sum:", np.round(on_the_sum, 5))
print("largest |score on the sum| / largest |score|:",
      f"{np.abs(on_the_sum).max() / np.abs(result.scores).max():.1e}")  # fmt: skip
assert np.abs(on_the_sum).max() < 1e-3 * np.abs(result.scores).max()

# %% [markdown]
# **A local, linear view.** $s_t$ estimates the change of the logit if $x_t$ shrank to 0 *as if
# the model were linear*. It is not: replace "blue" by "the" and see what really happens.

# %%
occluded = text.replace("blue", "the")
with no_grad():
    ids = tokenizer(occluded, return_tensors="np")["input_ids"]
    after = model(ids).logits.data[0, mask_position, result.target]
print(
    f"logit of 'blue': {result.output:.2f} with the colour, {after:.2f} without it; "
    f"saliency of the colour: {result.scores[colour_position]:+.4f}"
)
assert result.output - after > 20 * abs(result.scores[colour_position])

# %% [markdown]
# Removing the colour costs the logit far more than its score says. The model is *saturated*:
# layer 0 already puts all its weight on the colour, so small changes of the input barely move
# anything, while large ones change everything. Integrated Gradients (Sundararajan et al.,
# 2017) averages the gradient along the path from a baseline to the input to repair exactly
# this; occlusion (as just done) measures the large change directly, one token at a time.
#
# ## Summary
#
# - `embed`: mean of the last hidden states over the real tokens, L2-normalized, as
#   sentence-transformers computes it; padding never counts. Cosine similarity means what the
#   model was trained to care about.
# - `attention_maps`: `(L, nh, T, T)` probabilities; `render_attention_text`, `plot_attention`
#   and `attention_summary` read them. They show where information can flow, not why a
#   prediction was made.
# - `saliency`: gradient x input on the word embeddings (`inputs_embeds`), checked by finite
#   differences. LayerNorm makes it blind to the direction of the whole input embedding, and
#   saturation makes it small where the model relies most: compare with occlusion.
#
# ## Exercises
#
# Run the next cell to define the checks; write your answer; un-comment its `check_...` line.
# The solutions are in the last cell.


# %%
def check_exercise_1(mean_pool) -> None:
    """mean_pool(hidden_states, attention_mask) against embed(..., normalize=False)."""
    batch_texts = texts + ["a cat . it was [MASK]"]
    encoded = tokenizer(batch_texts, padding=True, return_tensors="np")
    with no_grad():
        hidden = model.bert(**encoded).last_hidden_state.data  # (B, T, H)
    mine = np.asarray(mean_pool(hidden, encoded["attention_mask"]))
    expected = embed(model, tokenizer, batch_texts, normalize=False)
    assert mine.shape == expected.shape, f"shape {mine.shape}, expected {expected.shape}"
    assert np.allclose(mine, expected, atol=1e-5), "values differ: is padding excluded?"
    print("exercise 1: correct")


def check_exercise_2(occlusion) -> None:
    """occlusion(text, target_id, position) -> (T,) logit drops; the colour drops most."""
    drops = np.asarray(occlusion(text, result.target, mask_position))
    assert drops.shape == (len(result.tokens),), f"shape {drops.shape}: one drop per token"
    assert drops[0] == 0 and drops[mask_position] == 0, "leave [CLS], [SEP] and [MASK] alone"
    assert int(np.argmax(drops)) == colour_position, "the colour should matter most"
    assert np.isclose(drops[colour_position], result.output - after, atol=1e-4)
    print("exercise 2: correct; drops:", np.round(drops, 2))


def check_exercise_3(head_entropy) -> None:
    """head_entropy(maps) -> (L, nh) mean entropy (nats) of the real query rows."""
    mine = np.asarray(head_entropy(before))
    assert mine.shape == (config.num_hidden_layers, config.num_attention_heads)
    assert np.allclose(mine, np.log(before.length), atol=0.05), "untrained: near log T"
    trained = np.asarray(head_entropy(maps))
    assert trained[0].max() < 0.5, "trained layer 0 reads one token: low entropy"
    print("exercise 3: correct; trained entropies:\n", np.round(trained, 2))


# %% [markdown]
# **Exercise 1.** Write `mean_pool(hidden_states, attention_mask)`: from `(B, T, H)` states and
# a `(B, T)` mask of 1/0, the `(B, H)` mean over the real tokens only (no normalization).


# %%
def mean_pool(hidden_states: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    raise NotImplementedError("exercise 1: your code here")


# check_exercise_1(mean_pool)

# %% [markdown]
# **Exercise 2.** Occlusion, the large-change view: write `occlusion(text, target_id,
# position)` that replaces each word token of `text` in turn by "the" and returns, per token,
# how much the logit of `target_id` at `position` drops (0 for `[CLS]`, `[SEP]` and `[MASK]`,
# which you leave in place). Which token matters most, and how do the drops compare with the
# saliency scores?


# %%
def occlusion(text: str, target_id: int, position: int) -> np.ndarray:
    raise NotImplementedError("exercise 2: your code here")


# check_exercise_2(occlusion)

# %% [markdown]
# **Exercise 3.** Write `head_entropy(maps)`: for every layer and head, the entropy in nats of
# each real query row's attention distribution (only the real keys), averaged over the real
# queries, as an `(L, nh)` array. A uniform head has entropy $\log T$; a head that reads one
# token has 0.


# %%
def head_entropy(maps) -> np.ndarray:
    raise NotImplementedError("exercise 3: your code here")


# check_exercise_3(head_entropy)

# %% [markdown]
# ---
# ## Solutions
#
# *Spoilers below.* This cell runs when the tutorial runs as a script, so the tutorial checks
# its own exercises.


# %%
def mean_pool_solution(hidden_states: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    weights = attention_mask[:, :, None].astype(hidden_states.dtype)  # (B, T) -> (B, T, 1)
    return (hidden_states * weights).sum(axis=1) / weights.sum(axis=1)  # (B, H)


def occlusion_solution(text: str, target_id: int, position: int) -> np.ndarray:
    ids = tokenizer(text, return_tensors="np")["input_ids"]  # (1, T)
    special = set(tokenizer.all_special_ids)
    with no_grad():
        base = model(ids).logits.data[0, position, target_id]
        drops = np.zeros(ids.shape[1])
        for t in range(ids.shape[1]):
            if int(ids[0, t]) in special:
                continue
            changed = ids.copy()
            changed[0, t] = tokenizer.convert_tokens_to_ids("the")
            drops[t] = base - model(changed).logits.data[0, position, target_id]
    return drops


def head_entropy_solution(maps) -> np.ndarray:
    n = maps.length
    probs = maps.attentions[:, :, :n, :n]  # (L, nh, n, n): real queries and keys
    entropy = -(probs * np.log(np.clip(probs, 1e-30, None))).sum(axis=-1)  # (L, nh, n)
    return entropy.mean(axis=-1)


check_exercise_1(mean_pool_solution)
check_exercise_2(occlusion_solution)
check_exercise_3(head_entropy_solution)
