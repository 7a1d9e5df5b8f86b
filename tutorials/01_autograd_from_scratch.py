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
# # 01 · Autograd from scratch
#
# Every number BERT learns is nudged by a gradient, and every gradient comes from one idea:
# **reverse-mode automatic differentiation**. In this tutorial you build that idea yourself, on
# plain Python floats, in about 100 lines; then you meet the same idea, grown up, in this
# repository's `autograd` package, which works on whole arrays.
#
# **Goals.** By the end you can
#
# 1. write a scalar `Value` that records how it was computed and back-propagates through it;
# 2. explain why the graph walk must be *iterative* (and what goes wrong with recursion);
# 3. explain why gradients *accumulate*, and why training loops zero them;
# 4. train a tiny neural network with your engine;
# 5. read and write an `autograd.Function` (`forward(ctx, ...)` / `backward(ctx, grad_out)`),
#    and say where broadcasting is undone (`autograd.engine.unbroadcast`).
#
# **Prerequisites.** Python and NumPy; the chain rule from calculus
# ($\frac{dL}{dx} = \frac{dL}{dy}\frac{dy}{dx}$). No machine learning needed.
#
# **Run time.** A few seconds as a script
# (`.venv/bin/python tutorials/01_autograd_from_scratch.py`).
#
# Cells marked **checkpoint** end in `assert`s: if they pass, what the text claims is true on
# your machine too.

# %%
import inspect
import math
import sys

import numpy as np
from course import pyplot, save_figure  # tutorials/course.py

import autograd as ag
from autograd.engine import unbroadcast
from autograd.function import Function

plt = pyplot()  # None without matplotlib: the tutorial still runs, just without pictures

# %% [markdown]
# ## 1. A derivative is a number you can estimate
#
# Before building anything, recall what we are after. For $f(x) = x^3$ the derivative at
# $x = 2$ is $3 \cdot 2^2 = 12$. We can *estimate* it without any calculus by nudging $x$ both
# ways (a **central difference**; tutorial 02 is all about doing this well):
#
# $$f'(x) \approx \frac{f(x + h) - f(x - h)}{2h}.$$


# %%
def numerical_derivative(f, x: float, h: float = 1e-6) -> float:
    """Central-difference estimate of f'(x)."""
    return (f(x + h) - f(x - h)) / (2 * h)


estimate = numerical_derivative(lambda x: x**3, 2.0)
print(f"estimated f'(2) = {estimate:.8f}  (exact: 12)")
assert abs(estimate - 12.0) < 1e-6  # checkpoint

# %% [markdown]
# A finite difference costs two evaluations of $f$ *per input*. A neural network has millions
# of inputs (its weights), so we need something better: reverse mode gets *all* the
# derivatives of one output for the price of about one extra evaluation.

# %% [markdown]
# ## 2. A `Value` that remembers where it came from
#
# The trick: while computing, record each operation together with its **local derivatives**,
# how much its output moves when each input moves. For $c = a \cdot b$ those are
# $\partial c / \partial a = b$ and $\partial c / \partial b = a$, numbers we know the moment
# we compute $c$. Afterwards the chain rule multiplies local derivatives along every path from
# the output back to each input, and adds the paths up.
#
# Each `Value` therefore keeps its `parents` (the Values it was computed from) and one local
# derivative per parent. That is the whole graph.


# %%
class Value:
    """A scalar that records how it was computed, so that it can be differentiated.

    Args:
        data: the number.
        parents: the Values this one was computed from (empty for a leaf: an input or weight).
        local_grads: d(self)/d(parent) for each parent, evaluated at the forward values.
        op: a label for printing.

    Attributes:
        grad: d(root)/d(self), accumulated by ``root.backward()``; 0.0 until then.
    """

    def __init__(self, data, parents=(), local_grads=(), op=""):
        self.data = float(data)
        self.grad = 0.0
        self._parents = tuple(parents)
        self._local_grads = tuple(local_grads)
        self._op = op

    def __repr__(self):
        return f"Value(data={self.data:.4g}, grad={self.grad:.4g})"

    # The five primitives. Each returns a new node with its local derivatives.
    def __add__(self, other):
        other = as_value(other)
        return Value(self.data + other.data, (self, other), (1.0, 1.0), "+")

    def __mul__(self, other):
        other = as_value(other)
        return Value(self.data * other.data, (self, other), (other.data, self.data), "*")

    def __pow__(self, exponent):
        if not isinstance(exponent, (int, float)):
            raise TypeError("Value ** p supports a constant number p only")
        local = exponent * self.data ** (exponent - 1)  # d(x^p)/dx = p x^(p-1)
        return Value(self.data**exponent, (self,), (local,), f"**{exponent}")

    def tanh(self):
        t = math.tanh(self.data)
        return Value(t, (self,), (1.0 - t * t,), "tanh")  # tanh' = 1 - tanh^2

    def exp(self):
        e = math.exp(self.data)
        return Value(e, (self,), (e,), "exp")  # exp' = exp

    # Conveniences, built from the primitives so they need no derivatives of their own.
    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-as_value(other))

    def __truediv__(self, other):
        return self * as_value(other) ** -1

    def __radd__(self, other):  # 2 + v
        return self + other

    def __rmul__(self, other):  # 2 * v
        return self * other

    def __rsub__(self, other):  # 2 - v
        return as_value(other) - self

    def __rtruediv__(self, other):  # 2 / v
        return as_value(other) / self

    def backward(self):
        backward(self)


def as_value(x) -> Value:
    return x if isinstance(x, Value) else Value(x)


# %% [markdown]
# Build a small expression. Nothing is differentiated yet; the graph just gets recorded.

# %%
a, b, c = Value(2.0), Value(-3.0), Value(10.0)
d = a * b + c  # 4.0
L = d.tanh() * 0.5 + (a**2).exp() / 100
print(L, f"made by {L._op!r} from", [parent._op for parent in L._parents])

# %% [markdown]
# ## 3. Backward: walk the graph in reverse topological order
#
# To pass a gradient from a node to its parents, the node's own gradient must be *complete*:
# every consumer of the node must already have contributed. Reverse **topological order**
# (every node before the nodes it was computed from) guarantees that. Then, per node:
#
# $$\text{grad}_{\text{parent}} \mathrel{+}= \text{grad}_{\text{node}} \cdot
#   \frac{\partial\,\text{node}}{\partial\,\text{parent}}.$$
#
# micrograd finds that order with a short **recursive** depth-first search. Here it is:


# %%
def topological_order_recursive(root: Value) -> list:
    """micrograd's version: elegant, and limited by Python's recursion limit."""
    order, visited = [], set()

    def visit(node):
        if id(node) not in visited:
            visited.add(id(node))
            for parent in node._parents:
                visit(parent)  # one Python stack frame per level of the graph
            order.append(node)

    visit(root)
    return order[::-1]


# %% [markdown]
# Each level of the graph costs one Python stack frame, and CPython stops at
# `sys.getrecursionlimit()` frames (1000 by default) with a `RecursionError`. Graphs that deep
# are easy to build: in a scalar engine, one neuron with 1000 inputs is already a chain of 1000
# additions (`sum` adds one term at a time); with arrays, a loop that updates a tensor a few
# thousand times does the same.
#
# So we do the same depth-first search with an **explicit stack**. Each entry is
# `(node, parents_done)`. The first time a node comes off the stack we push it back marked
# `parents_done=True`, with its parents above it; by the time it comes off again, every parent
# has been placed in the order, so the node goes after them. Reversing that post-order puts
# the root first.


# %%
def topological_order(root: Value) -> list:
    """Every node ``root`` depends on, ``root`` first, each before the nodes it came from."""
    post_order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            post_order.append(node)  # every parent is already in post_order
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))  # come back to this node once its parents are done
        for parent in node._parents:
            if id(parent) not in visited:
                stack.append((parent, False))
    return post_order[::-1]


def backward(root: Value) -> None:
    """Accumulate d(root)/d(node) into ``node.grad`` for every node ``root`` depends on."""
    grads = {id(root): 1.0}  # the gradient flowing into each node, summed over its consumers
    for node in topological_order(root):
        grad = grads.pop(id(node), 0.0)  # complete: every consumer came earlier in the order
        node.grad += grad  # += not =: see section 4
        for parent, local in zip(node._parents, node._local_grads, strict=True):
            grads[id(parent)] = grads.get(id(parent), 0.0) + grad * local  # the chain rule


# %% [markdown]
# Run it on the expression above and compare with finite differences, nudging one leaf at a
# time. **Checkpoint**: reverse mode and the finite differences agree.


# %%
def expression(a_, b_, c_):
    """The same computation as L above, on any numbers (floats or Values)."""
    d_ = a_ * b_ + c_
    return d_.tanh() * 0.5 + (a_**2).exp() / 100


L = expression(a, b, c)
L.backward()
inputs = [2.0, -3.0, 10.0]
for index, (name, leaf) in enumerate(zip("abc", (a, b, c), strict=True)):

    def nudged(t, index=index):  # L as a function of one input, the others held fixed
        args = [Value(t) if i == index else Value(v) for i, v in enumerate(inputs)]
        return expression(*args).data

    numeric = numerical_derivative(nudged, inputs[index])
    print(f"dL/d{name}: reverse mode {leaf.grad:+.8f}   finite difference {numeric:+.8f}")
    assert abs(leaf.grad - numeric) < 1e-6  # checkpoint

# %% [markdown]
# Now the deep chain: $y = x \cdot 1.0001$ applied 5000 times, so
# $dy/dx = 1.0001^{5000}$. **Checkpoint**: the recursive sort overflows the stack; ours
# does not, and gets the gradient right.

# %%
print("Python's recursion limit:", sys.getrecursionlimit())
x = Value(1.0)
y = x
for _ in range(5000):
    y = y * 1.0001  # a graph 5000 nodes deep (plus one constant per step)

try:
    topological_order_recursive(y)
    recursive_failed = False
except RecursionError:
    recursive_failed = True
print("recursive sort raised RecursionError:", recursive_failed)

y.backward()
print(f"iterative sort: dy/dx = {x.grad:.6f}, expected {1.0001**5000:.6f}")
assert recursive_failed  # checkpoint
assert math.isclose(x.grad, 1.0001**5000, rel_tol=1e-9)

# %% [markdown]
# ## 4. Gradients accumulate, so training loops zero them
#
# Why `node.grad += grad` and not `=`? Because a value used twice contributes through both
# uses. In $y = x \cdot x$ the variable $x$ is *both* parents of the product, so its gradient
# is $x + x = 2x$; the two contributions must add, not overwrite each other.
#
# The price: calling `backward()` a second time adds the same gradients again. PyTorch and our
# `autograd` package behave exactly like this, which is why every training loop clears the
# gradients (`optimizer.zero_grad()`) before each backward.

# %%
x = Value(3.0)
y = x * x
y.backward()
print("after one backward: ", x.grad, " (d(x^2)/dx = 2x = 6)")
assert x.grad == 6.0  # checkpoint: both uses of x counted

y.backward()
print("after two backwards:", x.grad, " (doubled, not recomputed)")
assert x.grad == 12.0  # checkpoint: a second backward accumulates

x.grad = 0.0  # "zero the grads": now the next backward starts clean
y.backward()
assert x.grad == 6.0

# %% [markdown]
# ## 5. Train a tiny neural network with your engine
#
# A toy problem that no straight line can solve: points in the square $[-1, 1]^2$, labelled
# $+1$ where $x_0 x_1 > 0$ and $-1$ elsewhere (XOR). A network with one hidden layer of 8
# tanh units can. All randomness comes from one seeded NumPy `Generator`, so every run gives
# the same numbers.

# %%
rng = np.random.default_rng(0)
N, H = 40, 8  # 40 points, 8 hidden units
X = rng.uniform(-1, 1, (N, 2))  # (N, 2)
X = (X + 0.2 * np.sign(X)) / 1.2  # push points away from the axes: a clear margin
Y = np.sign(X[:, 0] * X[:, 1])  # (N,) labels in {-1, +1}

# Initial weights, kept as arrays so that section 6 can start from exactly the same ones.
W1_init = rng.normal(0, 1, (2, H))  # (2, H)
b1_init = np.zeros(H)  # (H,)
W2_init = rng.normal(0, 1, H) / np.sqrt(H)  # (H,); scaled so the output starts unsaturated
b2_init = 0.0


def make_params():
    """Fresh leaf Values holding the initial weights."""
    W1 = [[Value(W1_init[i, j]) for j in range(H)] for i in range(2)]
    b1 = [Value(b1_init[j]) for j in range(H)]
    W2 = [Value(W2_init[j]) for j in range(H)]
    return W1, b1, W2, Value(b2_init)


def predict(params, point):
    """tanh(W2 . tanh(point W1 + b1) + b2) for one point, written one scalar at a time."""
    W1, b1, W2, b2 = params
    hidden = [(point[0] * W1[0][j] + point[1] * W1[1][j] + b1[j]).tanh() for j in range(H)]
    return (sum((W2[j] * hidden[j] for j in range(H)), b2)).tanh()


def mse_loss(params):
    """Mean squared error over the whole data set."""
    return sum(((predict(params, X[n]) - Y[n]) ** 2 for n in range(N)), Value(0.0)) / N


def flat(params) -> list:
    W1, b1, W2, b2 = params
    return [w for row in W1 for w in row] + b1 + W2 + [b2]


# %% [markdown]
# Plain gradient descent: forward, **zero the grads**, backward, step against the gradient.
# Each step builds a fresh graph of about 2,000 nodes and throws it away.

# %%
params = make_params()
losses = []
for _ in range(60):
    loss = mse_loss(params)
    for p in flat(params):
        p.grad = 0.0  # forget this, and each step would use the sum of all past gradients
    loss.backward()
    for p in flat(params):
        p.data -= 0.5 * p.grad  # learning rate 0.5
    losses.append(loss.data)

accuracy = np.mean([np.sign(predict(params, X[n]).data) == Y[n] for n in range(N)])
print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}, training accuracy {accuracy:.0%}")
assert losses[-1] < 0.1 * losses[0]  # checkpoint: it learned
assert accuracy >= 0.95

# %%
if plt is not None:
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(losses)
    ax.set(xlabel="step", ylabel="mean squared error", yscale="log", title="XOR with Value")
    fig.tight_layout()
    save_figure(fig, "01_scalar_mlp_loss.png")

# %% [markdown]
# ## 6. The same network on arrays, with `autograd`
#
# One `Value` per number is lovely to read and hopeless to run: a BERT layer multiplies
# matrices with millions of entries. The `autograd` package in this repository keeps the same
# design, but each node holds a whole **array**, and each operation is one NumPy call:
#
# | scalar engine (this tutorial) | `autograd` |
# | --- | --- |
# | `Value(2.0)` | `ag.tensor(array, requires_grad=True)` |
# | `node._parents`, `node._local_grads` | `tensor._ctx` (a `Context`: the inputs, saved arrays) |
# | local derivative times `grad` | `Function.backward(ctx, grad_out)` |
# | `topological_order`, `backward` | `autograd.engine.topological_order`, `backward` |
#
# Here is the same network, the whole batch at once. We ask for float64: the default is
# float32 (fast for training), but we are about to compare gradients to many digits.

# %%
X_t = ag.tensor(X, dtype="float64")  # (N, 2), a constant: no gradient needed
Y_t = ag.tensor(Y, dtype="float64")  # (N,)
W1 = ag.tensor(W1_init, requires_grad=True, dtype="float64")  # (2, H)
b1 = ag.tensor(b1_init, requires_grad=True, dtype="float64")  # (H,)
W2 = ag.tensor(W2_init, requires_grad=True, dtype="float64")  # (H,)
b2 = ag.tensor(b2_init, requires_grad=True, dtype="float64")  # ()

hidden = (X_t @ W1 + b1).tanh()  # (N, 2) @ (2, H) -> (N, H); b1 (H,) broadcasts over N
prediction = (hidden @ W2 + b2).tanh()  # (N, H) @ (H,) -> (N,)
loss_t = ((prediction - Y_t) ** 2).mean()  # ()
loss_t.backward()
print("array loss:", loss_t.item(), " W1.grad shape:", W1.grad.shape)

# %% [markdown]
# **Checkpoint**: three independent routes to the same gradients agree, at the initial
# weights: the scalar engine, the array engine, and finite differences of a plain NumPy
# forward pass (which knows nothing about either engine).


# %%
def numpy_loss(W1_, b1_, W2_, b2_) -> float:
    prediction_ = np.tanh(np.tanh(X @ W1_ + b1_) @ W2_ + b2_)
    return float(np.mean((prediction_ - Y) ** 2))


scalar_params = make_params()
mse_loss(scalar_params).backward()
scalar_grads = [p.grad for p in flat(scalar_params)]
array_grads = np.concatenate([W1.grad.ravel(), b1.grad, W2.grad, [b2.grad.item()]])
assert np.allclose(scalar_grads, array_grads, rtol=1e-10, atol=1e-12)  # checkpoint

# Finite differences for every element of W1 (the others work the same way).
numeric_W1 = np.zeros_like(W1_init)
for i, j in np.ndindex(W1_init.shape):
    plus, minus = W1_init.copy(), W1_init.copy()
    plus[i, j] += 1e-6
    minus[i, j] -= 1e-6
    numeric_W1[i, j] = (
        numpy_loss(plus, b1_init, W2_init, b2_init) - numpy_loss(minus, b1_init, W2_init, b2_init)
    ) / 2e-6
assert np.allclose(W1.grad, numeric_W1, rtol=1e-5, atol=1e-8)  # checkpoint
print("scalar engine == array engine == finite differences")

# %% [markdown]
# ## 7. Broadcasting, and the one place it is undone
#
# Look at `X_t @ W1 + b1`: a `(N, H)` matrix plus a `(H,)` vector. NumPy **broadcasts** `b1`,
# as if it were copied into each of the N rows. Every copy influences the loss, so the
# gradient of `b1` is the *sum* of the N row gradients: a `(N, H)` gradient has to be reduced
# back to `(H,)`.
#
# Every binary op broadcasts, so every backward would need that reduction. In `autograd` no op
# does it: `backward` returns gradients shaped like the **output**, and the engine calls
# `autograd.engine.unbroadcast(grad, input_shape)` once per input. It sums away the leading
# axes that broadcasting added and the axes that were stretched from size 1.

# %%
grad_out = np.arange(12.0).reshape(4, 3)  # (4, 3): say, the gradient of a (4, 3) output
print(unbroadcast(grad_out, (3,)))  # (4, 3) -> (3,): summed over the rows
print(unbroadcast(grad_out, (4, 1)))  # (4, 3) -> (4, 1): summed along the stretched axis
print(unbroadcast(grad_out, (1, 1)).shape)  # everything summed, shape kept
assert np.array_equal(unbroadcast(grad_out, (3,)), grad_out.sum(axis=0))  # checkpoint
assert np.array_equal(b1.grad, unbroadcast(b1.grad, (H,)))  # b1.grad arrived as (H,)

# %% [markdown]
# ## 8. A `Function` from the inside, and one of your own
#
# Every op in `autograd` is a `Function` with two static methods on **raw arrays**:
#
# - `forward(ctx, *arrays, **static)` computes the output and saves on `ctx` whatever the
#   backward needs (`ctx.save_for_backward(...)`, or any attribute);
# - `backward(ctx, grad_out)` receives $\partial L / \partial\,\text{output}$ and returns one
#   gradient per input: the local derivative times `grad_out`, exactly the `grad * local` of
#   our scalar engine, elementwise.
#
# You call it with `.apply(tensors...)`, which records the graph node. Here is the real `Tanh`:

# %%
print(inspect.getsource(ag.ops.elementwise.Tanh))

# %% [markdown]
# Now write one: **softplus**, $\text{softplus}(x) = \log(1 + e^x)$, a smooth ReLU. Its
# derivative is the sigmoid, $\sigma(x) = 1 / (1 + e^{-x})$.
#
# Two details that make it an op rather than a formula. The forward uses `np.logaddexp(0, x)`
# $= \log(e^0 + e^x)$, because `np.log(1 + np.exp(x))` overflows to `inf` for $x > 709$. And it
# saves `x` for the backward, because the local derivative needs it.


# %%
class Softplus(Function):
    r"""y = \log(1 + e^x), elementwise; dy/dx = \sigma(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.logaddexp(0.0, x)  # log(1 + e^x) without overflow

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_arrays
        return grad_out / (1.0 + np.exp(-x))  # grad_out * sigmoid(x)


def softplus(x: ag.Tensor) -> ag.Tensor:
    return Softplus.apply(x)


# %% [markdown]
# **Checkpoint**: the new op gives the same values and gradients as the composition
# `log(1 + exp(x))` built from existing ops (which `autograd` differentiates for us), and does
# not overflow where the composition does.

# %%
values = rng.normal(0, 3, (5, 4))  # (5, 4)
x1 = ag.tensor(values, requires_grad=True, dtype="float64")
x2 = ag.tensor(values, requires_grad=True, dtype="float64")
weights = rng.normal(0, 1, (5, 4))  # a random weighting, so each element's gradient differs

(softplus(x1) * weights).sum().backward()
((x2.exp() + 1.0).log() * weights).sum().backward()
assert np.allclose(softplus(x1).data, (x2.exp() + 1.0).log().data)  # checkpoint: forward
assert np.allclose(x1.grad, x2.grad)  # checkpoint: backward
big = ag.tensor([1000.0], dtype="float64")
with np.errstate(over="ignore"):  # e^1000 overflows float64, which is the point
    composed = (big.exp() + 1.0).log().item()
print(f"softplus(1000) = {softplus(big).item()}, log(1 + exp(1000)) = {composed}")
assert softplus(big).item() == 1000.0 and composed == np.inf  # checkpoint

# %% [markdown]
# And use it: the array network of section 6 with softplus hidden units, trained by plain
# gradient descent. Updating the weights must not itself be recorded in the graph, so the
# update works on `.data` directly; afterwards each `.grad` is cleared (set to `None`), the
# array engine's way of zeroing.

# %%
W1 = ag.tensor(W1_init, requires_grad=True, dtype="float64")  # (2, H)
b1 = ag.tensor(b1_init, requires_grad=True, dtype="float64")  # (H,)
W2 = ag.tensor(W2_init, requires_grad=True, dtype="float64")  # (H,)
b2 = ag.tensor(b2_init, requires_grad=True, dtype="float64")  # ()
for _ in range(300):
    prediction = (softplus(X_t @ W1 + b1) @ W2 + b2).tanh()  # (N,)
    loss_t = ((prediction - Y_t) ** 2).mean()
    loss_t.backward()
    for p in (W1, b1, W2, b2):
        p.data -= 0.2 * p.grad
        p.grad = None  # zero the grad for the next step
accuracy = np.mean(np.sign(prediction.data) == Y)
print(f"softplus network: final loss {loss_t.item():.3f}, training accuracy {accuracy:.0%}")
assert accuracy >= 0.9  # checkpoint

# %% [markdown]
# That is the whole machinery. Tutorial 02 shows how to check a hand-written backward
# *properly* (`autograd.gradcheck`), and why the obvious check can lie to you.
#
# ## Exercises
#
# Each exercise has a check. Run the next cell to define the checks, write your answer, then
# un-comment the `check_...` line. The solutions are in the very last cell: try first!


# %%
def check_exercise_1(sigmoid_fn) -> None:
    """Values and gradients of sigmoid_fn(Value) against 1/(1+e^-x) and finite differences."""
    for t in (-3.0, -0.5, 0.0, 0.7, 4.0):
        v = Value(t)
        out = sigmoid_fn(v)
        assert isinstance(out, Value), "return a Value, so that it can be differentiated"
        assert math.isclose(out.data, 1 / (1 + math.exp(-t)), rel_tol=1e-12), f"value at {t}"
        out.backward()
        numeric = numerical_derivative(lambda s: 1 / (1 + math.exp(-s)), t)
        assert abs(v.grad - numeric) < 1e-8, f"gradient at {t}: got {v.grad}"
    print("exercise 1: correct")


def check_exercise_2(answer) -> None:
    """Compares your prediction with what the engine actually does."""
    x = Value(2.0)
    y = x * x + x
    y.backward()
    y.backward()
    assert answer is not None, "set answer_2 to a number"
    assert math.isclose(answer, x.grad), "not quite: remember section 4"
    print("exercise 2: correct")


def check_exercise_3(function_cls) -> None:
    """gradcheck on x (4, 3) and a (3,), the vector broadcast over the rows."""
    rng_ = np.random.default_rng(1)
    x = ag.tensor(rng_.normal(size=(4, 3)), requires_grad=True, dtype="float64")
    a = ag.tensor(rng_.normal(size=3), requires_grad=True, dtype="float64")
    out = function_cls.apply(x, a)
    assert out.shape == (4, 3), f"output shape {out.shape}, expected (4, 3)"
    assert np.allclose(out.data, a.data * np.tanh(x.data)), "forward: a * tanh(x)"
    ag.gradcheck(lambda x_, a_: function_cls.apply(x_, a_), x, a)
    print("exercise 3: correct")


# %% [markdown]
# **Exercise 1.** Give `Value` a sigmoid, $\sigma(x) = 1 / (1 + e^{-x})$. Either compose it from
# the primitives (the engine then differentiates it for you), or, better, make it *one* node
# with its own local derivative: `Value(data, (v,), (local,), "sigmoid")`. Hint:
# $\sigma'(x) = \sigma(x)\,(1 - \sigma(x))$.


# %%
def sigmoid(v: Value) -> Value:
    raise NotImplementedError("exercise 1: your code here")


# check_exercise_1(sigmoid)

# %% [markdown]
# **Exercise 2.** Predict, without running it: after
# `x = Value(2.0); y = x * x + x; y.backward(); y.backward()`, what is `x.grad`?

# %%
answer_2 = None  # your number here

# check_exercise_2(answer_2)

# %% [markdown]
# **Exercise 3.** Write a two-input `Function`, `scaled_tanh(x, a) = a * tanh(x)`, where `x` is
# `(N, H)` and the vector `a` is `(H,)` and broadcast over the rows. Return both gradients
# shaped like the **output**, `(N, H)`, and let the engine reduce `a`'s (section 7). The check
# runs `autograd.gradcheck`, which tutorial 02 explains.


# %%
class ScaledTanh(Function):
    @staticmethod
    def forward(ctx, x, a):
        raise NotImplementedError("exercise 3: compute a * tanh(x); save what backward needs")

    @staticmethod
    def backward(ctx, grad_out):
        raise NotImplementedError("exercise 3: return (grad_x, grad_a)")


# check_exercise_3(ScaledTanh)

# %% [markdown]
# ---
# ## Solutions
#
# *Spoilers below.* This cell runs when the tutorial runs as a script, so the tutorial checks
# its own exercises.


# %%
def sigmoid_solution(v: Value) -> Value:
    s = 1.0 / (1.0 + math.exp(-v.data))
    return Value(s, (v,), (s * (1.0 - s),), "sigmoid")  # one node, one local derivative


answer_2_solution = 2 * (2 * 2.0 + 1)  # dy/dx = 2x + 1 = 5, accumulated by two backwards


class ScaledTanhSolution(Function):
    @staticmethod
    def forward(ctx, x, a):
        t = np.tanh(x)
        ctx.save_for_backward(t, a)
        return a * t  # (N, H) * (H,) -> (N, H)

    @staticmethod
    def backward(ctx, grad_out):
        t, a = ctx.saved_arrays
        grad_x = grad_out * a * (1.0 - t * t)  # (N, H)
        grad_a = grad_out * t  # (N, H): the engine sums it to (H,)
        return grad_x, grad_a


check_exercise_1(sigmoid_solution)
check_exercise_2(answer_2_solution)
check_exercise_3(ScaledTanhSolution)
