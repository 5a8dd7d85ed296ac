"""`tinygan sample` and `tinygan interpolate`: drawing faces from a trained generator."""

import os

import click
import numpy as np
from click.core import ParameterSource

from . import (
    DEVICE_OPTION,
    MODEL_OPTION,
    count,
    device_or_fail,
    fail,
    load_or_fail,
    main,
    output_path,
)


@main.command()
@click.option("-n", "n", type=int, default=64, show_default=True,
              help="How many faces (with --best N or --sharpest N: N).")
@click.option("--checkpoint", help="Checkpoint file or run folder [default: the newest run "
              "under runs/, else the shipped anime model].")
@MODEL_OPTION
@click.option("--seed", type=int, default=0, show_default=True,
              help="Picks the noise: the same seed draws the same faces.")
@click.option("--out", help="Grid PNG to write [default: samples.png, or samples-2.png, -3, "
              "... if it exists: an earlier grid is never replaced unless named].")
@click.option("--separate", type=click.Path(file_okay=False),
              help="Also write one PNG per face into this folder (avatars).")
@click.option("--truncation", type=click.FloatRange(min=0, min_open=True),
              help="Redraw noise values beyond this magnitude: less varied faces. With "
              "the BatchNorm generators it pulls faces towards the blurry average face "
              "(measured: docs/results.md).")
@click.option("--best", type=click.IntRange(min=1), help="Draw 4x more faces and keep the "
              "N that the discriminator rates most real (a training checkpoint or a shipped "
              "model: they carry their discriminator). Convincing to D is not the same as "
              "well formed (measured: docs/results.md).")
@click.option("--sharpest", type=click.IntRange(min=1), help="Draw 4x more faces and keep "
              "the N whose middles are sharpest (the mean size of the Laplacian over the "
              "central half of each face, a blur detector): fewer smeared faces (measured: "
              "docs/results.md).")
@click.option("--cols", type=click.IntRange(min=1), help="Grid columns [default: square].")
@DEVICE_OPTION
def sample(n, checkpoint, model, seed, out, separate, truncation, best, sharpest, cols, device):
    """Draw new faces from a trained generator into a grid PNG."""
    from ..data.images import grid, save_png
    from ..draw.generate import best_of, generate, latent, sharpest_of
    if n < 1:
        fail(f"-n must be at least 1, not {n}")
    if best and sharpest:
        fail("--best and --sharpest each pick faces: give one of them")
    picked = best or sharpest
    given_n = click.get_current_context().get_parameter_source("n") is ParameterSource.COMMANDLINE
    if picked and given_n and n != picked:
        fail(f"-n {n} and --{'best' if best else 'sharpest'} {picked} disagree: the picked "
             "faces are all that is drawn; give one number")
    n = picked or n
    out, replacing = output_path(out, "samples.png")
    device = device_or_fail(device)
    path, G, D, meta = load_or_fail(checkpoint, device, with_discriminator=bool(best),
                                   model=model)
    nz = meta["config"]["nz"]
    if best:
        faces = best_of(G, D, latent(seed, 4 * n, nz, truncation), n, device)
    elif sharpest:
        faces = sharpest_of(G, latent(seed, 4 * n, nz, truncation), n, device)
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
    click.echo(f"wrote {out} ({count(len(faces), 'face')} from {path})"
               + (f" and {count(len(faces), 'PNG')} in {separate}" if separate else "")
               + replacing,
               err=True)


@main.command(short_help="A GIF walking latent space between the faces of two seeds.")
@click.argument("seed_a", type=int)
@click.argument("seed_b", type=int)
@click.option("--checkpoint", help="Checkpoint file or run folder [default: as for sample].")
@MODEL_OPTION
@click.option("--frames", type=click.IntRange(min=2), default=48, show_default=True,
              help="Frames from A to B. The GIF walks back to A too, so it holds "
              "2 x FRAMES - 2 frames in all (94 for 48).")
@click.option("--scale", type=click.IntRange(min=1), help="Enlarge each frame this many "
              "times, pixel for pixel [default: to 128 px or more, e.g. 4 for 32 px, 2 for "
              "64 and 96 px, 1 for 128 px].")
@click.option("--out", help="GIF to write [default: interpolation.gif, numbered past an "
              "existing one, as sample's grid].")
@DEVICE_OPTION
def interpolate(seed_a, seed_b, checkpoint, model, frames, scale, out, device):
    """A GIF walking latent space from the face of SEED_A to that of SEED_B and back."""
    from ..data.images import enlarge, save_gif
    from ..draw.generate import generate, latent, slerp
    out, replacing = output_path(out, "interpolation.gif")
    device = device_or_fail(device)
    path, G, _, meta = load_or_fail(checkpoint, device, model=model)
    nz, size = meta["config"]["nz"], meta["config"]["size"]
    a, b = latent(seed_a, 1, nz)[0], latent(seed_b, 1, nz)[0]
    ts = np.linspace(0, 1, frames)
    z = np.stack([slerp(a, b, t) for t in np.concatenate([ts, ts[::-1][1:-1]])]).astype(np.float32)
    scale = scale or max(1, -(-128 // size))
    pictures = [enlarge(face, scale) for face in generate(G, z, device)]
    try:
        save_gif(pictures, out, duration_ms=60, last_frame_ms=60)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}")
    click.echo(f"wrote {out}: {len(pictures)} frames ({frames} from seed {seed_a} to "
               f"{seed_b} and back), {size * scale} px ({size} px x{scale}), from {path}"
               + replacing, err=True)
