"""`tinygan sample` and `tinygan interpolate`: drawing faces from a trained generator, each
face with its id (tinygan/draw/ids.py), which draws it again."""

import os

import click
import numpy as np
from click.core import ParameterSource

from . import (
    DEVICE_OPTION,
    MODEL_OPTION,
    TEXTBOOK_OPTION,
    count,
    device_or_fail,
    fail,
    load_or_fail,
    main,
    output_path,
)

RESAMPLE_OPTION = click.option(
    "--resample", type=click.Choice(["lanczos", "nearest"]), default="lanczos",
    show_default=True, help="How --scale enlarges: lanczos (smooth, a windowed-sinc filter) or "
    "nearest (each pixel a block, pixel for pixel).")


def parse_ids(texts):
    """FaceIds for ids given on the command line (a file name ID.png also names its id)."""
    from ..draw.ids import IdError, parse
    try:
        return [parse(os.path.basename(t).removesuffix(".png")) for t in texts]
    except IdError as exc:
        fail(str(exc))


def load_model_or_fail(checkpoint, model, device, faces=(), with_discriminator=False,
                       textbook=False):
    """The Model to draw from: --checkpoint or --model, else the shipped model that the given
    faces' ids name, else as load_or_fail decides; a one-line error if it did not draw them."""
    from ..draw.avatars import Model
    from ..draw.ids import IdError, check_model, model_tag, shipped_name
    tags = sorted({face.tag for face in faces})
    if len(tags) > 1:
        fail(f"these ids name different models ({', '.join(tags)}): draw one model's at a time")
    if tags and not (checkpoint or model):
        model = shipped_name(tags[0])
    path, G, D, meta = load_or_fail(checkpoint, device, with_discriminator, model=model,
                                    textbook=textbook)
    loaded = Model(path, G, D, meta, model_tag(path, G), device)
    try:
        check_model(faces, loaded.tag)
    except IdError as exc:
        fail(f"{exc}{_hint(tags[0], loaded.tag)}")
    return loaded


def _hint(wanted, loaded):
    from ..draw.ids import shipped_name
    name = shipped_name(wanted)
    if name and shipped_name(loaded) == name:
        return f"; this installation's {name} model is another version, which cannot draw it"
    return f"; --model {name} draws it" if name else "; give --checkpoint the model that drew it"


def describe(ids):
    """A short line naming the faces' ids."""
    names = [str(face) for face in ids]
    if len(names) <= 4:
        return ", ".join(names)
    return f"{names[0]}, {names[1]}, ... {names[-1]} (--labels writes each under its face)"


@main.command(short_help="Draw faces into a grid PNG, each with an id that draws it again.")
@click.option("-n", "n", type=int, default=64, show_default=True,
              help="How many faces (with --best N or --sharpest N: N).")
@click.option("--checkpoint", help="Checkpoint file or run folder [default: the newest run "
              "under runs/, else the shipped anime model; with --id or --like, the shipped "
              "model the id names].")
@MODEL_OPTION
@click.option("--seed", type=click.IntRange(0, 2 ** 32 - 1), default=0, show_default=True,
              help="Picks the noise: the same seed draws the same faces. With --like, picks "
              "which variations: seed S draws variations S x N to S x N + N - 1.")
@click.option("--id", "face_ids", multiple=True, metavar="ID", help="Draw this face, named "
              "by its id (as --labels shows it and --separate names its file, e.g. "
              "anime-a296-7-12); repeat for more faces.")
@click.option("--like", metavar="ID", help="Draw N variations of this face: its neighbours "
              "in latent space.")
@click.option("--spread", type=click.FloatRange(0.01, 4), default=0.4, show_default=True,
              help="How far --like's variations go from the face: 0.2 stays close, 1 is far "
              "(two decimals at most, as the ids record it).")
@click.option("--out", help="Grid PNG to write [default: samples.png, or samples-2.png, -3, "
              "... if it exists: an earlier grid is never replaced unless named].")
@click.option("--separate", type=click.Path(file_okay=False),
              help="Also write each face into this folder as ID.png, named by its id.")
@click.option("--labels", is_flag=True, help="Write each face's id under it in the grid.")
@click.option("--scale", type=click.IntRange(1, 16), default=1, show_default=True,
              help="Enlarge every face this many times, in the grid and with --separate "
              "(4 turns 64 px faces into 256 px avatars).")
@RESAMPLE_OPTION
@click.option("--truncation", type=click.FloatRange(min=0, min_open=True),
              help="Redraw noise values beyond this magnitude: less varied faces (two "
              "decimals at most, as the ids record it). With the BatchNorm generators it "
              "pulls faces towards the blurry average face (measured: docs/results.md).")
@click.option("--best", type=click.IntRange(min=1), help="Draw 4x more faces and keep the "
              "N that the discriminator rates most real (a training checkpoint or a shipped "
              "model: they carry their discriminator). Convincing to D is not the same as "
              "well formed (measured: docs/results.md).")
@click.option("--sharpest", type=click.IntRange(min=1), help="Draw 4x more faces and keep "
              "the N whose middles are sharpest (the mean size of the Laplacian over the "
              "central half of each face, a blur detector): fewer smeared faces (measured: "
              "docs/results.md).")
@click.option("--cols", type=click.IntRange(min=1), help="Grid columns [default: square].")
@TEXTBOOK_OPTION
@DEVICE_OPTION
def sample(n, checkpoint, model, seed, face_ids, like, spread, out, separate, labels, scale,
           resample, truncation, best, sharpest, cols, textbook, device):
    """Draw new faces from a trained generator into a grid PNG. Every face has an id (shown by
    --labels, the file name with --separate) that draws it again: sample --id ID."""
    from ..draw.avatars import PICKED_FROM
    given = {name for name in ("n", "seed") if click.get_current_context()
             .get_parameter_source(name) is ParameterSource.COMMANDLINE}
    if n < 1:
        fail(f"-n must be at least 1, not {n}")
    if best and sharpest:
        fail("--best and --sharpest each pick faces: give one of them")
    picked = best or sharpest
    if picked and "n" in given and n != picked:
        fail(f"-n {n} and --{'best' if best else 'sharpest'} {picked} disagree: the picked "
             "faces are all that is drawn; give one number")
    n = picked or n
    if face_ids:
        clash = [flag for flag, on in (("-n", "n" in given), ("--seed", "seed" in given),
                                       ("--like", like), ("--truncation", truncation),
                                       ("--best", best), ("--sharpest", sharpest)) if on]
        if clash:
            fail(f"--id draws the faces it names: {', '.join(clash)} cannot change them")
    if like and truncation:
        fail("--truncation draws new faces; --like varies a face that is already drawn")
    drawn = n * (PICKED_FROM if picked else 1)
    if drawn > 65536:
        fail(f"at most 65,536 faces are drawn at once (ids number a seed's faces up to "
             f"65,535), not {drawn:,}")
    named = parse_ids(face_ids or ([like] if like else []))
    out, replacing = output_path(out, "samples.png")
    device = device_or_fail(device)
    loaded = load_model_or_fail(checkpoint, model, device, named, with_discriminator=bool(best),
                                textbook=textbook)
    picked_by = "best" if best else "sharpest" if sharpest else None
    faces, ids = _draw(loaded, named if face_ids else None, named[0] if like else None,
                       seed, drawn, spread, truncation, n, picked_by)
    _write(faces, ids, out, separate, labels, scale, resample, cols)
    size = f" of {loaded.size * scale} px" if scale > 1 else ""
    click.echo(f"wrote {out} ({count(len(faces), 'face')}{size} from {loaded.path})"
               + (f" and {count(len(faces), 'PNG')} in {separate}, named by id" if separate
                  else "") + replacing, err=True)
    click.echo(f"ids: {describe(ids)}", err=True)


def _draw(loaded, face_ids, like, seed, drawn, spread, truncation, keep, picked_by):
    """(faces, ids): the faces named, or variations of `like`, or a seed's; picked if asked."""
    from ..draw.avatars import draw, grid_ids, like_ids, pick
    from ..draw.ids import IdError
    try:
        if face_ids:
            ids = face_ids
        elif like:
            ids = like_ids(like, drawn, seed * drawn, spread)
        else:
            ids = grid_ids(loaded.tag, seed, drawn, truncation)
        if picked_by:
            return pick(loaded, ids, keep, picked_by)
        return draw(loaded, ids), ids
    except IdError as exc:
        fail(str(exc))


def _write(faces, ids, out, separate, labels, scale, resample, cols):
    from ..data.images import grid, save_png
    from ..draw.avatars import enlarged, labelled_grid
    faces = enlarged(faces, scale, resample)
    try:
        save_png(labelled_grid(faces, [str(i) for i in ids], cols) if labels
                 else grid(faces, cols), out)
        if separate:
            os.makedirs(separate, exist_ok=True)
            for face, face_id in zip(faces, ids):
                save_png(face, os.path.join(separate, f"{face_id}.png"))
    except OSError as exc:
        fail(f"cannot write {exc.filename or out}: {exc.strerror}")


@main.command(short_help="A GIF walking latent space between two faces.")
@click.argument("face_a", metavar="A")
@click.argument("face_b", metavar="B")
@click.option("--checkpoint", help="Checkpoint file or run folder [default: as for sample].")
@MODEL_OPTION
@click.option("--frames", type=click.IntRange(min=2), default=48, show_default=True,
              help="Frames from A to B. The GIF walks back to A too, so it holds "
              "2 x FRAMES - 2 frames in all (94 for 48).")
@click.option("--scale", type=click.IntRange(min=1), help="Enlarge each frame this many "
              "times [default: to 128 px or more, e.g. 4 for 32 px, 2 for 64 and 96 px, 1 "
              "for 128 px].")
@RESAMPLE_OPTION
@click.option("--out", help="GIF to write [default: interpolation.gif, numbered past an "
              "existing one, as sample's grid].")
@TEXTBOOK_OPTION
@DEVICE_OPTION
def interpolate(face_a, face_b, checkpoint, model, frames, scale, resample, out, textbook,
                device):
    """A GIF walking latent space from face A to face B and back. A and B are face ids (as
    sample --labels shows them), or seeds: a number N is face 0 of seed N."""
    from ..data.images import save_gif
    from ..draw.avatars import enlarged
    from ..draw.generate import generate, slerp
    from ..draw.ids import face_id, noise
    named = parse_ids([a for a in (face_a, face_b) if not a.isdigit()])
    out, replacing = output_path(out, "interpolation.gif")
    device = device_or_fail(device)
    loaded = load_model_or_fail(checkpoint, model, device, named, textbook=textbook)
    ends = [face_id(loaded.tag, int(a), 0) if a.isdigit() else named.pop(0)
            for a in (face_a, face_b)]
    a, b = noise(ends, loaded.nz)
    ts = np.linspace(0, 1, frames)
    z = np.stack([slerp(a, b, t) for t in np.concatenate([ts, ts[::-1][1:-1]])]).astype(np.float32)
    scale = scale or max(1, -(-128 // loaded.size))
    pictures = list(enlarged(generate(loaded.G, z, device), scale, resample))
    try:
        save_gif(pictures, out, duration_ms=60, last_frame_ms=60)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}")
    walk = (f"seed {face_a} to {face_b}" if face_a.isdigit() and face_b.isdigit()
            else f"{ends[0]} to {ends[1]}")
    click.echo(f"wrote {out}: {len(pictures)} frames ({frames} from {walk}, {frames - 2} "
               "back), "
               f"{loaded.size * scale} px ({loaded.size} px x{scale}), from {loaded.path}"
               + replacing, err=True)
