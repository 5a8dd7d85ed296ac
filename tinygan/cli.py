"""The `tinygan` command line: train, sample, interpolate, eval, info, export, gradcheck.

Every problem a user can cause (a missing file, bad data, a bad option) ends with a one-line
message and exit code 2, never a traceback.
"""

import json
import os
import sys
import time

import click
import numpy as np

from . import checkpoint as ckpt
from . import launch
from .backend import DEVICES, DeviceError, enable_tf32, resolve_device

DEVICE_OPTION = click.option("--device", type=click.Choice(DEVICES), default="auto",
                             show_default=True, help="cpu (NumPy), gpu (CuPy), or auto: gpu "
                             "when CuPy sees one, else cpu.")


def fail(message):
    """Stop with a one-line error and exit code 2."""
    raise click.UsageError(message)


def device_or_fail(device):
    try:
        return resolve_device(device, notice=lambda message: click.echo(message, err=True))
    except DeviceError as exc:
        fail(str(exc))


def tqdm_bar(**kw):
    from tqdm import tqdm
    return tqdm(dynamic_ncols=True, **kw)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tinygan")
def main():
    """tinygan: a from-scratch DCGAN in NumPy/CuPy that draws anime-style faces.

    \b
    Quick start:
      tinygan train --data demo --steps 200 --size 32     # no download needed
      tinygan train --data faces.zip --device gpu        # your own faces
      tinygan sample -n 64                               # a grid of new faces
    """
    launch.hold_output()   # under mpiexec, rank 0 speaks for all ranks


# --------------------------------------------------------------------------------------- train
@main.command()
@click.option("--data", help="Training images: a .zip, a folder (searched recursively), a "
              ".npy/.npz uint8 array (N,H,W,3), or 'demo' for built-in drawn faces.")
@click.option("--size", type=click.Choice(["32", "64", "96", "128"]), default="64",
              show_default=True, help="Image size in pixels (square).")
@click.option("--steps", type=click.IntRange(min=1), help="Train this many steps in total "
              "(one step = one D and one G update).")
@click.option("--epochs", type=click.FloatRange(min=0, min_open=True),
              help="Or: this many passes over the data.")
@click.option("--batch", type=click.IntRange(min=2), default=64, show_default=True)
@click.option("--nz", type=click.IntRange(min=1), default=100, show_default=True,
              help="Length of the noise vector.")
@click.option("--ngf", type=click.IntRange(min=4), default=64, show_default=True,
              help="Generator width (channels of its last hidden layer).")
@click.option("--ndf", type=click.IntRange(min=4), default=64, show_default=True,
              help="Discriminator width (channels of its first layer).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=2e-4, show_default=True)
@click.option("--beta1", type=click.FloatRange(0, 1), default=0.5, show_default=True)
@click.option("--real-label", type=click.FloatRange(0.5, 1), default=1.0, show_default=True,
              help="D's target for real images; 0.9 is one-sided label smoothing.")
@click.option("--label-noise", type=click.FloatRange(0, 0.5), default=0.0, show_default=True,
              help="Fraction of D's labels flipped at random.")
@click.option("--flip/--no-flip", default=True, show_default=True,
              help="Random horizontal flips of the training images.")
@click.option("--ema", type=click.FloatRange(0, 1, max_open=True), default=0.999,
              show_default=True, help="Decay of the generator's moving average (used for "
              "samples); 0 turns it off.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(file_okay=False), help="Run folder [default: runs/<name>].")
@click.option("--name", help="Run name under runs/ [default: data name and time].")
@click.option("--resume", type=click.Path(file_okay=False),
              help="Continue the run in this folder from its newest good checkpoint.")
@click.option("--init", "init_from", type=click.Path(dir_okay=True),
              help="Start from this checkpoint, run folder or exported generator "
              "(fine-tuning); optimizer state starts fresh.")
@click.option("--log-every", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--sample-every", type=click.IntRange(min=1), default=250, show_default=True,
              help="Steps between fixed-noise progress grids.")
@click.option("--ckpt-every", type=click.IntRange(min=1), default=250, show_default=True,
              help="Steps between checkpoints.")
@click.option("--keep", type=click.IntRange(min=1), default=3, show_default=True,
              help="Checkpoints kept (older ones are deleted once a newer one is complete).")
@click.option("--demo-count", type=click.IntRange(min=64), default=4096, show_default=True,
              help="How many faces --data demo draws.")
@click.option("--tf32", is_flag=True, help="GPU only: let cuBLAS use TF32 tensor cores for "
              "float32 matrix products (faster, ~1e-3 relative precision).")
@click.option("--inject-nan-at", type=int, hidden=True)
@click.option("--on-nan", type=click.Choice(["stop", "rollback"]), default="stop",
              show_default=True, help="When a loss or weight becomes NaN/inf: stop, or reload "
              "the last good checkpoint, halve the learning rate and go on.")
@DEVICE_OPTION
def train(data, size, steps, epochs, batch, nz, ngf, ndf, lr, beta1, real_label, label_noise,
          flip, ema, seed, out, name, resume, init_from, log_every, sample_every, ckpt_every,
          keep, demo_count, tf32, inject_nan_at, on_nan, device):
    """Train a DCGAN on a set of face images.

    \b
    Examples:
      tinygan train --data demo --steps 200 --size 32
      tinygan train --data faces.zip --epochs 10 --device gpu
      tinygan train --resume runs/faces        # continue after a stop or a crash
    """
    from . import parallel
    from .data import DataError, load_images
    from .train import TrainingError, read_config

    try:
        world = parallel.world()   # this process alone, or one of the ranks mpiexec started
    except parallel.ParallelError as exc:
        fail(str(exc))
    if tf32:
        enable_tf32()
    device = device_or_fail(device)
    if resume:
        if not os.path.isdir(resume):
            fail(f"--resume {resume}: no such run folder")
        try:
            config = read_config(resume)
        except TrainingError as exc:
            fail(str(exc))
        if steps:
            config["steps"] = steps
        run_dir = resume
    else:
        if not data:
            fail("--data is required (a zip, a folder, a .npy/.npz, or 'demo'); "
                 "or --resume RUN_DIR")
        if steps and epochs:
            fail("give --steps or --epochs, not both")
        name = name or f"{os.path.splitext(os.path.basename(data.rstrip('/')))[0]}-" \
                        f"{time.strftime('%Y%m%d-%H%M%S')}"
        run_dir = out or os.path.join("runs", name)
        if ckpt.list_checkpoints(run_dir):
            fail(f"{run_dir} already holds a run; use --resume {run_dir} or another --out")
        config = dict(data=os.path.abspath(data) if data != "demo" else "demo", size=int(size),
                      nz=nz, ngf=ngf, ndf=ndf, batch=batch, lr=lr, beta1=beta1, beta2=0.999,
                      real_label=real_label, label_noise=label_noise, flip=flip, ema=ema,
                      seed=seed, steps=steps, epochs=epochs, log_every=log_every,
                      sample_every=sample_every, ckpt_every=ckpt_every, keep=keep,
                      demo_count=demo_count, init=init_from)
    if inject_nan_at is not None:
        config["inject_nan_at"] = inject_nan_at
    config["on_nan"] = on_nan
    if problem := world.argument_problem(config, run_dir):
        fail(problem)

    try:
        images, report = load_images(config["data"], config["size"], demo_count=config["demo_count"],
                                     seed=config["seed"],
                                     progress_factory=lambda n: tqdm_bar(total=n, desc="decoding",
                                                                         unit="img", leave=False))
    except DataError as exc:
        fail(str(exc))
    click.echo(f"data: {report}, kept in memory as uint8 "
               f"({images.nbytes / 2**20:.0f} MB)", err=True)
    if report.n_skipped:
        click.echo(f"warning: skipped {report.n_skipped} files that could not be used", err=True)
    if problem := world.data_problem(images):
        fail(problem)
    if len(images) < config["batch"]:
        fail(f"the data has {len(images)} images, fewer than one batch of {config['batch']}; "
             "use a smaller --batch")
    steps_per_epoch = len(images) // config["batch"]
    total = config["steps"] or int(round((config["epochs"] or 25) * steps_per_epoch))

    try:
        with world.run_folder(run_dir):   # rank 0's alone when several ranks train
            trainer = world.trainer(config, run_dir, images, device=device,
                                    log=lambda m: click.echo(m, err=True))
            if resume:
                trainer.resume()
            else:
                if init_from:
                    _init_from(trainer, init_from)
                trainer.save_config()
            if trainer.step >= total:
                click.echo(f"{run_dir} is already at step {trainer.step} of {total}; "
                           "pass a larger --steps to train on", err=True)
                return
            click.echo(f"training {run_dir}: step {trainer.step} -> {total} on {device} "
                       f"({steps_per_epoch} steps per epoch)", err=True)
            bar = tqdm_bar(total=total, initial=trainer.step, desc="train", unit="step")
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
                   f"tinygan train --resume {run_dir}", err=True)
        sys.exit(130)
    click.echo(f"done: {run_dir} (step {trainer.step}). Sample with: tinygan sample "
               f"--checkpoint {run_dir}", err=True)


def _init_from(trainer, path):
    """Copy G (and D, when the file has one) from a checkpoint or exported generator."""
    from .generate import NoModelError, find_checkpoint
    try:
        path = find_checkpoint(path)
        arrays, meta = ckpt.load(path)
    except (NoModelError, ckpt.CheckpointError) as exc:
        fail(f"--init: {exc}")
    for key in ("size", "nz", "ngf"):
        if meta["config"].get(key) != trainer.config[key]:
            fail(f"--init {path}: it was trained with --{key} {meta['config'].get(key)}, "
                 f"this run uses {trainer.config[key]}")
    gan = trainer.gan
    # ckpt.load checked every array against the file's config, which matches this run's
    g_state = ckpt.section(arrays, "G_ema") or ckpt.section(arrays, "G")
    gan.G.load_state_dict({k: v.astype(np.float32) for k, v in g_state.items()})
    gan.G_ema.load_state_dict({k: v.astype(np.float32) for k, v in g_state.items()})
    d_state = ckpt.section(arrays, "D")
    if d_state and meta["config"].get("ndf") == trainer.config["ndf"]:
        gan.D.load_state_dict(d_state)
    click.echo(f"initialised from {path}", err=True)


# -------------------------------------------------------------------------------------- sample
def _load_or_fail(checkpoint, device, with_discriminator=False):
    from .generate import NoModelError, find_checkpoint, load_generator
    try:
        path = find_checkpoint(checkpoint)
        G, D, meta = load_generator(path, device, with_discriminator=with_discriminator)
    except (NoModelError, ckpt.CheckpointError) as exc:
        fail(str(exc))
    return path, G, D, meta


@main.command()
@click.option("-n", "n", type=int, default=64, show_default=True, help="How many faces.")
@click.option("--checkpoint", help="Checkpoint file or run folder [default: the newest run "
              "under runs/, else the shipped pretrained model].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", default="samples.png", show_default=True, help="Grid PNG to write.")
@click.option("--separate", type=click.Path(file_okay=False),
              help="Also write one PNG per face into this folder (avatars).")
@click.option("--truncation", type=click.FloatRange(min=0, min_open=True),
              help="Redraw noise values beyond this magnitude: more typical, less varied faces.")
@click.option("--best", type=click.IntRange(min=1), help="Draw 4x more faces and keep the "
              "N that the discriminator rates most real (needs a training checkpoint).")
@click.option("--cols", type=click.IntRange(min=1), help="Grid columns [default: square].")
@DEVICE_OPTION
def sample(n, checkpoint, seed, out, separate, truncation, best, cols, device):
    """Draw new faces from a trained generator into a grid PNG."""
    from .generate import best_of, generate, latent
    from .images import grid, save_png
    if n < 1:
        fail(f"-n must be at least 1, not {n}")
    if best and best != n:
        n = best
    device = device_or_fail(device)
    path, G, D, meta = _load_or_fail(checkpoint, device, with_discriminator=bool(best))
    nz = meta["config"]["nz"]
    if best:
        faces = best_of(G, D, latent(seed, 4 * n, nz, truncation), n, device)
    else:
        faces = generate(G, latent(seed, n, nz, truncation), device)
    try:
        save_png(grid(faces, cols), out)
        if separate:
            from PIL import Image
            os.makedirs(separate, exist_ok=True)
            for i, face in enumerate(faces):
                Image.fromarray(face).save(os.path.join(separate, f"face_{seed}_{i:04d}.png"))
    except OSError as exc:
        fail(f"cannot write {exc.filename or out}: {exc.strerror}")
    click.echo(f"wrote {out} ({len(faces)} faces from {path})"
               + (f" and {len(faces)} PNGs in {separate}" if separate else ""), err=True)


@main.command()
@click.argument("seed_a", type=int)
@click.argument("seed_b", type=int)
@click.option("--checkpoint", help="Checkpoint file or run folder [default: as for sample].")
@click.option("--frames", type=click.IntRange(min=2), default=48, show_default=True)
@click.option("--out", default="interpolation.gif", show_default=True)
@DEVICE_OPTION
def interpolate(seed_a, seed_b, checkpoint, frames, out, device):
    """A GIF walking latent space from the face of SEED_A to that of SEED_B and back."""
    from PIL import Image

    from .generate import generate, latent, slerp
    from .images import save_gif
    device = device_or_fail(device)
    path, G, _, meta = _load_or_fail(checkpoint, device)
    nz = meta["config"]["nz"]
    a, b = latent(seed_a, 1, nz)[0], latent(seed_b, 1, nz)[0]
    ts = np.linspace(0, 1, frames)
    z = np.stack([slerp(a, b, t) for t in np.concatenate([ts, ts[::-1][1:-1]])]).astype(np.float32)
    faces = generate(G, z, device)
    big = [np.asarray(Image.fromarray(f).resize((128, 128), Image.NEAREST)) for f in faces]
    try:
        save_gif(big, out, duration_ms=60, last_frame_ms=60)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}")
    click.echo(f"wrote {out} ({len(big)} frames from {path})", err=True)


# ------------------------------------------------------------------------------- info / export
@main.command()
@click.argument("checkpoint")
def info(checkpoint):
    """Print a checkpoint's config, the step reached and parameter counts."""
    from .generate import NoModelError, find_checkpoint
    from .models import discriminator, generator
    try:
        path = find_checkpoint(checkpoint)
        arrays, meta = ckpt.load(path)
    except (NoModelError, ckpt.CheckpointError) as exc:
        fail(str(exc))
    config = meta.get("config", {})
    click.echo(f"file: {path}")
    click.echo(f"step: {meta.get('step')}  epoch: {meta.get('epoch', 0):.2f}")
    for part in ("G", "G_ema", "D"):
        count = sum(v.size for k, v in ckpt.section(arrays, part).items()
                    if not k.endswith(("running_mean", "running_var")))
        if count:
            click.echo(f"{part}: {count:,} parameters")
    try:
        g, d = generator(config["size"], config["nz"], config["ngf"]), \
            discriminator(config["size"], config["ndf"])
        click.echo(f"architecture: G {g.num_parameters():,} / D {d.num_parameters():,} "
                   "parameters for this config")
    except (KeyError, ValueError):
        pass
    for key in ("model_card",):
        if key in meta:
            click.echo(f"{key}: {json.dumps(meta[key], indent=2)}")
    click.echo("config: " + json.dumps(config, indent=2, sort_keys=True))


@main.command()
@click.argument("checkpoint")
@click.option("--out", required=True, help="The .npz file to write.")
@click.option("--float16/--float32", default=True, show_default=True,
              help="Store weights in half precision (half the size).")
@click.option("--card", type=click.Path(exists=True, dir_okay=False),
              help="A JSON file of model-card facts stored with the weights.")
@click.option("--raw", is_flag=True, help="Export G instead of its moving average.")
@click.option("--average", type=click.IntRange(min=1), default=1, show_default=True,
              help="Average the generator weights of the run's newest N checkpoints "
              "(checkpoint averaging; CHECKPOINT must then be a run folder).")
@click.option("--recalibrate/--no-recalibrate", default=True, show_default=True,
              help="Re-estimate BatchNorm statistics for the exported weights.")
def export(checkpoint, out, float16, card, raw, average, recalibrate):
    """Write a generator-only file (for sampling and fine-tuning) from a checkpoint."""
    from .gan import recalibrate_batchnorm
    from .generate import NoModelError, find_checkpoint
    from .models import generator
    if average > 1 and not (checkpoint and os.path.isdir(checkpoint)):
        fail("--average needs a run folder as CHECKPOINT")
    try:
        paths = ckpt.list_checkpoints(checkpoint)[:average] if average > 1 \
            else [find_checkpoint(checkpoint)]
        if len(paths) < average:
            fail(f"{checkpoint} holds {len(paths)} checkpoints, fewer than --average {average}")
        loaded = [ckpt.load(p) for p in paths]
    except (NoModelError, ckpt.CheckpointError) as exc:
        fail(str(exc))
    meta = loaded[0][1]   # the newest checkpoint speaks for the config and step
    config = meta["config"]
    G = generator(config["size"], config["nz"], config["ngf"])
    part = "G" if raw else "G_ema"
    states = [ckpt.section(a, part) or ckpt.section(a, "G") for a, _ in loaded]
    G.load_state_dict({k: np.mean([st[k] for st in states], axis=0) for k in states[0]})
    if recalibrate:
        recalibrate_batchnorm(G, config["nz"], seed=config.get("seed", 0), batches=32)
    dtype = np.float16 if float16 else np.float32
    exported = {f"G_ema/{k}": v.astype(dtype) for k, v in G.state_dict().items()}
    keep = ("size", "nz", "ngf", "ndf", "seed")
    new_meta = dict(config={k: config[k] for k in keep if k in config}, step=meta.get("step"),
                    source=", ".join(os.path.basename(p) for p in paths),
                    weights=("G" if raw else "G_ema") + (f", mean of {average}" if average > 1 else ""))
    if card:
        with open(card) as f:
            new_meta["model_card"] = json.load(f)
    ckpt.save(out, exported, new_meta)
    click.echo(f"wrote {out} ({os.path.getsize(out) / 2**20:.1f} MB, step {meta.get('step')})",
               err=True)


# -------------------------------------------------------------------------------- gradcheck
@main.command()
@click.option("--tol", type=float, default=1e-6, show_default=True)
def gradcheck(tol):
    """Check every layer's backward pass against finite differences (float64)."""
    from .gradcheck import run_all
    worst = 0.0
    for name, errors in run_all():
        line = "  ".join(f"d{k} {v:.1e}" for k, v in errors.items())
        status = "ok" if max(errors.values()) < tol else "FAIL"
        worst = max(worst, max(errors.values()))
        click.echo(f"{name:<32} {status:<4}  max rel. error {max(errors.values()):.1e}  ({line})")
    click.echo(f"worst relative error {worst:.1e} (tolerance {tol:g})")
    if worst >= tol:
        sys.exit(1)


# ------------------------------------------------------------------------------------- eval
@main.command("eval")
@click.option("--checkpoint", help="Checkpoint file or run folder to score [default: as for "
              "sample].")
@click.option("--samples", help="Score these images instead of a model: a folder, zip or "
              ".npy/.npz of uint8 (N,H,W,3).")
@click.option("--data", required=True, help="The real images to compare with.")
@click.option("-n", "n", type=click.IntRange(min=16), default=2048, show_default=True,
              help="Images per set.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--train-mode-bn", is_flag=True, help="Generate with batch statistics "
              "instead of running statistics.")
@click.option("--size", type=click.Choice(["32", "64", "96", "128"]), default="64",
              show_default=True, help="With --samples: the size both sets are compared at.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line.")
@DEVICE_OPTION
def evaluate(checkpoint, samples, data, n, seed, train_mode_bn, size, as_json, device):
    """Score generated faces against real ones (SWD, lower is better).

    The multi-scale sliced Wasserstein distance x1e3 of Karras et al. 2018, per pyramid level
    and averaged, with the real-vs-real floor of two disjoint real subsets beside it."""
    from .data import DataError, load_images
    from .swd import swd
    device = device_or_fail(device)
    if samples:
        try:
            fake, _ = load_images(samples, int(size))
        except DataError as exc:
            fail(str(exc))
        what = samples
    else:
        from .generate import generate, latent
        path, G, _, meta = _load_or_fail(checkpoint, device)
        size = meta["config"]["size"]
        z = latent(seed + 1000, n, meta["config"]["nz"])
        fake = generate(G, z, device, batch_statistics=train_mode_bn)
        what = f"{path} (step {meta.get('step')})"
    try:
        real, _ = load_images(data, size, demo_count=2 * n, seed=seed + 1)
    except DataError as exc:
        fail(str(exc))
    if len(real) < 2 * n:
        fail(f"{data}: {len(real)} images, need {2 * n} (two disjoint sets of -n {n})")
    if len(fake) < n:
        fail(f"{samples}: {len(fake)} images, need -n {n}")
    order = np.random.default_rng(seed).permutation(len(real))
    real_a, real_b = real[order[:n]], real[order[n:2 * n]]
    result = swd(fake[:n], real_a, seed=seed)
    floor = swd(real_b, real_a, seed=seed)
    if as_json:
        click.echo(json.dumps(dict(what=what, n=n, swd={str(k): v for k, v in result.items()},
                                   floor={str(k): v for k, v in floor.items()})))
        return
    levels = [k for k in result if k != "avg"]
    click.echo(f"SWD x1e3, {n} vs {n} images ({what}); lower is better")
    click.echo(f"{'':<18}" + "".join(f"{lv:>8}" for lv in levels) + f"{'avg':>8}")
    for label, r in (("generated vs real", result), ("real vs real", floor)):
        click.echo(f"{label:<18}" + "".join(f"{r[lv]:8.2f}" for lv in levels) + f"{r['avg']:8.2f}")


if __name__ == "__main__":
    main()
