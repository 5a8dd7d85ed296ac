"""Where a `tinygan train` run starts from: a resumed run's config, a model to fine-tune
(--init), a continuation file (--continue), and the training images (decoded, or mapped
from the cache)."""

import os
import sys
from shlex import quote
from typing import NamedTuple

import click
import numpy as np

from ..data.cache import mapping_of
from ..gan.recipes import complete
from ..run import checkpoint as ckpt
from . import count, fail, megabytes, tqdm_bar


def resume_config(run_dir, steps, epochs, more_steps):
    """The config of a run to resume, with its new length; exits before any data is decoded
    (and before events.log is touched) when there is nothing left to train."""
    from ..run.folder import TrainingError, planned_steps, read_config, resume_point
    if not os.path.isdir(run_dir):
        fail(f"--resume {run_dir}: no such run folder")
    try:
        config = read_config(run_dir)
        start, meta = resume_point(run_dir)
    except TrainingError as exc:
        fail(str(exc))
    if steps and steps < start:
        fail(f"{run_dir} is at step {start}, past --steps {steps}: --steps is the run's total; "
             f"to train {steps} steps more, use --more-steps {steps}")
    if more_steps:
        config["steps"] = start + more_steps
    elif steps:
        config["steps"] = steps
    elif epochs:
        config["steps"], config["epochs"] = None, epochs
    if meta is not None and meta.get("steps_per_epoch"):
        stop_if_finished(run_dir, start, planned_steps(config, meta["steps_per_epoch"]))
    return config


# what a resumed run may change: its length, what to do on NaN, how it runs (the device, the
# textbook or fast layers: the same numbers), and its bookkeeping
BOOKKEEPING = ("log_every", "sample_every", "ckpt_every", "keep", "milestone_every")
RESUMABLE = {"resume", "steps", "epochs", "more_steps", "on_nan", "device", "tf32", "textbook",
             "inject_nan_at", *BOOKKEEPING}


def resume_options(ctx, also=(), how="a resumed run keeps the settings it started with "
                   "(config.json)"):
    """The bookkeeping options given with --resume, as config entries to update; an option
    that would change how the run trains (its data, networks, recipe, seed...) is refused,
    since the run goes on with those of its config.json. `also`: more options allowed."""
    given = [p for p in ctx.command.params
             if ctx.get_parameter_source(p.name) is click.core.ParameterSource.COMMANDLINE]
    fixed = [_typed(p.opts[0], ctx.params[p.name]) for p in given
             if p.name not in RESUMABLE and p.name not in also]
    if fixed:
        fail(f"{', '.join(fixed)}: {how}; only its length, --on-nan, --device, --textbook, "
             "--tf32, --keep and the --*-every options can change")
    return {p.name: ctx.params[p.name] for p in given if p.name in BOOKKEEPING}


def stop_if_finished(run_dir, step, total):
    if step >= total:
        click.echo(f"{run_dir} is at step {step} of {total}: nothing to train. To train on: "
                   f"tinygan train --resume {quote(run_dir)} --more-steps N", err=True)
        sys.exit(0)


def load_data(config):
    """Decode (or map from the cache) the run's images, saying where they come from."""
    from ..data.load import DataError, load_images
    try:
        images, report = load_images(
            config["data"], config["size"], demo_count=config["demo_count"],
            seed=config["seed"],
            progress_factory=lambda n: tqdm_bar(total=n, desc="decoding (once, into the cache)",
                                                unit="img", leave=False))
    except DataError as exc:
        fail(str(exc))
    click.echo(f"data: {report}; {describe_storage(report, images)}", err=True)
    if report.adjustments():
        click.echo(f"note: decoding at {config['size']} px: {report.adjustments()} (tinygan "
                   "train --help, 'Data', gives the rules)", err=True)
    if len(images) < config["batch"]:
        skipped = f"; skipped {report.first_skipped()}" if report.n_skipped else ""
        more = " (tinygan data check names them all)" if report.n_skipped > 3 else ""
        fix = "use a smaller --batch" if config["batch"] > 2 else "add images"
        fail(f"the data has {count(len(images), 'image')}, fewer than one batch of "
             f"{config['batch']}{skipped}{more}; {fix}")
    return images, report


def describe_storage(report, images):
    """Where the images live: the decode cache (reused or just built), a mapped .npy, memory."""
    if report.cache and report.from_cache:
        return f"memory-mapped from the decode cache {report.cache}"
    if report.cache:
        seconds = max(report.decode_seconds, 1e-3)
        why = f" ({report.why_decoded})" if report.why_decoded != "no cache yet" else ""
        return (f"decoded{why} in {seconds:.1f} s ({report.files_decoded / seconds:.0f} "
                f"images/s on {count(report.workers, 'process', 'processes')}) into the cache "
                f"{report.cache} ({megabytes(images.nbytes)}), which later runs reuse")
    if mapping_of(images) is not None:
        return "memory-mapped from the file"
    return f"in memory as uint8 ({megabytes(images.nbytes)})"


class InitModel(NamedTuple):
    """A model to fine-tune: where it is, its arrays, and its config with recipe filled in."""
    path: str
    arrays: dict
    config: dict


def load_init(path):
    """The --init model: a shipped name ('anime', 'human'), a file or a run folder."""
    from ..draw.generate import NoModelError, find_model
    try:
        path = find_model(path)
        arrays, meta = ckpt.load(path)
    except (NoModelError, ckpt.CheckpointError) as exc:
        fail(f"--init: {exc}")
    return InitModel(path, arrays, complete(meta["config"]))


def init_settings(init, settings):
    """The command line's recipe settings, with the layer choices it leaves unset (those of
    its settings that shape G or D) taken from the --init model, so that `--init anime`
    fine-tunes the shipped networks as they are."""
    from ..gan.networks import DISCRIMINATOR_KEYS, GENERATOR_KEYS
    layers = set(GENERATOR_KEYS + DISCRIMINATOR_KEYS)
    return {k: init.config[k] if k in layers and v is None else v for k, v in settings.items()}


def check_init(init, config):
    """Exit, before the run folder exists, when the run's G cannot take the model's weights."""
    from ..gan.networks import GENERATOR_KEYS
    for key in GENERATOR_KEYS:
        if init.config.get(key) != config[key]:
            flag = "--" + key.replace("_", "-")
            fail(f"--init {init.path}: it was trained with {_typed(flag, init.config.get(key))}, "
                 f"this run uses {_typed(flag, config[key])}")


def _typed(flag, value):
    """An option with its value as typed: '--ngf 64', '--attention' or '--no-attention'."""
    if isinstance(value, bool):
        return flag if value else flag.replace("--", "--no-", 1)
    return f"{flag} {value}"


def load_continuation(path, ctx):
    """The --continue file (tinygan export --continuation), checked before any data is read;
    the command line may not change the settings the run goes on with."""
    resume_options(ctx, also={"data", "out", "name", "continue_from", "warmup", "demo_count"},
                   how="a continued run keeps the settings of the run it continues; besides "
                   "--data, --out, --name, --warmup and --demo-count")
    try:
        arrays, meta = ckpt.load(path)
    except ckpt.CheckpointError as exc:
        fail(f"--continue: {exc}")
    if not meta.get("continuation"):
        fail(f"--continue {path}: not a continuation file; write one with tinygan export "
             "RUN --continuation --out FILE (to fine-tune a model file, use --init)")
    return InitModel(path, arrays, dict(meta["config"], _step=int(meta["step"]),
                                        _time_s=float(meta.get("time_s", 0.0))))


def continued_config(cont, steps, epochs, warmup):
    """The continued run's config: the file's, a new length (a total, as with --resume), and
    the learning-rate warm-up that starts at the file's step."""
    config = complete({k: v for k, v in cont.config.items() if not k.startswith("_")})
    start = cont.config["_step"]
    if steps is not None and steps <= start:
        fail(f"--continue {cont.path} is at step {start}: --steps is the run's total, so give "
             f"more than {start}")
    config.update(steps=steps, epochs=epochs, continued_from=os.path.abspath(cont.path),
                  warmup_from=start, warmup_steps=warmup, init=None)
    if steps is None and epochs is None:
        config["steps"] = 2 * start   # as long again as the run it continues
    return config


def continue_run(trainer, cont):
    """Put the continuation file's G, moving average and D into a checked run, and its clock
    at the file's step: the moving average keeps its decay, the data and noise their order."""
    for part, model in (("G", trainer.gan.G), ("G_ema", trainer.gan.G_ema),
                        ("D", trainer.gan.D)):
        model.load_state_dict({k: v.astype(np.float32)
                               for k, v in ckpt.section(cont.arrays, part).items()})
    trainer.step = trainer.gan.steps_done = cont.config["_step"]
    trainer.time_before = cont.config["_time_s"]
    trainer.event(f"continued from {cont.path} at step {trainer.step}: G, its moving average "
                  f"and D as the file keeps them; Adam's moments start empty, the learning "
                  f"rate warms up over {trainer.config.get('warmup_steps', 0)} steps", echo=False)
    # a checkpoint at once: a resume, or a rollback, must never go back to a random step 0
    trainer.save_real_grid()
    trainer.save_checkpoint()
    click.echo(f"continuing {cont.path} from step {trainer.step}", err=True)


def init_from(trainer, init):
    """Copy G (and D, when the model has one of the same layers) into a checked run."""
    from ..gan.networks import DISCRIMINATOR_KEYS
    gan = trainer.gan
    # ckpt.load checked every array against the model's config, which check_init matched
    g_state = ckpt.section(init.arrays, "G_ema") or ckpt.section(init.arrays, "G")
    g_state = {k: v.astype(np.float32) for k, v in g_state.items()}
    gan.G.load_state_dict(g_state)
    gan.G_ema.load_state_dict(g_state)
    d_state = ckpt.section(init.arrays, "D")
    if d_state and all(init.config.get(k) == trainer.config[k] for k in DISCRIMINATOR_KEYS):
        gan.D.load_state_dict(d_state)
    click.echo(f"initialised from {init.path}", err=True)
