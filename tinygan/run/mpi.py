"""Data-parallel training over MPI: N processes (ranks) train one model, each on 1/N of every
batch, and together they compute what one process would, to float round-off.

`mpiexec -n N tinygan train ...` starts N ranks. Four things make the split run the
single-process algorithm (the design of ChainerMN and Horovod):

  same start      rank 0's weights, BatchNorm statistics and Adam state are broadcast, then
                  checked on every rank (tinygan/run/parallel_trainer.py);
  same data       every rank draws the whole batch's permutation, flips and noise from the
                  seed and takes its slice (batches.Batches `share`, ParallelTrainer.step_noise);
  one gradient    the loss gradient is scaled by 1/N before the backward pass, so each rank
                  backpropagates its part of the GLOBAL batch mean; the sum of the parameter
                  gradients over ranks, one Allreduce of the flat gradient per network per
                  step, is then the single-process gradient, and every rank applies it;
  one BatchNorm   per-channel sums (and sums of squared deviations) are summed over ranks in
                  the forward and backward passes (fast/batchnorm.py `sync`), so the
                  statistics are those of the global batch.

Device (CuPy) arrays are reduced through host memory with the same MPI calls. `World` is the
world of one process, where every reduction is the identity; `MPIWorld` the real one. mpi4py
is imported only when a launcher started more than one rank.
"""

import atexit
import contextlib
import hashlib
import json
import os
import sys
import time

import numpy as np

from ..fast import FastBatchNorm2d
from ..gan.step import GAN
from ..nn.backend import array_module, device_of, to_device, to_host
from ..nn.layers import BatchNorm2d
from . import launch
from .folder import RunLock, TrainingError

LEAVE_SECONDS = 10   # how long a rank that stops waits for the others to stop as well


class ParallelError(TrainingError):
    """The ranks cannot train together; the message says why and what to do."""


def world():
    """The processes this one trains with: a World of one, or the MPIWorld of mpiexec's
    ranks. Raises ParallelError when several ranks were started but MPI cannot be used."""
    ranks = launch.launched_ranks()
    if ranks <= 1:
        return World()
    try:
        import mpi4py
        mpi4py.rc.finalize = False   # MPIWorld.leave decides how to finalize
        from mpi4py import MPI
    except Exception as exc:   # not installed, or installed without a working MPI library
        raise ParallelError(f"{ranks} ranks were started, but mpi4py cannot be used ("
                            f"{exc.__class__.__name__}: {exc}); install it with: pip install mpi4py "
                            "mpich (tinygan's mpi extra)") from None
    return MPIWorld(MPI)


class World:
    """One process alone: nothing to share, nothing to check."""

    rank, size = 0, 1

    def broadcast(self, value):
        return value

    def argument_problem(self, config, run_dir):
        """Why these ranks cannot train with these settings, or None: the batch is shared
        among them, and --mbstd needs each rank's share in whole groups of 4."""
        batch, size = config["batch"], self.size
        if batch % size:
            return (f"--batch {batch} cannot be shared by {size} ranks (each takes "
                    f"batch/{size}); use a multiple of {size}")
        if config.get("mbstd") and (batch // size) % 4:
            if size == 1:
                return (f"--mbstd groups 4 images: --batch {batch} is not a multiple of 4 "
                        "(or use --no-mbstd)")
            return (f"--mbstd groups 4 images of each rank's batch: --batch {batch} over "
                    f"{size} ranks gives {batch // size}; use a multiple of {4 * size}")
        return None

    def data_problem(self, images):
        return None

    def run_folder(self, run_dir):
        os.makedirs(run_dir, exist_ok=True)
        return RunLock(run_dir)


class MPIWorld(World):
    """The ranks started by mpiexec, and the few collective operations training needs."""

    def __init__(self, MPI):
        self.MPI, self.comm = MPI, MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.comm_seconds, self.reductions, self.bytes_reduced = 0.0, 0, 0
        atexit.register(self.leave)

    # -- reductions -------------------------------------------------------------------------
    def _timed(self, call, *args, nbytes=0, **kw):
        start = time.perf_counter()
        result = call(*args, **kw)
        self.comm_seconds += time.perf_counter() - start
        self.reductions += 1
        self.bytes_reduced += nbytes
        return result

    def allreduce_sum(self, a):
        """The sum over ranks of array `a`, as a new array on a's device; `a` itself is left
        as it is (BatchNorm's backward keeps it as this rank's share of the parameter
        gradients). Device arrays go through host memory."""
        host = np.ascontiguousarray(to_host(a))
        out = np.empty_like(host)
        self._timed(self.comm.Allreduce, host, out, op=self.MPI.SUM, nbytes=host.nbytes)
        return out if array_module(a) is np else to_device(out, device_of(a))

    def sum_in_place(self, flat):
        """Sum a network's flat gradient over ranks: one Allreduce for all its parameters."""
        if array_module(flat) is not np:
            return self.allreduce_sum(flat)
        self._timed(self.comm.Allreduce, self.MPI.IN_PLACE, flat, op=self.MPI.SUM,
                    nbytes=flat.nbytes)
        return flat

    def max(self, value):
        return self._timed(self.comm.allreduce, value, op=self.MPI.MAX)

    def share(self, n):
        """This rank's slice of n items (n is a multiple of the number of ranks)."""
        part = n // self.size
        return slice(self.rank * part, (self.rank + 1) * part)

    def broadcast(self, value):
        """Rank 0's value, on every rank (any picklable object; used once per start)."""
        return self.comm.bcast(value, root=0)

    def barrier(self):
        self.comm.Barrier()

    # -- agreeing before training starts ----------------------------------------------------
    def first_difference(self, value):
        """The first rank whose `value` differs from rank 0's, with both values (or None)."""
        every = self.comm.allgather(value)
        odd = next((r for r, v in enumerate(every) if v != every[0]), None)
        return None if odd is None else (odd, every[0], every[odd])

    def argument_problem(self, config, run_dir):
        """Why these ranks cannot train together with these settings, or None."""
        mine = json.loads(json.dumps(dict(config, run_dir=run_dir), default=str))
        found = self.first_difference(mine)
        if found:
            odd, first, theirs = found
            keys = sorted(k for k in first.keys() | theirs.keys() if first.get(k) != theirs.get(k))
            return (f"the ranks were started with different arguments: rank {odd} differs from "
                    f"rank 0 in {', '.join(keys)}; start every rank with the same command")
        return super().argument_problem(config, run_dir)

    def data_problem(self, images):
        digest = hashlib.blake2b(np.ascontiguousarray(images).data, digest_size=16).hexdigest()
        found = self.first_difference((images.shape, digest))
        if found:
            odd, (shape0, _), (shape, _) = found
            how = f"{shape[0]} images, rank 0 {shape0[0]}" if shape != shape0 else "other images"
            return (f"rank {odd} loaded different data from rank 0 ({how}); every rank must "
                    "read the same --data")
        return None

    def on_root(self, task):
        """Run task() on rank 0 alone; every rank gets its result, or raises its error."""
        result, problem = None, None
        if self.rank == 0:
            try:
                result = task()
            except TrainingError as exc:
                problem = str(exc)
        result, problem = self.broadcast((result, problem))
        if problem is not None:
            raise TrainingError(problem)
        return result

    @contextlib.contextmanager
    def run_folder(self, run_dir):
        """Rank 0 alone creates and locks the run folder; every rank learns whether it could."""
        lock = None

        def take():
            nonlocal lock
            try:
                lock = World.run_folder(self, run_dir).__enter__()
            except OSError as exc:
                raise TrainingError(f"{run_dir}: {exc.strerror or exc}") from None

        self.on_root(take)
        try:
            yield
        finally:
            if lock is not None:
                lock.__exit__(None, None, None)

    # -- stopping ---------------------------------------------------------------------------
    def leave(self):
        """At exit. When every rank is leaving (the end of training, or an error they all
        met and rank 0 reported) they finalize MPI together. When this rank stops alone, it
        says why and leaves without finalizing, which makes mpiexec stop the other ranks."""
        request = self.comm.Ibarrier()
        deadline = time.monotonic() + LEAVE_SECONDS
        while not request.Test():
            if time.monotonic() > deadline:
                self._say_why_alone()
                return
            time.sleep(0.001)
        self.MPI.Finalize()

    def _say_why_alone(self):
        held = launch.held_output
        if held is None:   # rank 0 printed its own output as it went
            return
        lines = [line for line in held.lines if line.startswith("Error")] or list(held.lines)
        for line in lines or ["stopped"]:
            print(f"rank {self.rank}: {line}", file=sys.__stderr__, flush=True)


def sync_batchnorm(model, world):
    """Make every BatchNorm layer of `model` normalise with the global batch's statistics."""
    for layer in model.layers:
        if isinstance(layer, BatchNorm2d):
            if not isinstance(layer, FastBatchNorm2d):
                raise ParallelError(f"{layer!r} cannot share its statistics over ranks")
            layer.sync = world


class ParallelGAN(GAN):
    """The GAN of one rank: its loss gradients are its share of the global batch mean, its
    parameter gradients are summed over ranks, and G's and D's BatchNorm layers are synchronised.
    The moving-average generator is not: only rank 0 uses it, and it re-estimates its
    statistics alone (gan.recalibrate_batchnorm), exactly as a single process does."""

    def __init__(self, world, config, **kw):
        self.world = world
        super().__init__(config, **kw)
        sync_batchnorm(self.G, world)
        sync_batchnorm(self.D, world)

    def loss(self, logits, kind, targets):
        loss, dlogits = super().loss(logits, kind, targets)
        dlogits *= 1.0 / self.world.size   # d(global mean)/d(logit) = d(local mean) / ranks
        return loss, dlogits

    def _targets(self, n, rng, xp):
        """The labels (and label-noise flips) of the whole batch, and this rank's slice."""
        real, fake = super()._targets(n * self.world.size, rng, xp)
        part = self.world.share(n * self.world.size)
        return real[part], fake[part]

    def _draw_augmentation(self, augment, shape, rng):
        """The whole batch's augmentation draws, and this rank's share of them."""
        n = shape[0] * self.world.size
        augment.resample(rng, (n,) + tuple(shape[1:]))
        augment.select(self.world.share(n))

    def reduce_gradients(self, grad):
        return self.world.sum_in_place(grad)

    def sum_over_ranks(self, a):
        return self.world.allreduce_sum(a)
