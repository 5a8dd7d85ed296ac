"""The training loop of one rank of a data-parallel run (tinygan/run/mpi.py explains the math).

ParallelTrainer is the Trainer with these changes:
  - it trains a ParallelGAN on its slice of every batch and of every step's noise;
  - rank 0 alone owns the run folder: the lock, config.json, log.csv, events.log, the grids
    and the checkpoints; the other ranks write nothing;
  - at the start, after a resume and after a rollback, every rank takes rank 0's state (the
    weights, BatchNorm statistics, Adam moments and step), and checks that it holds it;
  - losses are averaged over ranks when they are logged (and checked for NaN), so every rank
    sees the same numbers and stops, or rolls back, at the same step;
  - a Ctrl-C or SIGTERM seen by any rank stops them all after the same step.

A checkpoint holds nothing that depends on the number of ranks (the batch in config.json is
the global batch), so a run checkpointed by 2 ranks resumes with 1 or 4, and the other way.
"""

import hashlib

import numpy as np

from ..data.batches import Batches
from ..nn.backend import use_gpu
from . import launch
from .mpi import ParallelError, ParallelGAN
from .trainer import Trainer


def trainer_for(world, config, run_dir, images, device="cpu", log=print, textbook=False):
    """This process's Trainer: a plain one alone, a ParallelTrainer as one of several ranks
    (each rank of a machine on its own GPU, r mod the visible GPUs). The textbook layers
    train in one process only: their BatchNorm has no hook for the ranks' statistics."""
    if world.size == 1:
        return Trainer(config, run_dir, images, device=device, log=log, textbook=textbook)
    if textbook:
        raise ParallelError("--textbook trains in one process: the textbook BatchNorm has no "
                            "hook to share its statistics across ranks; drop --textbook or "
                            "mpiexec")
    if device == "gpu":
        use_gpu(launch.local_rank())
    return ParallelTrainer(world, config, run_dir, images, device=device, log=log)


class ParallelTrainer(Trainer):
    def __init__(self, world, config, run_dir, images, device="cpu", log=print):
        self.world = world   # before Trainer.__init__, which builds the GAN through new_gan()
        super().__init__(config, run_dir, images, device=device, log=log)
        self.owner = world.rank == 0
        self.batches = Batches(images, config["batch"], seed=config["seed"], flip=config["flip"],
                               share=(world.rank, world.size))

    # -- one rank's share of the work ------------------------------------------------------
    def new_gan(self):
        return ParallelGAN(self.world, self.config, device=self.device, seed=self.config["seed"])

    def step_noise(self, step):
        z, rng = super().step_noise(step)   # the whole batch's noise; the rng is shared too
        return z[self.world.share(len(z))], rng

    def should_stop(self):
        signum = self.world.max(self._stop_signal or 0)
        if signum:
            self._stop_signal = signum
        return bool(signum)

    def _check_finite(self, sums, n):
        """The means over ranks of the summed losses: one small Allreduce, at log time only."""
        names = sorted(sums)
        local = np.array([float(sums[k]) for k in names], dtype=np.float64)
        mean = self.world.allreduce_sum(local) / self.world.size
        return super()._check_finite(dict(zip(names, mean)), n)

    # -- the same state everywhere ---------------------------------------------------------
    def share_state(self):
        """Every rank takes rank 0's training state, then all check they hold the same."""
        state = self.world.broadcast((self.gan.state_arrays(), self.step) if self.owner else None)
        if not self.owner:
            arrays, self.step = state
            self.gan.load_state_arrays(arrays)
            self.gan.steps_done = self.step
        digest = state_digest(self.gan.state_arrays())
        odd = self.world.first_difference(digest)
        if odd:
            raise ParallelError(f"rank {odd[0]} does not hold rank 0's weights after the "
                                "broadcast; is it using the same tinygan and NumPy?")

    def resume(self):
        path = self.world.on_root(super().resume)   # rank 0 reads the run folder
        self.share_state()
        return path

    def train(self, total_steps, progress=None):
        self.share_state()
        part = self.config["batch"] // self.world.size
        self.event(f"training on {self.world.size} ranks, {part} images each per step",
                   echo=False)
        how = super().train(total_steps, progress)
        self.world.barrier()   # the others wait for rank 0's last checkpoint and grid
        return how

    # -- the run folder belongs to rank 0 --------------------------------------------------
    def event(self, message, echo=True, **kw):
        if self.owner:
            super().event(message, echo, **kw)

    def _trim_log(self):
        if self.owner:
            super()._trim_log()

    def write_log_row(self, row):
        if self.owner:
            super().write_log_row(row)

    def save_config(self):
        if self.owner:
            super().save_config()

    def save_checkpoint(self):
        if self.owner:
            return super().save_checkpoint()

    def save_progress_grid(self):
        if self.owner:
            super().save_progress_grid()

    def save_progress_gif(self):
        if self.owner:
            super().save_progress_gif()

    def save_real_grid(self):
        if self.owner:   # the whole first batch, as a single process shows it
            whole = Batches(self.batches.images, self.config["batch"], seed=self.config["seed"],
                            flip=self.config["flip"])
            saved, self.batches = self.batches, whole
            try:
                super().save_real_grid()
            finally:
                self.batches = saved


def state_digest(arrays):
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(arrays):
        h.update(name.encode())
        h.update(np.ascontiguousarray(arrays[name]).tobytes())
    return h.hexdigest()
