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
# # 05 · BERT, layer by layer
#
# Tutorial 04 built attention. BERT is attention plus a few well-chosen pieces around it: input
# embeddings, LayerNorm, a feed-forward network with GELU, residual connections, a pooler. In
# this tutorial you take minibert's `BertModel` apart, recompute each piece by hand in NumPy,
# count its parameters, and finally save it and load it back, in minibert and (if you have it)
# in Hugging Face transformers.
#
# **Goals.** By the end you can
#
# 1. read a `BertConfig` (presets, head size) and understand its validation errors;
# 2. compute BERT's embeddings (word + position + token type, then LayerNorm) by hand, and say
#    what LayerNorm guarantees per token;
# 3. compare sinusoidal and learned position embeddings;
# 4. write the feed-forward block with GELU (exact or tanh-approximated) and one post-LN
#    `BertLayer`, and match minibert's numbers;
# 5. count BERT's parameters per component, by formula, up to BERT-base's 110 million;
# 6. pool token states into one vector per sequence (`cls`, `mean`, `max`), ignoring padding;
# 7. save a model with `save_pretrained`, load it with `from_pretrained`, and get the same
#    outputs (and the same from transformers' `BertModel`).
#
# **Prerequisites.** Tutorial 04 (attention, masks, heads). `autograd` tensors (tutorial 01):
# here we only run them forward and read `.data`.
#
# **Run time.** About two seconds as a script (`.venv/bin/python tutorials/05_bert_layers.py`),
# plus 5 to 10 s when transformers is installed (importing torch and transformers, section 8).
#
# Cells marked **checkpoint** end in `assert`s: if they pass, what the text claims is true on
# your machine too.

# %%
import math
import os
import tempfile
from pathlib import Path

import numpy as np
from course import pyplot, save_figure  # tutorials/course.py

import autograd as ag
from autograd import nn
from minibert.config import PRESETS, BertConfig
from minibert.modeling import BertModel, pool, sinusoidal_table

plt = pyplot()  # None without matplotlib: the tutorial still runs, just without pictures

rng = np.random.default_rng(0)
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## 1. The config
#
# Every size and switch of a BERT model lives in one `BertConfig`, with transformers' names.
# The ones that set the shape are: the vocabulary size $V$, the hidden size $H$, the number of
# layers $L$, the number of heads $n_h$ (each of size $h_s = H / n_h$), the feed-forward size $I$
# (usually $4H$), the longest input $P$ (`max_position_embeddings`) and the number of segment
# types (2: sentence A and sentence B). minibert has four presets; `base` is BERT-base.

# %%
print("preset |    H |  L | nh | hs |    I |     V |   P")
for name in PRESETS:
    c = BertConfig.preset(name)
    print(
        f"{name:6} | {c.hidden_size:4} | {c.num_hidden_layers:2} | {c.num_attention_heads:2} | "
        f"{c.head_size:2} | {c.intermediate_size:4} | {c.vocab_size:5} | "
        f"{c.max_position_embeddings:3}"
    )
config = BertConfig.preset("tiny")
assert config.head_size == config.hidden_size // config.num_attention_heads == 64  # checkpoint

# %% [markdown]
# A config checks itself when it is made, and its errors say what is wrong and how to fix it.
# The most common mistake: a hidden size that the heads cannot share equally (tutorial 04: the
# reshape `(B, T, H) -> (B, T, nh, hs)` needs $H = n_h \cdot h_s$).

# %%
try:
    BertConfig(hidden_size=100, num_attention_heads=12)
    message = None
except ValueError as error:
    message = str(error)
print("ValueError:", message)
assert message is not None and "not divisible" in message  # checkpoint

# %% [markdown]
# ## 2. Embeddings: word + position + token type
#
# BERT's input is a sequence of integer ids. Three lookup tables turn it into vectors of size
# $H$, and they are simply **added**:
#
# - the **word** embedding of each id (a $V \times H$ table);
# - the **position** embedding of each position $0, 1, \dots, T - 1$ ($P \times H$): attention
#   itself is blind to order (shuffle the tokens and the outputs shuffle the same way), so order
#   must be written into the input;
# - the **token type** (segment) embedding: 0 for sentence A, 1 for sentence B ($2 \times H$).
#
# The sum goes through LayerNorm and dropout. We build a tiny BERT (random weights, `seed=0`),
# in evaluation mode so dropout is off, and recompute its embeddings by hand from its tables.
# The input is a sentence pair: `[CLS] A A A [SEP] B B [SEP]` (ids are arbitrary here;
# tutorial 06 makes real ones).

# %%
model = BertModel(config, seed=0).eval()
input_ids = np.array([[2, 105, 2071, 88, 3, 4001, 17, 3]])  # (B, T) = (1, 8)
token_type_ids = np.array([[0, 0, 0, 0, 0, 1, 1, 1]])  # (B, T): sentence A, then sentence B
B, T = input_ids.shape
position_ids = np.arange(T)[None]  # (1, T)

emb = model.embeddings
summed = (
    emb.word_embeddings.weight.data[input_ids]  # (B, T) -> (B, T, H)
    + emb.position_embeddings.weight.data[position_ids]  # (1, T) -> (1, T, H)
    + emb.token_type_embeddings.weight.data[token_type_ids]  # (B, T) -> (B, T, H)
)
print("summed embeddings", summed.shape)

# %% [markdown]
# ### LayerNorm
#
# LayerNorm normalizes each token's vector on its own, over its $H$ features:
#
# $$\hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}, \qquad y = \hat x \odot \gamma + \beta,$$
#
# with $\mu$ and $\sigma^2$ the mean and (biased) variance of that one vector. So $\hat x$ has
# mean 0 and variance 1 **for every token**, whatever the scale of the sum; $\gamma$ and $\beta$
# (learned, one per feature, initialized to 1 and 0) then give the model back a scale and shift
# of its choosing. Nothing is shared across tokens or across the batch, so LayerNorm behaves
# the same in training and evaluation, at any batch size.

# %%
mean = summed.mean(axis=-1, keepdims=True)  # (B, T, 1)
variance = summed.var(axis=-1, keepdims=True)  # (B, T, 1)
x_hat = (summed - mean) / np.sqrt(variance + config.layer_norm_eps)  # (B, T, H)
by_hand = x_hat * emb.LayerNorm.weight.data + emb.LayerNorm.bias.data  # (B, T, H)

theirs = emb(input_ids, token_type_ids, position_ids).data  # (B, T, H)
print("before LayerNorm, per token: mean    ", summed.mean(-1)[0])
print("                             variance", summed.var(-1)[0])
print("after (x_hat), per token:    mean    ", x_hat.mean(-1)[0])
print("                             variance", x_hat.var(-1)[0])
print(f"max |by hand - minibert| = {np.abs(by_hand - theirs).max():.1e}")

# %% [markdown]
# **Checkpoint.** Our embeddings are minibert's; each token's normalized vector has mean 0 and
# variance 1 (the raw sum had a variance near $3 \times 0.02^2$, three tables initialized with
# standard deviation 0.02). And the `[PAD]` row (id 0) of the word table starts at zero and,
# as `padding_idx`, never receives a gradient: padding carries no word meaning.
#
# minibert computes exactly this sum, in this order, but as one autograd node,
# `autograd.nn.functional.embedding_layer_norm`: its kernel gathers each token's three rows and
# adds them in one pass, then hands the sum to the LayerNorm kernel, instead of writing a
# $(B, T, H)$ array per lookup and per addition (tutorial 03 shows why fewer passes over memory
# pay). Its backward is LayerNorm's, then one scatter-add per table.

# %%
assert np.allclose(by_hand, theirs, atol=1e-5)  # checkpoint
assert np.allclose(x_hat.mean(-1), 0.0, atol=1e-5) and np.allclose(x_hat.var(-1), 1.0, atol=1e-4)
assert np.all(summed.var(-1) < 3e-3)
assert np.all(emb.word_embeddings.weight.data[config.pad_token_id] == 0.0)

# %% [markdown]
# ## 3. Positions: sinusoidal or learned
#
# BERT **learns** its position table: 512 rows of parameters, initialized as noise and shaped by
# training. The original Transformer ("Attention Is All You Need") used a **fixed** table
# instead, every pair of features a sine and cosine of the position at its own wavelength:
#
# $$PE_{p, 2i} = \sin\!\big(p / 10000^{2i/d}\big), \qquad
#   PE_{p, 2i+1} = \cos\!\big(p / 10000^{2i/d}\big).$$
#
# The low features spin fast (wavelength $2\pi$), the high ones slowly (up to
# $2\pi \cdot 10000$), like the hands of a clock. minibert has both:
# `BertConfig(position_embedding_type="sinusoidal")` uses `sinusoidal_table`.

# %%
table = sinusoidal_table(config.max_position_embeddings, config.hidden_size)  # (P, H)
print("sinusoidal table", table.shape, " first position:", table[0, :6], "...")

if plt is not None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    image = left.imshow(table, cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
    left.set(title="sinusoidal position table", xlabel="feature", ylabel="position")
    fig.colorbar(image, ax=left)
    for feature in (10, 20, 40, 60):  # even features: sines of wavelength 2 pi 10000^(f / H)
        wavelength = 2 * math.pi * 10000 ** (feature / config.hidden_size)
        right.plot(table[:, feature], label=f"feature {feature} (wavelength {wavelength:.0f})")
    right.set(title="a few columns", xlabel="position", ylabel="value")
    right.legend(loc="lower left", fontsize="small")
    save_figure(fig, "05_sinusoidal_positions.png")

# %% [markdown]
# Why this table? Two properties, which we check:
#
# 1. every row has the same length, $\sqrt{H/2}$ (each sine/cosine pair contributes
#    $\sin^2 + \cos^2 = 1$), so no position shouts louder than another;
# 2. the dot product of two rows depends only on their **offset**:
#    $PE_p \cdot PE_{p+k} = \sum_i \cos(k\,\omega_i)$. Moving by $k$ is a rotation of each pair
#    by the angle $k\,\omega_i$, the same rotation wherever you start, so relative positions
#    are easy for attention's dot products to read.
#
# A learned table starts as random noise with neither property; training has to discover
# whatever structure it needs (and a trained BERT's table does end up smooth and wave-like).

# %%
norms = np.linalg.norm(table.astype(np.float64), axis=-1)  # (P,)
assert np.allclose(norms, math.sqrt(config.hidden_size / 2), atol=1e-4)  # checkpoint: property 1
for offset in (1, 5, 20):
    dots = [table[p] @ table[p + offset] for p in range(0, 100, 7)]
    assert np.allclose(dots, dots[0], atol=1e-3), offset  # property 2: one value per offset
    print(f"offset {offset:2}: PE[p] . PE[p + {offset}] = {dots[0]:7.3f} for every p tried")

learned = model.embeddings.position_embeddings.weight.data  # (P, H), random at initialization
learned_dots = [learned[p] @ learned[p + 1] for p in range(0, 100, 7)]
print(
    f"learned table (untrained), offset 1: from {min(learned_dots):.4f} to {max(learned_dots):.4f}"
)
assert np.std(learned_dots) > 0.1 * np.mean(np.abs(learned_dots))  # no such structure

# %% [markdown]
# The sinusoidal table is a function of the config, not a parameter: minibert keeps it as a
# non-persistent buffer, so the model has $P \times H$ fewer parameters and the table is not
# saved in checkpoints. (transformers' BERT has no sinusoidal option, so a sinusoidal minibert
# checkpoint is for minibert alone.)

# %%
sinusoidal_model = BertModel(BertConfig.preset("tiny", position_embedding_type="sinusoidal"))
saved_names = sinusoidal_model.state_dict()
difference = model.num_parameters() - sinusoidal_model.num_parameters()
print("parameters of the learned position table (P x H):", difference)
assert difference == config.max_position_embeddings * config.hidden_size  # checkpoint
assert not any("position" in name for name in saved_names)

# %% [markdown]
# ## 4. The feed-forward block and GELU
#
# After attention has mixed information *between* tokens, each token goes alone through a
# two-layer network, the same one for every position: expand from $H$ to $I = 4H$, apply a
# non-linearity, contract back to $H$:
#
# $$\text{FFN}(x) = W_2\, \text{GELU}(W_1 x + b_1) + b_2.$$
#
# BERT's non-linearity is GELU, $\text{GELU}(x) = x\,\Phi(x)$ with $\Phi$ the standard normal
# distribution function: like ReLU for large $|x|$, but smooth, and slightly negative just
# below 0. $\Phi$ needs `erf`; the original TensorFlow BERT code used a tanh approximation
# instead, which transformers calls `gelu_new`:
#
# $$\text{GELU}(x) = \tfrac{x}{2}\big(1 + \text{erf}(x/\sqrt 2)\big) \approx
#   \tfrac{x}{2}\Big(1 + \tanh\!\big(\sqrt{2/\pi}\,(x + 0.044715\,x^3)\big)\Big).$$
#
# How far apart are they? We compute both by hand and with `autograd.gelu`.

# %%
xs = np.linspace(-6.0, 6.0, 120_001)  # float64, a step of 1e-4
erf = np.vectorize(math.erf)
exact = 0.5 * xs * (1.0 + erf(xs / math.sqrt(2.0)))
approx = 0.5 * xs * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (xs + 0.044715 * xs**3)))
gap = np.abs(exact - approx)
print(f"max |exact - tanh approximation| = {gap.max():.2e} at x = {xs[gap.argmax()]:+.3f}")

xs_tensor = ag.tensor(xs, dtype="float64")
assert np.allclose(ag.gelu(xs_tensor).data, exact, atol=1e-12)  # checkpoint
assert np.allclose(ag.gelu(xs_tensor, approximate="tanh").data, approx, atol=1e-12)
assert 4e-4 < gap.max() < 5e-4 and 2.5 < abs(xs[gap.argmax()]) < 3.0

# %% [markdown]
# A difference below $5 \cdot 10^{-4}$: small, but not zero, so a checkpoint must be run with
# the activation it was trained with (`hidden_act`: `"gelu"` for exact, `"gelu_new"` for tanh).
# A picture of GELU next to ReLU:

# %%
if plt is not None:
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    ax.plot(xs, np.maximum(xs, 0), label="ReLU", color="gray", ls="--")
    ax.plot(xs, exact, label="GELU (exact)")
    ax.set(xlim=(-4, 3), ylim=(-0.5, 3), xlabel="x", title="GELU is a smooth ReLU")
    ax.axhline(0, color="black", lw=0.5)
    ax.legend()
    save_figure(fig, "05_gelu.png")

# %% [markdown]
# In a `BertLayer` the block is split over two modules, named as in transformers' checkpoints:
# `intermediate` ($W_1$, $b_1$ and GELU) and `output` ($W_2$, $b_2$, then the residual and
# LayerNorm of the next section). By hand, on the embeddings from section 2:

# %%
layer = model.encoder.layer[0]
W1, b1 = layer.intermediate.dense.weight.data, layer.intermediate.dense.bias.data  # (I, H), (I,)
W2, b2 = layer.output.dense.weight.data, layer.output.dense.bias.data  # (H, I), (H,)
hidden = theirs  # (B, T, H), the embedding output
expanded = hidden @ W1.T + b1  # (B, T, H) @ (H, I) -> (B, T, I)
activated = 0.5 * expanded * (1.0 + erf(expanded / math.sqrt(2.0)))  # GELU, (B, T, I)
ffn_by_hand = activated @ W2.T + b2  # (B, T, I) @ (I, H) -> (B, T, H)
ffn_theirs = layer.output.dense(layer.intermediate(ag.tensor(hidden))).data  # (B, T, H)
print("intermediate", expanded.shape, "-> output", ffn_by_hand.shape)
assert np.allclose(ffn_by_hand, ffn_theirs, atol=1e-5)  # checkpoint

# %% [markdown]
# `intermediate` runs its product without $b_1$ and hands $b_1$ to GELU, whose kernel adds it on
# the way: one pass over the (B, T, I) activations instead of two. When no graph is recorded
# (inference, under `no_grad`) it goes one step further: the product's output is a fresh array
# that nothing else holds and no backward will read, so GELU writes its result over it
# (`ag.gelu(h, bias=b1, inplace=True)`, as PyTorch's `F.relu(x, inplace=True)`) instead of
# filling a second array of the same size. (B, T, I) is the largest activation of a layer (25 MB
# at MiniLM's shape and a batch of 32 x 128), and not writing a second one makes a whole forward
# pass 2-3% faster. In grad mode the backward needs GELU's input, so `inplace=True` refuses:

# %%
with ag.no_grad():
    h = layer.intermediate.dense(ag.tensor(hidden))  # (B, T, I), its own fresh array
    assert ag.gelu(h, inplace=True) is h  # the same tensor, its values now GELU's
needs_grad = ag.tensor(expanded, requires_grad=True)
try:
    ag.gelu(needs_grad, inplace=True)
except RuntimeError as error:
    print("grad mode:", error)

# %% [markdown]
# ## 5. One `BertLayer`: two residual blocks, post-LN
#
# A layer is attention, then the feed-forward network, each wrapped the same way: add the
# block's output to its input (a **residual** connection, so the signal and its gradient always
# have a direct path), then LayerNorm. BERT normalizes *after* the addition ("post-LN"):
#
# $$a = \text{LN}_1\big(x + \text{Dropout}(W_O\,\text{Attention}(x) + b_O)\big), \qquad
#   y = \text{LN}_2\big(a + \text{Dropout}(\text{FFN}(a))\big).$$
#
# (GPT-2 and most later models normalize *before* each block, $x + f(\text{LN}(x))$, which
# trains more stably when the stack is deep; BERT's checkpoints are post-LN, so we are too.)
# minibert's names: `attention.self` (tutorial 04), `attention.output` ($W_O$ and
# $\text{LN}_1$), `intermediate` and `output` ($\text{LN}_2$).


# %%
def layer_norm(x, ln: nn.LayerNorm):
    """LayerNorm by hand, with the module's gamma, beta and epsilon. Shapes: (..., H)."""
    x_hat = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + ln.eps)
    return x_hat * ln.weight.data + ln.bias.data


context, _ = layer.attention.self(ag.tensor(hidden))  # (B, T, H), tutorial 04's attention
dense = layer.attention.output.dense
attended = layer_norm(  # residual, then LN_1; dropout is off in eval mode
    hidden + context.data @ dense.weight.data.T + dense.bias.data,
    layer.attention.output.LayerNorm,
)  # (B, T, H)
pre_activation = attended @ W1.T + b1  # (B, T, H) @ (H, I) -> (B, T, I)
ffn = (0.5 * pre_activation * (1 + erf(pre_activation / math.sqrt(2)))) @ W2.T + b2  # (B, T, H)
layer_by_hand = layer_norm(attended + ffn, layer.output.LayerNorm)  # residual, then LN_2
layer_theirs, layer_probs = layer(ag.tensor(hidden))
print(f"max |by hand - BertLayer| = {np.abs(layer_by_hand - layer_theirs.data).max():.1e}")
assert np.allclose(layer_by_hand, layer_theirs.data, atol=1e-5)  # checkpoint
assert layer_probs.shape == (B, config.num_attention_heads, T, T)

# %% [markdown]
# Because the last operation of every post-LN layer is a LayerNorm, every layer's output is
# normalized per token too (exactly mean 0 and variance 1 here, where $\gamma = 1$ and
# $\beta = 0$ still; after training, per-feature rescaled).

# %%
assert np.allclose(layer_theirs.data.mean(-1), 0, atol=1e-5)  # checkpoint
assert np.allclose(layer_theirs.data.var(-1), 1, atol=1e-3)

# %% [markdown]
# ## 6. The whole model, and where the parameters are
#
# `BertModel` is the embeddings, a stack of $L$ layers (`encoder.layer.0`, `encoder.layer.1`,
# ...) and the **pooler**, $\tanh(W h_{[CLS]} + b)$, the sentence-level vector that the
# next-sentence and classification heads read. It returns transformers' output fields.

# %%
out = model(
    input_ids, token_type_ids=token_type_ids, output_attentions=True, output_hidden_states=True
)
print("last_hidden_state", out.last_hidden_state.shape, " pooler_output", out.pooler_output.shape)
print(f"hidden_states: {len(out.hidden_states)} x {out.hidden_states[0].shape} (embeddings + L)")
print(f"attentions:    {len(out.attentions)} x {out.attentions[0].shape}")
assert len(out.hidden_states) == config.num_hidden_layers + 1  # checkpoint
assert np.allclose(out.hidden_states[0].data, theirs) and np.allclose(
    out.hidden_states[1].data, layer_theirs.data, atol=1e-6
)  # the pieces we recomputed are the model's first steps

# %% [markdown]
# Now count. We group the parameters by component, using the names (HF-compatible, so they are
# the names in every BERT checkpoint):

# %%
counts: dict[str, int] = {}
for name, param in model.named_parameters():
    if name.startswith("encoder.layer."):
        component = ".".join(name.split(".")[:3])  # "encoder.layer.0"
    else:
        component = name.split(".")[0]  # "embeddings" or "pooler"
    counts[component] = counts.get(component, 0) + param.size
total = model.num_parameters()
for component, count in counts.items():
    print(f"{component:16} {count:>10,}  {100 * count / total:5.1f}%")
print(f"{'total':16} {total:>10,}")
assert sum(counts.values()) == total  # checkpoint

# %% [markdown]
# In the tiny model most parameters are in the word embeddings ($8192 \times 128$). The same
# sums as a formula, written from the shapes above (a `Linear` from $a$ to $b$ has $ab + b$
# parameters, a LayerNorm $2H$):
#
# - embeddings: $(V + P + 2) H + 2H$;
# - one layer: attention $4(H^2 + H) + 2H$ (query, key, value, output; LN), feed-forward
#   $(HI + I) + (IH + H) + 2H$;
# - pooler: $H^2 + H$.


# %%
def count_parameters(config: BertConfig, pooler: bool = True) -> dict[str, int]:
    """BertModel's parameter count per component, from the config alone (nothing allocated)."""
    H, V, P, I = (
        config.hidden_size,
        config.vocab_size,
        config.max_position_embeddings,
        config.intermediate_size,
    )
    norm = 2 * H  # a LayerNorm's gamma and beta
    embeddings = (V + P + config.type_vocab_size) * H + norm
    attention = 4 * (H * H + H) + norm  # query, key, value and output Linear layers
    feed_forward = (H * I + I) + (I * H + H) + norm
    per_component = {
        "embeddings": embeddings,
        "encoder": config.num_hidden_layers * (attention + feed_forward),
        "pooler": H * H + H if pooler else 0,
    }
    per_component["total"] = sum(per_component.values())
    return per_component


tiny = count_parameters(config)
assert tiny["total"] == model.num_parameters()  # checkpoint: tiny, in total
assert tiny["embeddings"] == counts["embeddings"] and tiny["pooler"] == counts["pooler"]
assert tiny["encoder"] == sum(n for c, n in counts.items() if c.startswith("encoder"))
odd = BertConfig(vocab_size=50, hidden_size=12, num_hidden_layers=3, num_attention_heads=3,
                 intermediate_size=20, max_position_embeddings=9, type_vocab_size=3)  # fmt: skip
assert count_parameters(odd)["total"] == BertModel(odd).num_parameters()  # and an odd shape

base = count_parameters(BertConfig.preset("base"))
for component, count in base.items():
    print(f"BERT-base {component:10} {count:>12,}  {100 * count / base['total']:5.1f}%")
assert base["total"] == 109_482_240  # checkpoint: the "110M" of the BERT paper

# %% [markdown]
# In BERT-base the picture flips: the encoder holds 78% of the parameters, the embeddings 22%.
# (Allocating BERT-base would take 440 MB of float32; the formula takes nothing.)
#
# ## 7. Pooling: one vector per sequence
#
# Classification and sentence similarity need one vector per sequence. `minibert.modeling.pool`
# offers three ways, all of which ignore padding given the `attention_mask`:
#
# - `"cls"`: the `[CLS]` token's final state (what the pooler reads; it becomes the sentence
#   representation through fine-tuning);
# - `"mean"`: the average over the real tokens (what sentence-transformers models use);
# - `"max"`: the elementwise maximum over the real tokens.
#
# A check that padding is really ignored: run the same sentence alone, and padded with three
# `[PAD]` tokens in a batch beside a longer one. With the mask, the real tokens' states do not
# change, and neither does any pooled vector.

# %%
short = [2, 105, 2071, 88, 3]
longer = [2, 105, 2071, 88, 3, 4001, 17, 3]
batch_ids = np.array([short + [0] * 3, longer])  # (2, 8), padded with [PAD] = 0
batch_mask = np.array([[1] * 5 + [0] * 3, [1] * 8])  # (2, 8)
alone = model(np.array([short])).last_hidden_state  # (1, 5, H)
batched = model(batch_ids, attention_mask=batch_mask).last_hidden_state  # (2, 8, H)
print(f"max |alone - padded|, real tokens: {np.abs(alone.data[0] - batched.data[0, :5]).max():.1e}")
assert np.allclose(alone.data[0], batched.data[0, :5], atol=1e-5)  # checkpoint

for strategy in ("cls", "mean", "max"):
    pooled_alone = pool(alone, None, strategy).data  # (1, H)
    pooled_batched = pool(batched, batch_mask, strategy).data  # (2, H)
    assert pooled_batched.shape == (2, config.hidden_size)
    assert np.allclose(pooled_alone[0], pooled_batched[0], atol=1e-5), strategy
    print(f"{strategy:4}: first features {pooled_batched[0, :4]}  (same alone and padded)")
assert np.allclose(pool(alone, None, "mean").data, alone.data.mean(axis=1), atol=1e-6)

# %% [markdown]
# ## 8. Checkpoints
#
# `save_pretrained(directory)` writes two files, exactly as transformers does: `config.json`
# and `model.safetensors` (the tensors under their HF names; safetensors is a plain format that,
# unlike pickle, cannot run code when loaded). `from_pretrained(directory)` builds the model
# from the config and loads the tensors, checking every name and shape. We use a temporary
# directory, removed at the end of the section.

# %%
temporary = tempfile.TemporaryDirectory()  # tutorials write nothing but pictures to the repo
directory = Path(temporary.name)
model.save_pretrained(directory)
for path in sorted(directory.iterdir()):
    print(f"{path.name:20} {path.stat().st_size:>10,} bytes")
reloaded = BertModel.from_pretrained(directory).eval()
before = model(batch_ids, attention_mask=batch_mask)
after = reloaded(batch_ids, attention_mask=batch_mask)
assert np.array_equal(before.last_hidden_state.data, after.last_hidden_state.data)  # checkpoint
assert np.array_equal(before.pooler_output.data, after.pooler_output.data)
print("reloaded model: identical outputs")

# %% [markdown]
# The same directory is a transformers checkpoint. If transformers (and PyTorch) are installed,
# we load it with `transformers.BertModel.from_pretrained(directory)` and compare. Nothing is
# downloaded: the argument is a local directory.

# %%
try:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local directory needs no network
    import torch
    import transformers
except ImportError:
    transformers = None
    print(
        "transformers is not installed, so the comparison with Hugging Face is skipped. "
        "To run it, install the ref extra: make install-ref (or pip install -e '.[ref]')"
    )
if transformers is not None:
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    hf_model = transformers.BertModel.from_pretrained(directory, attn_implementation="eager")
    hf_model.eval()
    with torch.no_grad():
        hf_out = hf_model(torch.tensor(batch_ids), attention_mask=torch.tensor(batch_mask))
    hf_states = hf_out.last_hidden_state.numpy()
    state_gap = np.abs(hf_states - before.last_hidden_state.data).max()  # every position
    pooler_gap = np.abs(hf_out.pooler_output.numpy() - before.pooler_output.data).max()
    print(
        f"transformers vs minibert: max |difference| last_hidden_state {state_gap:.1e}, "
        f"pooler_output {pooler_gap:.1e}"
    )
    assert state_gap < 1e-5 and pooler_gap < 1e-5  # checkpoint
temporary.cleanup()

# %% [markdown]
# Even the padding positions agree: both libraries mask with the dtype's most negative finite
# number (tutorial 04), so both compute the same harmless garbage there.
#
# ## 9. When the input is wrong
#
# An id outside the vocabulary would make the word-embedding lookup fail with an `IndexError`
# deep inside the model or, worse, on a GPU with CuPy (which wraps out-of-range indices around),
# silently read another token's row. minibert checks its inputs first and says what is wrong,
# with the value and the limit:

# %%
try:
    model([[2, 105, 9000, 3]])  # the tiny vocabulary has 8192 ids: 0 .. 8191
    message = None
except ValueError as error:
    message = str(error)
print("ValueError:", message)
assert message is not None and "9000" in message and "8192" in message  # checkpoint

# %% [markdown]
# ## Summary
#
# - `BertConfig` holds every size; presets `tiny` to `base`; $H$ must divide into the heads.
# - Embeddings: word + position + token type, then LayerNorm: per token mean 0, variance 1,
#   then a learned per-feature scale and shift.
# - Positions: learned in BERT; sinusoidal tables have equal norms and offset-only dot products.
# - Feed-forward: $H \to 4H \to H$ with GELU (exact and tanh forms differ by under $5 \cdot
#   10^{-4}$).
# - A layer: $\text{LN}(x + \text{Attention}(x))$, then $\text{LN}(a + \text{FFN}(a))$.
# - BERT-base: 109,482,240 parameters, 78% in the encoder.
# - `pool` gives one vector per sequence, ignoring padding; `save_pretrained` /
#   `from_pretrained` round-trip exactly and speak transformers' format.
#
# ## Exercises
#
# Run the next cell to define the checks; write your answer; un-comment its `check_...` line.
# The solutions are in the last cell.


# %%
def check_exercise_1(count_fn) -> None:
    """count_fn(config) against real models with sinusoidal positions and no pooler."""
    shapes = [
        dict(vocab_size=50, hidden_size=12, num_hidden_layers=3, num_attention_heads=3,
             intermediate_size=20, max_position_embeddings=9, type_vocab_size=3),
        dict(vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=4,
             intermediate_size=64, max_position_embeddings=32),
    ]  # fmt: skip
    for shape in shapes:
        c = BertConfig(**shape, position_embedding_type="sinusoidal")
        expected = BertModel(c, add_pooling_layer=False).num_parameters()
        assert count_fn(c) == expected, f"{shape}: got {count_fn(c)}, expected {expected}"
    print("exercise 1: correct")


def check_exercise_2(layer_norm_fn) -> None:
    """layer_norm_fn(x, weight, bias, eps) against autograd's nn.LayerNorm."""
    generator = np.random.default_rng(6)
    ln = nn.LayerNorm(7, eps=1e-6, dtype=np.float64)
    ln.weight.data[...] = generator.normal(size=7)
    ln.bias.data[...] = generator.normal(size=7)
    x = generator.normal(3.0, 5.0, size=(2, 4, 7))
    got = layer_norm_fn(x, ln.weight.data, ln.bias.data, 1e-6)
    assert np.shape(got) == x.shape, f"shape {np.shape(got)}"
    assert np.allclose(got, ln(ag.tensor(x)).data), "values differ from nn.LayerNorm"
    print("exercise 2: correct")


def check_exercise_3(mean_pool_fn) -> None:
    """mean_pool_fn(hidden_states, attention_mask) against pool(..., 'mean')."""
    generator = np.random.default_rng(7)
    states = generator.normal(size=(3, 6, 5))  # (B, T, H)
    mask = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0]])
    got = mean_pool_fn(states, mask)
    assert np.shape(got) == (3, 5), f"shape {np.shape(got)}: one vector per sequence"
    assert np.allclose(got, pool(ag.tensor(states), mask, "mean").data), "values differ"
    print("exercise 3: correct")


# %% [markdown]
# **Exercise 1.** Write `count_without_pooler_sinusoidal(config)`: the parameter count of
# `BertModel(config, add_pooling_layer=False)` when `config.position_embedding_type` is
# `"sinusoidal"`. (Start from `count_parameters`: what is no longer a parameter?)


# %%
def count_without_pooler_sinusoidal(config: BertConfig) -> int:
    raise NotImplementedError("exercise 1: your code here")


# check_exercise_1(count_without_pooler_sinusoidal)

# %% [markdown]
# **Exercise 2.** Write LayerNorm in NumPy: `layer_norm_numpy(x, weight, bias, eps)` over the
# last axis, with the **biased** variance (divide by $H$, not $H - 1$).


# %%
def layer_norm_numpy(x, weight, bias, eps):
    raise NotImplementedError("exercise 2: your code here")


# check_exercise_2(layer_norm_numpy)

# %% [markdown]
# **Exercise 3.** Write masked mean pooling in NumPy: `mean_pool(hidden_states,
# attention_mask)` with shapes `(B, T, H)`, `(B, T)` -> `(B, H)`, the average over the
# positions where the mask is 1.


# %%
def mean_pool(hidden_states, attention_mask):
    raise NotImplementedError("exercise 3: your code here")


# check_exercise_3(mean_pool)

# %% [markdown]
# ---
# ## Solutions
#
# *Spoilers below.* This cell runs when the tutorial runs as a script, so the tutorial checks
# its own exercises.


# %%
def count_without_pooler_sinusoidal_solution(config: BertConfig) -> int:
    counts = count_parameters(config, pooler=False)
    # The sinusoidal table is a buffer, not a parameter: P x H fewer.
    return counts["total"] - config.max_position_embeddings * config.hidden_size


def layer_norm_numpy_solution(x, weight, bias, eps):
    mean = x.mean(axis=-1, keepdims=True)  # (..., 1)
    variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)  # (..., 1), biased
    return (x - mean) / np.sqrt(variance + eps) * weight + bias  # (..., H)


def mean_pool_solution(hidden_states, attention_mask):
    weights = attention_mask[:, :, None].astype(hidden_states.dtype)  # (B, T) -> (B, T, 1)
    total = (hidden_states * weights).sum(axis=1)  # (B, T, H) -> (B, H)
    return total / np.maximum(weights.sum(axis=1), 1e-9)  # (B, H) / (B, 1)


check_exercise_1(count_without_pooler_sinusoidal_solution)
check_exercise_2(layer_norm_numpy_solution)
check_exercise_3(mean_pool_solution)
