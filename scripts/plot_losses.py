"""Draw a run's loss curves (log.csv) into a PNG, with Pillow only (no plotting library).

    python scripts/plot_losses.py runs/faces64 --out samples/losses.png
"""

import argparse
import csv
import os

import numpy as np
from PIL import Image, ImageDraw

SERIES = [("loss_d", (214, 39, 40)), ("loss_g", (31, 119, 180)),
          ("d_real", (44, 160, 44)), ("d_fake", (255, 127, 14))]


def smooth(values, window):
    if len(values) < window:
        return np.asarray(values)
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def panel(draw, box, steps, series, title, font_color=(40, 40, 40)):
    """One chart: axes, grid lines, labelled y range, and the given series."""
    x0, y0, x1, y1 = box
    all_values = np.concatenate([v for _, v, _ in series])
    lo, hi = float(all_values.min()), float(all_values.max())
    hi = hi if hi > lo else lo + 1
    draw.rectangle(box, outline=(120, 120, 120))
    for frac in (0.25, 0.5, 0.75):
        y = y1 - frac * (y1 - y0)
        draw.line([(x0, y), (x1, y)], fill=(225, 225, 225))
        draw.text((x0 + 3, y - 11), f"{lo + frac * (hi - lo):.2f}", fill=font_color)
    draw.text((x0 + 3, y0 + 2), title, fill=font_color)
    s_lo, s_hi = steps[0], max(steps[-1], steps[0] + 1)
    legend_x = x1 - 90
    for i, (name, values, color) in enumerate(series):
        xs = x0 + (steps[-len(values):] - s_lo) / (s_hi - s_lo) * (x1 - x0)
        ys = y1 - (values - lo) / (hi - lo) * (y1 - y0)
        draw.line(list(zip(xs.tolist(), ys.tolist())), fill=color, width=2)
        draw.text((legend_x, y0 + 4 + 12 * i), name, fill=color)
    draw.text((x0, y1 + 4), f"step {int(s_lo)}", fill=font_color)
    draw.text((x1 - 70, y1 + 4), f"step {int(s_hi)}", fill=font_color)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run", help="run folder holding log.csv")
    p.add_argument("--out", default="losses.png", help="the PNG to write")
    p.add_argument("--smooth", type=int, default=10, help="moving-average window in log rows")
    args = p.parse_args()
    with open(os.path.join(args.run, "log.csv")) as f:
        rows = list(csv.DictReader(f))
    if len(rows) < 2:
        raise SystemExit(f"{args.run}/log.csv has fewer than two rows to plot")
    steps = np.array([float(r["step"]) for r in rows])
    col = {name: smooth([float(r[name]) for r in rows], args.smooth) for name, _ in SERIES}
    img = Image.new("RGB", (800, 520), "white")
    draw = ImageDraw.Draw(img)
    panel(draw, (40, 20, 780, 240), steps, [(n, col[n], c) for n, c in SERIES[:2]], "losses")
    panel(draw, (40, 280, 780, 500), steps, [(n, col[n], c) for n, c in SERIES[2:]],
          "D(x) and D(G(z)) (mean sigmoid of D's logits)")
    img.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
