"""Run under mpiexec by tests/test_mpi.py: one training step of a config's GAN split over the
ranks against the same step of one process on the whole batch, compared by the gradients the
optimizers receive (after the first Adam step, a weight whose gradient is ~1e-9 moves by
+-lr either way, so the weights themselves are compared by the CLI tests, on a config
without such weights). Rank 0 prints one line per gradient: its name and its largest
difference relative to its largest entry.

    mpiexec -n 2 python tests/mpi_step_parity.py '{"recipe": "modern"}'
"""

import json
import sys

import numpy as np

from tinygan.gan.step import GAN
from tinygan.run import mpi as parallel


def recording(gan):
    """The gradients handed to gan's two optimizers, in order, as (name, copy) pairs."""
    seen = []
    for name in ("opt_D", "opt_G"):
        optimizer = getattr(gan, name)

        def step(grad=None, original=optimizer.step, name=name):
            seen.append((name, grad.copy()))
            return original(grad)
        optimizer.step = step
    return seen


def main():
    world = parallel.world()
    config = dict(dict(size=32, nz=16, ngf=8, ndf=8), **json.loads(sys.argv[1]))
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (16, 32, 32, 3)).astype(np.float32)
    z = rng.standard_normal((16, config["nz"])).astype(np.float32)
    split = parallel.ParallelGAN(world, config, seed=0)
    split_grads = recording(split)
    mine = world.share(len(real))
    split.train_step(real[mine], z[mine], np.random.default_rng(1))
    if world.rank == 0:
        whole = GAN(config, seed=0)
        whole_grads = recording(whole)
        whole.train_step(real, z, np.random.default_rng(1))
        for (name, a), (_, b) in zip(whole_grads, split_grads, strict=True):
            print(name, float(np.abs(a - b).max() / np.abs(a).max()), flush=True)


if __name__ == "__main__":
    main()
