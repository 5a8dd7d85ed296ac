"""The run folder's files that are not the training loop's: its lock, its config, its log,
where a resume starts, how long a run is, and the SWD scores of its checkpoints."""

import csv
import fcntl
import json
import os
import tempfile

from . import checkpoint as ckpt

DEFAULT_EPOCHS = 25   # the length of a run given neither steps nor epochs
LOG_FIELDS = ["step", "epoch", "loss_d", "loss_g", "d_real", "d_fake", "images_per_s", "time_s"]


class TrainingError(RuntimeError):
    """Training cannot go on; the message says why and what to do."""


class RunLock:
    """An exclusive lock on a run folder, so two trainings never write into the same one.
    The kernel drops it when the process dies, even by kill -9."""

    def __init__(self, run_dir):
        self.path = os.path.join(run_dir, "lock")
        self.file = None

    def __enter__(self):
        self.file = open(self.path, "a+")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.close()
            raise TrainingError(in_use(os.path.dirname(self.path))) from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(str(os.getpid()))
        self.file.flush()
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()


def in_use(run_dir):
    return (f"{run_dir} is in use by another training process; wait for it to finish (or start "
            "a new run in another folder)")


def folder_problem(run_dir, resuming=False):
    """Why a training process could not work in `run_dir`, or None: another one holds it, or
    it (or, for a new run, the nearest folder above it that exists) cannot be written. Asked
    before any data is read, so that a mistake costs no decoding and announces no resume."""
    if training_now(run_dir):
        return in_use(run_dir)
    place = os.path.abspath(run_dir)
    while not os.path.isdir(place):
        place = os.path.dirname(place)
    try:
        fd, probe = tempfile.mkstemp(dir=place, prefix=".write-test-")
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        fix = ("copy the run folder somewhere writable and --resume the copy" if resuming else
               "give a writable folder with --out DIR")
        where = run_dir if place == os.path.abspath(run_dir) else f"{place} (to hold {run_dir})"
        return f"cannot write in {where}: {exc.strerror or exc}; {fix}"
    return None


def training_now(run_dir):
    """Whether a training process holds the run folder's lock right now."""
    try:
        with open(os.path.join(run_dir, "lock"), "r") as f:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(f, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    except OSError:   # no lock file: never trained, or not readable
        return False


def planned_steps(config, steps_per_epoch):
    """The step a run trains to: its --steps, else its --epochs (default 25) of the data."""
    if config.get("steps"):
        return config["steps"]
    return int(round((config.get("epochs") or DEFAULT_EPOCHS) * steps_per_epoch))


def resume_point(run_dir):
    """(step, checkpoint meta) of the newest checkpoint that loads, (0, None) without any;
    the files are only read, nothing is logged. TrainingError if none of several loads."""
    found = ckpt.list_checkpoints(run_dir)
    problems = []
    for path in found:
        try:
            _, meta = ckpt.load(path)
            return int(meta["step"]), meta
        except (ckpt.CheckpointError, KeyError, ValueError, TypeError) as exc:
            problems.append(str(exc))
    if problems:
        raise TrainingError("no usable checkpoint in " + run_dir + ": " + problems[0])
    return 0, None


def write_config(run_dir, config):
    path = os.path.join(run_dir, "config.json")
    with open(path + ".tmp", "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    os.replace(path + ".tmp", path)


def read_config(run_dir):
    path = os.path.join(run_dir, "config.json")
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise TrainingError(f"{run_dir}: not a run folder (no config.json)") from None
    except ValueError:
        raise TrainingError(f"{path}: not valid JSON") from None


def append_log_row(run_dir, row):
    """One row of log.csv (the header first, in a new file)."""
    path = os.path.join(run_dir, "log.csv")
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=LOG_FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)


def read_log_rows(run_dir):
    """The rows of log.csv as dicts of strings ([] when there is none, or it is unreadable)."""
    try:
        with open(os.path.join(run_dir, "log.csv"), newline="") as f:
            return list(csv.DictReader(f))
    except (OSError, csv.Error):
        return []


def trim_log(run_dir, step):
    """Drop the rows of log.csv past `step` (a resume trains, and logs, those steps again)."""
    path = os.path.join(run_dir, "log.csv")
    rows = read_log_rows(run_dir)
    keep = [r for r in rows if (r.get("step") or "").isdigit() and int(r["step"]) <= step]
    if len(keep) < len(rows):
        with open(path + ".tmp", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=LOG_FIELDS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(keep)
        os.replace(path + ".tmp", path)


SCORES_FILE = "swd.csv"   # written by `tinygan eval RUN --all`, drawn by `tinygan plot`


def save_scores(run_dir, rows):
    """Merge rows (step, variant, n, seed, swd_avg, swd_<level>...) into the run's
    swd.csv: a row for the same step, variant, n and seed replaces the old one."""
    path = os.path.join(run_dir, SCORES_FILE)
    key = lambda row: tuple(str(row[k]) for k in ("step", "variant", "n", "seed"))  # noqa: E731
    merged = {key(row): row for row in read_scores(run_dir)}
    merged.update((key(row), row) for row in rows)
    ordered = sorted(merged.values(), key=lambda row: (int(row["step"]), str(row["variant"])))
    fields = list(dict.fromkeys(k for row in ordered for k in row))
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(ordered)
    os.replace(tmp, path)
    return path


def read_scores(run_dir):
    """The rows of a run's swd.csv (none when it has not been scored)."""
    try:
        with open(os.path.join(run_dir, SCORES_FILE), newline="") as f:
            return list(csv.DictReader(f))
    except FileNotFoundError:
        return []
