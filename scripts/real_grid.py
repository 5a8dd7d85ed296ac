"""A small grid of real training faces, to put beside generated ones (keep it a handful:
the images are copyrighted artwork).

    python scripts/real_grid.py --data faces.zip -n 16 --out samples/real.png
"""

import argparse

import numpy as np

from tinygan.data import load_images
from tinygan.images import grid, save_png


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("-n", type=int, default=16)
    p.add_argument("--cols", type=int, default=8)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="real.png")
    args = p.parse_args()
    images, _ = load_images(args.data, args.size)
    pick = np.random.default_rng(args.seed).choice(len(images), args.n, replace=False)
    save_png(grid(images[pick], args.cols), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
