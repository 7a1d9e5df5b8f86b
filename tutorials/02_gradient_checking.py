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
# # 02 · Gradient checking
#
# Every layer of the BERT we are going to build has a hand-written backward, and a backward
# can be wrong in ways that still *train*, just worse. This tutorial is about catching those
# bugs: comparing a backward with **finite differences**, and doing it in a way that cannot
# be fooled.
#
# **Goals.** By the end you can
#
# 1. estimate gradients with central differences, and choose the step size knowingly;
# 2. explain why gradient checks run in float64 (and see float32 fail);
# 3. explain why a check must project the output on a *random* direction,
#    `(f(x) * R).sum()`, and never use a plain `.sum()`: you will watch a broken softmax and a
#    broken LayerNorm pass the `.sum()` check and fail `autograd.gradcheck`;
# 4. write your own layer (RMSNorm) with a hand-written backward, check it, and read
#    `gradcheck`'s report when it is wrong;
# 5. check a layer over many shapes and values with hypothesis and `autograd.testing`.
#
# **Prerequisites.** Tutorial 01 (what `backward` computes; `Function` with
# `forward(ctx, ...)` / `backward(ctx, grad_out)`).
#
# **Run time.** A few seconds as a script
# (`.venv/bin/python tutorials/02_gradient_checking.py`).

# %%
import re

import numpy as np
from course import pyplot, save_figure  # tutorials/course.py

import autograd as ag
from autograd import GradcheckError
from autograd.function import Function

plt = pyplot()  # None without matplotlib: the tutorial still runs, just without pictures

rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Central differences, and the step size
#
# The derivative is a limit, $f'(x) = \lim_{h \to 0} (f(x + h) - f(x)) / h$. A computer cannot
# take limits, so we pick a small $h$. Two choices of formula:
#
# - **forward** difference $\frac{f(x+h) - f(x)}{h}$: Taylor expansion shows its error is
#   $\frac{h}{2} f''(x) + O(h^2)$, proportional to $h$;
# - **central** difference $\frac{f(x+h) - f(x-h)}{2h}$: the $f''$ terms cancel and the error
#   is $\frac{h^2}{6} f'''(x) + O(h^4)$, proportional to $h^2$.
#
# So central differences, and a small $h$... but not *too* small. The computer stores
# $f(x \pm h)$ rounded to a relative precision $\epsilon$ (about $10^{-16}$ in float64,
# $10^{-7}$ in float32), and dividing their difference by $2h$ magnifies that rounding error
# to about $\epsilon |f(x)| / h$. The total error
#
# $$\underbrace{\tfrac{h^2}{6}|f'''(x)|}_{\text{truncation}} \; + \;
#   \underbrace{\epsilon\,|f(x)| / h}_{\text{rounding}}$$
#
# is smallest near $h \approx \epsilon^{1/3}$: about $10^{-5}$ in float64, but $5 \cdot 10^{-3}$
# in float32. Let's measure it, for $f = \tanh$ at $x = 0.7$.


# %%
def central_difference(f, x, h):
    """(f(x + h) - f(x - h)) / 2h, computed in the dtype of x and h."""
    return (f(x + h) - f(x - h)) / (2 * h)


x0 = 0.7
exact = 1.0 - np.tanh(x0) ** 2  # tanh'(x) = 1 - tanh(x)^2, in float64
steps = np.logspace(-1, -12, 45)  # h from 0.1 down to 1e-12
errors = {}
for dtype in (np.float32, np.float64):
    errors[dtype.__name__] = np.array(
        [abs(float(central_difference(np.tanh, dtype(x0), dtype(h))) - exact) for h in steps]
    )
forward_errors = np.array([abs((np.tanh(x0 + h) - np.tanh(x0)) / h - exact) for h in steps])

for h in (1e-2, 1e-4, 1e-6, 1e-8):
    i = np.argmin(abs(steps - h))
    print(
        f"h = {h:.0e}: error float32 {errors['float32'][i]:.1e}, "
        f"float64 {errors['float64'][i]:.1e}, float64 forward difference {forward_errors[i]:.1e}"
    )

# %% [markdown]
# The picture: each curve falls (truncation error shrinks like $h^2$, or $h$ for the forward
# difference) until rounding error takes over and it climbs again. The dotted line marks
# `gradcheck`'s default step, $h = 10^{-6}$.

# %%
if plt is not None:
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.loglog(steps, errors["float64"], "o-", ms=3, label="central, float64")
    ax.loglog(steps, errors["float32"], "s-", ms=3, label="central, float32")
    ax.loglog(steps, forward_errors, "^-", ms=3, alpha=0.6, label="forward, float64")
    ax.axvline(1e-6, color="gray", ls=":", label="gradcheck's step (1e-6)")
    ax.set(xlabel="step h", ylabel="|estimate - exact|", title="d tanh(x)/dx at x = 0.7")
    ax.invert_xaxis()  # smaller steps to the right
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))  # beside the plot, not on it
    fig.tight_layout()
    save_figure(fig, "02_step_size_sweep.png")

# %% [markdown]
# **Checkpoint.** In float64 the best step gives about 12 correct digits, and $10^{-6}$ still
# gives 10. In float32 the *best* step gives only about 5 digits, and at $10^{-6}$ the estimate
# is wrong in the second or third digit. Below $h \approx 3 \cdot 10^{-8}$ (half the gap between
# neighbouring float32 numbers near 0.7), float32 cannot even tell $x + h$ from $x$: the
# difference is exactly zero.

# %%
i_6 = np.argmin(abs(steps - 1e-6))
assert errors["float64"].min() < 1e-10 and errors["float64"][i_6] < 1e-9  # checkpoint
assert errors["float32"].min() > 1e-7 and errors["float32"][i_6] > 1e-3
assert np.float32(0.7) + np.float32(1e-8) == np.float32(0.7)  # the step vanished
print("float32 estimate at h = 1e-8:", central_difference(np.tanh, np.float32(0.7), 1e-8))

# %% [markdown]
# A gradient check compares two numbers and must tell "equal" from "a bit off". With only 5
# trustworthy digits, a bug that changes a gradient by 0.1% is invisible. That is why
# `autograd.gradcheck` insists on float64 inputs, and tells you so:

# %%
x32 = ag.tensor(rng.normal(size=3), requires_grad=True, dtype="float32")  # training's dtype
try:
    ag.gradcheck(ag.tanh, x32)
    refused = False
except TypeError as error:
    refused = True
    print("TypeError:", error)
assert refused  # checkpoint

# %% [markdown]
# ## 2. Why a random projection, and never a plain `.sum()`
#
# A layer has many outputs, but a finite difference measures how *one number* changes. So a
# check must turn the output into a scalar. The tempting way is `f(x).sum()`: all the
# upstream gradients `grad_out` are then 1. Here is that check, written out:


# %%
def sum_check(fn, x: ag.Tensor, eps: float = 1e-6) -> bool:
    """The tempting check: backward of fn(x).sum() against its central differences."""
    x.grad = None
    fn(x).sum().backward()  # grad_out is all ones
    numeric = np.zeros_like(x.data)
    with ag.no_grad():
        for index in np.ndindex(x.shape):
            original = x.data[index]
            x.data[index] = original + eps
            plus = fn(x).sum().item()
            x.data[index] = original - eps
            minus = fn(x).sum().item()
            x.data[index] = original
            numeric[index] = (plus - minus) / (2 * eps)
    return bool(np.allclose(x.grad, numeric, atol=1e-5, rtol=1e-3))


# %% [markdown]
# Now three softmax ops with the same forward and different backwards. With
# $y = \text{softmax}(x)$ and upstream gradient $g$, the right one is
# $\frac{\partial L}{\partial x} = y \odot (g - \sum_j g_j y_j)$.
#
# - `SoftmaxCorrect`: that formula;
# - `SoftmaxForgotY`: $g - \sum_j g_j y_j$, a realistic slip (the leading $y \odot$ dropped);
# - `SoftmaxZero`: returns zeros, the laziest backward there is.


# %%
class SoftmaxCorrect(Function):
    """Softmax over the last axis, in float64 NumPy."""

    @staticmethod
    def forward(ctx, x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))  # shift for stability; same result
        y = e / e.sum(axis=-1, keepdims=True)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_out):
        (y,) = ctx.saved_arrays
        return y * (grad_out - (grad_out * y).sum(axis=-1, keepdims=True))


class SoftmaxForgotY(SoftmaxCorrect):
    @staticmethod
    def backward(ctx, grad_out):
        (y,) = ctx.saved_arrays
        return grad_out - (grad_out * y).sum(axis=-1, keepdims=True)  # BUG: no leading y *


class SoftmaxZero(SoftmaxCorrect):
    @staticmethod
    def backward(ctx, grad_out):
        return np.zeros_like(grad_out)  # BUG: no gradient at all


x = ag.tensor(rng.normal(size=(3, 5)), requires_grad=True, dtype="float64")  # (3, 5)
softmax_results = {}
for op in (SoftmaxCorrect, SoftmaxForgotY, SoftmaxZero):
    passes_sum = sum_check(op.apply, x)
    passes_gradcheck = ag.gradcheck(op.apply, x, raise_exception=False)
    softmax_results[op.__name__] = (passes_sum, passes_gradcheck)
    print(f"{op.__name__:15s} .sum() check: {passes_sum!s:5}   gradcheck: {passes_gradcheck}")

# %% [markdown]
# Both broken backwards pass the `.sum()` check. The reason is not numerical, it is
# mathematical: the outputs of a softmax always add up to 1, so
# $\sum_i \text{softmax}(x)_i = 1$ is a constant and its true gradient is **zero**. The check
# then only asks "does your backward return zero when every $g_i = 1$?", and with $g = 1$ the
# buggy formula gives $1 - \sum_j y_j = 0$ too.
#
# `autograd.gradcheck` instead draws a random $R$ with the output's shape and checks
# $L(x) = \sum_i f(x)_i R_i$: every output element gets a different weight, nothing cancels,
# and each element of $\partial L / \partial x$ depends on every part of the backward.
# **Checkpoint**:

# %%
assert softmax_results["SoftmaxCorrect"] == (True, True)  # checkpoint
assert softmax_results["SoftmaxForgotY"] == (True, False)
assert softmax_results["SoftmaxZero"] == (True, False)
assert ag.gradcheck(ag.softmax, x)  # and the real softmax passes the strict check

# %% [markdown]
# LayerNorm has the same trap. Its core, $\hat x = (x - \mu) / \sqrt{\sigma^2 + \epsilon}$ over
# the last axis, has outputs that always sum to zero, so again the true gradient of the
# `.sum()` is zero, and the check only asks whether the backward returns zero when $g = 1$.
# The right backward, with $r = 1/\sqrt{\sigma^2 + \epsilon}$ and
# $H$ features, is
#
# $$\frac{\partial L}{\partial x} = r\,\big(g - \text{mean}(g) - \hat x \cdot
#   \text{mean}(g \odot \hat x)\big).$$
#
# The classic bug forgets that $\sigma^2$ depends on $x$ too and drops the last term.


# %%
class LayerNormCorrect(Function):
    """(x - mean) / sqrt(var + eps) over the last axis (no weight, no bias)."""

    @staticmethod
    def forward(ctx, x, eps=1e-5):
        mean = x.mean(axis=-1, keepdims=True)  # (..., 1)
        rstd = 1.0 / np.sqrt(x.var(axis=-1, keepdims=True) + eps)  # (..., 1)
        x_hat = (x - mean) * rstd  # (..., H)
        ctx.save_for_backward(x_hat, rstd)
        return x_hat

    @staticmethod
    def backward(ctx, grad_out):
        x_hat, rstd = ctx.saved_arrays
        g = grad_out
        return rstd * (
            g - g.mean(axis=-1, keepdims=True) - x_hat * (g * x_hat).mean(axis=-1, keepdims=True)
        )


class LayerNormConstantVariance(LayerNormCorrect):
    @staticmethod
    def backward(ctx, grad_out):
        x_hat, rstd = ctx.saved_arrays
        return rstd * (grad_out - grad_out.mean(axis=-1, keepdims=True))  # BUG: variance term


layer_norm_results = {}
for op in (LayerNormCorrect, LayerNormConstantVariance):
    passes_sum = sum_check(op.apply, x)
    passes_gradcheck = ag.gradcheck(op.apply, x, raise_exception=False)
    layer_norm_results[op.__name__] = (passes_sum, passes_gradcheck)
    print(f"{op.__name__:25s} .sum() check: {passes_sum!s:5}   gradcheck: {passes_gradcheck}")

assert layer_norm_results["LayerNormCorrect"] == (True, True)  # checkpoint
assert layer_norm_results["LayerNormConstantVariance"] == (True, False)
assert ag.gradcheck(ag.layer_norm, x)  # the real one passes

# %% [markdown]
# (With a learned weight $w$ the `.sum()` check is no longer *exactly* blind to LayerNorm,
# because $g = w$ varies along the row, but it still only probes one direction, and the
# random $R$ costs nothing.)
#
# ## 3. Your own layer: RMSNorm
#
# RMSNorm (used by T5 and LLaMA in place of LayerNorm) skips the mean: it divides each row by
# its root mean square and scales by a learned weight $w$:
#
# $$y = \frac{x}{\sqrt{\text{mean}(x^2) + \epsilon}} \odot w = \hat x \odot w,
#   \qquad r = \frac{1}{\sqrt{\text{mean}(x^2) + \epsilon}}, \quad \hat x = x\,r.$$
#
# The backward, with $g_w = g \odot w$ (the upstream gradient seen by $\hat x$): differentiating
# $\hat x_i = x_i r$ gives $\partial \hat x_i / \partial x_j = r\,\delta_{ij} - x_i r^3 x_j / H$,
# so
#
# $$\frac{\partial L}{\partial x} = r\,\big(g_w - \hat x \cdot \text{mean}(g_w \odot \hat x)\big),
#   \qquad \frac{\partial L}{\partial w} = \sum_{\text{rows}} g \odot \hat x.$$
#
# Note the second: we return `grad_out * x_hat`, shaped like the **output** `(..., H)`, and let
# the engine sum it down to `w`'s shape `(H,)`, the central unbroadcast from tutorial 01.


# %%
class RMSNorm(Function):
    r"""y = x / \sqrt{mean(x^2) + eps} * w over the last axis.

    Shapes:
        x (..., H); weight (H,); returns (..., H).
    """

    @staticmethod
    def forward(ctx, x, weight, eps=1e-6):
        rstd = 1.0 / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps)  # (..., 1)
        x_hat = x * rstd  # (..., H)
        ctx.save_for_backward(x_hat, rstd, weight)
        return x_hat * weight  # (..., H) * (H,) -> (..., H)

    @staticmethod
    def backward(ctx, grad_out):
        x_hat, rstd, weight = ctx.saved_arrays
        g_w = grad_out * weight  # (..., H)
        grad_x = rstd * (g_w - x_hat * (g_w * x_hat).mean(axis=-1, keepdims=True))
        grad_weight = grad_out * x_hat  # (..., H): the engine sums it to (H,)
        return grad_x, grad_weight


def rms_norm(x: ag.Tensor, weight: ag.Tensor) -> ag.Tensor:
    return RMSNorm.apply(x, weight)


x = ag.tensor(rng.normal(size=(2, 3, 4)), requires_grad=True, dtype="float64")  # (B, T, H)
w = ag.tensor(rng.normal(size=4), requires_grad=True, dtype="float64")  # (H,)
assert ag.gradcheck(rms_norm, x, w)  # checkpoint: both gradients, every element
print("RMSNorm passes gradcheck; output shape", rms_norm(x, w).shape)

# %% [markdown]
# ### Plant a bug, read the report
#
# Now the kind of slip that is easy to make: the weight's gradient uses the raw `x` instead of
# the normalized `x_hat`. `gradcheck` raises a `GradcheckError` (an `AssertionError`, so it
# fails a test) whose message names, for the worst elements, **which input** (by position:
# input 0 is `x`, input 1 is `weight`) and **which element**, with both numbers.


# %%
class RMSNormBuggy(RMSNorm):
    @staticmethod
    def backward(ctx, grad_out):
        x_hat, rstd, weight = ctx.saved_arrays
        g_w = grad_out * weight
        grad_x = rstd * (g_w - x_hat * (g_w * x_hat).mean(axis=-1, keepdims=True))
        grad_weight = grad_out * (x_hat / rstd)  # BUG: x_hat / rstd is x, not x_hat
        return grad_x, grad_weight


try:
    ag.gradcheck(RMSNormBuggy.apply, x, w)
    report = None
except GradcheckError as error:
    report = str(error)
print(report)

# %% [markdown]
# **Checkpoint**: the report blames input 1 (the weight), never input 0, and names elements
# that exist.

# %%
named = re.findall(r"input (\d+) at \(([\d, ]+)\)", report)
print("named (input, element):", named)
assert named and all(index == "1" for index, _ in named)  # checkpoint: only the weight
assert all(0 <= int(element.strip(", ")) < 4 for _, element in named)

# %% [markdown]
# ## 4. Many shapes, many values: hypothesis and `autograd.testing`
#
# One shape checked is one shape known to work. Backward bugs love edge cases: a last axis of
# size 1, a single row, a 1-D input, an input that is a strided *view* rather than a fresh
# array. [hypothesis](https://hypothesis.readthedocs.io) generates such inputs for us, and
# when a check fails it **shrinks** the input to the simplest one that still fails.
#
# `autograd.testing` has the strategies autograd's own tests use: `shapes(...)`, float64
# `arrays(shape, elements=..., contiguous=...)` and `tensors(...)`, and
# `safe_floats(min_value, max_value, avoid=..., margin=...)` that keeps values away from
# points where finite differences mislead. For RMSNorm that point is a row of all zeros,
# where $r = 1/\sqrt{\epsilon}$ is huge and the function is extremely curved; keeping every
# element at least 0.1 from zero rules it out.
#
# (hypothesis comes with the `dev` extra; without it this section is skipped.)

# %%
try:
    from hypothesis import Phase, given, settings
    from hypothesis import strategies as st

    from autograd import testing as agt
except ImportError as error:  # hypothesis is a dev dependency, not a core one
    agt = None
    print("skipping section 4:", error)


def check_rms_norm_everywhere(op) -> None:
    """gradcheck ``op`` on 30 hypothesis-drawn (x, weight) pairs; raises on the first failure."""

    # derandomize: the same 30 examples on every run. Phases: generate, then shrink a failure
    # (the default "explain" phase would re-run the test hundreds of times to annotate it).
    @settings(
        max_examples=30,
        deadline=None,
        derandomize=True,
        database=None,
        phases=(Phase.generate, Phase.shrink),
    )
    @given(st.data())
    def check(data):
        shape = data.draw(agt.shapes(min_dims=1, max_dims=3, max_side=4), label="shape")
        nonzero = agt.safe_floats(-3.0, 3.0, avoid=(0.0,), margin=0.1)
        x = data.draw(agt.tensors(shape, elements=nonzero), label="x")  # may be a strided view
        weight = data.draw(agt.tensors(shape[-1:]), label="weight")  # (H,)
        ag.gradcheck(op.apply, x, weight)

    check()


if agt is not None:
    check_rms_norm_everywhere(RMSNorm)  # checkpoint: 30 shapes and values, all pass
    print("RMSNorm: gradcheck passed on 30 generated inputs")
    try:
        check_rms_norm_everywhere(RMSNormBuggy)
        buggy_caught = False
    except GradcheckError as error:
        buggy_caught = True
        print("RMSNormBuggy fails; the simplest failing input hypothesis found:")
        for note in getattr(error, "__notes__", []):  # hypothesis attaches the shrunk draws
            if note.startswith("Draw"):
                print("   ", note)
        print("   ", str(error).splitlines()[1].strip())
    assert buggy_caught  # checkpoint

# %% [markdown]
# hypothesis did not stop at the first failing input: it shrank it, here down to a single
# feature, one number `x` and one weight, the smallest case that shows the bug (in a test
# file, pytest prints the same draws). For tests, `autograd.testing.check_layer_gradients`
# runs `gradcheck` and also checks that a second backward exactly doubles the gradients
# (tutorial 01, section 4).
#
# ## Summary
#
# - Central differences, float64, step about $10^{-6}$: about 10 trustworthy digits.
# - Project the output on a random direction $R$; a `.sum()` can be blind (softmax,
#   LayerNorm).
# - `autograd.gradcheck(fn, *float64_tensors)` does both, checks every element (or a sample of
#   large inputs), and names the input and element that disagree.
# - hypothesis with `autograd.testing` turns "works on my example" into "works on 30 shapes,
#   including the awkward ones".
#
# ## Exercises
#
# Run the next cell to define the checks; write your answer; un-comment its `check_...` line.
# The solutions are in the last cell.


# %%
def check_exercise_1(function_cls) -> None:
    """Values against NumPy, gradients with gradcheck, for a (2, 3, 4) input."""
    values = np.random.default_rng(1).normal(size=(2, 3, 4))
    x = ag.tensor(values, requires_grad=True, dtype="float64")
    out = function_cls.apply(x)
    assert out.shape == (2, 3), f"output shape {out.shape}: the last axis should be reduced"
    assert np.allclose(out.data, np.log(np.exp(x.data).sum(axis=-1))), "forward values"
    ag.gradcheck(function_cls.apply, x)
    print("exercise 1: correct")


def check_exercise_2(function_cls) -> None:
    values = np.random.default_rng(2).normal(size=(4, 5))
    x = ag.tensor(values, requires_grad=True, dtype="float64")
    assert np.allclose(function_cls.apply(x).data, x.data / (1 + np.abs(x.data)))
    ag.gradcheck(function_cls.apply, x)
    print("exercise 2: correct")


def check_exercise_3(fn) -> None:
    """fn's .sum() gradient must vanish while fn itself is not constant."""
    values = np.random.default_rng(3).normal(size=(3, 4))
    x = ag.tensor(values, requires_grad=True, dtype="float64")
    out = fn(x)
    assert isinstance(out, ag.Tensor) and out.shape == x.shape, "same shape as x, as a Tensor"
    fn(x).sum().backward()
    assert np.allclose(x.grad, 0, atol=1e-10), "the gradient of fn(x).sum() should be 0"
    x.grad = None
    weights = np.random.default_rng(4).normal(size=x.shape)
    (fn(x) * weights).sum().backward()
    assert not np.allclose(x.grad, 0, atol=1e-3), "fn must depend on x: not a constant"
    print("exercise 3: correct")


# %% [markdown]
# **Exercise 1.** Write `LogSumExp`, $y = \log \sum_j e^{x_j}$ over the last axis:
# `(..., H) -> (...)`. Compute it stably (subtract the row maximum first). For the backward,
# $\partial y / \partial x_j = \text{softmax}(x)_j$, and `grad_out` has shape `(...)`: give it
# back its last axis before multiplying.


# %%
class LogSumExp(Function):
    @staticmethod
    def forward(ctx, x):
        raise NotImplementedError("exercise 1: your code here")

    @staticmethod
    def backward(ctx, grad_out):
        raise NotImplementedError("exercise 1: your code here")


# check_exercise_1(LogSumExp)

# %% [markdown]
# **Exercise 2.** `Softsign`, $y = x / (1 + |x|)$, has a bug in its backward. Use
# `ag.gradcheck` to see it, then fix it in `SoftsignFixed`.


# %%
class Softsign(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x / (1.0 + np.abs(x))

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_arrays
        return grad_out / (1.0 + np.abs(x))


class SoftsignFixed(Softsign):
    @staticmethod
    def backward(ctx, grad_out):
        raise NotImplementedError("exercise 2: your code here")


# x_try = ag.tensor([-1.5, -0.5, 0.5, 2.0], requires_grad=True, dtype="float64")
# ag.gradcheck(Softsign.apply, x_try)  # raises GradcheckError: read its report
# check_exercise_2(SoftsignFixed)

# %% [markdown]
# **Exercise 3.** Softmax and LayerNorm are not the only functions a `.sum()` check cannot
# see. Write another: a function of a `(3, 4)` tensor, returning a `(3, 4)` tensor, built from
# `autograd` ops, that is *not* constant but whose `.sum()` has zero gradient everywhere.


# %%
def blind_spot(x: ag.Tensor) -> ag.Tensor:
    raise NotImplementedError("exercise 3: your code here")


# check_exercise_3(blind_spot)

# %% [markdown]
# ---
# ## Solutions
#
# *Spoilers below.* This cell runs when the tutorial runs as a script, so the tutorial checks
# its own exercises.


# %%
class LogSumExpSolution(Function):
    @staticmethod
    def forward(ctx, x):
        row_max = x.max(axis=-1, keepdims=True)  # (..., 1)
        e = np.exp(x - row_max)  # (..., H), every entry <= 1: no overflow
        total = e.sum(axis=-1, keepdims=True)  # (..., 1)
        ctx.save_for_backward(e / total)  # softmax(x), (..., H)
        return (np.log(total) + row_max)[..., 0]  # (..., 1) -> (...)

    @staticmethod
    def backward(ctx, grad_out):
        (softmax,) = ctx.saved_arrays
        return grad_out[..., None] * softmax  # (...) -> (..., 1), times (..., H)


class SoftsignSolution(Softsign):
    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_arrays
        return grad_out / (1.0 + np.abs(x)) ** 2  # d/dx x/(1+|x|) = 1/(1+|x|)^2


def blind_spot_solution(x: ag.Tensor) -> ag.Tensor:
    return x - x.mean(axis=-1, keepdims=True)  # centering: every row sums to 0, always


check_exercise_1(LogSumExpSolution)
check_exercise_2(SoftsignSolution)
check_exercise_3(blind_spot_solution)
