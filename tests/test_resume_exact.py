"""A run resumed from a checkpoint file ends bit for bit where the same run without a break
does, for every part of a recipe that keeps state or draws random numbers: spectral norm's
power iteration, the minibatch-std channel, DiffAugment's colour, translation and cutout, R1
every k steps, self-attention, and training on the GPU (the stand-in where there is none).

Each case trains 4 steps with the trainer's own batches and step noise, writes a checkpoint
after the first 2 and loads it into a GAN built from another seed, which trains steps 2 and 3
again. The trainer around this (batches and noise by step, the step count restored) is
checked end to end for the dcgan recipe in test_train_cli.py and for the default one in
test_faults.py."""

import numpy as np
import pytest

from tinygan.data.batches import Batches
from tinygan.data.demo import demo_faces
from tinygan.gan.step import GAN
from tinygan.nn.backend import to_device
from tinygan.run import checkpoint as ckpt
from tinygan.run.trainer import step_noise

RECIPES = {
    "spectral-mbstd": dict(d_norm="spectral", mbstd=True),
    "color-translation-cutout": dict(augment="color,translation,cutout"),
    "r1-every-3": dict(r1=1.0, r1_every=3),   # due at steps 0 and 3: once after the break
    "attention": dict(attention=True),
    "gpu": dict(d_norm="spectral", mbstd=True, augment="color,translation,cutout", r1=1.0,
                r1_every=3, attention=True),
}
STEPS, BREAK = 4, 2


def train(gan, batches, config, device, steps):
    for step in steps:
        z, rng = step_noise(config, step)
        gan.train_step(to_device(batches.batch(step), device),
                       to_device(z.astype(np.float32), device), rng)


@pytest.mark.parametrize("name", RECIPES)
def test_a_resumed_run_is_the_run_without_a_break(name, tmp_path, request):
    device = "gpu" if name == "gpu" else "cpu"
    if device == "gpu":
        request.getfixturevalue("gpu")
    config = dict(size=32, nz=16, ngf=8, ndf=8, batch=4, seed=3, recipe="modern",
                  **RECIPES[name])
    batches = Batches(demo_faces(40, 32, seed=1), config["batch"], seed=3, flip=True)
    straight = GAN(config, device=device, seed=3)
    train(straight, batches, config, device, range(BREAK))
    path = str(tmp_path / "ckpt.npz")
    ckpt.save(path, straight.state_arrays(), dict(config=straight.config, step=BREAK))
    train(straight, batches, config, device, range(BREAK, STEPS))

    arrays, meta = ckpt.load(path)
    resumed = GAN(meta["config"], device=device, seed=4)   # every number from the file
    resumed.load_state_arrays(arrays)
    resumed.steps_done = meta["step"]
    train(resumed, batches, config, device, range(BREAK, STEPS))
    a, b = straight.state_arrays(), resumed.state_arrays()
    assert a.keys() == b.keys() and resumed.steps_done == STEPS
    for key in a:
        np.testing.assert_array_equal(b[key], a[key], err_msg=key)
