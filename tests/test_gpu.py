"""The GPU path against the CPU path: every layer, the loss, training steps and every CLI command
with `--device gpu`; and what a step costs a GPU (kernel launches, host synchronisations).

On a machine where CuPy runs on a real GPU these tests use it. Everywhere else (CI included)
they use tests/cupy_standin.py, a strict CPU stand-in for CuPy that refuses host/device mixing
the way CuPy does and counts kernel launches.
"""

import copy
import json

import numpy as np
import pytest
from conftest import TINY, assert_same_checkpoint, installed_cupy, invoke, missing_in_cupy

from tinygan import fast as speed
from tinygan.gan.step import GAN, recalibrate_batchnorm
from tinygan.nn import backend
from tinygan.nn.layers import (
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    LeakyReLU,
    Linear,
    MinibatchStd,
    PixelNorm,
    ReLU,
    SelfAttention,
    Sigmoid,
    SpectralNorm,
    Tanh,
)
from tinygan.nn.losses import bce_with_logits, hinge_d, hinge_g

GPU_TINY = [a if a != "cpu" else "gpu" for a in TINY]


def both(layer_factory, x_shape, train=True, seed=0):
    """(cpu outputs, gpu outputs) of forward + backward for identical layers and inputs."""
    rng = np.random.default_rng(seed)
    cpu_layer = layer_factory()
    for key, value in cpu_layer.params.items():
        cpu_layer.params[key] = rng.normal(0, 0.5, value.shape).astype(np.float32)
    gpu_layer = copy.deepcopy(cpu_layer).to("gpu")
    x = rng.standard_normal(x_shape).astype(np.float32)
    results = []
    for layer, device in ((cpu_layer, "cpu"), (gpu_layer, "gpu")):
        for _ in range(2):   # twice: reused buffers must not carry anything over
            y = layer.forward(backend.to_device(x.copy(), device), train)   # may work in place
            dy = backend.to_device(np.random.default_rng(1).standard_normal(y.shape)
                                   .astype(np.float32), device)
            dx = layer.backward(dy)
        results.append({"y": y, "dx": dx, **{f"d{k}": v for k, v in layer.grads.items()}})
    return results


LAYERS = [
    (lambda: Conv2d(3, 8, 4, 2, 1), (4, 16, 16, 3), True),
    (lambda: speed.FastConv2d(3, 8, 4, 2, 1), (4, 16, 16, 3), True),
    (lambda: speed.FastConv2d(8, 16, 3, 1, 1, bias=False), (2, 9, 7, 8), True),
    (lambda: speed.FastConv2d(8, 1, 4, 1, 0, bias=False), (2, 4, 4, 8), True),
    (lambda: ConvTranspose2d(8, 3, 4, 2, 1), (4, 8, 8, 8), True),
    (lambda: speed.FastConvTranspose2d(8, 3, 4, 2, 1), (4, 8, 8, 8), True),
    (lambda: speed.FastConvTranspose2d(16, 8, 4, 1, 0), (4, 1, 1, 16), True),
    (lambda: speed.FastConvTranspose2d(16, 8, 4, 2, 1, bias=False), (2, 3, 5, 16), True),
    (lambda: BatchNorm2d(8), (4, 5, 5, 8), True),
    (lambda: speed.FastBatchNorm2d(8), (4, 5, 5, 8), True),
    (lambda: speed.FastBatchNorm2d(8), (4, 5, 5, 8), False),
    (lambda: Linear(12, 5), (6, 12), True),
    (lambda: ReLU(), (4, 6, 6, 3), True),
    (lambda: speed.FastReLU(), (4, 6, 6, 3), True),
    (lambda: LeakyReLU(0.2), (4, 6, 6, 3), True),
    (lambda: speed.FastLeakyReLU(0.2), (4, 6, 6, 3), True),
    (lambda: Sigmoid(), (4, 6, 6, 3), True),
    (lambda: Tanh(), (4, 6, 6, 3), True),
    (lambda: SelfAttention(16), (2, 5, 6, 16), True),
    (lambda: PixelNorm(), (4, 5, 5, 8), True),
    (lambda: MinibatchStd(), (4, 5, 5, 8), True),
    (lambda: MinibatchStd(group_size=2), (4, 5, 5, 8), True),
    (lambda: SpectralNorm(Conv2d(8, 16, 4, 2, 1)), (2, 8, 8, 8), True),
    (lambda: SpectralNorm(Conv2d(8, 16, 4, 2, 1)), (2, 8, 8, 8), False),
    (lambda: SpectralNorm(Linear(12, 5)), (6, 12), True),
]


@pytest.mark.parametrize("factory,shape,train", LAYERS)
def test_layer_matches_numpy(gpu, factory, shape, train):
    cpu, on_gpu = both(factory, shape, train)
    assert cpu.keys() == on_gpu.keys()
    for name in cpu:
        assert backend.device_of(on_gpu[name]) == "gpu"
        np.testing.assert_allclose(backend.to_host(on_gpu[name]), cpu[name], rtol=1e-4,
                                   atol=1e-4, err_msg=name)


LOSSES = {"bce": lambda z: bce_with_logits(z, 0.9), "hinge_d real": lambda z: hinge_d(z, True),
          "hinge_d fake": lambda z: hinge_d(z, False), "hinge_g": hinge_g}


@pytest.mark.parametrize("name", LOSSES)
def test_loss_matches_numpy(gpu, name):
    z = np.random.default_rng(1).standard_normal((16, 1)).astype(np.float32) * 5
    loss_c, grad_c = LOSSES[name](z)
    loss_g, grad_g = LOSSES[name](backend.to_device(z, "gpu"))
    assert backend.device_of(grad_g) == "gpu"
    np.testing.assert_allclose(float(loss_g), float(loss_c), rtol=1e-5)
    np.testing.assert_allclose(backend.to_host(grad_g), grad_c, rtol=1e-5, atol=1e-7)


def train_on_both(config, dtype=np.float32, steps=3):
    """The same GAN trained the same steps on the CPU and on the GPU: (cpu GAN, gpu GAN, the
    steps' [(cpu report, gpu report)], the state both started from)."""
    cpu = GAN(config, device="cpu", seed=0, dtype=dtype)
    on_gpu = GAN(config, device="gpu", seed=0, dtype=dtype)
    start = {key: np.array(value) for key, value in cpu.state_arrays().items()}
    rng, reports = np.random.default_rng(2), []
    for step in range(steps):
        real = rng.uniform(-1, 1, (16, 32, 32, 3)).astype(dtype)
        z = rng.standard_normal((16, 32)).astype(dtype)
        reports.append((cpu.train_step(real, z, np.random.default_rng(step)),
                        on_gpu.train_step(backend.to_device(real, "gpu"),
                                          backend.to_device(z, "gpu"),
                                          np.random.default_rng(step))))
    return cpu, on_gpu, reports, start


def assert_same_changes(a, b, start, tol):
    """The state arrays `b` changed as `a` did since `start`: for each, |change in b - change
    in a| <= tol |change in a| (Euclidean norms), and the step counts are equal. Adam's moments
    start at zero (they are not in `start`).

    Compared are the changes, not the values: a BatchNorm gamma near 1 moves by at most 6e-4
    in three steps, and Adam's second moments stay under 1e-4, so a tolerance on the values
    (rtol 1e-2, atol 1e-4) let any of them be wrong."""
    assert a.keys() == b.keys()
    for key in a:
        if key.endswith("/t"):
            assert int(b[key]) == int(a[key]), key
            continue
        before = np.asarray(start.get(key, 0), dtype=np.float64)
        change_a = np.asarray(a[key], dtype=np.float64) - before
        change_b = np.asarray(b[key], dtype=np.float64) - before
        error, size = np.linalg.norm(change_b - change_a), np.linalg.norm(change_a)
        assert error <= tol * size, f"{key}: |difference| {error:.2e}, |change| {size:.2e}"


RECIPES_ON_BOTH = [dict(recipe="dcgan", label_noise=0.1),
                   dict(recipe="modern", d_norm="spectral", mbstd=True,
                        augment="color,translation,cutout"),
                   dict(recipe="modern", g_norm="pixel")]


@pytest.mark.parametrize("recipe", RECIPES_ON_BOTH)
def test_training_steps_match_cpu(gpu, recipe):
    """In float32 the devices' changes agree to 5e-3 (6.4e-4 at worst with the stand-in, in a
    PixelNorm generator's first layer: Adam turns the round-off of its nearly-zero gradients
    into steps of the order of the learning rate); a gradient 1 % off moves Adam's first
    moment by 1 %."""
    config = dict(size=32, nz=32, ngf=16, ndf=16, **recipe)
    cpu, on_gpu, reports, start = train_on_both(config)
    for out_c, out_g in reports:
        for key in out_c:
            np.testing.assert_allclose(float(out_g[key]), float(out_c[key]), rtol=2e-3, atol=1e-4)
    assert_same_changes(cpu.state_arrays(), on_gpu.state_arrays(), start, tol=5e-3)


@pytest.mark.parametrize("recipe", [dict(recipe="modern", attention=True),
                                    dict(recipe="modern", r1=1.0, r1_every=2),
                                    *RECIPES_ON_BOTH])
def test_training_steps_match_cpu_in_float64(gpu, recipe):
    """In float32, Adam's first steps amplify the round-off of nearly-zero gradients (of an
    attention layer whose gamma has just left 0; of weights R1's finite differences barely
    move) into differences of the order of the learning rate, where the two devices sum in
    another order; in float64 they agree closely (to 1e-12 with the stand-in)."""
    config = dict(size=32, nz=32, ngf=16, ndf=16, **recipe)
    cpu, on_gpu, reports, start = train_on_both(config, dtype=np.float64)
    for out_c, out_g in reports:
        for key in out_c:
            np.testing.assert_allclose(float(out_g[key]), float(out_c[key]), rtol=1e-7)
    assert_same_changes(cpu.state_arrays(), on_gpu.state_arrays(), start, tol=1e-7)


# -- every CLI command with --device gpu -----------------------------------------------------
def test_cli_train_resume_and_init_on_gpu(gpu, tmp_path):
    """A run resumed on the GPU ends exactly where the same run without a break does."""
    run, straight = tmp_path / "run", tmp_path / "straight"
    args = ["--data", "demo", "--ckpt-every", 2, "--sample-every", 2, "--recipe", "dcgan",
            "--label-noise", 0.1, *GPU_TINY]
    result = invoke("train", "--steps", 4, "--out", run, *args)
    assert result.exit_code == 0, result.output
    result = invoke("train", "--resume", run, "--steps", 6, "--device", "gpu")
    assert result.exit_code == 0, result.output
    assert "resumed from ckpt_00000004.npz" in (run / "events.log").read_text()
    result = invoke("train", "--steps", 6, "--out", straight, *args)
    assert result.exit_code == 0, result.output
    assert_same_checkpoint(run / "ckpt_00000006.npz", straight / "ckpt_00000006.npz")
    tuned = tmp_path / "tuned"
    result = invoke("train", "--data", "demo", "--steps", 2, "--out", tuned, "--init", run,
                    *GPU_TINY)
    assert result.exit_code == 0, result.output
    assert "initialised from" in result.output


def test_cli_gpu_run_equals_cpu_run(gpu, tmp_path):
    """The same tiny run on both devices changes every array of its checkpoint alike (G, D,
    the moving average and Adam's moments), to float32 round-off."""
    from tinygan.run import checkpoint as ckpt
    ends = {}
    for device in ("cpu", "gpu"):
        run = tmp_path / device
        args = [a if a not in ("cpu", "gpu") else device for a in TINY]
        result = invoke("train", "--data", "demo", "--steps", 3, "--out", run, *args)
        assert result.exit_code == 0, result.output
        ends[device], meta = ckpt.load(str(run / "ckpt_00000003.npz"))
    config = meta["config"]
    start = GAN(config, device="cpu", seed=config["seed"]).state_arrays()
    for key, value in start.items():   # the run did start there: its weights moved by
        if key.endswith(".W"):         # three of Adam's steps
            assert 0 < np.abs(ends["cpu"][key] - value).max() < 10 * 3 * config["lr"], key
    assert_same_changes(ends["cpu"], ends["gpu"], start, tol=5e-3)


def test_cli_nan_rollback_on_gpu(gpu, tmp_path):
    run = tmp_path / "run"
    result = invoke("train", "--data", "demo", "--steps", 6, "--out", run, "--ckpt-every", 2,
                    "--inject-nan-at", 3, "--on-nan", "rollback", *GPU_TINY)
    assert result.exit_code == 0, result.output
    assert "rolling back" in (run / "events.log").read_text()


def test_cli_sampling_commands_on_gpu(gpu, tiny_run, tmp_path):
    """sample (with --best, --truncation, --separate), interpolate and eval on the GPU give
    what they give on the CPU."""
    from PIL import Image, ImageSequence

    def pixels(path):
        return [np.asarray(frame.convert("RGB"), dtype=int)
                for frame in ImageSequence.Iterator(Image.open(path))]
    for n, extra in enumerate(([], ["--best", 4], ["--truncation", 1.0],
                               ["--separate", "faces"])):
        made = {}
        for device in ("cpu", "gpu"):
            out = tmp_path / f"{device}{n}.png"
            args = [tmp_path / f"{device}-faces" if a == "faces" else a for a in extra]
            result = invoke("sample", "-n", 4, "--checkpoint", tiny_run, "--out", out,
                            "--device", device, *args)
            assert result.exit_code == 0, result.output
            made[device] = pixels(out)
        assert np.abs(made["cpu"][0] - made["gpu"][0]).max() <= 1, extra
    assert len(list((tmp_path / "gpu-faces").glob("*.png"))) == 4
    walks, scores = {}, {}
    for device in ("cpu", "gpu"):
        result = invoke("interpolate", 1, 2, "--frames", 3, "--checkpoint", tiny_run,
                        "--out", tmp_path / f"{device}.gif", "--device", device)
        assert result.exit_code == 0, result.output
        walks[device] = pixels(tmp_path / f"{device}.gif")
        result = invoke("eval", "--checkpoint", tiny_run, "--data", "demo", "-n", 16,
                        "--size", 32, "--device", device, "--json")
        assert result.exit_code == 0, result.output
        scores[device] = json.loads(result.output.strip().splitlines()[-1])["swd"]["avg"]
    assert len(walks["gpu"]) == len(walks["cpu"]) == 4
    assert max(np.abs(a - b).max() for a, b in zip(walks["cpu"], walks["gpu"])) <= 2
    assert scores["gpu"] == pytest.approx(scores["cpu"], rel=1e-2)


def test_cli_sample_on_gpu_equals_cpu(gpu, tiny_run, tmp_path):
    from PIL import Image
    grids = []
    for device in ("cpu", "gpu"):
        out = tmp_path / f"{device}.png"
        result = invoke("sample", "-n", 4, "--checkpoint", tiny_run, "--out", out,
                        "--device", device)
        assert result.exit_code == 0, result.output
        grids.append(np.asarray(Image.open(out), dtype=int))
    assert np.abs(grids[0] - grids[1]).max() <= 1


def test_sgd_momentum_resumes_on_the_device(gpu):
    from tinygan.nn.layers import Sequential
    from tinygan.nn.optim import SGD
    net = Sequential(Linear(3, 2)).to("gpu")
    opt = SGD(net, lr=0.1, momentum=0.9)
    grad = backend.to_device(np.ones(8, dtype=np.float32), "gpu")
    opt.step(grad)
    fresh = SGD(net, lr=0.1, momentum=0.9)
    fresh.load_state_dict(opt.state_dict())
    fresh.step(grad)   # velocity restored onto the device: no host/device mix
    assert backend.device_of(fresh.velocity) == "gpu"
    # v = 0.9 * 1 + 1 after the second step: the restored velocity was used, not zeros
    np.testing.assert_allclose(backend.to_host(fresh.velocity), 1.9, rtol=1e-6)


# -- the launch budget: counted with the stand-in -------------------------------------------
STEP_LAUNCH_BUDGET = 650
# Where a 64 px step's launches go (counted with the stand-in): BatchNorm ~325 (13 forward and
# 13 backward passes of ~15 and ~10 whole-array and per-channel operations), the convolutions
# ~165, activations ~75, the loss ~55, Adam + EMA + gradient gathering ~30. Going further means
# fusing BatchNorm's operations into custom kernels, which only a real GPU could check.


def test_training_step_launch_budget(standin):
    """One 64 px training step: a bounded number of kernel launches (1,600 before the flat
    parameters, the one-copy im2col and the fewer-pass layers), no host synchronisation."""
    gan = GAN(dict(size=64), device="gpu", seed=0)
    rng = np.random.default_rng(0)
    real = backend.to_device(rng.uniform(-1, 1, (64, 64, 64, 3)).astype(np.float32), "gpu")
    z = backend.to_device(rng.standard_normal((64, 100)).astype(np.float32), "gpu")
    gan.train_step(real, z)   # the first step allocates the buffers
    stats = standin.stats
    stats.reset()
    gan.train_step(real, z)
    assert stats.syncs == 0 and stats.transfers == 0
    assert stats.launches <= STEP_LAUNCH_BUDGET, stats.by_name.most_common(12)


def test_sampling_and_recalibration_launch_budgets(standin):
    from tinygan.draw.generate import generate, latent
    from tinygan.gan.networks import generator
    G = generator(64).to("gpu")
    z = latent(0, 64, 100)
    generate(G, z, "gpu")
    stats = standin.stats
    stats.reset()
    generate(G, z, "gpu")
    assert stats.launches <= 60, stats.by_name.most_common(12)
    stats.reset()
    recalibrate_batchnorm(G, 100)
    assert stats.launches <= 300, stats.by_name.most_common(12)


def test_buffers_are_released_after_sampling(standin):
    from tinygan.draw.generate import generate, latent
    from tinygan.gan.networks import generator
    G = generator(32, nz=8, ngf=8).to("gpu")
    generate(G, latent(0, 4, 8), "gpu")
    assert speed.held_bytes() == 0
    assert all(layer.grads == {} for layer in G.layers)


# -- the stand-in is strict, and its names exist in the real CuPy ---------------------------
def test_standin_refuses_what_cupy_refuses(standin):
    x = standin.ones((3,), dtype=np.float32)
    with pytest.raises(TypeError):
        np.asarray(x)            # no implicit device -> host copy
    with pytest.raises(TypeError):
        x + np.ones(3)           # no NumPy operand
    with pytest.raises(TypeError):
        x[...] = np.ones(3)      # no NumPy value
    with pytest.raises(TypeError):
        np.exp(x)                # no NumPy function on a device array
    total = x.sum()
    assert isinstance(total, standin.ndarray) and total.shape == ()
    assert np.isnan(standin.empty((2,), dtype=np.float32).get()).all()
    standin.stats.reset()
    float(total)
    assert standin.stats.syncs == 1


def test_standin_refuses_numpy_arrays_where_cupy_does(standin):
    """What the stand-in's docstring promises: NumPy arrays are refused as out=, as the only
    operands of a CuPy function, as index arrays, and as what a new array is made from; the
    same calls with device arrays go through."""
    x = standin.arange(3, dtype=np.float32)
    host = np.arange(3, dtype=np.float32)
    for call in (lambda: standin.exp(x, out=np.empty(3, np.float32)),
                 lambda: standin.multiply(x, 2, out=np.empty(3, np.float32)),
                 lambda: x.sum(out=np.zeros((), np.float32)),
                 lambda: standin.matmul(x.reshape(1, 3), x.reshape(3, 1),
                                        out=np.empty((1, 1), np.float32)),
                 lambda: standin.exp(host), lambda: standin.maximum(host, host)):
        with pytest.raises(TypeError, match="NumPy array cannot be mixed"):
            call()
    with pytest.raises(TypeError, match="no device array among the operands"):
        standin.maximum(1.0, 2.0)
    for call in (lambda: x[np.array([0, 2])], lambda: x.__setitem__(np.array([0, 2]), 1.0),
                 lambda: standin.ones((2, 3))[1:, np.array([0])]):
        with pytest.raises(TypeError, match="NumPy array cannot index"):
            call()
    for call in (lambda: standin.zeros_like(host), lambda: standin.full_like(host, 1.0),
                 lambda: standin.full((3,), host)):
        with pytest.raises(TypeError, match="not a shape or a fill value"):
            call()
    # the controls: with device arrays each of them works
    out = standin.empty((3,), np.float32)
    assert standin.exp(x, out=out) is not None and np.allclose(out.get(), np.exp(host))
    picked = x[standin.asarray(np.array([0, 2]))]
    np.testing.assert_array_equal(picked.get(), [0, 2])
    assert standin.zeros_like(x).shape == (3,) and float(standin.maximum(x, 1.0).sum()) == 4


def test_every_name_used_exists_in_cupy(standin):
    """Each function, array method and keyword the stand-in saw in use in a training step and
    a recalibration exists in CuPy itself (the `standin` fixture checks the same after every
    GPU test, for the names that test used); and the check notices what CuPy lacks."""
    gan = GAN(dict(size=32, nz=8, ngf=8, ndf=8, label_noise=0.1), device="gpu", seed=0)
    real = backend.to_device(np.zeros((4, 32, 32, 3), dtype=np.float32), "gpu")
    z = backend.to_device(np.ones((4, 8), dtype=np.float32), "gpu")
    gan.train_step(real, z, np.random.default_rng(0))
    recalibrate_batchnorm(gan.G_ema, 8, faces=4, batch_size=4)
    seen = standin.stats.seen
    assert len(seen["function"]) > 10 and len(seen["method"]) > 10 and len(seen["keyword"]) > 3

    with installed_cupy() as cupy:
        assert not missing_in_cupy(cupy, seen)
        # the controls: a function, a method and keywords CuPy lacks, on both paths of the
        # keyword check (a Python signature; a compiled function's docstring signature, where
        # a word of its text or a positional-only parameter is no keyword)
        fake = {"function": {"tanh", "no_such_function"}, "method": {"no_such_method"},
                "keyword": {("function", "zeros", "no_such_keyword"), ("function", "pad", "mode"),
                            ("function", "exp", "out"), ("function", "exp", "x"),
                            ("method", "sum", "keepdims"), ("method", "copy", "device")}}
        assert missing_in_cupy(cupy, fake) == [
            "cupy.no_such_function", "cupy.ndarray.no_such_method", "keyword x= of exp",
            "keyword no_such_keyword= of zeros", "keyword device= of copy"]
    assert "device" in cupy.ndarray.copy.__doc__ and "x" in cupy.exp.__doc__


# -- a GPU that CuPy sees but cannot use -----------------------------------------------------
@pytest.fixture
def broken_gpu(monkeypatch):
    """CuPy that sees a GPU but fails on its first kernel, as it does without NVRTC."""
    import sys

    import cupy_standin
    module = cupy_standin.make_module()

    def no_compiler(*args, **kwargs):
        raise RuntimeError("CuPy failed to load libnvrtc.so.12: cannot open shared object file")
    module.tanh = no_compiler
    monkeypatch.setitem(sys.modules, "cupy", module)
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_error", None)
    yield module
    backend._cupy, backend._cupy_error = None, None


def test_gpu_that_cannot_run_is_one_clear_error(broken_gpu, tmp_path):
    result = invoke("sample", "-n", 1, "--out", tmp_path / "x.png", "--device", "gpu")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert "libnvrtc.so.12" in lines[-1] and "pip install 'cupy-cuda12x[ctk]'" in lines[-1]
    assert "Traceback" not in result.output


def test_auto_falls_back_to_the_cpu_with_a_notice(broken_gpu, tmp_path):
    result = invoke("sample", "-n", 1, "--out", tmp_path / "x.png", "--device", "auto")
    assert result.exit_code == 0, result.output
    assert "--device auto: CuPy sees a GPU but cannot run on it" in result.output
    assert "using the CPU" in result.output
