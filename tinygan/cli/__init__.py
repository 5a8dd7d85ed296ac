"""The `tinygan` command line: the command group and the helpers its commands share.

Each family of commands lives in its own module: train.py (train, with train_options.py for
its options and starting.py for where a run starts from), sample.py (sample, interpolate),
runs.py (info, runs, plot, export), evaluate.py (eval), gradcheck.py (gradcheck), data.py
(data check), serve.py (serve).

Every problem a user can cause (a missing file, bad data, a bad option) ends with a one-line
message and exit code 2, never a traceback.
"""

import os

import click

from ..nn.backend import DEVICES, DeviceError, resolve_device
from ..run import checkpoint as ckpt
from ..run import launch

DEVICE_OPTION = click.option("--device", type=click.Choice(DEVICES), default="auto",
                             show_default=True, help="cpu (NumPy), gpu (CuPy), or auto: gpu "
                             "when CuPy sees one, else cpu.")


TEXTBOOK_OPTION = click.option("--textbook", is_flag=True, help="Build the networks from "
                               "the textbook layers of tinygan/nn/ (the code the docs walk "
                               "through) instead of tinygan/fast/: the same faces, slower.")


MODEL_OPTION = click.option("--model", type=click.Choice(["anime", "human"]), help="Use a "
                            "model shipped with tinygan: anime faces or human faces [default "
                            "without --checkpoint: the newest run under runs/, else anime].")


def fail(message):
    """Stop with a one-line error and exit code 2."""
    raise click.UsageError(message)


def count(n, noun, plural=None):
    """'1 face', '2 faces', '1 process', '12,000 images'."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def megabytes(nbytes):
    """A size in MB of 10^6 bytes, with a decimal while small (never '0 MB')."""
    mb = nbytes / 1e6
    return f"{mb:.0f} MB" if mb >= 10 else f"{mb:.1f} MB" if mb >= 0.1 else "<0.1 MB"


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
    """tinygan: a from-scratch GAN in NumPy/CuPy that draws anime-style and human faces.

    \b
    Quick start:
      tinygan train --data demo --steps 200 --size 32     # no download needed
      tinygan train --data faces.zip --device gpu        # your own faces
      tinygan sample -n 64                               # a grid of new faces
    """
    launch.hold_output()   # under mpiexec, rank 0 speaks for all ranks


def load_or_fail(checkpoint, device, with_discriminator=False, model=None, textbook=False):
    """(path, G, D or None, meta) for a checkpoint argument or a shipped model's name, or a
    one-line error; `textbook` builds the networks from the textbook layers."""
    from ..draw.generate import NoModelError, find_checkpoint, load_generator, shipped_model
    if checkpoint and model:
        fail("give --checkpoint or --model, not both")
    try:
        path = shipped_model(model) if model else find_checkpoint(checkpoint)
        G, D, meta = load_generator(path, device, with_discriminator=with_discriminator,
                                    fast=not textbook)
    except (NoModelError, ckpt.CheckpointError) as exc:
        fail(str(exc))
    note_model(path, meta, chosen=bool(checkpoint or model))
    return path, G, D, meta


EARLY_STEP = 500   # before this, a run draws grey patterns and blobs, not faces yet


def note_model(path, meta, chosen):
    """Say which model a command uses when the user did not name one (the newest run under
    runs/, however young), and warn when it is a checkpoint too early to draw faces."""
    from ..draw.generate import PRETRAINED_DIR
    shipped = os.path.samefile(os.path.dirname(os.path.abspath(path)), PRETRAINED_DIR)
    if shipped:
        return
    step = meta.get("step")
    if not chosen:
        click.echo(f"note: no --checkpoint or --model given: using {path}, the newest run's "
                   f"checkpoint (step {step})", err=True)
    if isinstance(step, int) and step < EARLY_STEP:
        where = os.path.dirname(path) if ckpt.PREFIX in os.path.basename(path) else path
        click.echo(f"note: {where} is at step {step}: faces come after a few hundred steps; "
                   "--model anime draws the shipped model", err=True)


def output_path(out, default):
    """Where a picture goes: --out as given (an existing file is replaced, and the command
    says so), or else `default`, numbered (samples-2.png, -3, ...) past any earlier result so
    that a second run never destroys the first. Returns (path, what to say about it)."""
    if out:
        return out, "; it replaced the earlier file" if os.path.exists(out) else ""
    stem, ext = os.path.splitext(default)
    path, k = default, 1
    while os.path.exists(path):
        k += 1
        path = f"{stem}-{k}{ext}"
    return path, f"; {default}, an earlier result, is kept" if k > 1 else ""


# the command modules register themselves on `main`; imported last, as they import it
from . import data, evaluate, gradcheck, runs, sample, serve, train  # noqa: E402,F401
