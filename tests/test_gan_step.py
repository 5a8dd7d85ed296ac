"""The rules of a training step that the device and rank comparisons cannot check, since a
wrong rule agrees with itself there: the moving average's warm-up and cap, D's targets
(label smoothing and label noise), and the standing BatchNorm statistics of the average."""

import copy

import numpy as np
import pytest

from tinygan.gan.networks import build
from tinygan.gan.step import GAN, recalibrate_batchnorm
from tinygan.nn.layers import BatchNorm2d

SMALL = dict(size=32, nz=8, ngf=8, ndf=8)


def randomised(gan, seed):
    """The GAN with G and its moving average set to different random weights."""
    rng = np.random.default_rng(seed)
    for model in (gan.G, gan.G_ema):
        flat = model.flat_parameters()
        flat[:] = rng.normal(0, 1, flat.size)
    return gan


# ------------------------------------------------------------------------ moving average
@pytest.mark.parametrize("step, ema, decay", [
    (0, 0.999, 0.1),            # (1 + t) / (10 + t) while it is under the cap
    (5, 0.999, 0.4),
    (90, 0.999, 0.91),
    (50_000, 0.999, 0.999),     # 50001 / 50010 = 0.99982: the cap
    (40, 0.9, 0.82),
    (90, 0.9, 0.9),             # 0.91 is past this run's cap
])
def test_moving_average_warms_up_then_keeps_its_decay(step, ema, decay):
    """ema <- ema + (1 - d)(w - ema), d = min(decay, (1 + t) / (10 + t)) at step t."""
    gan = randomised(GAN(dict(SMALL, ema=ema), dtype=np.float64), seed=1)
    gan.steps_done = step
    before, weights = gan.G_ema.flat_parameters().copy(), gan.G.flat_parameters().copy()
    gan.update_ema()
    np.testing.assert_allclose(gan.G_ema.flat_parameters(),
                               before + (1 - decay) * (weights - before), rtol=1e-12)


def test_a_training_step_averages_with_the_decay_of_its_own_step():
    """Step t (t steps done before it) moves the average with t's decay, towards the weights
    G has after that step's update."""
    gan = randomised(GAN(dict(SMALL, recipe="dcgan"), dtype=np.float64), seed=2)
    gan.steps_done = 7
    before = gan.G_ema.flat_parameters().copy()
    rng = np.random.default_rng(3)
    gan.train_step(rng.uniform(-1, 1, (8, 32, 32, 3)), rng.standard_normal((8, 8)))
    assert gan.steps_done == 8
    decay = 8 / 17
    np.testing.assert_allclose(gan.G_ema.flat_parameters(),
                               before + (1 - decay) * (gan.G.flat_parameters() - before),
                               rtol=1e-12)


# ------------------------------------------------------------------------------ targets
def test_d_targets_are_the_real_label_and_zero_with_a_fraction_flipped():
    """Real images' target is real_label (0.9: label smoothing), fake ones' 0; with label
    noise p, each target is flipped to the other one with probability p (a real one to 0, a
    fake one to real_label)."""
    gan = GAN(dict(SMALL, recipe="dcgan", real_label=0.9, label_noise=0.2))
    n = 4000
    real, fake = gan._targets(n, np.random.default_rng(5), np)
    assert real.shape == fake.shape == (n, 1) and real.dtype == fake.dtype == np.float32
    label = np.float32(0.9)
    assert set(np.unique(real)) == {0, label} and set(np.unique(fake)) == {0, label}
    flipped_real, flipped_fake = real == 0, fake == label
    # binomial(4000, 0.2): 800 flips on average, with a standard deviation of 25
    assert 670 < flipped_real.sum() < 930 and 670 < flipped_fake.sum() < 930
    assert (flipped_real != flipped_fake).any()   # drawn for each target on its own
    real, fake = GAN(dict(SMALL, recipe="dcgan", real_label=0.9))._targets(
        n, np.random.default_rng(5), np)
    assert (real == label).all() and (fake == 0).all()   # no noise: no flips


def test_a_training_step_gives_ds_losses_its_targets_and_g_the_target_one(monkeypatch):
    """In train_step, D's loss on the real batch gets the real targets, on the fake batch the
    fake targets, both drawn from the step's generator (real first); G's loss gets target 1,
    without smoothing or noise."""
    gan = GAN(dict(SMALL, recipe="dcgan", real_label=0.9, label_noise=0.25))
    seen = []
    loss = gan.loss

    def spy(logits, kind, targets):
        seen.append((kind, np.array(targets, dtype=np.float64)))
        return loss(logits, kind, targets)
    monkeypatch.setattr(gan, "loss", spy)
    rng = np.random.default_rng(4)
    real = rng.uniform(-1, 1, (64, 32, 32, 3)).astype(np.float32)
    gan.train_step(real, rng.standard_normal((64, 8)).astype(np.float32),
                   np.random.default_rng(9))
    assert [kind for kind, _ in seen] == ["real", "fake", "G"]
    coins = np.random.default_rng(9)
    flip_real, flip_fake = coins.random((64, 1)) < 0.25, coins.random((64, 1)) < 0.25
    assert flip_real.any() and flip_fake.any() and not flip_real.all()
    label = np.float64(np.float32(0.9))
    np.testing.assert_array_equal(seen[0][1], np.where(flip_real, 0, label))
    np.testing.assert_array_equal(seen[1][1], np.where(flip_fake, label, 0))
    assert np.all(seen[2][1] == 1.0)


# ------------------------------------------------------------------ standing statistics
def test_standing_statistics_are_the_mean_of_each_batchs_statistics():
    """recalibrate_batchnorm's running mean and variance are, in every BatchNorm layer, the
    plain mean over its batches of each batch's mean and (unbiased) variance there, computed
    here by each layer's own train-mode forward on a copy of G, one batch at a time."""
    G = build(SMALL, np.random.default_rng(0))[0].astype(np.float64)
    reference = copy.deepcopy(G)
    bns = [layer for layer in reference.layers if isinstance(layer, BatchNorm2d)]
    for bn in bns:
        bn.momentum = 1.0   # its running statistics: the last batch's own
    batches, batch_size = 3, 48
    noise = np.random.default_rng(11)   # the draws recalibrate_batchnorm makes, in order
    per_batch = []
    for _ in range(batches):
        reference.forward(noise.standard_normal((batch_size, 8)), train=True)
        per_batch.append([(bn.buffers["running_mean"].copy(), bn.buffers["running_var"].copy())
                          for bn in bns])
    recalibrate_batchnorm(G, 8, seed=11, faces=batches * batch_size, batch_size=batch_size,
                          chunk=16)
    recalibrated = [layer for layer in G.layers if isinstance(layer, BatchNorm2d)]
    assert len(recalibrated) == len(bns) == 3
    for i, bn in enumerate(recalibrated):
        mean = np.mean([stats[i][0] for stats in per_batch], axis=0)
        var = np.mean([stats[i][1] for stats in per_batch], axis=0)
        np.testing.assert_allclose(bn.buffers["running_mean"], mean, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(bn.buffers["running_var"], var, rtol=1e-10)
        # the batches' statistics differ: a mean that weighted them otherwise would show
        assert np.abs(per_batch[0][i][1] - per_batch[2][i][1]).max() > 1e-3 * var.max()
