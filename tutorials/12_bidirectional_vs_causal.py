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
# # 12 · Bidirectional versus causal
#
# BERT reads a sentence all at once: every token attends to every other, left and right. GPT
# reads left to right: token t attends to tokens 0..t only. The difference is one matrix, the
# attention mask, and it decides what each model can learn and what it can do. Here both
# models are trained on the *same* tiny corpus, BERT with masked-LM and a `MiniGPT` with
# next-token prediction, and we measure what each one can and cannot know.
#
# **Goals.** By the end you can
#
# 1. draw the two attention masks (padding only; causal and padding) and read them;
# 2. prove the causal mask: changing a later token never changes an earlier position's output,
#    while in BERT it changes every position;
# 3. train an MLM and a causal LM on the same sentences and explain, with numbers, why the MLM
#    fills in a word that depends on its right context and the causal LM cannot;
# 4. say why the causal LM, and not BERT, can write text one token at a time.
#
# **Prerequisites.** Tutorial 04 (attention and masks), 05 (BERT's layers) and 08 (MLM).
#
# **Run time.** About 15 seconds as a script
# (`.venv/bin/python tutorials/12_bidirectional_vs_causal.py`).

# %%
from course import pyplot, save_figure, use_one_thread  # tutorials/course.py

# One thread: a model this small gains nothing from a second core (see tutorial 08).
use_one_thread()

import itertools  # noqa: E402

import numpy as np  # noqa: E402

import autograd as ag  # noqa: E402
from autograd import no_grad, optim  # noqa: E402
from minibert.config import BertConfig  # noqa: E402
from minibert.generation import generate  # noqa: E402
from minibert.modeling import BertForMaskedLM, BertModel  # noqa: E402
from minibert.modeling.causal_lm import MiniGPT  # noqa: E402
from minibert.modeling.decoder import causal_attention_mask  # noqa: E402
from minibert.modeling.decoder_config import DecoderConfig  # noqa: E402
from minibert.modeling.inputs import additive_attention_mask  # noqa: E402
from minibert.tokenization import WordPieceTokenizer  # noqa: E402

plt = pyplot()  # None without matplotlib: the tutorial still runs, just without pictures

# %% [markdown]
# ## The corpus
#
# Four animals, each with its own sound, doing it at one of four things. In every sentence the
# animal (position 2) decides the sound (position 3): knowing one, you know the other.

# %%
ANIMALS = {"dog": "barks", "cat": "meows", "cow": "moos", "duck": "quacks"}
THINGS = ["moon", "door", "sun", "wall"]
sentences = [
    f"the {a} {s} at the {t} ." for (a, s), t in itertools.product(ANIMALS.items(), THINGS)
]
words = sorted({w for s in sentences for w in s.split()})
tokenizer = WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words])
ids = np.array([tokenizer.encode(s) for s in sentences])  # (16, 9): [CLS] 7 words [SEP]
print(len(sentences), "sentences, e.g.", sentences[0], "->", ids[0].tolist())
ANIMAL, SOUND = 2, 3  # their positions, counting [CLS] as 0

# %% [markdown]
# ## Two masks, drawn
#
# The mask is added to the attention scores: 0 where query i may look at key j, a huge negative
# number where not. BERT's mask only hides padding; a decoder's also hides the future: query i
# sees keys 0..i, a lower triangle. (`True` below means "may look".)

# %%
T = 6
padding = np.array([[1, 1, 1, 1, 0, 0]])  # a 4-token sentence padded to 6
bidirectional = additive_attention_mask(padding, T, False, np.float64, np)[0, 0] == 0  # (1, T)
bidirectional = np.broadcast_to(bidirectional, (T, T))  # every query, the same keys
causal = causal_attention_mask(padding, T, 0, np.float64, np)[0, 0] == 0  # (T, T)
for name, keep in (("bidirectional (BERT)", bidirectional), ("causal (MiniGPT)", causal)):
    print(name)
    for i, row in enumerate(keep):
        print(f"  query {i}: " + " ".join("#" if k else "." for k in row))

# %%
if plt is not None:
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
    for axis, keep, title in zip(axes, (bidirectional, causal), ("BERT", "MiniGPT"), strict=True):
        axis.imshow(keep, cmap="Greens", vmin=0, vmax=1.3)
        axis.set_title(f"{title}: who may attend to whom")
        axis.set_xlabel("key position (attended to)")
        axis.set_ylabel("query position")
    save_figure(fig, "12_masks.png")

# %% [markdown]
# **Checkpoint.** A query never sees padding in either model; in the causal one, query i sees
# exactly the i + 1 keys 0..i (when they are tokens).

# %%
assert not bidirectional[:, 4:].any() and not causal[:, 4:].any()
assert all(causal[i, : i + 1].all() and not causal[i, i + 1 :].any() for i in range(4))

# %% [markdown]
# ## The proof, on real models
#
# Change the last word of a sentence and look at every position's output. In BERT every output
# moves; in a MiniGPT the outputs before the change cannot move, whatever the weights.

# %%
sizes = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
             max_position_embeddings=16, hidden_dropout_prob=0.0,
             attention_probs_dropout_prob=0.0)  # fmt: skip
V = len(tokenizer)
bert = BertModel(BertConfig(vocab_size=V, **sizes), seed=0).eval()
gpt = MiniGPT(DecoderConfig.for_tokenizer(tokenizer, **sizes), seed=0).eval()
changed = ids[:1].copy()
changed[0, 7] = tokenizer.convert_tokens_to_ids("the")  # "." -> "the" at position 7
with no_grad():
    bert_moved = np.abs(bert(ids[:1]).last_hidden_state.data - bert(changed).last_hidden_state.data)
    gpt_moved = np.abs(gpt(ids[:1]).logits.data - gpt(changed).logits.data)
print("largest change per position, BERT:   ", np.round(bert_moved.max(-1)[0], 4))
print("largest change per position, MiniGPT:", np.round(gpt_moved.max(-1)[0], 4))

# %% [markdown]
# **Checkpoint.** BERT: every position moves. MiniGPT: positions 0 to 6 are bit for bit the
# same; only 7 and 8 (which can see position 7) move.

# %%
assert (bert_moved.max(-1) > 1e-6).all()
assert (gpt_moved[0, :7] == 0).all() and (gpt_moved[0, 7:].max(-1) > 1e-6).all()

# %% [markdown]
# ## Training both on the same sentences
#
# The masked LM hides one word per sentence (drawn fresh every step) behind [MASK] and learns
# to predict it from both sides. The causal LM predicts every next token from the tokens before
# it (`labels=ids`: the model shifts them itself). Same corpus, same sizes, same optimizer.

# %%
mlm = BertForMaskedLM(BertConfig(vocab_size=V, **sizes), seed=0)
rng = np.random.default_rng(0)


def mlm_batch(rng):
    positions = rng.integers(1, 8, len(ids))  # one of the 7 words of each sentence
    inputs, labels = ids.copy(), np.full_like(ids, -100)
    rows = np.arange(len(ids))
    labels[rows, positions] = ids[rows, positions]
    inputs[rows, positions] = tokenizer.mask_token_id
    return inputs, labels


def train(model, loss_of, steps=200):
    optimizer = optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_of(model)
        loss.backward()
        optimizer.step()
    return model.eval(), float(loss.item())


def mlm_loss_of(model):
    inputs, labels = mlm_batch(rng)
    return model(inputs, labels=labels).loss


mlm, mlm_loss = train(mlm, mlm_loss_of, steps=400)
gpt, gpt_loss = train(gpt, lambda m: m(ids, labels=ids).loss)
print(f"final losses: MLM {mlm_loss:.3f}, next-token {gpt_loss:.3f}")

# %% [markdown]
# ## What each can know
#
# Ask both models for the **animal** (position 2) and for the **sound** (position 3).
#
# - The MLM sees "the [MASK] barks at the moon": the sound, on the right, gives the animal away.
# - The causal LM predicts position 2 from "[CLS] the" alone: any of four animals fits, so the
#   best it can do is a quarter. It predicts the sound from "[CLS] the dog", which fixes it.

# %%
with no_grad():
    hits = {"MLM animal": 0, "MLM sound": 0}
    for position, name in ((ANIMAL, "MLM animal"), (SOUND, "MLM sound")):
        masked = ids.copy()
        masked[:, position] = tokenizer.mask_token_id
        guess = mlm(masked).logits.data[:, position].argmax(-1)
        hits[name] = float((guess == ids[:, position]).mean())
    next_token = gpt(ids).logits.data.argmax(-1)  # position t predicts token t + 1
    hits["causal animal"] = float((next_token[:, ANIMAL - 1] == ids[:, ANIMAL]).mean())
    hits["causal sound"] = float((next_token[:, SOUND - 1] == ids[:, SOUND]).mean())
    p_animal = np.exp(ag.log_softmax(gpt(ids).logits).data[0, ANIMAL - 1])
print({k: round(v, 2) for k, v in hits.items()})
animal_ids = tokenizer.convert_tokens_to_ids(list(ANIMALS))
shares = dict(zip(ANIMALS, np.round(p_animal[animal_ids], 2).tolist(), strict=True))
print("causal LM, p(animal | '[CLS] the'):", shares)

# %% [markdown]
# **Checkpoint.** The MLM knows both words; the causal LM knows the sound but not the animal,
# and it has learned the only honest answer: about 1/4 on each animal.

# %%
assert hits["MLM animal"] == 1.0 and hits["MLM sound"] == 1.0
assert hits["causal sound"] == 1.0 and hits["causal animal"] <= 0.5
assert np.allclose(p_animal[animal_ids], 0.25, atol=0.1)

# %% [markdown]
# ## What only the causal LM can do: write
#
# Generation appends the most likely next token and repeats. The causal LM was trained for
# exactly this step; BERT was trained to fill one hole with both sides known, and there is no
# right side while writing. `generate` stops at [SEP], which every training sentence ends with.

# %%
prompt = np.array([tokenizer.encode("the cow", add_special_tokens=False)])
prompt = np.concatenate([[[tokenizer.cls_token_id]], prompt], axis=1)  # [CLS] the cow
written = generate(gpt, prompt, max_new_tokens=8)
text = tokenizer.decode(written[0].tolist(), skip_special_tokens=True)
print(text)
assert text.startswith("the cow moos at the") and written[0, -1] in (tokenizer.sep_token_id, 0)

# %% [markdown]
# ## Summary
#
# - One mask separates the two families: BERT's hides padding, a decoder's also hides the future.
# - A bidirectional model is the better *reader*: a word's representation uses both sides (the
#   reason BERT is the encoder of choice for classification, tagging and QA, and the encoder of
#   tutorial 13's translator).
# - A causal model is a *writer*: its training objective is the generation step itself. What it
#   cannot know from the left, it spreads its probability over, as it should.
#
# ## Exercises
#
# 1. Count how many keys query i sees in the causal mask of a T-token unpadded sentence, and
#    how many attention scores a causal layer really needs (a triangle). Check: for T = 6 the
#    causal mask has 21 `True`s.
# 2. Swap the word order so the sound comes first ("the barks dog at the moon ."). Which
#    model's accuracy on the animal changes? Predict it, then train a fresh MiniGPT on the
#    swapped sentences. Check: the causal LM now sees the sound before the animal, so it names
#    the animal every time (and is reduced to a quarter on the sound).
# 3. Make the MLM causal: build `BertConfig(..., is_decoder=True)` and check that changing
#    position 7 no longer moves positions 0 to 6.

# %%
# Solutions (checks).
full = causal_attention_mask(None, 6, 0, np.float64, np)[0, 0] == 0
assert full.sum() == 21  # 1 + 2 + ... + 6
decoder_bert = BertModel(BertConfig(vocab_size=V, is_decoder=True, **sizes), seed=0).eval()
with no_grad():
    moved = np.abs(
        decoder_bert(ids[:1]).last_hidden_state.data - decoder_bert(changed).last_hidden_state.data
    ).max(-1)[0]
assert (moved[:7] == 0).all() and (moved[7:] > 0).all()
swapped = ids.copy()
swapped[:, [ANIMAL, SOUND]] = ids[:, [SOUND, ANIMAL]]
writer, _ = train(MiniGPT(DecoderConfig.for_tokenizer(tokenizer, **sizes), seed=0),
                  lambda m: m(swapped, labels=swapped).loss)  # fmt: skip
with no_grad():
    guess = writer(swapped).logits.data.argmax(-1)
assert (guess[:, SOUND - 1] == swapped[:, SOUND]).all()  # the animal, now at position 3
print("exercise checks passed")
