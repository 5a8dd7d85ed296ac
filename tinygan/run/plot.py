"""A run on one picture (`tinygan plot RUN`): its losses, D's outputs and, once its
checkpoints are scored (`tinygan eval RUN --all`), SWD by step; drawn with Pillow alone.

Each panel is a chart of lines against the training step, smoothed over a few log rows (a
GAN's losses jump from step to step; their drift is what tells how training goes).
"""

import os

import numpy as np
from PIL import Image, ImageDraw

from .folder import read_log_rows, read_scores

RED, BLUE, GREEN, ORANGE, PURPLE = (214, 39, 40), (31, 119, 180), (44, 160, 44), \
    (255, 127, 14), (148, 103, 189)
TEXT, FRAME, GRID = (40, 40, 40), (120, 120, 120), (225, 225, 225)
WIDTH, PANEL_HEIGHT, MARGIN = 800, 220, 40


class PlotError(ValueError):
    """The run has nothing to plot; the message says why."""


def read_log(run_dir):
    """{column: float array} of the run's log.csv."""
    if not os.path.exists(os.path.join(run_dir, "log.csv")):
        raise PlotError(f"{run_dir}: no log.csv (is it a run folder?)")
    rows = read_log_rows(run_dir)
    if len(rows) < 2:
        raise PlotError(f"{run_dir}/log.csv has {len(rows)} row(s): a run logs one row per "
                        "--log-every steps, and a plot needs two")
    return {name: np.array([float(row[name]) for row in rows]) for name in rows[0]}


def smooth(values, window):
    """Moving average over the last `window` values (fewer at the start, so none is lost)."""
    sums = np.cumsum(np.insert(np.asarray(values, dtype=np.float64), 0, 0.0))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def plot_run(run_dir, out, window=10):
    """Write the run's picture to `out`; returns the titles of the panels drawn."""
    log = read_log(run_dir)
    steps = log["step"]
    panels = [("losses (D, G)", [("D", steps, smooth(log["loss_d"], window), RED),
                                 ("G", steps, smooth(log["loss_g"], window), BLUE)]),
              ("D's mean output on real (Dx) and generated (DGz) images",
               [("Dx", steps, smooth(log["d_real"], window), GREEN),
                ("DGz", steps, smooth(log["d_fake"], window), ORANGE)])]
    scores = read_scores(run_dir)
    # scores of different -n or --seed are not comparable: the setting scored most often
    settings = [(int(row.get("n") or 0), row.get("seed", "")) for row in scores]
    n, seed = max(set(settings), key=lambda s: (settings.count(s), s[0]), default=(0, ""))
    by_variant = {}
    for row, setting in zip(scores, settings):
        if setting == (n, seed):
            by_variant.setdefault(row["variant"], {})[int(row["step"])] = float(row["swd_avg"])
    if by_variant:
        colours = iter([PURPLE, BLUE, GREEN, RED])
        panels.append((f"SWD x1e3 by step, {n} faces, seed {seed} (tinygan eval --all; lower "
                       "is better)",
                       [(variant, np.array(sorted(points), dtype=float),
                         np.array([points[s] for s in sorted(points)]), next(colours))
                        for variant, points in sorted(by_variant.items())]))
    image = Image.new("RGB", (WIDTH, len(panels) * (PANEL_HEIGHT + MARGIN) + 10), "white")
    draw = ImageDraw.Draw(image)
    every_step = np.concatenate([s for _, lines in panels for _, s, _, _ in lines])
    span = float(every_step.min()), max(float(every_step.max()), float(every_step.min()) + 1)
    for i, (title, lines) in enumerate(panels):
        top = 20 + i * (PANEL_HEIGHT + MARGIN)
        _panel(draw, (MARGIN, top, WIDTH - 20, top + PANEL_HEIGHT), title, lines, span)
    image.save(out, format="PNG")
    return [title for title, _ in panels]


def _panel(draw, box, title, lines, span):
    """One chart: frame, grid lines with their values, the lines, a legend, the steps of
    `span` (first, last) from left to right (the same for every panel)."""
    x0, y0, x1, y1 = box
    values = np.concatenate([v for _, _, v, _ in lines])
    lo, hi = float(values.min()), float(values.max())
    if hi - lo < 1e-9:   # one value (one point, or a flat line): centred, not on the frame
        lo, hi = lo - 0.5, hi + 0.5
    first, last = span
    draw.rectangle(box, outline=FRAME)
    for frac in (0.25, 0.5, 0.75):
        y = y1 - frac * (y1 - y0)
        draw.line([(x0, y), (x1, y)], fill=GRID)
        draw.text((x0 + 3, y - 11), f"{lo + frac * (hi - lo):.2f}", fill=TEXT)
    draw.text((x0 + 3, y0 + 2), title, fill=TEXT)
    for i, (name, steps, line, colour) in enumerate(lines):
        xs = x0 + (steps - first) / (last - first) * (x1 - x0)
        ys = y1 - (line - lo) / (hi - lo) * (y1 - y0)
        points = list(zip(xs.tolist(), ys.tolist()))
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for x, y in points if len(points) < 40 else []:
            draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=colour)
        draw.text((x1 - 90, y0 + 4 + 12 * i), name, fill=colour)
    draw.text((x0, y1 + 4), f"step {int(first)}", fill=TEXT)
    draw.text((x1 - 70, y1 + 4), f"step {int(last)}", fill=TEXT)
