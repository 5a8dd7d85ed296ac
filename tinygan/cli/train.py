"""`tinygan train`: a new run, a resumed one, or fine-tuning from a trained model."""

import os
import sys
import time
from shlex import quote

import click

from ..gan.recipes import complete
from ..nn.backend import enable_tf32
from ..run import checkpoint as ckpt
from ..run.folder import folder_problem
from . import count, device_or_fail, fail, main, starting, tqdm_bar
from .grouped_help import GroupedCommand
from .train_options import GROUPS, train_options


@main.command(cls=GroupedCommand, groups=GROUPS)
@train_options
def train(data, size, steps, epochs, more_steps, batch, nz, ngf, ndf, recipe, loss, d_norm,
          g_norm, mbstd, attention, augment, lr, lr_d, beta1, beta2, r1, r1_every, real_label,
          label_noise, flip, ema, seed, out, name, resume, continue_from, warmup, init_from,
          log_every, sample_every,
          ckpt_every, keep, milestone_every, demo_count, textbook, tf32, inject_nan_at, on_nan,
          device):
    """Train a GAN on a set of face images.

    \b
    Examples:
      tinygan train --data demo --steps 200 --size 32
      tinygan train --data faces.zip --epochs 10 --device gpu
      tinygan train --resume runs/faces                  # continue after a stop or a crash
      tinygan train --resume runs/faces --more-steps 1000

    \b
    The progress bar shows, averaged over --log-every steps (all are in log.csv too):
      D    D's loss on real plus generated images (if it only guesses: 2.0 with the hinge
           loss, 1.39 = 2 ln 2 with BCE)
      G    G's loss (low when D takes its faces for real)
      Dx   D's mean output on real images (1 = sure they are real)
      DGz  D's mean output on generated images (0 = sure they are fake)
      ips  training images per second

    \b
    Data: a zip, tar or folder is decoded once, on all cores, into a uint8 file in
    $TINYGAN_CACHE (default $XDG_CACHE_HOME/tinygan or ~/.cache/tinygan) and
    memory-mapped from there, so memory does not grow with the data set; later runs and
    resumes reuse it until the source changes. Each image is turned upright by its EXIF
    tag, centre-cropped to a square (a 300x100 image keeps its middle 100x100), and
    resized to --size (enlarged with a Lanczos filter if smaller); an animation gives its
    first frame. Images whose short side is under a quarter of --size, and files that are
    empty, not images, truncated or damaged, are skipped. The run says how many images
    were cropped, enlarged or taken from an animation, and names every skipped file in
    events.log; tinygan data check DIR shows all this before training.
    """
    from ..run import mpi as parallel
    from ..run.folder import TrainingError, planned_steps
    from ..run.parallel_trainer import trainer_for

    try:
        world = parallel.world()   # this process alone, or one of the ranks mpiexec started
    except parallel.ParallelError as exc:
        fail(str(exc))
    if tf32:
        enable_tf32()
    device = device_or_fail(device)
    if more_steps and not resume:
        fail("--more-steps needs --resume RUN_DIR; a new run takes --steps")
    if sum(bool(x) for x in (steps, epochs, more_steps)) > 1:
        fail("give one of --steps, --epochs and --more-steps, not several")
    given = click.get_current_context().get_parameter_source("warmup")
    if given is click.core.ParameterSource.COMMANDLINE and not continue_from:
        fail("--warmup is the learning-rate warm-up of a --continue run")
    if continue_from and (resume or init_from):
        fail("--continue starts a new run from a continuation file; --resume and --init are "
             "other ways to start: give one")
    init = cont = None   # the model to fine-tune (--init), or the run to go on with (--continue)
    if resume:
        changes = starting.resume_options(click.get_current_context())
        run_dir, config = resume, starting.resume_config(resume, steps, epochs, more_steps)
        config.update(changes)
    else:
        if not data:
            fail("--data is required (a zip, a tar, a folder, a .npy/.npz, or 'demo'); "
                 "or --resume RUN_DIR")
        # one time stamp for every rank: ranks started a second apart must name the same folder
        name = name or f"{os.path.splitext(os.path.basename(data.rstrip('/')))[0]}-" \
                        f"{world.broadcast(time.strftime('%Y%m%d-%H%M%S'))}"
        run_dir = out or os.path.join("runs", name)
        # "in use" or "cannot write" says more than "holds a run"
        if problem := world.broadcast(folder_problem(run_dir) if world.rank == 0 else None):
            fail(problem)
        if ckpt.list_checkpoints(run_dir):
            fail(f"{run_dir} already holds a run; use --resume {quote(run_dir)} or another --out")
        settings = dict(loss=loss, d_norm=d_norm, g_norm=g_norm, mbstd=mbstd, attention=attention,
                        lr=lr, lr_d=lr_d, beta1=beta1, beta2=beta2, r1=r1,
                        augment=None if augment is None else _augment_policy(augment))
        if continue_from:
            cont = starting.load_continuation(continue_from, click.get_current_context())
            config = starting.continued_config(cont, steps, epochs, warmup)
        else:
            if init_from:
                init = starting.load_init(init_from)
                settings = starting.init_settings(init, settings)
            config = complete(dict(settings, recipe=recipe))
            if config["loss"] != "bce" and (real_label != 1.0 or label_noise):
                fail("--real-label and --label-noise are BCE's labels; with --loss hinge "
                     "there are none")
            config.update(size=int(size), nz=nz, ngf=ngf, ndf=ndf, batch=batch,
                          real_label=real_label, label_noise=label_noise, r1_every=r1_every,
                          flip=flip, ema=ema, seed=seed, steps=steps, epochs=epochs,
                          init=init_from)
        config.update(data=os.path.abspath(data) if data != "demo" else "demo",
                      log_every=log_every, sample_every=sample_every, ckpt_every=ckpt_every,
                      keep=keep, milestone_every=milestone_every, demo_count=demo_count)
        if init:
            starting.check_init(init, config)
    if inject_nan_at is not None:
        config["inject_nan_at"] = inject_nan_at
    config["on_nan"] = on_nan
    if problem := world.argument_problem(config, run_dir):
        fail(problem)
    if problem := world.broadcast(folder_problem(run_dir, resuming=bool(resume))
                                  if world.rank == 0 else None):
        fail(problem)

    images, report = starting.load_data(config)
    if problem := world.data_problem(images):
        fail(problem)
    steps_per_epoch = len(images) // config["batch"]
    total = planned_steps(config, steps_per_epoch)
    if cont and total <= cont.config["_step"]:
        fail(f"--continue {cont.path} is at step {cont.config['_step']}: the run's length "
             f"gives {total} steps in all; give --steps or --epochs beyond it")
    try:
        with world.run_folder(run_dir):   # rank 0's alone when several ranks train
            bars = []   # notes go above the progress bar, once there is one
            trainer = trainer_for(world, config, run_dir, images, device=device,
                                  log=lambda m: _note(m, bars), textbook=textbook)
            if resume:
                trainer.resume()
                starting.stop_if_finished(run_dir, trainer.step, total)   # the data shrank since
            elif init:
                starting.init_from(trainer, init)
            elif cont:
                starting.continue_run(trainer, cont)
            trainer.save_config()
            # a resume that reused the cache saw the same files the run's start named
            trainer.log_data(report, name_skipped=not (resume and report.from_cache))
            if report.n_skipped:
                click.echo(f"warning: skipped {report.n_skipped} files: "
                           f"{report.first_skipped()}; all are named in "
                           f"{os.path.join(run_dir, 'events.log')}", err=True)
            click.echo(f"training {run_dir}: step {trainer.step} -> {total} on {device} "
                       f"({count(steps_per_epoch, 'step')} per epoch)", err=True)
            click.echo(BAR_LEGEND, err=True)
            bar = tqdm_bar(total=total, initial=trainer.step, desc="train", unit="step")
            bars.append(bar)
            try:
                how = trainer.train(total, progress=bar)
            finally:
                bar.close()
    except TrainingError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{run_dir}: {exc.strerror or exc}")
    if how == "interrupted":
        click.echo(f"stopped at step {trainer.step}; checkpoint saved. Continue with: "
                   f"tinygan train --resume {quote(run_dir)}", err=True)
        sys.exit(130)
    click.echo(f"done: {run_dir} (step {trainer.step}). Sample with: tinygan sample "
               f"--checkpoint {quote(run_dir)}", err=True)


def _note(message, bars):
    """A note while training: above the progress bar while it runs; once the bar is full
    (the end-of-run grid), after its last line, which is then drawn once."""
    if bars and bars[0].n < bars[0].total:
        bars[0].write(message, file=sys.stderr)
        return
    if bars:
        bars[0].close()
    click.echo(message, err=True)


BAR_LEGEND = ("progress bar: D, G = the two losses; Dx, DGz = D's output on real and on "
              "generated images; ips = images per second (tinygan train --help explains)")


def _augment_policy(text):
    """--augment's value as a policy string ('' for none), or a one-line error."""
    from ..gan.augment import POLICIES
    names = [name.strip() for name in text.split(",") if name.strip()]
    if names == ["none"]:
        return ""
    unknown = [name for name in names if name not in POLICIES]
    if unknown or not names:
        fail(f"--augment {text!r}: choose from {', '.join(POLICIES)} (comma-separated), or none")
    return ",".join(names)
