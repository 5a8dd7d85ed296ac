"""A small training-progress GIF for a README: the first rows x cols faces of every
fixed-noise grid in a run's progress/ folder, with the step written under each frame.

    python scripts/progress_gif.py runs/faces64 --rows 2 --cols 8 --out samples/progress.gif
"""

import argparse
import os

import numpy as np
from PIL import Image, ImageDraw

from tinygan.data.images import save_gif

CELL, PAD = 64, 2   # the layout tinygan's progress grids use (images.grid)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run", help="the run folder (holding progress/*.png grids)")
    p.add_argument("--rows", type=int, default=2, help="rows of faces taken from each grid")
    p.add_argument("--cols", type=int, default=8, help="faces per row taken from each grid")
    p.add_argument("--size", type=int, default=64, help="image size of the run, in pixels")
    p.add_argument("--out", default="progress.gif", help="the GIF to write")
    args = p.parse_args()
    folder = os.path.join(args.run, "progress")
    names = sorted(n for n in os.listdir(folder) if n.endswith(".png"))
    if not names:
        raise SystemExit(f"{folder} holds no progress grids")
    step = args.size + PAD
    width, height = PAD + args.cols * step, PAD + args.rows * step
    frames = []
    for name in names:
        grid = Image.open(os.path.join(folder, name)).convert("RGB")
        frame = Image.new("RGB", (width, height + 16), "white")
        frame.paste(grid.crop((0, 0, width, height)), (0, 0))
        label = f"step {int(name.split('_')[1].split('.')[0])}"
        ImageDraw.Draw(frame).text((4, height + 2), label, fill=(40, 40, 40))
        frames.append(np.asarray(frame))
    save_gif(frames, args.out, duration_ms=400, last_frame_ms=2500)
    print(f"wrote {args.out} ({len(frames)} frames)")


if __name__ == "__main__":
    main()
