"""What a run folder shows while it trains: the fixed-noise progress grids, the grid of real
training images, and the GIF of the progress grids (see tinygan/run/records.py for the folder)."""

import os

import numpy as np

from ..data.images import grid, save_gif, save_png, tile_spread, to_uint8
from ..nn.backend import to_device, to_host

ALIKE_SPREAD = 8      # tile_spread() below this: a progress grid's tiles look the same
EARLY_STEPS = 2000    # ... which, this early in a run, is the untrained G, not a fault
GIF_FRAMES = 60       # at most this many frames in progress.gif


def fixed_noise(config, n=64):
    """The noise behind every progress grid of a run: same faces, watched as they learn."""
    return np.random.default_rng([config["seed"], 7]).standard_normal((n, config["nz"]))


def save_progress_grid(G, config, device, run_dir, step):
    """progress/step_<step>.png: G's faces for the run's fixed noise. Returns the faces (uint8)
    and the file's name."""
    z = to_device(fixed_noise(config).astype(np.float32), device)
    images = to_uint8(to_host(G.forward(z, train=False)))
    folder = os.path.join(run_dir, "progress")
    os.makedirs(folder, exist_ok=True)
    name = f"step_{step:08d}.png"
    save_png(grid(images, 8), os.path.join(folder, name))
    return images, name


def alike_tiles_note(images, name, step):
    """Why a grid's tiles all look the same, when they do (None otherwise), so that it is not
    taken for a bug."""
    spread = tile_spread(images)
    if spread >= ALIKE_SPREAD:
        return None
    why = ("an untrained generator barely uses its noise input yet, so every tile shows "
           "the same grey pattern; faces, and differences between them, come after a few "
           "hundred steps" if step <= EARLY_STEPS else
           "G may have collapsed to a single output (see D(x) and D(G(z)) in log.csv)")
    return (f"note: the 64 tiles of progress/{name} are nearly alike (spread {spread:.1f} "
            f"grey levels, real faces ~40): {why}")


def save_real_grid(batches, run_dir, n=64):
    """real.png: up to n training images as the model sees them, from the first batches (one
    batch of a small --batch would leave most of the grid blank)."""
    count = min(n, batches.steps_per_epoch * batches.batch_size)
    steps = -(-count // batches.batch_size)
    images = np.concatenate([batches.batch(s) for s in range(steps)])[:count]
    save_png(grid(to_uint8(images), min(8, count)), os.path.join(run_dir, "real.png"))


def save_progress_gif(run_dir):
    """progress.gif from the progress grids: an even spread of at most GIF_FRAMES, always
    the last."""
    from PIL import Image
    folder = os.path.join(run_dir, "progress")
    if not os.path.isdir(folder):
        return
    names = sorted(n for n in os.listdir(folder) if n.endswith(".png"))
    if len(names) > GIF_FRAMES:
        picks = np.linspace(0, len(names) - 1, GIF_FRAMES).round().astype(int)
        names = [names[i] for i in sorted(set(picks))]
    frames = []
    for n in names:
        try:
            frames.append(np.asarray(Image.open(os.path.join(folder, n)).convert("RGB")))
        except OSError:   # a damaged frame costs the animation one picture, not the run
            pass
    save_gif(frames, os.path.join(run_dir, "progress.gif"))
