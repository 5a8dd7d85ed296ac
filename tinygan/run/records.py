"""What a Trainer keeps in its run folder, and reads back: config.json, events.log, the
rows of log.csv and the checkpoints, with resume (the file formats are folder.py's and
checkpoint.py's). RunRecords is the Trainer's half that knows the folder; trainer.py holds the
loop. ParallelTrainer (parallel_trainer.py) lets rank 0 alone do what is here.

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
"""

import os
import time

import numpy as np

from ..gan.step import recalibrate_batchnorm
from . import checkpoint as ckpt
from .folder import TrainingError, append_log_row, read_log_rows, trim_log, write_config

END_MARK = "process ended:"   # how events.log marks a training process's own end


class Diverged(TrainingError):
    """A loss or a weight became NaN or inf."""


class RunRecords:
    """The run folder's side of a Trainer, which provides config, run_dir, step, gan,
    batches, log and the clock (_clock, time_before)."""

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
            silent_end = self._silent_end()
            self._trim_log()
            self.event(f"resumed from {os.path.basename(path)} at step {self.step}"
                       + silent_end)
            return path
        if problems:
            raise TrainingError("no usable checkpoint in " + self.run_dir + ": " + problems[0])
        self._trim_log()
        self.event("no checkpoint yet: starting from step 0")
        return None

    # -- events and the log -------------------------------------------------------------------------
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
        adjusted = f"; decoding: {report.adjustments()}" if report.adjustments() else ""
        self.event(f"data: {self.config['data']}: {report}{where}{adjusted}", echo=False,
                   details=details)

    def _silent_end(self):
        """What to add to a resume's event when the process before it left no word of how it
        ended (killed by SIGKILL, or the machine stopped): how far its log got."""
        try:
            with open(os.path.join(self.run_dir, "events.log")) as f:
                lines = [line for line in f if not line.startswith("    ")]
        except FileNotFoundError:
            return ""
        started = any(line.split(": ", 1)[-1].startswith(("resumed from", "data:"))
                      for line in lines)
        if not lines or not started or END_MARK in lines[-1]:
            return ""
        rows = read_log_rows(self.run_dir)
        reached = f"; its log reached step {rows[-1]['step']}" if rows else ""
        return (f" (the process before ended without a word: killed, or the machine "
                f"stopped{reached})")

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

    def _resume_point(self):
        found = ckpt.list_checkpoints(self.run_dir)
        return (f"the last good checkpoint is {os.path.basename(found[0])}" if found
                else "there is no checkpoint yet")
