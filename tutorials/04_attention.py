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
# # 04 · Attention
#
# Attention is the one operation in BERT that lets a token look at the other tokens. Everything
# else (the embeddings, the feed-forward network, LayerNorm) works on each position on its own.
# In this tutorial you write attention from scratch on NumPy arrays, then check that your version
# gives the same numbers as minibert's `BertSelfAttention`.
#
# **Goals.** By the end you can
#
# 1. compute scaled dot-product attention, $\text{softmax}(QK^\top/\sqrt{d} + M)\,V$, and say
#    what the queries, keys and values are for;
# 2. explain with numbers why the scores are divided by $\sqrt{d}$ (without it the softmax
#    saturates and its gradient fades);
# 3. build the additive **padding** and **causal** masks, and say why minibert uses a very
#    negative number there and not $-\infty$;
# 4. split a hidden state into heads and merge the heads back, with a shape comment on every
#    reshape, and match `minibert.modeling.BertSelfAttention` on the same weights;
# 5. gradient-check attention with `autograd.gradcheck`, and read an attention map, both as a
#    picture and as text.
#
# **Prerequisites.** Tutorial 01 (autograd tensors, `backward`) and 02 (`autograd.gradcheck`,
# float64). NumPy broadcasting and `@` on stacks of matrices. A softmax:
# $\text{softmax}(z)_i = e^{z_i} / \sum_j e^{z_j}$.
#
# **Run time.** About two seconds as a script (`.venv/bin/python tutorials/04_attention.py`).
#
# Cells marked **checkpoint** end in `assert`s: if they pass, what the text claims is true on
# your machine too.

# %%
import math

import numpy as np
from course import pyplot, save_figure  # tutorials/course.py

import autograd as ag
from minibert.config import BertConfig
from minibert.modeling import BertSelfAttention
from minibert.modeling.inputs import additive_attention_mask

plt = pyplot()  # None without matplotlib: the tutorial still runs, just without pictures

rng = np.random.default_rng(0)
np.set_printoptions(precision=3, suppress=True)

# %% [markdown]
# ## 1. Queries, keys and values
#
# Each token asks a question and offers an answer. From its hidden state it computes
#
# - a **query** $q$: what am I looking for?
# - a **key** $k$: what do I contain (how others find me)?
# - a **value** $v$: what do I hand over to whoever attends to me?
#
# Token $i$ scores every token $j$ by the dot product $q_i \cdot k_j$ (large when they point the
# same way), turns its row of scores into weights that sum to 1 with a softmax, and takes the
# weighted average of the values. Stacked as matrices, for all tokens at once:
#
# $$\text{Attention}(Q, K, V) = \text{softmax}\!\left(\frac{Q K^\top}{\sqrt{d}} + M\right) V,$$
#
# where $d$ is the size of a query (the head size) and $M$ is an additive mask (section 3).
# The softmax runs along the last axis: over the keys, separately for every query.


# %%
def softmax(scores: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, stable: subtracting the row maximum changes nothing."""
    shifted = scores - scores.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def scaled_dot_product_attention(q, k, v, mask=None):
    r"""softmax(q k^T / \sqrt{d} + mask) v over the last two axes.

    Args:
        q, k, v: queries, keys and values; any leading axes (batch, heads) broadcast.
        mask: additive, broadcasting against the scores: 0 to attend, very negative to ignore.

    Returns:
        The context (the weighted values) and the attention probabilities.

    Shapes:
        q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv), mask (..., Tq, Tk);
        returns (..., Tq, dv) and (..., Tq, Tk).
    """
    d = q.shape[-1]
    scores = q @ k.swapaxes(-1, -2) / math.sqrt(d)  # (..., Tq, d) @ (..., d, Tk) -> (..., Tq, Tk)
    if mask is not None:
        scores = scores + mask
    probs = softmax(scores)  # (..., Tq, Tk), every row sums to 1
    return probs @ v, probs  # (..., Tq, Tk) @ (..., Tk, dv) -> (..., Tq, dv)


T, d = 4, 8
q = rng.normal(size=(T, d))  # (T, d): one query per token
k = rng.normal(size=(T, d))  # (T, d)
v = rng.normal(size=(T, d))  # (T, d)
context, probs = scaled_dot_product_attention(q, k, v)
print("attention probabilities (row i: how much token i takes from each token j):")
print(probs)

# %% [markdown]
# **Checkpoint.** Every row of probabilities is a distribution (non-negative, sums to 1), and
# each output row is exactly that mixture of the value rows. Token 0's output, for instance, is
# `probs[0, 0] * v[0] + probs[0, 1] * v[1] + ...`.

# %%
assert probs.shape == (T, T) and context.shape == (T, d)  # checkpoint
assert np.all(probs >= 0) and np.allclose(probs.sum(axis=-1), 1.0)
assert np.allclose(context[0], sum(probs[0, j] * v[j] for j in range(T)))

# %% [markdown]
# ## 2. Why divide by $\sqrt{d}$
#
# If the entries of $q$ and $k$ are independent with mean 0 and variance 1 (roughly what
# initialization and LayerNorm give), then $q \cdot k = \sum_{i=1}^{d} q_i k_i$ is a sum of $d$
# terms of variance 1: its variance is $d$, its typical size $\sqrt d$. BERT-base's heads have
# $d = 64$, so raw scores of $\pm 8$ to $\pm 16$ are normal. A softmax of such numbers is almost
# one-hot: the largest score takes nearly all the weight, and
#
# - the token attends to one other token, whatever the values say;
# - the gradient of the softmax, $\partial y_i / \partial z_j = y_i(\delta_{ij} - y_j)$, is close
#   to zero when $y$ is one-hot, so the queries and keys barely learn.
#
# Dividing by $\sqrt d$ brings the scores back to variance 1 at every head size. Let's measure,
# with 16 keys and 1000 random queries per head size. "Gradient size" is the average norm of the
# softmax's Jacobian matrix; it shrinks when the softmax saturates.


# %%
def softmax_jacobian_norm(p: np.ndarray) -> float:
    """Mean Frobenius norm of d softmax / d scores, diag(p) - p p^T, over the rows of p."""
    jacobians = p[:, :, None] * np.eye(p.shape[-1]) - p[:, :, None] * p[:, None, :]  # (N, T, T)
    return float(np.sqrt((jacobians**2).sum(axis=(1, 2))).mean())


num_keys = 16
saturation = {}
print("   d | score std | mean max prob: raw  scaled | gradient size: raw  scaled")
for d in (4, 16, 64, 256, 1024):
    queries = rng.normal(size=(1000, d))  # (N, d)
    keys = rng.normal(size=(num_keys, d))  # (16, d)
    raw = queries @ keys.T  # (N, 16): variance d
    p_raw, p_scaled = softmax(raw), softmax(raw / math.sqrt(d))
    row = (raw.std(), p_raw.max(-1).mean(), p_scaled.max(-1).mean())
    row += (softmax_jacobian_norm(p_raw), softmax_jacobian_norm(p_scaled))
    saturation[d] = row
    print(f"{d:4d} | {row[0]:9.1f} | {row[1]:18.3f} {row[2]:7.3f} | {row[3]:18.3f} {row[4]:7.3f}")

# %% [markdown]
# **Checkpoint.** The raw scores' spread grows like $\sqrt d$ (about 2, 4, 8, 16, 32). Without
# the scaling the largest probability heads for 1 (one key takes almost everything) and the
# gradient shrinks about fivefold from $d = 4$ to $d = 1024$; with it, both stay where they were
# at $d = 4$, whatever the head size.

# %%
dims = np.array(list(saturation))  # (5,)
columns = np.array(list(saturation.values())).T  # (5 quantities, 5 head sizes)
stds, max_raw, max_scaled, grad_raw, grad_scaled = columns
assert np.all((0.8 * np.sqrt(dims) < stds) & (stds < 1.2 * np.sqrt(dims)))  # checkpoint
assert np.all(np.diff(max_raw) > 0) and np.all(np.diff(grad_raw) < 0)  # raw: worse as d grows
assert max_raw[-1] > 0.9 and grad_raw[-1] < grad_raw[0] / 4  # saturated, gradient faded
assert np.all((0.2 < max_scaled) & (max_scaled < 0.32))  # scaled: the same at every d
assert np.all((0.25 < grad_scaled) & (grad_scaled < 0.35))

# %% [markdown]
# ## 3. Masks: padding and causal
#
# Sentences in a batch have different lengths, so the short ones are padded with `[PAD]` tokens
# up to the longest. The `attention_mask` says which tokens are real (1) and which are padding
# (0). No token should take anything from a padding token, so the scores of padding **keys**
# must not count.
#
# We do that by **adding** a mask to the scores before the softmax: 0 where a query may look, a
# very negative number where it may not. $e^{\text{very negative}}$ is exactly 0 in floating
# point, so those keys get probability 0 and the others share the whole weight. An addition
# broadcasts and fuses into the softmax kernel, where selecting the allowed keys would change
# the shape of every row.
#
# The padding mask depends on the key only, so it has shape `(B, 1, 1, T)`: broadcast over the
# heads and over the queries. A **causal** mask (a left-to-right language model, tutorial 12)
# lets query $i$ see keys $j \le i$ only; it is the same for every sequence: `(1, 1, T, T)`.

# %%
NEG = float(np.finfo(np.float32).min)  # about -3.4e38: "very negative", and still finite


def padding_mask(attention_mask: np.ndarray) -> np.ndarray:
    """Additive padding mask. Shapes: attention_mask (B, T) of 1/0; returns (B, 1, 1, T)."""
    keep = attention_mask.astype(bool)[:, None, None, :]  # (B, T) -> (B, 1, 1, T)
    return np.where(keep, 0.0, NEG).astype(np.float32)


def causal_mask(T: int) -> np.ndarray:
    """Additive causal mask: query i sees keys 0..i. Shapes: returns (1, 1, T, T)."""
    keep = np.tril(np.ones((T, T), dtype=bool))  # (T, T), True on and below the diagonal
    return np.where(keep, 0.0, NEG).astype(np.float32)[None, None]  # (T, T) -> (1, 1, T, T)


def draw_mask(mask: np.ndarray, title: str) -> None:
    """Print a (T, T) additive mask: '.' attends, 'x' is masked."""
    print(title)
    for row in mask:
        print("   ", " ".join("." if m == 0 else "x" for m in row))


attention_mask = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])  # (B, T): row 1 has 2 pads
B, T = attention_mask.shape
pad = padding_mask(attention_mask)  # (B, 1, 1, T)
causal = causal_mask(T)  # (1, 1, T, T)
draw_mask(np.broadcast_to(pad[1, 0], (T, T)), "padding mask of sequence 1 (rows: queries)")
draw_mask(causal[0, 0], "causal mask")
both = np.minimum(pad, causal)  # (B, 1, T, T): masked if either mask masks
draw_mask(both[1, 0], "both, for sequence 1")

# %% [markdown]
# To combine two masks we took their elementwise minimum, not their sum: `NEG + NEG` overflows to
# `-inf` in float32 (the next subsection shows why `-inf` is trouble). minibert combines the
# "keep" booleans first and converts once, which comes to the same.
#
# Now attention with the padding mask. **Checkpoint**: the padding keys get exactly zero
# probability, and the real tokens' outputs are the same as if the padding were not there at
# all, the property that makes batching with padding correct.

# %%
x = rng.normal(size=(B, 1, T, 8)).astype(np.float32)  # (B, heads, T, d); q = k = v = x here
out_padded, probs_padded = scaled_dot_product_attention(x, x, x, pad)  # (B, 1, T, d), (B, 1, T, T)
short = x[1:, :, :4]  # sequence 1 without its two pads: (1, 1, 4, d)
out_short, _ = scaled_dot_product_attention(short, short, short)  # no mask needed
print("sequence 1, query 0's probabilities:", probs_padded[1, 0, 0])
assert np.all(probs_padded[1, :, :, 4:] == 0.0)  # checkpoint: no weight on padding
assert np.allclose(out_padded[1, :, :4], out_short[0], atol=1e-6)  # padding changes nothing

# Our masks are minibert's masks (it combines the "keep" booleans, then picks 0 or the minimum).
mask_both = additive_attention_mask(attention_mask, T, True, np.float32, np)  # (B, 1, T, T)
assert np.array_equal(additive_attention_mask(attention_mask, T, False, np.float32, np), pad)
assert np.array_equal(mask_both[0, 0], causal[0, 0])
assert np.array_equal(mask_both, both)

# %% [markdown]
# ### Why not $-\infty$?
#
# It is tempting to mask with `-inf`: $e^{-\infty} = 0$ exactly. It works, until a row is masked
# *entirely* (a sequence that is all padding, or, with padding on the left and a causal mask,
# a padding query that may look only at padding). Then the softmax computes $0 / 0$ = NaN,
# and the NaN spreads through the rest of the model and into every gradient. With the most
# negative finite number the row stays finite: all its scores are equal, so the softmax is
# uniform, harmless garbage in a row nobody reads.

# %%
all_masked = np.zeros((1, 3))
with np.errstate(invalid="ignore"):  # NumPy would warn about the 0 / 0
    with_inf = softmax(all_masked + np.full((1, 3), -np.inf))
with_min = softmax(all_masked + np.full((1, 3), NEG))
print("fully masked row, -inf mask:  ", with_inf)
print("fully masked row, finite mask:", with_min)
assert np.isnan(with_inf).all() and np.allclose(with_min, 1 / 3)  # checkpoint

# %% [markdown]
# A picture of the three masks (white: attend; dark: masked).

# %%
if plt is not None:
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
    shown = [np.broadcast_to(pad[1, 0], (T, T)), causal[0, 0], mask_both[1, 0]]
    titles = ["padding (sequence 1)", "causal", "padding + causal"]
    for ax, mask, title in zip(axes, shown, titles, strict=True):
        ax.imshow(mask == 0, cmap="gray", vmin=0, vmax=1)
        ax.set(title=title, xlabel="key", ylabel="query", xticks=range(T), yticks=range(T))
    fig.tight_layout()
    save_figure(fig, "04_masks.png")

# %% [markdown]
# ## 4. Multi-head attention
#
# One softmax gives each token one distribution over the others: it can look at one thing at a
# time. BERT runs $n_h$ attentions side by side, the **heads**, each on its own slice of the
# hidden state: with hidden size $H$ and $n_h$ heads, each head has size $h_s = H / n_h$
# (BERT-base: $768 = 12 \times 64$). One head might follow the previous token, another the
# matching bracket, another the verb's subject.
#
# It costs nothing extra: the query, key and value projections are still one $H \times H$
# matrix each; we just *read* their output as $n_h$ pieces. All the work is in the reshapes,
# and they are easy to get wrong, so each has its shape comment. The names are BERT's: `B`
# batch, `T` tokens, `H` hidden size, `nh` heads, `hs` head size.
#
# The weights are stored as `nn.Linear` stores them, `(out_features, in_features)`, so a
# projection is `x @ W.T + b`.


# %%
def split_heads(x: np.ndarray, num_heads: int) -> np.ndarray:
    """Shapes: x (B, T, H); returns (B, nh, T, hs)."""
    B, T, H = x.shape
    x = x.reshape(B, T, num_heads, H // num_heads)  # (B, T, H) -> (B, T, nh, hs)
    return x.transpose(0, 2, 1, 3)  # (B, T, nh, hs) -> (B, nh, T, hs)


def merge_heads(x: np.ndarray) -> np.ndarray:
    """The inverse of split_heads. Shapes: x (B, nh, T, hs); returns (B, T, H)."""
    B, nh, T, hs = x.shape
    x = x.transpose(0, 2, 1, 3)  # (B, nh, T, hs) -> (B, T, nh, hs)
    return x.reshape(B, T, nh * hs)  # (B, T, nh, hs) -> (B, T, H)


def multi_head_attention(hidden_states, weights: dict, num_heads: int, mask=None):
    """Self-attention in ``num_heads`` heads, as BERT's ``attention.self``.

    Args:
        hidden_states: the input of the layer.
        weights: "query", "key", "value", each a (weight (H, H), bias (H,)) pair.
        mask: additive, broadcasting to (B, nh, T, T).

    Shapes:
        hidden_states (B, T, H); returns the context (B, T, H) and probabilities (B, nh, T, T).
    """
    projected = {}
    for name in ("query", "key", "value"):
        weight, bias = weights[name]
        projected[name] = hidden_states @ weight.T + bias  # (B, T, H) @ (H, H) -> (B, T, H)
    q = split_heads(projected["query"], num_heads)  # (B, T, H) -> (B, nh, T, hs)
    k = split_heads(projected["key"], num_heads)  # (B, T, H) -> (B, nh, T, hs)
    v = split_heads(projected["value"], num_heads)  # (B, T, H) -> (B, nh, T, hs)
    context, probs = scaled_dot_product_attention(q, k, v, mask)  # (B, nh, T, hs), (B, nh, T, T)
    return merge_heads(context), probs  # (B, nh, T, hs) -> (B, T, H)


B, T, H, nh = 2, 6, 8, 2
hs = H // nh
weights = {
    name: (
        rng.normal(0, 0.5, size=(H, H)).astype(np.float32),
        rng.normal(0, 0.1, size=H).astype(np.float32),
    )
    for name in ("query", "key", "value")
}
hidden_states = rng.normal(size=(B, T, H)).astype(np.float32)  # (B, T, H)
context, probs = multi_head_attention(hidden_states, weights, nh, pad)
print("context", context.shape, " probabilities", probs.shape)

# %% [markdown]
# **Checkpoint.** Head $h$ works on features $h \cdot h_s$ to $(h+1) \cdot h_s - 1$ of the
# projections: `reshape` cuts the last axis into `nh` consecutive pieces. `merge_heads` undoes
# `split_heads` exactly. And the transpose is not optional: reshaping `(B, T, H)` straight to
# `(B, nh, T, hs)` gives an array of the right shape holding the wrong numbers (it mixes
# tokens into heads), a bug no shape check catches.

# %%
queries = hidden_states @ weights["query"][0].T + weights["query"][1]  # (B, T, H)
heads = split_heads(queries, nh)  # (B, nh, T, hs)
for h in range(nh):
    assert np.array_equal(heads[:, h], queries[:, :, h * hs : (h + 1) * hs])  # checkpoint
assert np.array_equal(merge_heads(heads), queries)
wrong = queries.reshape(B, nh, T, hs)  # (B, T, H) -> (B, nh, T, hs), but not what we mean
assert wrong.shape == heads.shape and not np.allclose(wrong, heads)
assert probs.shape == (B, nh, T, T) and context.shape == (B, T, H)

# %% [markdown]
# ### The same numbers as `minibert.modeling.BertSelfAttention`
#
# minibert's layer does the same computation on autograd tensors, and applies dropout to the
# probabilities while training. It differs in how, not what, to be fast:
#
# - Q, K and V come from **one** product: the three `(H, H)` weights stacked into `(3H, H)`,
#   so `x @ W.T` gives `(B, T, 3H)`, the three projections side by side. One big product runs
#   faster than three small ones, and the backward adds one input gradient instead of three.
# - Attention is **one op**, `autograd.nn.functional.packed_self_attention` (and, on separate
#   Q, K, V, `scaled_dot_product_attention`, named as in PyTorch). It reads the heads as
#   strided views of `(B, T, 3H)`, takes a few batch items at a time through
#   `Q K^T`, the scaled and masked softmax, dropout and `@ V` while their scores are still in
#   the CPU's cache, and writes the context straight into `(B, T, H)`: `split_heads` and
#   `merge_heads` cost nothing.
#
# In evaluation mode (`.eval()`) dropout is off, so with our weights copied into its `Linear`
# layers the outputs must agree.

# %%
config = BertConfig(
    vocab_size=32, hidden_size=H, num_attention_heads=nh, intermediate_size=4 * H
)  # only the attention's sizes (and its dropout rate) matter here
layer = BertSelfAttention(config, np.random.default_rng(1), np.random.default_rng(2)).eval()
for name in ("query", "key", "value"):
    linear = getattr(layer, name)
    linear.weight.data[...] = weights[name][0]  # (out, in), as we stored them
    linear.bias.data[...] = weights[name][1]
theirs_context, theirs_probs = layer(ag.tensor(hidden_states), pad)
context_difference = np.abs(theirs_context.data - context).max()
probs_difference = np.abs(theirs_probs.data - probs).max()
print(f"max |difference|: context {context_difference:.1e}, probabilities {probs_difference:.1e}")
assert theirs_context.shape == (B, T, H) and theirs_probs.shape == (B, nh, T, T)  # checkpoint
assert context_difference < 1e-5 and probs_difference < 1e-6  # float32 rounding only

# The fused op by itself, on our heads: the same context as our NumPy function.
q_heads, k_heads, v_heads = (
    split_heads(hidden_states @ weights[name][0].T + weights[name][1], nh)
    for name in ("query", "key", "value")
)  # each (B, nh, T, hs)
fused = ag.nn.functional.scaled_dot_product_attention(
    ag.tensor(q_heads), ag.tensor(k_heads), ag.tensor(v_heads), pad
)  # (B, nh, T, hs)
assert np.abs(merge_heads(fused.data) - context).max() < 1e-5  # checkpoint

# %% [markdown]
# In training mode the same call drops (zeroes) a random 10% of the probabilities and scales
# the rest by $1/0.9$, so the outputs differ from ours; the probabilities it *returns* are the
# ones before dropout.

# %%
layer.train()
train_context, train_probs = layer(ag.tensor(hidden_states), pad)
assert not np.allclose(train_context.data, context, atol=1e-4)  # checkpoint: dropout is on
assert np.allclose(train_probs.data, probs, atol=1e-6)
layer.eval()

# %% [markdown]
# ## 5. Gradient check
#
# Attention's backward runs through two matrix products and the fused softmax (with its scale
# and mask), so it is worth checking with `autograd.gradcheck` (tutorial 02): float64 inputs, a
# random projection of the output, every element. First the bare scaled dot-product attention
# written with autograd ops, checked with respect to $Q$, $K$ and $V$ at once, with a padding
# mask; then minibert's whole layer, with respect to its input and its query weight.


# %%
def autograd_attention(q, k, v, mask=None):
    """scaled_dot_product_attention with autograd ops. Shapes as there."""
    scores = q @ k.swapaxes(-1, -2)  # (B, nh, T, hs) @ (B, nh, hs, T) -> (B, nh, T, T)
    probs = ag.softmax(scores, scale=1.0 / math.sqrt(q.shape[-1]), mask=mask)
    return probs @ v  # (B, nh, T, T) @ (B, nh, T, hs) -> (B, nh, T, hs)


small = {"B": 2, "nh": 2, "T": 4, "hs": 3}
shape = tuple(small.values())  # (B, nh, T, hs)
q64, k64, v64 = (
    ag.tensor(rng.normal(size=shape), requires_grad=True, dtype="float64") for _ in range(3)
)
small_pad = padding_mask(np.array([[1, 1, 1, 1], [1, 1, 0, 0]])).astype(np.float64)
assert np.allclose(  # the autograd version computes what the NumPy one does
    autograd_attention(q64, k64, v64, small_pad).data,
    scaled_dot_product_attention(q64.data, k64.data, v64.data, small_pad)[0],
)
assert ag.gradcheck(lambda q, k, v: autograd_attention(q, k, v, small_pad), q64, k64, v64)

layer64 = BertSelfAttention(config, np.random.default_rng(3), np.random.default_rng(4))
layer64.double().eval()  # float64 parameters, dropout off (gradcheck needs a deterministic fn)
x64 = ag.tensor(rng.normal(size=(2, 4, H)), requires_grad=True, dtype="float64")  # (B, T, H)
assert ag.gradcheck(
    lambda x, query_weight: layer64(x, small_pad)[0],  # query_weight is used inside the layer
    x64,
    layer64.query.weight,  # gradcheck nudges this Parameter in place
)
print("gradcheck passed: attention w.r.t. Q, K, V; BertSelfAttention w.r.t. x and W_query")

# %% [markdown]
# ## 6. Looking at an attention map
#
# Trained BERT heads are famous for readable patterns: "attend to the previous token", "attend
# to [SEP]", "attend to the same word elsewhere". Tutorial 11 looks at a trained model; here we
# *build* two such heads by hand, to see what the pattern looks like and to make sure we know
# which axis is which.
#
# The toy input is one-hot: features 0-7 say which word a token is, features 8-17 which
# position it is at. The two heads:
#
# - head 0, **previous token**: the query of position $p$ is "position $p - 1$" and each key is
#   its own position, so $q \cdot k$ is large only for the previous token;
# - head 1, **same word**: query and key are both "which word", so a token attends to every
#   copy of itself (the two "the"s find each other).
#
# The sentence is padded with two `[PAD]` tokens, masked out.

# %%
tokens = ["[CLS]", "the", "cat", "sat", "on", "the", "mat", "[SEP]", "[PAD]", "[PAD]"]
vocabulary = sorted(set(tokens))  # 8 distinct words
T, num_words = len(tokens), len(vocabulary)
H, nh = 20, 2  # 8 word features + 10 position features + 2 unused; two heads of 10
hs = H // nh
toy_states = np.zeros((1, T, H), dtype=np.float32)  # (B, T, H) with B = 1
for position, token in enumerate(tokens):
    toy_states[0, position, vocabulary.index(token)] = 1.0  # which word
    toy_states[0, position, num_words + position] = 1.0  # which position

sharpness = 4.0 * math.sqrt(hs)  # large scores: the division by sqrt(hs) leaves 4 per match
query_weight = np.zeros((H, H), dtype=np.float32)  # (out, in)
key_weight = np.zeros((H, H), dtype=np.float32)
for position in range(1, T):  # head 0 (outputs 0..9): query "p - 1", key "p"
    query_weight[position - 1, num_words + position] = sharpness
for position in range(T):
    key_weight[position, num_words + position] = sharpness
for word in range(num_words):  # head 1 (outputs 10..17): query = key = "which word"
    query_weight[hs + word, word] = sharpness
    key_weight[hs + word, word] = sharpness
toy_weights = {
    "query": (query_weight, np.zeros(H, dtype=np.float32)),
    "key": (key_weight, np.zeros(H, dtype=np.float32)),
    "value": (np.eye(H, dtype=np.float32), np.zeros(H, dtype=np.float32)),
}
toy_mask = padding_mask(np.array([[1] * 8 + [0] * 2]))  # (1, 1, 1, T)
_, toy_probs = multi_head_attention(toy_states, toy_weights, nh, toy_mask)  # (1, nh, T, T)
head_names = ["head 0: previous token", "head 1: same word"]

# %% [markdown]
# First as text, for a terminal: each entry is a probability in percent (`.` is below 0.5%).
# Row = query (the token that looks), column = key (the token looked at).


# %%
def render_attention(probs: np.ndarray, tokens: list[str], title: str) -> str:
    """A (T, T) probability matrix as a table of percentages, rows = queries."""
    width = max(len(t) for t in tokens)
    lines = [title, " " * (width + 1) + " ".join(f"{t[:5]:>5}" for t in tokens)]
    for token, row in zip(tokens, probs, strict=True):
        cells = " ".join(f"{round(100 * p):5d}" if p >= 0.005 else "    ." for p in row)
        lines.append(f"{token:>{width}} {cells}")
    return "\n".join(lines)


for h in range(nh):
    print(render_attention(toy_probs[0, h], tokens, head_names[h]))
    print()

# %% [markdown]
# **Checkpoint.** Head 0 puts nearly all of token $p$'s weight on token $p - 1$; `[CLS]` has no
# previous token, its query is all zeros, so it spreads its weight evenly over the 8 real tokens.
# Head 1 sends each "the" half to itself and half to the other "the", and every other word
# entirely to itself. No query gives anything to the padding. (The padding *queries* still get
# outputs, rows that nobody reads.)

# %%
p0, p1 = toy_probs[0, 0], toy_probs[0, 1]  # (T, T) each
for position in range(1, 8):
    assert p0[position, position - 1] > 0.95  # checkpoint: previous token
assert np.allclose(p0[0, :8], 1 / 8)  # [CLS]: uniform over the real tokens
the = [i for i, t in enumerate(tokens) if t == "the"]  # positions 1 and 5
assert np.allclose(p1[np.ix_(the, the)], 0.5, atol=0.01)
assert all(p1[i, i] > 0.95 for i in range(8) if i not in the)
assert np.all(toy_probs[..., 8:] == 0.0)  # nothing flows from the padding

# %% [markdown]
# And as a picture: one heat map per head, darker for more weight.

# %%
if plt is not None:
    fig, axes = plt.subplots(1, nh, figsize=(10, 5), layout="constrained")
    for h, ax in enumerate(axes):
        image = ax.imshow(toy_probs[0, h], cmap="Blues", vmin=0.0, vmax=1.0)
        ax.set_xticks(range(T), tokens, rotation=90)
        ax.set_yticks(range(T), tokens)
        ax.set(title=head_names[h], xlabel="key (looked at)")
    axes[0].set_ylabel("query (looking)")
    fig.colorbar(image, ax=axes, shrink=0.8, label="attention probability")
    save_figure(fig, "04_attention_map.png")

# %% [markdown]
# ## Summary
#
# - Attention: scores $QK^\top$, divided by $\sqrt{d}$, plus an additive mask, softmax over the
#   keys, weighted sum of the values.
# - Without the $\sqrt d$ the scores grow like $\sqrt d$, the softmax turns one-hot and its
#   gradient fades.
# - Masks are added: 0 to keep, the dtype's most negative finite number to drop (not $-\infty$:
#   a fully masked row would become NaN). Padding masks `(B, 1, 1, T)`, causal `(1, 1, T, T)`.
# - Multi-head attention is one projection read as `nh` slices:
#   `(B, T, H) -> (B, T, nh, hs) -> (B, nh, T, hs)`, and back; the transpose matters.
# - Our NumPy version matches `BertSelfAttention` in eval mode, and the autograd version passes
#   `gradcheck`.
#
# ## Exercises
#
# Run the next cell to define the checks; write your answer; un-comment its `check_...` line.
# The solutions are in the last cell.


# %%
def check_exercise_1(make_mask) -> None:
    """make_mask(attention_mask, causal) against minibert's additive_attention_mask."""
    attention_mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    for causal in (False, True):
        mine = np.asarray(make_mask(attention_mask, causal))
        expected = additive_attention_mask(attention_mask, 5, causal, np.float32, np)
        assert mine.shape == expected.shape, f"causal={causal}: shape {mine.shape}"
        assert mine.dtype == np.float32, f"dtype {mine.dtype}: use float32"
        assert np.array_equal(mine, expected), f"causal={causal}: values differ"
    print("exercise 1: correct")


def check_exercise_2(attention_fn) -> None:
    """attention_fn(hidden_states, weights, num_heads, mask) against multi_head_attention."""
    generator = np.random.default_rng(5)
    x = generator.normal(size=(3, 5, 12))  # (B, T, H)
    w = {n: (generator.normal(size=(12, 12)), generator.normal(size=12)) for n in weights}
    mask = padding_mask(np.array([[1] * 5, [1, 1, 1, 0, 0], [1, 1, 0, 0, 0]]))
    for num_heads in (1, 3, 4):
        expected = multi_head_attention(x, w, num_heads, mask)
        got = attention_fn(x, w, num_heads, mask)
        for name, a, b in zip(("context", "probabilities"), got, expected, strict=True):
            assert np.shape(a) == b.shape, f"nh={num_heads}: {name} has shape {np.shape(a)}"
            assert np.allclose(a, b), f"nh={num_heads}: {name} values differ"
    print("exercise 2: correct")


def check_exercise_3(scores_bytes) -> None:
    """scores_bytes(batch, heads, length, itemsize) is the size of one layer's scores."""
    for args in ((1, 1, 1, 4), (32, 12, 512, 4), (8, 16, 128, 2), (2, 3, 5, 8)):
        batch, heads, length, itemsize = args
        assert scores_bytes(*args) == batch * heads * length**2 * itemsize, f"wrong for {args}"
    print(
        f"exercise 3: correct; BERT-base, batch 32, 512 tokens, float32: "
        f"{scores_bytes(32, 12, 512, 4) / 2**20:.0f} MiB per layer for the scores alone"
    )


# %% [markdown]
# **Exercise 1.** Write `make_mask(attention_mask, causal)`: from a `(B, T)` array of 1/0 build
# the additive float32 mask: `(B, 1, 1, T)` without `causal`, `(B, 1, T, T)` with it; 0 where a
# query may attend, `NEG` where not. Combine the "keep" booleans, not the additive masks.


# %%
def make_mask(attention_mask: np.ndarray, causal: bool) -> np.ndarray:
    raise NotImplementedError("exercise 1: your code here")


# check_exercise_1(make_mask)

# %% [markdown]
# **Exercise 2.** Write multi-head attention without `split_heads`'s transpose: project as
# before, reshape to `(B, T, nh, hs)`, and compute the scores and the context with
# `np.einsum` (for instance `"bqhd,bkhd->bhqk"` for the scores). Return the context `(B, T, H)`
# and the probabilities `(B, nh, T, T)`, as `multi_head_attention` does. Remember the
# $\sqrt{h_s}$ and the mask.


# %%
def einsum_attention(hidden_states, weights, num_heads, mask=None):
    raise NotImplementedError("exercise 2: your code here")


# check_exercise_2(einsum_attention)

# %% [markdown]
# **Exercise 3.** Attention's weakness is the $T \times T$ score matrix. Write
# `scores_bytes(batch, heads, length, itemsize)`, the bytes the scores of one layer take (one
# number per batch element, head, query and key). The check prints the answer for BERT-base at
# its longest input: is doubling the sequence length cheap?


# %%
def scores_bytes(batch: int, heads: int, length: int, itemsize: int) -> int:
    raise NotImplementedError("exercise 3: your code here")


# check_exercise_3(scores_bytes)

# %% [markdown]
# ---
# ## Solutions
#
# *Spoilers below.* This cell runs when the tutorial runs as a script, so the tutorial checks
# its own exercises.


# %%
def make_mask_solution(attention_mask: np.ndarray, causal: bool) -> np.ndarray:
    keep = attention_mask.astype(bool)[:, None, None, :]  # (B, T) -> (B, 1, 1, T)
    if causal:
        T = attention_mask.shape[1]
        keep = keep & np.tril(np.ones((T, T), dtype=bool))  # (B, 1, 1, T) & (T, T) -> (B, 1, T, T)
    return np.where(keep, 0.0, NEG).astype(np.float32)


def einsum_attention_solution(hidden_states, weights, num_heads, mask=None):
    B, T, H = hidden_states.shape
    hs = H // num_heads
    q, k, v = (
        (hidden_states @ weights[n][0].T + weights[n][1]).reshape(B, T, num_heads, hs)
        for n in ("query", "key", "value")
    )  # each (B, T, H) -> (B, T, nh, hs)
    scores = np.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(hs)  # (B, nh, T, T)
    if mask is not None:
        scores = scores + mask
    probs = softmax(scores)  # (B, nh, T, T)
    context = np.einsum("bhqk,bkhd->bqhd", probs, v)  # (B, T, nh, hs)
    return context.reshape(B, T, H), probs  # (B, T, nh, hs) -> (B, T, H)


def scores_bytes_solution(batch: int, heads: int, length: int, itemsize: int) -> int:
    return batch * heads * length * length * itemsize  # quadratic in length: 2x tokens, 4x bytes


check_exercise_1(make_mask_solution)
check_exercise_2(einsum_attention_solution)
check_exercise_3(scores_bytes_solution)
