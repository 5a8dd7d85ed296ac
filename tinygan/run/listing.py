"""Run folders at a glance: the runs under a folder, and the facts `tinygan runs` lists."""

import json
import os

from . import checkpoint as ckpt
from .folder import planned_steps, read_log_rows, training_now


def find_runs(root="runs"):
    """Run folders (holding a config.json) directly under `root`, most recently active first."""
    if not os.path.isdir(root):
        return []
    runs = [os.path.join(root, name) for name in os.listdir(root)
            if os.path.isfile(os.path.join(root, name, "config.json"))]
    return sorted(runs, key=last_active, reverse=True)


def last_active(run_dir):
    """When the run last wrote its log or a checkpoint (or its config, before either)."""
    names = ["config.json", "log.csv"] + [os.path.basename(p) for p in
                                          ckpt.list_checkpoints(run_dir)[:1]]
    times = [os.path.getmtime(os.path.join(run_dir, n)) for n in names
             if os.path.exists(os.path.join(run_dir, n))]
    return max(times, default=0.0)


def summarise(run_dir):
    """What a glance at a run should tell: its step and the step it trains to, data, size,
    last losses, the newest checkpoint, and whether it is training now (then its step is its
    log's). Reads only
    config.json, log.csv, file names and the lock, never a checkpoint."""
    try:
        with open(os.path.join(run_dir, "config.json")) as f:
            config = json.load(f)
    except (OSError, ValueError):
        config = {}
    newest = ckpt.list_checkpoints(run_dir)[:1]
    name = os.path.basename(newest[0]) if newest else None
    step = ckpt.step_of(name) if name else 0
    data = config.get("data") or "?"
    last = _last_log_row(run_dir)
    running = training_now(run_dir)
    if running and (last.get("step") or "").isdigit():
        step = max(step, int(last["step"]))   # a run in training has logged past its checkpoint
    return dict(run=os.path.basename(run_dir.rstrip("/")), step=step,
                planned=_planned(config, last),
                data=data if data == "demo" else os.path.basename(str(data).rstrip("/")),
                size=config.get("size"), loss_d=last.get("loss_d"), loss_g=last.get("loss_g"),
                checkpoint=name, running=running)


def _last_log_row(run_dir):
    rows = read_log_rows(run_dir)
    return rows[-1] if rows else {}


def _planned(config, last):
    """The step the run trains to, when its config and log tell (None otherwise)."""
    if config.get("steps"):
        return int(config["steps"])
    try:   # by epochs: the log's step / epoch is the number of steps per epoch
        return planned_steps(config, float(last["step"]) / float(last["epoch"]))
    except (KeyError, ValueError, ZeroDivisionError):
        return None
