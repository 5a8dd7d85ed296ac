"""A small grid of real training faces, to put beside generated ones (keep it a handful:
the images are copyrighted artwork).

    python scripts/research/real_grid.py --data faces.zip -n 16 --out samples/real.png
"""

import argparse

import numpy as np

from tinygan.data.images import grid, save_png
from tinygan.data.load import load_images


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", required=True, default=argparse.SUPPRESS,
                   help="the faces: a zip, tar, folder or .npy")
    p.add_argument("-n", type=int, default=16, help="how many faces, picked at random")
    p.add_argument("--cols", type=int, default=8, help="faces per row of the grid")
    p.add_argument("--size", type=int, default=64, help="side of each face in pixels")
    p.add_argument("--seed", type=int, default=0, help="which faces are picked")
    p.add_argument("--out", default="real.png", help="the PNG to write")
    args = p.parse_args()
    images, _ = load_images(args.data, args.size)
    pick = np.random.default_rng(args.seed).choice(len(images), args.n, replace=False)
    save_png(grid(images[pick], args.cols), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
