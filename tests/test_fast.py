"""The fast variants against the textbook layers: same forward and backward, in float64, on the
gradient checks' shapes; and the flat parameter array the optimizers work on."""

import copy

import numpy as np
import pytest
from conftest import CONV_CASES, TOL

from tinygan import fast as speed
from tinygan.fast.conv import conv_transpose_few_channels
from tinygan.fast.im2col import col2im_fast, im2col_fast
from tinygan.gan.networks import build
from tinygan.nn.gradcheck import check_layer, rel_error
from tinygan.nn.im2col import col2im, im2col
from tinygan.nn.layers import (
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    LeakyReLU,
    ReLU,
    SelfAttention,
    Sequential,
)
from tinygan.nn.optim import SGD, Adam


@pytest.fixture(params=[1, 3], ids=["1-thread", "3-threads"])
def threads(request, monkeypatch):
    """The fast layers' passes on one thread, or cut into parts over three threads (every
    array big enough to be cut, so that the small test shapes take that path too)."""
    from tinygan.fast import threads
    monkeypatch.setattr(threads, "MIN_ELEMENTS", 0)
    threads.set_threads(request.param)
    yield request.param
    threads.set_threads(None)


def twins(textbook, fast, seed=0):
    """A textbook layer and its fast twin with the same random float64 parameters."""
    rng = np.random.default_rng(seed)
    textbook.astype(np.float64)
    for key, value in textbook.params.items():
        textbook.params[key] = rng.normal(0, 0.5, value.shape)
    fast.astype(np.float64)
    for key, value in textbook.params.items():
        fast.params[key] = value.copy()
    return textbook, fast


def assert_same(textbook, fast, x, train=True, calls=2):
    """Forward and backward agree (twice, so reused buffers are exercised too)."""
    rng = np.random.default_rng(1)
    for _ in range(calls):
        y = textbook.forward(x.copy(), train)
        y_fast = fast.forward(x.copy(), train)   # a copy: fast activations work in place
        assert rel_error(y_fast, y) <= TOL
        dy = rng.standard_normal(y.shape)
        dx, dx_fast = textbook.backward(dy), fast.backward(dy)
        assert rel_error(dx_fast, dx) <= TOL
        assert textbook.grads.keys() == fast.grads.keys()
        for key in textbook.grads:
            assert rel_error(fast.grads[key], textbook.grads[key]) <= TOL, key


@pytest.mark.parametrize("k,s,p,h,w,n,bias", CONV_CASES)
def test_im2col_and_col2im_fast_match_textbook(k, s, p, h, w, n, bias, threads):
    x = np.random.default_rng(0).standard_normal((n, h, w, 3))
    cols = im2col(x, k, s, p)
    np.testing.assert_array_equal(im2col_fast(x, k, s, p), cols)
    back, _ = col2im_fast(cols, x.shape, s, p)
    assert rel_error(back, col2im(cols, x.shape, s, p)) <= 1e-12


@pytest.mark.parametrize("k,s,p,h,w,n,bias", CONV_CASES)
def test_fast_conv2d_matches_textbook(k, s, p, h, w, n, bias, threads):
    x = np.random.default_rng(2).standard_normal((n, h, w, 3))
    assert_same(*twins(Conv2d(3, 5, k, s, p, bias), speed.FastConv2d(3, 5, k, s, p, bias)), x)


@pytest.mark.parametrize("c_out", [2, 10])   # the channels-first layout and the col2im one
@pytest.mark.parametrize("k,s,p,h,w,n,bias", CONV_CASES)
def test_fast_conv_transpose2d_matches_textbook(k, s, p, h, w, n, bias, c_out, threads):
    h, w = max(1, h // 2), max(1, w // 2)
    x = np.random.default_rng(3).standard_normal((n, h, w, 3))
    pair = twins(ConvTranspose2d(3, c_out, k, s, p, bias),
                 speed.FastConvTranspose2d(3, c_out, k, s, p, bias))
    assert_same(*pair, x)


@pytest.mark.parametrize("k,s,p", [(4, 2, 1), (3, 1, 1), (5, 2, 2), (4, 1, 0)])
def test_few_channels_layout_matches_textbook(k, s, p):
    layer = twins(ConvTranspose2d(5, 3, k, s, p, bias=False), ConvTranspose2d(5, 3, k, s, p))[0]
    x = np.random.default_rng(3).standard_normal((2, 4, 3, 5))
    np.testing.assert_allclose(conv_transpose_few_channels(x, layer.params["W"], s, p),
                               layer.forward(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("shape", [(4, 3, 2, 3), (2, 5, 5, 4), (8, 1, 1, 6)])
def test_fast_batchnorm_matches_textbook(shape, train, threads):
    x = np.random.default_rng(4).standard_normal(shape) * 3 + 1
    textbook, fast = twins(BatchNorm2d(shape[-1]), speed.FastBatchNorm2d(shape[-1]))
    assert_same(textbook, fast, x, train)
    for key in textbook.buffers:
        assert rel_error(fast.buffers[key], textbook.buffers[key]) <= TOL


@pytest.mark.parametrize("textbook,fast", [(ReLU(), speed.FastReLU()),
                                           (LeakyReLU(0.2), speed.FastLeakyReLU(0.2))])
def test_fast_activations_match_textbook(textbook, fast, threads):
    x = np.random.default_rng(5).standard_normal((3, 4, 4, 2))
    assert_same(textbook, fast, x)


def test_over_batch_runs_the_parts_on_threads_and_passes_errors_on(threads):
    import threading

    from tinygan.fast.threads import over_batch
    x, seen = np.arange(12.0).reshape(6, 2), []
    all_parts_started = threading.Barrier(threads, timeout=10)

    def part_sum(part, scale):
        if scale is None:
            raise ValueError("bad part")
        seen.append(threading.get_ident())
        all_parts_started.wait()   # breaks (and fails the test) unless the parts run at once
        return part.sum() * scale

    parts = over_batch(part_sum, x, args=(2.0,))
    assert len(parts) == threads and sum(parts) == 2 * x.sum()
    assert len(set(seen)) == threads
    with pytest.raises(ValueError, match="bad part"):
        over_batch(part_sum, x, args=(None,))


@pytest.mark.parametrize("layer,shape", [
    (speed.FastConv2d(3, 4, 4, 2, 1), (2, 8, 7, 3)),
    (speed.FastConvTranspose2d(4, 10, 4, 2, 1), (2, 3, 4, 4)),
    (speed.FastConvTranspose2d(4, 3, 4, 2, 1), (2, 3, 4, 4)),
    (speed.FastBatchNorm2d(3), (4, 3, 2, 3)),
    (speed.FastLeakyReLU(0.2), (2, 3, 3, 2)),
])
def test_fast_layers_pass_gradient_checks(layer, shape, threads):
    rng = np.random.default_rng(6)
    for key, value in layer.params.items():
        layer.params[key] = rng.normal(1 if key == "gamma" else 0, 0.5, value.shape)
    errors = check_layer(layer, rng.standard_normal(shape))
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("g_norm, attention, d_norm, mbstd", [
    ("batchnorm", False, "batchnorm", False), ("pixel", False, "batchnorm", False),
    ("batchnorm", True, "batchnorm", False), ("batchnorm", False, "spectral", True)])
def test_fast_and_textbook_networks_agree(threads, g_norm, attention, d_norm, mbstd):
    """A whole G and D built from fast layers compute what the textbook ones compute."""
    config = dict(size=32, nz=8, ngf=8, ndf=8, g_norm=g_norm, attention=attention,
                  d_norm=d_norm, mbstd=mbstd)
    G, D = build(config, np.random.default_rng(0))
    G_ref, D_ref = build(config, np.random.default_rng(0), fast=False)
    for model in (G, D, G_ref, D_ref):
        model.astype(np.float64)
        for layer in model.layers:   # attention past its starting identity
            if isinstance(layer, SelfAttention):
                layer.params["gamma"][...] = 0.7
    z = np.random.default_rng(1).standard_normal((4, 8))
    fake, fake_ref = G.forward(z), G_ref.forward(z)
    assert rel_error(fake, fake_ref) <= TOL
    logits, logits_ref = D.forward(fake).copy(), D_ref.forward(fake_ref)
    assert rel_error(logits, logits_ref) <= TOL
    dlogits = np.random.default_rng(2).standard_normal((4, 1))
    dx, dx_ref = D.backward(dlogits), D_ref.backward(dlogits)
    assert rel_error(dx, dx_ref) <= TOL
    # D's weight gradients, layer by layer: a fast layer that gets them wrong only inside a
    # network (a shared buffer overwritten by another layer, say) shows here
    for (name, layer, key), (name_ref, ref, _) in zip(D.parameters(), D_ref.parameters()):
        assert name == name_ref
        assert rel_error(layer.grads[key], ref.grads[key]) <= TOL, name
    assert rel_error(D.flat_gradients(), D_ref.flat_gradients()) <= TOL
    G.backward(dx)
    G_ref.backward(dx_ref)
    assert rel_error(G.flat_gradients(), G_ref.flat_gradients()) <= TOL


def test_fast_adam_matches_textbook(threads, monkeypatch):
    """Blocks of 7 numbers (a partial block at the end), three steps, float64."""
    from tinygan.fast import optim as fast_optim
    monkeypatch.setattr(fast_optim, "BLOCK", 7)
    nets = [Sequential(Conv2d(2, 3, 3), BatchNorm2d(3)) for _ in range(2)]
    for net in nets:
        net.astype(np.float64)
        net.flat_parameters()[:] = np.linspace(-1, 1, net.flat_parameters().size)
    textbook, fast = Adam(nets[0], lr=0.1), speed.FastAdam(nets[1], lr=0.1)
    rng = np.random.default_rng(7)
    for _ in range(3):
        grad = rng.standard_normal(nets[0].flat_parameters().size)
        textbook.step(grad)
        fast.step(grad.copy())
        assert rel_error(nets[1].flat_parameters(), nets[0].flat_parameters()) <= TOL
    for key, value in textbook.state_dict().items():
        assert rel_error(np.asarray(fast.state_dict()[key]), np.asarray(value)) <= TOL, key


def test_parameters_are_views_of_one_flat_array():
    net = Sequential(Conv2d(2, 3, 3), BatchNorm2d(3))
    flat = net.flat_parameters()
    assert flat.size == 3 * 3 * 2 * 3 + 3 + 3 + 3
    flat[:] = np.arange(flat.size)
    np.testing.assert_array_equal(net.layers[0].params["W"].reshape(-1), np.arange(54))
    np.testing.assert_array_equal(net.layers[1].params["beta"], [60, 61, 62])
    # replacing an array (as astype does) is noticed: the flat array is rebuilt around it
    net.layers[1].params["beta"] = np.full(3, -1.0, dtype=np.float32)
    np.testing.assert_array_equal(net.flat_parameters()[-3:], [-1, -1, -1])
    twin = copy.deepcopy(net)
    twin.flat_parameters()[:] = 0
    assert net.layers[0].params["W"].any() and not twin.layers[0].params["W"].any()


def test_flat_gradients_follow_parameter_order():
    net = Sequential(Conv2d(1, 2, 1), BatchNorm2d(2))
    net.forward(np.ones((2, 2, 2, 1), dtype=np.float32))
    net.backward(np.ones((2, 2, 2, 2), dtype=np.float32))
    expected = np.concatenate([net.layers[0].grads["W"].ravel(), net.layers[0].grads["b"],
                               net.layers[1].grads["gamma"], net.layers[1].grads["beta"]])
    np.testing.assert_array_equal(net.flat_gradients(), expected)


@pytest.mark.parametrize("make", [lambda m: Adam(m, lr=0.1), lambda m: SGD(m, 0.1, 0.9)])
def test_optimizer_state_round_trips(make):
    """State saved per parameter name and loaded into a fresh optimizer continues identically."""
    def net():
        model = Sequential(Conv2d(1, 2, 1))
        model.layers[0].params["W"][...] = 1.0
        return model
    a_net, b_net = net(), net()
    a = make(a_net)
    grad = np.arange(4, dtype=np.float32)
    a.step(grad)
    b = make(b_net)
    b_net.flat_parameters()[:] = a_net.flat_parameters()
    b.load_state_dict(a.state_dict())
    a.step(grad)
    b.step(grad)
    np.testing.assert_array_equal(a_net.flat_parameters(), b_net.flat_parameters())


def test_optimizer_state_with_a_piece_missing_is_refused():
    """A missing moment or velocity is an error, not zeros: the run would go on differently."""
    net = Sequential(Conv2d(1, 2, 1), BatchNorm2d(2))
    grad = np.linspace(-1, 1, net.flat_parameters().size).astype(np.float32)
    for make, key in ((lambda: Adam(net, lr=0.1), "v/1.gamma"),
                      (lambda: SGD(net, 0.1, 0.9), "velocity/0.W")):
        opt = make()
        opt.step(grad)
        state = opt.state_dict()
        assert key in state
        with pytest.raises(KeyError, match=key):
            make().load_state_dict({k: v for k, v in state.items() if k != key})
    with pytest.raises(KeyError, match="at step 3 has no moments"):
        Adam(net).load_state_dict({"t": 3})
    fresh = Adam(net)
    fresh.load_state_dict({"t": 0})   # an optimizer before its first step has no moments
    assert fresh.t == 0 and fresh.m is None


def test_release_frees_shared_buffers_and_what_layers_keep():
    from tinygan.nn.layers import Sequential, SpectralNorm
    plain, wrapped = speed.FastConv2d(3, 4, 3, 1, 1), speed.FastConv2d(4, 4, 3, 1, 1)
    model = Sequential(plain, SpectralNorm(wrapped))
    for _, layer, key in model.parameters():
        layer.params[key][...] = np.random.default_rng(0).normal(0, 0.1, layer.params[key].shape)
    model.backward(model.forward(np.ones((2, 8, 8, 3), dtype=np.float32)))
    assert speed.held_bytes() > 0 and wrapped.grads
    speed.release(model)
    assert speed.held_bytes() == 0
    for layer in (plain, wrapped):   # inside a SpectralNorm too
        assert layer.grads == {}
        assert not [k for k, v in vars(layer).items() if hasattr(v, "shape")], vars(layer)


def test_recalibration_does_not_depend_on_its_chunks():
    """The standing statistics of a batch are the same whether it goes through G whole (as on
    a GPU) or in chunks of 64 (as on the CPU), and they follow G's current weights."""
    from tinygan.gan.networks import generator
    from tinygan.gan.step import recalibrate_batchnorm
    stats = []
    for chunk in (256, 64):
        G = build(dict(size=32, nz=8, ngf=8, ndf=8), np.random.default_rng(0))[0]
        recalibrate_batchnorm(G, 8, faces=512, batch_size=256, chunk=chunk)
        stats.append(np.concatenate([v.ravel() for k, v in G.state_dict().items()
                                     if k.endswith(("running_mean", "running_var"))]))
    np.testing.assert_allclose(stats[1], stats[0], rtol=1e-4, atol=1e-6)
    untouched = generator(32, 8, 8)
    default = np.concatenate([v.ravel() for k, v in untouched.state_dict().items()
                              if k.endswith(("running_mean", "running_var"))])
    assert np.abs(stats[0] - default).max() > 1e-3


def test_thread_count_follows_the_environment(monkeypatch):
    """TINYGAN_THREADS wins; else the BLAS thread count (under mpiexec, a rank's share)."""
    from tinygan.fast import threads
    for name in ("TINYGAN_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    try:
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
        threads.set_threads(None)
        assert threads.threads() == 1
        monkeypatch.setenv("TINYGAN_THREADS", "3")
        threads.set_threads(None)
        assert threads.threads() == 3
    finally:
        monkeypatch.undo()
        threads.set_threads(None)


@pytest.mark.parametrize("user_value,expected", [(None, "4"), ("12", "12")])
def test_the_command_puts_idle_blas_threads_to_sleep(user_value, expected):
    """OpenBLAS reads OPENBLAS_THREAD_TIMEOUT once, as NumPy loads: the tinygan command sets it
    first (short, so idle BLAS threads stop polling the cores the passes run on) unless the
    user did."""
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    if user_value:
        env["OPENBLAS_THREAD_TIMEOUT"] = user_value
    code = ("import os, sys, tinygan.__main__ as m; sys.argv = ['tinygan', '--version']\n"
            "try:\n    m.main()\nexcept SystemExit:\n    pass\n"
            "import numpy; print(os.environ['OPENBLAS_THREAD_TIMEOUT'])")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == expected


def test_a_forked_child_gets_a_pool_of_its_own():
    """A child forked after the pool started (as data decoding workers are) can still run
    passes on threads, instead of waiting forever on threads it does not have."""
    import multiprocessing

    from tinygan.fast import threads
    threads.set_threads(2)
    try:
        x = np.ones((4, 1 << 14))
        assert sum(threads.over_batch(np.sum, x)) == x.size   # the parent's pool is running
        with multiprocessing.get_context("fork").Pool(1) as pool:
            assert pool.apply_async(_sum_on_threads, (x,)).get(timeout=30) == x.size
    finally:
        threads.set_threads(None)


def _sum_on_threads(x):
    from tinygan.fast import threads
    return sum(threads.over_batch(np.sum, x))
