"""The CuPy path on a real GPU: the device checks of ``tests/autograd/test_backend.py`` with CuPy.

Skipped, with the reason, unless ``cupy`` imports *and* finds a GPU. Where it runs, it also shows
that the ``StrictArray`` stand-in refuses what CuPy refuses, so the CPU-only tests keep meaning
something.
"""

from __future__ import annotations

import numpy as np
import pytest


def _why_no_gpu() -> str | None:
    try:
        import cupy
    except Exception as error:  # ImportError, or a broken CUDA install failing at import
        return f"CuPy is not importable ({type(error).__name__}: {error})"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # CUDARuntimeError when there is no driver or no device
        return f"CuPy finds no usable GPU ({type(error).__name__}: {error})"
    return None if count > 0 else "CuPy finds no GPU (device count 0)"


_REASON = _why_no_gpu()
if _REASON is not None:
    pytest.skip(_REASON, allow_module_level=True)

import cupy  # noqa: E402  (only once we know it works)

import autograd as ag  # noqa: E402
from autograd.kernels import backend_for  # noqa: E402
from tests.autograd.test_backend import (  # noqa: E402
    CASES,
    MASK,
    TinyEncoder,
    run_on,
    train_steps,
)

# cuBLAS and CUDA's libm round differently from NumPy's in the last bits: float64 agrees to ~1e-12.
RTOL, ATOL = 1e-9, 1e-11


def assert_same_on_gpu(fn, *arrays) -> None:
    expected_out, expected_grads = run_on(np, fn, arrays)
    out, grads = run_on(cupy, fn, arrays)
    assert isinstance(out, cupy.ndarray), f"the output left the GPU: {type(out).__name__}"
    np.testing.assert_allclose(out.get(), expected_out, rtol=RTOL, atol=ATOL, err_msg="output")
    for i, (grad, expected) in enumerate(zip(grads, expected_grads, strict=True)):
        assert isinstance(grad, cupy.ndarray), f"gradient {i} left the GPU"
        assert grad.dtype == expected.dtype
        np.testing.assert_allclose(grad.get(), expected, rtol=RTOL, atol=ATOL, err_msg=f"grad {i}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_on_cupy_matches_numpy(name):
    fn, arrays = CASES[name]
    assert_same_on_gpu(fn, *arrays)


def test_registry_gives_cupy_arrays_the_cupy_backend():
    assert ag.get_xp(cupy.zeros(2)) is cupy
    assert backend_for(cupy.zeros(2)) == "cupy"


def test_cupy_refuses_what_the_strict_array_refuses():
    x, host = cupy.ones((2, 3)), np.ones((2, 3))
    for mix in (lambda: np.asarray(x), lambda: x + host, lambda: host * x):
        with pytest.raises(TypeError):
            mix()
    tensor = ag.Tensor(x)
    assert tensor.device == "cuda"
    with pytest.raises(TypeError, match="GPU"):
        tensor.numpy()
    with pytest.raises(TypeError, match="numpy"):
        tensor + ag.Tensor(host)  # one op, two devices: named in the error


def test_to_cuda_round_trip_and_gradient_back_to_cpu():
    data = np.random.default_rng(0).standard_normal((3, 4))
    x = ag.Tensor(data, requires_grad=True)
    on_gpu = x.to("cuda")
    assert on_gpu.device == "cuda" and isinstance(on_gpu.data, cupy.ndarray)
    back = on_gpu.to("cpu")
    assert back.device == "cpu" and np.array_equal(back.numpy(), data)
    (on_gpu.tanh() * 3.0).sum().backward()
    assert isinstance(x.grad, np.ndarray)
    np.testing.assert_allclose(x.grad, 3.0 * (1.0 - np.tanh(data) ** 2), rtol=1e-12)


def test_gradient_from_cpu_flows_back_to_the_gpu():
    x = ag.Tensor(cupy.asarray(np.arange(6.0).reshape(2, 3)), requires_grad=True)
    (x.to("cpu") ** 2).sum().backward()
    assert isinstance(x.grad, cupy.ndarray)
    np.testing.assert_allclose(x.grad.get(), 2.0 * np.arange(6.0).reshape(2, 3))


def test_gradcheck_on_gpu():
    rng = np.random.default_rng(1)
    x = ag.Tensor(cupy.asarray(rng.standard_normal((2, 5))), requires_grad=True)
    w = ag.Tensor(cupy.asarray(rng.standard_normal(5)), requires_grad=True)
    mask = cupy.asarray(MASK)
    assert ag.gradcheck(lambda x, w: ag.softmax(ag.layer_norm(x, w), mask=mask, scale=2.0), x, w)


def test_module_to_cuda_computes_what_the_cpu_computes():
    losses_cpu, params_cpu = train_steps(TinyEncoder().double(), np)
    model = TinyEncoder().double().to("cuda")
    losses_gpu, params_gpu = train_steps(model, cupy)
    assert losses_gpu == pytest.approx(losses_cpu, rel=1e-9)
    for name, param in params_gpu.items():
        assert isinstance(param.data, cupy.ndarray) and isinstance(param.grad, cupy.ndarray), name
        np.testing.assert_allclose(param.grad.get(), params_cpu[name].grad, rtol=RTOL, atol=ATOL)
    model.to("cpu")
    for name, param in model.named_parameters():
        assert isinstance(param.data, np.ndarray), f"{name} stayed on the GPU"
        np.testing.assert_array_equal(param.data, params_cpu[name].data)


@pytest.mark.parametrize("name", ["AdamW", "SGD"])
def test_optimizer_steps_on_gpu(name):
    from autograd import optim

    if not hasattr(optim, name):
        pytest.skip(f"autograd.optim has no {name}")
    optimizer_class = getattr(optim, name)

    def factory(params):
        return optimizer_class(params, lr=1e-2, weight_decay=0.01)

    losses_cpu, params_cpu = train_steps(TinyEncoder().double(), np, factory, steps=3)
    losses_gpu, params_gpu = train_steps(TinyEncoder().double().to("cuda"), cupy, factory, steps=3)
    assert losses_gpu == pytest.approx(losses_cpu, rel=1e-9)
    for key, param in params_gpu.items():
        assert isinstance(param.data, cupy.ndarray), f"{name} moved {key} off the GPU"
        np.testing.assert_allclose(param.data.get(), params_cpu[key].data, rtol=RTOL, atol=ATOL)


def test_gradient_clipping_on_gpu():
    from autograd.optim import clip_grad_norm_

    rng = np.random.default_rng(2)
    grads = [rng.standard_normal((4, 3)) * 10, rng.standard_normal(5) * 10]
    on_host = [ag.Tensor(np.zeros_like(g)) for g in grads]
    on_gpu = [ag.Tensor(cupy.zeros(g.shape)) for g in grads]
    for host_param, gpu_param, grad in zip(on_host, on_gpu, grads, strict=True):
        host_param.grad, gpu_param.grad = grad.copy(), cupy.asarray(grad)
    assert clip_grad_norm_(on_gpu, 1.0) == pytest.approx(clip_grad_norm_(on_host, 1.0), rel=1e-9)
    for host_param, gpu_param in zip(on_host, on_gpu, strict=True):
        assert isinstance(gpu_param.grad, cupy.ndarray)
        np.testing.assert_allclose(gpu_param.grad.get(), host_param.grad, rtol=RTOL, atol=ATOL)
