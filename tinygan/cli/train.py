"""`tinygan train`: a new run, a resumed one, or fine-tuning from a trained model."""

import os
import sys
import time
from shlex import quote

import click

from ..gan import penalty
from ..gan.recipes import D_NORMS, G_NORMS, LOSSES, RECIPES, complete, describe
from ..gan.recipes import DEFAULT as DEFAULT_RECIPE
from ..nn.backend import enable_tf32
from ..run import checkpoint as ckpt
from ..run.folder import DEFAULT_EPOCHS, folder_problem
from . import DEVICE_OPTION, count, device_or_fail, fail, main, starting, tqdm_bar
from .grouped_help import GroupedCommand

GROUPS = [
    ("Everyday options", ["data", "steps", "epochs", "size", "batch", "out", "resume",
                          "device", "seed"]),
    ("Data", ["flip", "demo_count"]),
    ("Run folder and schedule", ["name", "more_steps", "init_from", "log_every",
                                 "sample_every", "ckpt_every", "keep", "milestone_every",
                                 "on_nan"]),
    ("Networks", ["nz", "ngf", "ndf", "g_norm", "d_norm", "mbstd", "attention"]),
    ("Recipe (what each setting gave when measured: docs/results.md)",
     ["recipe", "loss", "augment", "lr", "lr_d", "beta1", "beta2", "ema", "r1", "r1_every",
      "real_label", "label_noise"]),
    ("How it runs", ["textbook", "tf32"]),
]


@main.command(cls=GroupedCommand, groups=GROUPS)
@click.option("--data", help="Training images: a .zip, a .tar/.tar.gz/.tgz, a folder (searched "
              "recursively), a .npy/.npz uint8 array (N,H,W,3), or 'demo' for built-in drawn "
              "faces. Decoded once into a cache that later runs reuse (see 'Data' above).")
@click.option("--size", type=click.Choice(["32", "64", "96", "128"]), default="64",
              show_default=True, help="Image size in pixels (square).")
@click.option("--steps", type=click.IntRange(min=1), help="Train until the run has done this "
              "many steps in all (one step = one D and one G update). With --resume too it "
              "is the run's total, not steps to add: see --more-steps.")
@click.option("--epochs", type=click.FloatRange(min=0, min_open=True),
              help="Or: this many passes over the data in all. Given neither --steps nor "
              f"--epochs, a run trains {DEFAULT_EPOCHS} epochs.")
@click.option("--more-steps", type=click.IntRange(min=1), help="With --resume: train this "
              "many steps past the newest checkpoint.")
@click.option("--batch", type=click.IntRange(min=2), default=64, show_default=True,
              help="Images per training step, for D and for G.")
@click.option("--nz", type=click.IntRange(min=1), default=100, show_default=True,
              help="Length of the noise vector.")
@click.option("--ngf", type=click.IntRange(min=4), default=64, show_default=True,
              help="Generator width (channels of its last hidden layer).")
@click.option("--ndf", type=click.IntRange(min=4), default=64, show_default=True,
              help="Discriminator width (channels of its first layer).")
@click.option("--recipe", type=click.Choice(list(RECIPES)), default=DEFAULT_RECIPE,
              show_default=True, help="How to train. " + "; ".join(map(describe, RECIPES))
              + ". The options marked [recipe] override one of its settings.")
@click.option("--loss", type=click.Choice(LOSSES), help="[recipe] bce (cross-entropy on D's "
              "logits, non-saturating for G) or hinge.")
@click.option("--d-norm", type=click.Choice(D_NORMS), help="[recipe] How D's convolutions are "
              "normalised: batchnorm, or spectral (each weight divided by its largest singular "
              "value; no BatchNorm in D).")
@click.option("--g-norm", type=click.Choice(G_NORMS), help="[recipe] How G's layers are "
              "normalised: batchnorm, or pixel (each pixel's features scaled to unit length; "
              "no batch statistics in G).")
@click.option("--mbstd/--no-mbstd", default=None, help="[recipe] A minibatch-standard-deviation "
              "channel (groups of 4 images) before D's last layer; each process's share of "
              "--batch must then be a multiple of 4.")
@click.option("--attention/--no-attention", default=None, help="[recipe] One self-attention "
              "layer in each network, on its 16 x 16 maps (SAGAN): every position mixes in "
              "features from the whole map, not only from its neighbours; a step costs more.")
@click.option("--augment", help="[recipe] DiffAugment transforms applied to everything D sees, "
              "comma-separated from color, translation, cutout; 'none' for none.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True),
              help="[recipe] Adam's learning rate, for G and (without --lr-d) D. Both recipes: "
              "0.0002.")
@click.option("--lr-d", type=click.FloatRange(min=0, min_open=True),
              help="[recipe] D's own learning rate [default: --lr].")
@click.option("--beta1", type=click.FloatRange(0, 1), help="[recipe] Adam's first-moment decay "
              "(both recipes use 0.5, not the usual 0.9).")
@click.option("--beta2", type=click.FloatRange(0, 1, max_open=True), help="[recipe] Adam's "
              "second-moment decay (both recipes: 0.999).")
@click.option("--r1", type=click.FloatRange(min=0), help="[recipe] Weight gamma of the R1 "
              "penalty on D's slope at real images (gamma/2 * mean ||dD/dx||^2, taken by "
              "finite differences: tinygan/gan/penalty.py); 0 for none, as in both recipes.")
@click.option("--r1-every", type=click.IntRange(min=1), default=penalty.EVERY,
              show_default=True, help="With --r1: compute the penalty on every K-th step "
              "only, with K times its weight (lazy regularisation; each such step runs D three "
              "more times).")
@click.option("--real-label", type=click.FloatRange(0.5, 1), default=1.0, show_default=True,
              help="With --loss bce: D's target for real images; 0.9 is one-sided label "
              "smoothing.")
@click.option("--label-noise", type=click.FloatRange(0, 0.5), default=0.0, show_default=True,
              help="With --loss bce: fraction of D's labels flipped at random.")
@click.option("--flip/--no-flip", default=True, show_default=True,
              help="Random horizontal flips of the training images.")
@click.option("--ema", type=click.FloatRange(0, 1, max_open=True), default=0.999,
              show_default=True, help="Decay of the generator's moving average (used for "
              "samples); 0 turns it off.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds the initial weights, the batches, flips and noise: the same seed and "
              "data train the same model on the CPU.")
@click.option("--out", type=click.Path(file_okay=False), help="Run folder [default: runs/<name>].")
@click.option("--name", help="Run name under runs/ [default: data name and time].")
@click.option("--resume", type=click.Path(file_okay=False),
              help="Continue the run in this folder from its newest good checkpoint, with the "
              "settings it started with (config.json); its length, --on-nan, --device, --keep "
              "and the --*-every options may change.")
@click.option("--init", "init_from", type=click.Path(dir_okay=True),
              help="Start from this checkpoint, run folder or exported generator, or a "
              "shipped model ('anime', 'human'): fine-tuning; optimizer state and the "
              "moving average's warm-up start fresh, so to train a run longer use --resume "
              "(docs/results.md: a restart on the same data did worse). "
              "--attention, --g-norm, --d-norm and --mbstd follow the model unless given.")
@click.option("--log-every", type=click.IntRange(min=1), default=10, show_default=True,
              help="Steps per row of log.csv and per update of the progress bar's numbers.")
@click.option("--sample-every", type=click.IntRange(min=1), default=250, show_default=True,
              help="Steps between fixed-noise progress grids.")
@click.option("--ckpt-every", type=click.IntRange(min=1), default=250, show_default=True,
              help="Steps between checkpoints.")
@click.option("--keep", type=click.IntRange(min=1), default=3, show_default=True,
              help="Checkpoints kept (older ones are deleted once a newer one is complete).")
@click.option("--milestone-every", type=click.IntRange(min=0), default=ckpt.MILESTONE_EVERY,
              show_default=True, help="Also keep for good the first checkpoint at or past "
              "every multiple of this many steps, in the run's milestones/ folder, so that "
              "a run that gets worse late still holds its earlier models. 0: none.")
@click.option("--demo-count", type=click.IntRange(min=64), default=4096, show_default=True,
              help="How many faces --data demo draws.")
@click.option("--textbook", is_flag=True, help="Train with the textbook layers of "
              "tinygan/nn/ and plain Adam, the code the docs walk through, instead of their "
              "fast variants (tinygan/fast/): the same numbers to float round-off, slower "
              "(docs/performance.md). One process only.")
@click.option("--tf32", is_flag=True, help="GPU only: let cuBLAS use TF32 tensor cores for "
              "float32 matrix products (faster, ~1e-3 relative precision).")
@click.option("--inject-nan-at", type=int, hidden=True)
@click.option("--on-nan", type=click.Choice(["stop", "rollback"]), default="stop",
              show_default=True, help="When a loss or weight becomes NaN/inf: stop, or reload "
              "the last good checkpoint, halve the learning rate (kept in config.json) and go "
              "on, at most 3 times; then the run stops.")
@DEVICE_OPTION
def train(data, size, steps, epochs, more_steps, batch, nz, ngf, ndf, recipe, loss, d_norm,
          g_norm, mbstd, attention, augment, lr, lr_d, beta1, beta2, r1, r1_every, real_label,
          label_noise, flip, ema, seed, out, name, resume, init_from, log_every, sample_every,
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
    init = None   # the model to fine-tune, for a new run with --init
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
        if ckpt.list_checkpoints(run_dir):
            fail(f"{run_dir} already holds a run; use --resume {quote(run_dir)} or another --out")
        settings = dict(loss=loss, d_norm=d_norm, g_norm=g_norm, mbstd=mbstd, attention=attention,
                        lr=lr, lr_d=lr_d, beta1=beta1, beta2=beta2, r1=r1,
                        augment=None if augment is None else _augment_policy(augment))
        if init_from:
            init = starting.load_init(init_from)
            settings = starting.init_settings(init, settings)
        config = complete(dict(settings, recipe=recipe))
        if config["loss"] != "bce" and (real_label != 1.0 or label_noise):
            fail("--real-label and --label-noise are BCE's labels; with --loss hinge there "
                 "are none")
        config.update(data=os.path.abspath(data) if data != "demo" else "demo", size=int(size),
                      nz=nz, ngf=ngf, ndf=ndf, batch=batch, real_label=real_label,
                      label_noise=label_noise, r1_every=r1_every, flip=flip, ema=ema, seed=seed,
                      steps=steps, epochs=epochs, log_every=log_every, sample_every=sample_every,
                      ckpt_every=ckpt_every, keep=keep, milestone_every=milestone_every,
                      demo_count=demo_count, init=init_from)
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
