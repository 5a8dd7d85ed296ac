"""The CuPy path against the NumPy path: every layer, the loss and a few training steps.

These run only where CuPy sees an NVIDIA GPU; elsewhere they are skipped with that reason.
"""

import numpy as np
import pytest

from tinygan import backend
from tinygan.gan import GAN
from tinygan.layers import (
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    LeakyReLU,
    Linear,
    ReLU,
    Sigmoid,
    Tanh,
)
from tinygan.losses import bce_with_logits

HAVE_GPU = backend.resolve_device("auto") == "gpu"
pytestmark = pytest.mark.skipif(not HAVE_GPU, reason="needs CuPy and a CUDA GPU")


def both(layer_factory, x_shape, train=True, seed=0):
    """(cpu outputs, gpu outputs) of forward + backward for identical layers and inputs."""
    rng = np.random.default_rng(seed)
    cpu_layer = layer_factory()
    for key, value in cpu_layer.params.items():
        cpu_layer.params[key] = rng.normal(0, 0.5, value.shape).astype(np.float32)
    import copy
    gpu_layer = copy.deepcopy(cpu_layer).to("gpu")
    x = rng.standard_normal(x_shape).astype(np.float32)
    y_cpu = cpu_layer.forward(x, train)
    dy = rng.standard_normal(y_cpu.shape).astype(np.float32)
    dx_cpu = cpu_layer.backward(dy)
    y_gpu = gpu_layer.forward(backend.to_device(x, "gpu"), train)
    dx_gpu = gpu_layer.backward(backend.to_device(dy, "gpu"))
    out_cpu = {"y": y_cpu, "dx": dx_cpu, **{f"d{k}": v for k, v in cpu_layer.grads.items()}}
    out_gpu = {"y": y_gpu, "dx": dx_gpu, **{f"d{k}": v for k, v in gpu_layer.grads.items()}}
    return out_cpu, out_gpu


@pytest.mark.parametrize("factory,shape,train", [
    (lambda: Conv2d(3, 8, 4, 2, 1), (4, 16, 16, 3), True),
    (lambda: Conv2d(8, 16, 3, 1, 1, bias=False), (2, 9, 7, 8), True),
    (lambda: ConvTranspose2d(8, 3, 4, 2, 1), (4, 8, 8, 8), True),
    (lambda: ConvTranspose2d(16, 8, 4, 1, 0), (4, 1, 1, 16), True),
    (lambda: BatchNorm2d(8), (4, 5, 5, 8), True),
    (lambda: BatchNorm2d(8), (4, 5, 5, 8), False),
    (lambda: Linear(12, 5), (6, 12), True),
    (lambda: ReLU(), (4, 6, 6, 3), True),
    (lambda: LeakyReLU(0.2), (4, 6, 6, 3), True),
    (lambda: Sigmoid(), (4, 6, 6, 3), True),
    (lambda: Tanh(), (4, 6, 6, 3), True),
])
def test_layer_matches_numpy(factory, shape, train):
    cpu, gpu = both(factory, shape, train)
    assert cpu.keys() == gpu.keys()
    for name in cpu:
        assert backend.device_of(gpu[name]) == "gpu"
        np.testing.assert_allclose(backend.to_host(gpu[name]), cpu[name], rtol=1e-4, atol=1e-4,
                                   err_msg=name)


def test_loss_matches_numpy():
    z = np.random.default_rng(1).standard_normal((16, 1)).astype(np.float32) * 5
    loss_c, grad_c = bce_with_logits(z, 0.9)
    loss_g, grad_g = bce_with_logits(backend.to_device(z, "gpu"), 0.9)
    np.testing.assert_allclose(float(loss_g), float(loss_c), rtol=1e-5)
    np.testing.assert_allclose(backend.to_host(grad_g), grad_c, rtol=1e-5, atol=1e-7)


def test_training_steps_match_cpu():
    config = dict(size=32, nz=32, ngf=16, ndf=16)
    cpu, gpu = GAN(config, device="cpu", seed=0), GAN(config, device="gpu", seed=0)
    rng = np.random.default_rng(2)
    for _ in range(3):
        real = rng.uniform(-1, 1, (16, 32, 32, 3)).astype(np.float32)
        z = rng.standard_normal((16, 32)).astype(np.float32)
        out_c = cpu.train_step(real, z)
        out_g = gpu.train_step(backend.to_device(real, "gpu"), backend.to_device(z, "gpu"))
        for key in out_c:
            np.testing.assert_allclose(float(out_g[key]), float(out_c[key]), rtol=2e-3, atol=1e-4)
    a, b = cpu.state_arrays(), gpu.state_arrays()
    for key in a:
        np.testing.assert_allclose(b[key], a[key], rtol=1e-2, atol=1e-4, err_msg=key)
