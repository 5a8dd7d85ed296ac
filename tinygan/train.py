"""The training loop and its run folder: logging, grids, checkpoints, resume, and safety.
(The grids are drawn by pictures.py; the config, the log's rows and the lock are runfolder.py's.)

A run folder holds:
    config.json        everything needed to rebuild the run
    log.csv            one row per logging interval; time_s counts seconds of training since
                       the run started, across resumes
    events.log         one line per start or resume with the data used, the files skipped,
                       and warnings (NaN, mode-collapse signs)
    real.png           up to 64 training images as the model sees them (from the first batches)
    progress/*.png     fixed-noise samples every `sample_every` steps; progress.gif animates them
    ckpt_<step>.npz    the newest `keep` checkpoints (see checkpoint.py)
    milestones/        the first checkpoint at or past every `milestone_every` steps, kept for
                       good: a run that gets worse late, or collapses, keeps its earlier models
    lock               held while a training process runs in this folder

What can go wrong in a long run, and what happens then:
    kill -9, power loss   checkpoints are written atomically, so --resume continues from the
                          newest complete one, losing only the steps since it
    damaged checkpoint    resume skips it (events.log says why) and falls back to an older one
    NaN or inf            no checkpoint is written after it; the run stops (--on-nan stop) or
                          reloads the last good checkpoint at half the learning rate (rollback)
    disk full             a TrainingError; the previous checkpoint stays as it was
    a second trainer      refused by the lock
"""

import os
import shlex
import signal
import time

import numpy as np

from . import checkpoint as ckpt
from . import pictures
from .backend import to_device
from .batches import Batches
from .gan import GAN, recalibrate_batchnorm
from .runfolder import (  # noqa: F401  (RunLock, read_config, ... are used through this module too)
    DEFAULT_EPOCHS,
    LOG_FIELDS,
    RunLock,
    TrainingError,
    append_log_row,
    planned_steps,
    read_config,
    resume_point,
    trim_log,
    write_config,
)


class Diverged(TrainingError):
    """A loss or a weight became NaN or inf."""


MAX_ROLLBACKS = 3   # with --on-nan rollback: a run that keeps diverging at 1/8 of its lr stops


def step_noise(config, step):
    """Noise and label-noise coins of a step depend only on (seed, step): resume is exact."""
    rng = np.random.default_rng([config["seed"], step, 2])
    return rng.standard_normal((config["batch"], config["nz"])), rng


class Trainer:
    def __init__(self, config, run_dir, images, device="cpu", log=print):
        self.config, self.run_dir, self.device, self.log = config, run_dir, device, log
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

    # -- what data-parallel training (tinygan/train_parallel.py) changes ------------------
    def new_gan(self):
        return GAN(self.config, device=self.device, seed=self.config["seed"])

    def step_noise(self, step):
        return step_noise(self.config, step)

    def should_stop(self):
        return self._stop_signal is not None

    def save_config(self):
        write_config(self.run_dir, self.config)

    # -- checkpoints ---------------------------------------------------------------------
    def meta(self):
        return dict(config=self.config, step=self.step, time_s=round(self.elapsed(), 1),
                    epoch=self.step / self.batches.steps_per_epoch,
                    steps_per_epoch=self.batches.steps_per_epoch, seed=self.config["seed"],
                    rng="per-step: numpy default_rng([seed, step, 2]) and ([seed, epoch])")

    def save_checkpoint(self):
        self._recalibrate_ema()   # saved with BatchNorm statistics of its own weights
        arrays = self.gan.state_arrays()
        for name, value in arrays.items():
            if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                raise Diverged(f"the weight {name} holds NaN or inf")
        path = ckpt.checkpoint_path(self.run_dir, self.step)
        try:
            ckpt.save(path, arrays, self.meta())
            ckpt.keep_milestone(self.run_dir, path,
                                self.config.get("milestone_every", ckpt.MILESTONE_EVERY))
            ckpt.prune(self.run_dir, self.config["keep"])
        except OSError as exc:
            raise TrainingError(f"could not write checkpoint {path}: {exc.strerror or exc}; "
                                "the previous checkpoint is intact") from None
        return path

    def resume(self):
        """Load the newest checkpoint that reads cleanly; fall back to older ones. A run killed
        before its first checkpoint starts again from step 0."""
        problems = []
        for path in ckpt.list_checkpoints(self.run_dir):
            try:
                arrays, meta = ckpt.load(path)   # validated against the file's own config
                for prefix in ("optG", "optD"):
                    if f"{prefix}/t" not in arrays:
                        raise ckpt.CheckpointError(f"{path}: no optimizer state ({prefix})")
                self.gan.load_state_arrays(arrays)
            except (ckpt.CheckpointError, KeyError, ValueError, TypeError) as exc:
                problems.append(str(exc))
                self.event(f"skipping unusable checkpoint: {exc}")
                continue
            self.step = self.gan.steps_done = int(meta["step"])
            if self._clock is None:   # a rollback keeps the clock of the steps it discards
                self.time_before = float(meta.get("time_s", 0.0))
            self._trim_log()
            self.event(f"resumed from {os.path.basename(path)} at step {self.step}")
            return path
        if problems:
            raise TrainingError("no usable checkpoint in " + self.run_dir + ": " + problems[0])
        self._trim_log()
        self.event("no checkpoint yet: starting from step 0")
        return None

    # -- logging -------------------------------------------------------------------------
    def elapsed(self):
        """Seconds of training since the run started, continuing across resumes."""
        running = time.perf_counter() - self._clock if self._clock is not None else 0.0
        return self.time_before + running

    def event(self, message, echo=True, details=()):
        """Append a line (and, indented below it, `details`) to events.log."""
        with open(os.path.join(self.run_dir, "events.log"), "a") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} step {self.step}: {message}\n")
            f.writelines(f"    {line}\n" for line in details)
        if echo:
            self.log(message)

    def log_data(self, report, name_skipped=True):
        """The data used, and (name_skipped) every skipped file with its reason."""
        where = f", mapped from {report.cache}" if report.cache else ""
        details = [f"skipped {name}: {why}" for name, why in report.skipped_files] \
            if name_skipped else []
        self.event(f"data: {self.config['data']}: {report}{where}", echo=False, details=details)

    def _trim_log(self):
        """Drop log rows past the step resumed from: those steps are trained, and logged, again."""
        trim_log(self.run_dir, self.step)

    def write_log_row(self, row):
        append_log_row(self.run_dir, row)

    def _recalibrate_ema(self):
        """Re-estimate the EMA generator's BatchNorm statistics, once per step at most (the grid
        and the checkpoint of one step share them: the weights have not moved in between)."""
        if getattr(self, "_recalibrated_at", None) != self.step:
            recalibrate_batchnorm(self.gan.G_ema, self.config["nz"], seed=self.config["seed"])
            self._recalibrated_at = self.step

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
                    self.event(f"{exc}: the run diverged; stopping", echo=False)
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
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        return "interrupted" if interrupted else "done"

    def _train_until(self, total_steps, progress):
        """The loop itself, from self.step; raises Diverged, leaving the rollback to train()."""
        c = self.config
        sums, n_logged, t_last = {}, 0, time.perf_counter()
        collapse_streak = 0
        batches = self.batches.iterate(self.step)
        try:
            while self.step < total_steps and not self.should_stop():
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
                if progress is not None:
                    progress.update(1)
                if self.step % c["log_every"] == 0 or self.step == total_steps:
                    means = self._check_finite(sums, n_logged)
                    now = time.perf_counter()
                    row = dict(step=self.step, epoch=round(self.step / self.batches.steps_per_epoch, 3),
                               images_per_s=round(n_logged * c["batch"] / (now - t_last), 1),
                               time_s=round(self.elapsed(), 1),
                               **{k: round(v, 5) for k, v in means.items()})
                    self.write_log_row(row)
                    if progress is not None:
                        progress.set_postfix(D=f"{means['loss_d']:.3f}", G=f"{means['loss_g']:.3f}",
                                             Dx=f"{means['d_real']:.2f}", DGz=f"{means['d_fake']:.2f}",
                                             ips=row["images_per_s"], refresh=False)
                    collapse_streak = collapse_streak + 1 if (means["d_real"] > 0.99 and
                                                              means["d_fake"] < 0.01) else 0
                    if collapse_streak == 20:
                        self.event("warning: D(x) near 1 and D(G(z)) near 0 for 20 log intervals: "
                                   "D is winning outright, G may be collapsing")
                    sums, n_logged, t_last = {}, 0, now
                if self.step % c["sample_every"] == 0:
                    self.save_progress_grid()
                if self.step % c["ckpt_every"] == 0:
                    # a NaN since the last log row must not reach a checkpoint
                    self._check_finite(sums, n_logged)
                    self.save_checkpoint()
            self._check_finite(sums, n_logged)   # the steps after the last log row
            found = ckpt.list_checkpoints(self.run_dir)
            if not found or not found[0].endswith(f"{self.step:08d}.npz"):
                self.save_checkpoint()
        finally:
            batches.close()

    def _check_finite(self, sums, n):
        """Means of the summed losses; Diverged if one is NaN or inf (a sum stays NaN or inf
        once any of its terms is)."""
        means = {k: float(v) / n for k, v in sums.items()}
        for k, v in means.items():
            if not np.isfinite(v):
                raise Diverged(f"{k} is {v}")
        return means

    def _resume_point(self):
        found = ckpt.list_checkpoints(self.run_dir)
        return (f"the last good checkpoint is {os.path.basename(found[0])}" if found
                else "there is no checkpoint yet")

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
