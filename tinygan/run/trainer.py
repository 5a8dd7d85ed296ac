"""The training loop: steps, logging intervals, grids and checkpoints on their schedule,
Ctrl-C, and what to do when a run diverges. What the run folder holds, and how a run is saved
and resumed, is records.py's (RunRecords, the Trainer's other half); the grids are drawn by
progress.py.

What can go wrong in a long run, and what happens then:
    kill -9, power loss   checkpoints are written atomically, so --resume continues from the
                          newest complete one, losing only the steps since it
    damaged checkpoint    resume skips it (events.log says why) and falls back to an older one
    NaN or inf            no checkpoint is written after it; the run stops (--on-nan stop) or
                          reloads the last good checkpoint at half the learning rate (rollback)
    disk full             a TrainingError; the previous checkpoint stays as it was
    a second trainer      refused by the lock
"""

import shlex
import signal
import time

import numpy as np

from ..data.batches import Batches
from ..gan.recipes import d_learning_rate
from ..gan.step import GAN
from ..nn.backend import to_device
from . import checkpoint as ckpt
from . import progress as pictures
from .folder import TrainingError
from .records import END_MARK, Diverged, RunRecords

MAX_ROLLBACKS = 3   # with --on-nan rollback: a run that keeps diverging at 1/8 of its lr stops


def step_noise(config, step):
    """Noise and label-noise coins of a step depend only on (seed, step): resume is exact."""
    rng = np.random.default_rng([config["seed"], step, 2])
    return rng.standard_normal((config["batch"], config["nz"])), rng


class Trainer(RunRecords):
    """One training run: the loop is here, the run folder's side in RunRecords (records.py).
    `config` is the run's config.json; `images` a uint8 (N, S, S, 3) array or memory map."""

    def __init__(self, config, run_dir, images, device="cpu", log=print, textbook=False):
        self.config, self.run_dir, self.device, self.log = config, run_dir, device, log
        self.textbook = textbook   # the layers of tinygan/nn/ and plain Adam, not tinygan/fast/
        self.gan = self.new_gan()
        self.batches = Batches(images, config["batch"], seed=config["seed"], flip=config["flip"])
        self.step = 0
        self.time_before = 0.0   # seconds trained before this process, from the checkpoint
        self._clock = None       # perf_counter() when this process began to train
        self._stop_signal = None
        self._explained_alike = False
        self.rollbacks = 0
        # fault injection for the tests: fires once, and is not stored in config.json or in
        # checkpoints, so a resumed run trains normally
        self.inject_nan_at = config.pop("inject_nan_at", None)

    # -- what data-parallel training (tinygan/run/parallel_trainer.py) changes ------------------
    def new_gan(self):
        return GAN(self.config, device=self.device, seed=self.config["seed"],
                   fast=not self.textbook)

    def step_noise(self, step):
        return step_noise(self.config, step)

    def should_stop(self):
        return self._stop_signal is not None

    def save_progress_grid(self):
        self._recalibrate_ema()
        images, name = pictures.save_progress_grid(self.gan.G_ema, self.config, self.device,
                                                   self.run_dir, self.step)
        note = None if self._explained_alike else pictures.alike_tiles_note(images, name,
                                                                              self.step)
        if note:   # said once a run
            self._explained_alike = True
            self.event(note)

    def save_real_grid(self, n=64):
        pictures.save_real_grid(self.batches, self.run_dir, n)

    def save_progress_gif(self):
        pictures.save_progress_gif(self.run_dir)

    # -- the loop ------------------------------------------------------------------------
    def _on_signal(self, signum, frame):
        self._stop_signal = signum

    def train(self, total_steps, progress=None):
        """Train until `total_steps`; checkpoint every `ckpt_every` steps, on Ctrl-C/SIGTERM,
        and at the end. Returns the reason it stopped: 'done' or 'interrupted'.

        A NaN or inf in a loss or a weight raises Diverged (a TrainingError) before it can
        reach a checkpoint; with config 'on_nan' = 'rollback' the run rolls back instead."""
        c = self.config
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            if self._clock is None:
                self._clock = time.perf_counter()
            if self.step == 0:
                self.save_real_grid()
            while True:
                try:
                    self._train_until(total_steps, progress)
                    break
                except Diverged as exc:
                    if c.get("on_nan", "stop") == "rollback" and self.rollbacks < MAX_ROLLBACKS:
                        self.rollback(exc)
                        if progress is not None:
                            progress.n = self.step
                            progress.refresh()
                        continue
                    self._note_end(f"{exc}: the run diverged; stopping")
                    if self.rollbacks:
                        raise Diverged(f"step {self.step}: {exc}: the run diverged again after "
                                       f"{self.rollbacks} rollbacks; {self._resume_point()}") \
                            from None
                    raise Diverged(f"step {self.step}: {exc}: the run diverged; "
                                   f"{self._resume_point()}. To go on, halving the learning rate "
                                   f"whenever it diverges: tinygan train --resume "
                                   f"{shlex.quote(self.run_dir)} --on-nan rollback") from None
            interrupted = self._stop_signal is not None
            if not interrupted and self.step % c["sample_every"] != 0:
                self.save_progress_grid()
            self.save_progress_gif()
        except OSError as exc:   # disk full, folder made read-only, ...
            raise TrainingError(f"{self.run_dir}: cannot write {exc.filename or 'a file'} "
                                f"({exc.strerror or exc}); {self._resume_point()}") from None
        except Diverged:
            raise   # events.log has it already
        except BaseException as exc:
            self._note_end(f"crashed ({exc.__class__.__name__}: {exc})")
            raise
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        if interrupted:
            self._note_end(f"stopped by {signal.Signals(self._stop_signal).name}; checkpoint "
                           "saved")
        else:
            self._note_end("finished")
        return "interrupted" if interrupted else "done"

    def _note_end(self, how):
        """events.log says how a training process ended (a resume says when it did not)."""
        try:
            self.event(f"{END_MARK} {how}", echo=False)
        except OSError:   # the folder cannot be written: the error says so already
            pass

    def _train_until(self, total_steps, progress):
        """The loop itself, from self.step; raises Diverged, leaving the rollback to train()."""
        c = self.config
        sums, n_logged, t_last = {}, 0, time.perf_counter()
        collapse_streak = 0
        batches = self.batches.iterate(self.step)
        try:
            while self.step < total_steps and not self.should_stop():
                self._warm_up()
                real = to_device(next(batches), self.device)
                z, rng = self.step_noise(self.step)
                z = to_device(z.astype(np.float32), self.device)
                scalars = self.gan.train_step(real, z, rng)
                if self.inject_nan_at == self.step:
                    scalars["loss_d"] = scalars["loss_d"] * float("nan")
                    self.inject_nan_at = None
                self.step += 1
                for k, v in scalars.items():
                    sums[k] = sums.get(k, 0) + v   # stays on the device: no sync per step
                n_logged += 1
                if self.step % c["log_every"] == 0 or self.step == total_steps:
                    means = self._log_row(sums, n_logged, t_last, progress)
                    collapse_streak = collapse_streak + 1 if (means["d_real"] > 0.99 and
                                                              means["d_fake"] < 0.01) else 0
                    if collapse_streak == 20:
                        self.event("warning: D(x) near 1 and D(G(z)) near 0 for 20 log intervals: "
                                   "D is winning outright, G may be collapsing")
                    sums, n_logged, t_last = {}, 0, time.perf_counter()
                if progress is not None:   # after the numbers: a line shows this step's
                    if self.step == total_steps:
                        progress.n = self.step   # drawn once, by the bar's close()
                    else:
                        progress.update(1)
                if self.step % c["sample_every"] == 0:
                    self.save_progress_grid()
                if self.step % c["ckpt_every"] == 0:
                    # a NaN since the last log row must not reach a checkpoint
                    self._check_finite(sums, n_logged)
                    self.save_checkpoint()
            if n_logged and self.should_stop():   # a stop between rows: its own, shorter row,
                self._log_row(sums, n_logged, t_last, progress)   # not mixed with later steps
            self._check_finite(sums, n_logged)   # the steps after the last log row
            found = ckpt.list_checkpoints(self.run_dir)
            if not found or not found[0].endswith(f"{self.step:08d}.npz"):
                self.save_checkpoint()
        finally:
            batches.close()

    def _warm_up(self):
        """After --continue, Adam's moments start empty and its first steps are as large as
        the learning rate for every weight alike; so the learning rate rises linearly from 0
        to the config's over `warmup_steps` from the step the run was continued at."""
        c = self.config
        start, length = c.get("warmup_from"), c.get("warmup_steps") or 0
        if start is None or not length:
            return
        scale = min(1.0, (self.step - start + 1) / length)
        self.gan.opt_G.lr = c["lr"] * scale
        self.gan.opt_D.lr = d_learning_rate(c) * scale

    def _log_row(self, sums, n_logged, t_last, progress):
        """Append the row of the steps since the last one to log.csv (and show its means on
        the progress bar); returns the means."""
        means = self._check_finite(sums, n_logged)
        row = dict(step=self.step, epoch=round(self.step / self.batches.steps_per_epoch, 3),
                   images_per_s=round(n_logged * self.config["batch"]
                                      / (time.perf_counter() - t_last), 1),
                   time_s=round(self.elapsed(), 1), **{k: round(v, 5) for k, v in means.items()})
        self.write_log_row(row)
        if progress is not None:
            progress.set_postfix(D=f"{means['loss_d']:.3f}", G=f"{means['loss_g']:.3f}",
                                 Dx=f"{means['d_real']:.2f}", DGz=f"{means['d_fake']:.2f}",
                                 ips=row["images_per_s"], refresh=False)
        return means

    def _check_finite(self, sums, n):
        """Means of the summed losses; Diverged if one is NaN or inf (a sum stays NaN or inf
        once any of its terms is)."""
        means = {k: float(v) / n for k, v in sums.items()}
        for k, v in means.items():
            if not np.isfinite(v):
                raise Diverged(f"{k} is {v}")
        return means

    def rollback(self, why):
        """Go back to the last good checkpoint (or the start) and halve the learning rate."""
        self.rollbacks += 1
        self.config["lr"] = self.config["lr"] / 2
        if self.config.get("lr_d") is not None:
            self.config["lr_d"] = self.config["lr_d"] / 2
        self.save_config()
        self.event(f"{why}: the run diverged; rolling back, learning rate halved to "
                   f"{self.config['lr']:g}")
        # a fresh GAN has untouched weights (the state at step 0) and optimizers at the new lr;
        # resume() then loads the newest good checkpoint's weights and Adam moments into it
        self.gan = self.new_gan()
        self.step = 0
        self.resume()
