"""`tinygan data check`: what a set of images will give a training run, before it starts."""

import click

from . import count, fail, main, output_path, tqdm_bar


@main.group()
def data():
    """Look at a set of training images before training on it."""


@data.command()
@click.argument("source")
@click.option("--size", type=click.Choice(["32", "64", "96", "128"]), default="64",
              show_default=True, help="The training size to check against (as train --size).")
@click.option("--sheet", help="Contact sheet PNG of 64 images as training sees them "
              "[default: data-check.png, numbered past an existing one].")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Picks the images on the contact sheet.")
def check(source, size, sheet, seed):
    """Count, size and decode the images of SOURCE (a zip, tar, folder, .npy/.npz) as
    `tinygan train --data SOURCE` would: how many files it holds, the sizes they come in,
    how many decoding crops to a square, enlarges or takes from an animation, every file it
    skips and why, and a contact sheet of 64 of them.

    The decoded images go into the decode cache, so a training run on the same SOURCE and
    --size starts without decoding again."""
    from ..data.check import check as check_data
    from ..data.check import contact_sheet_indices
    from ..data.images import grid, save_png
    from ..data.load import DataError
    size = int(size)
    sheet, replacing = output_path(sheet, "data-check.png")
    try:
        images, _, lines = check_data(source, size, progress_factory=lambda n: tqdm_bar(
            total=n, desc="decoding (once, into the cache)", unit="img", leave=False))
    except DataError as exc:
        fail(str(exc))
    for line in lines:
        click.echo(line)
    shown = contact_sheet_indices(len(images), seed=seed)
    try:
        save_png(grid(images[shown]), sheet)
    except OSError as exc:
        fail(f"--sheet {sheet}: {exc.strerror or exc}")
    click.echo(f"wrote {sheet}: {count(len(shown), 'image')} as training sees them{replacing}")
