"""Draw the pictures of the walk-through in docs/ from the project's own functions.

    python scripts/figures/make_figures.py            # writes docs/figures/*.png

Every number and highlighted cell comes from tinygan's im2col, col2im and ConvTranspose2d
run on tiny examples (the same ones the pages work through); Pillow only draws them.
"""

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tinygan.nn.im2col import col2im, conv_output_size, im2col
from tinygan.nn.layers import ConvTranspose2d

OUT = Path(__file__).resolve().parents[2] / "docs" / "figures"

WHITE, INK, GRID = (255, 255, 255), (30, 30, 30), (150, 150, 150)
PAD = (225, 225, 225)          # padding cells
PICK = (255, 170, 60)          # cells picked by one kernel offset
FRAME = (40, 90, 200)          # a window's outline
BLUES = [(247, 251, 255), (198, 219, 239), (107, 174, 214), (33, 113, 181), (8, 48, 107)]


def font(size):
    return ImageFont.load_default(size=size)


def text(draw, xy, s, size=14, fill=INK, anchor="la"):
    draw.text(xy, s, fill=fill, font=font(size), anchor=anchor)


def cells(draw, x0, y0, values, cell, fills, size=14, ink=None):
    """A grid of numbered cells; fills[r][c] is each cell's colour."""
    for r, row in enumerate(values):
        for c, v in enumerate(row):
            box = (x0 + c * cell, y0 + r * cell, x0 + (c + 1) * cell, y0 + (r + 1) * cell)
            draw.rectangle(box, fill=fills[r][c], outline=GRID)
            if v is not None:
                colour = ink[r][c] if ink is not None else INK
                text(draw, (box[0] + cell / 2, box[1] + cell / 2), str(v), size, colour, "mm")


def save(img, path):
    img = img.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    img.save(path, optimize=True)
    return path


def shade(value, top):
    """A blue for value in 0..top, with white or dark ink to match."""
    i = 0 if value <= 0 else 1 + min(3, int(3 * (value - 1) / max(top - 1, 1) + 0.5))
    return BLUES[i], (WHITE if i >= 3 else INK)


# --------------------------------------------------------------------------------------------


def im2col_offsets(path):
    """The 4x4 image padded by 1, k=3, s=2: one offset's strided slice, and all nine."""
    k, s, p, h = 3, 2, 1, 4
    x = np.arange(1, h * h + 1, dtype=np.float64).reshape(1, h, h, 1)
    cols = im2col(x, k, s, p)                              # the values, padding included
    oh = conv_output_size(h, k, s, p)
    hp = h + 2 * p
    # which padded positions an offset reads: im2col of an image of padded-position labels
    where = np.arange(hp * hp, dtype=np.float64).reshape(1, hp, hp, 1)
    picked = im2col(where, k, s, 0).astype(int)            # (1, oh, ow, k, k, 1) labels
    padded = np.zeros((hp, hp), dtype=int)
    padded[p:p + h, p:p + h] = x[0, :, :, 0].astype(int)
    is_pad = np.ones((hp, hp), bool)
    is_pad[p:p + h, p:p + h] = False

    def fills(offset):
        chosen = set(picked[0, :, :, offset[0], offset[1], 0].ravel())
        return [[PICK if r * hp + c in chosen else (PAD if is_pad[r, c] else WHITE)
                 for c in range(hp)] for r in range(hp)]

    img = Image.new("RGB", (760, 330), WHITE)
    d = ImageDraw.Draw(img)
    cell, x0, y0 = 36, 20, 60
    text(d, (x0, 14), "offset (i, j) = (1, 1):  x_padded[1:5:2, 1:5:2]", 15)
    values = [[str(v) if not is_pad[r, c] else "0" for c, v in enumerate(row)]
              for r, row in enumerate(padded)]
    ink = [[GRID if is_pad[r, c] else INK for c in range(hp)] for r in range(hp)]
    cells(d, x0, y0, values, cell, fills((1, 1)), 14, ink)
    d.rectangle((x0, y0, x0 + k * cell, y0 + k * cell), outline=FRAME, width=3)
    text(d, (x0, y0 + hp * cell + 12), "outline: the window of output (0, 0)", 13, FRAME)
    # the block this offset fills, cols[0, :, :, 1, 1, 0]
    bx = x0 + hp * cell + 30
    text(d, (bx, y0 + 40), "->", 18)
    block = cols[0, :, :, 1, 1, 0].astype(int)
    cells(d, bx + 30, y0 + 20, block.tolist(), cell, [[PICK] * oh] * oh)
    text(d, (bx + 30, y0 + 20 + oh * cell + 8), "cols[0, :, :, 1, 1, 0]", 12)
    # all nine offsets, small
    mx, my, mc = 430, 40, 11
    text(d, (mx, 14), "all nine offsets (i, j): each one strided slice", 15)
    for i in range(k):
        for j in range(k):
            gx, gy = mx + j * (hp * mc + 30), my + i * (hp * mc + 30)
            cells(d, gx, gy, [[None] * hp] * hp, mc, fills((i, j)))
            text(d, (gx + hp * mc / 2, gy + hp * mc + 3), f"({i}, {j})", 11, INK, "ma")
    return save(img, path)


def col2im_counts(path):
    """col2im of all-ones columns: how many windows cover each pixel."""
    settings = [(3, 1, 0), (3, 2, 1)]
    h = 4
    img = Image.new("RGB", (440, 230), WHITE)
    d = ImageDraw.Draw(img)
    cell = 36
    for n, (k, s, p) in enumerate(settings):
        oh = conv_output_size(h, k, s, p)
        counts = col2im(np.ones((1, oh, oh, k, k, 1)), (1, h, h, 1), s, p)[0, :, :, 0]
        counts = counts.astype(int)
        x0 = 20 + n * 220
        text(d, (x0, 14), f"k={k}, stride {s}, padding {p}", 15)
        colours = [[shade(v, counts.max()) for v in row] for row in counts]
        cells(d, x0, 50, counts.tolist(), cell, [[c[0] for c in row] for row in colours], 15,
              [[c[1] for c in row] for row in colours])
    text(d, (20, 50 + h * cell + 14), "col2im(ones): the windows covering each pixel", 13)
    return save(img, path)


def conv_transpose_stamping(path):
    """A 2x2 input, a 3x3 kernel of ones, stride 2: each pixel's stamp and their sum."""
    k, s = 3, 2
    layer = ConvTranspose2d(1, 1, k, stride=s, bias=False).astype(np.float64)
    layer.params["W"] = np.ones((k, k, 1, 1))
    v = np.array([[1.0, 2.0], [3.0, 4.0]])
    stamps = []
    for r in range(2):
        for c in range(2):
            one = np.zeros((1, 2, 2, 1))
            one[0, r, c, 0] = v[r, c]
            stamps.append(((r, c), layer.forward(one)[0, :, :, 0].astype(int)))
    total = layer.forward(v.reshape(1, 2, 2, 1))[0, :, :, 0].astype(int)
    out = total.shape[0]
    cell = 22
    img = Image.new("RGB", (860, 220), WHITE)
    d = ImageDraw.Draw(img)
    text(d, (20, 12), "input", 15)
    cells(d, 20, 60, v.astype(int).tolist(), 30, [[PICK] * 2] * 2, 15)
    x = 110
    for n, ((r, c), stamp) in enumerate(stamps):
        text(d, (x, 12), f"stamp of ({r}, {c})", 13)
        fills = [[PICK if val else WHITE for val in row] for row in stamp]
        cells(d, x, 40, [[val or "" for val in row] for row in stamp], cell, fills, 12)
        text(d, (x + out * cell + 14, 40 + out * cell / 2), "+" if n < 3 else "=", 20, INK, "mm")
        x += out * cell + 30
    text(d, (x, 12), "output (5x5)", 13)
    overlaps = sum((stamp != 0).astype(int) for _, stamp in stamps)   # stamps per output pixel
    colours = [[shade(n, 4) for n in row] for row in overlaps]
    cells(d, x, 40, total.tolist(), cell, [[c[0] for c in row] for row in colours], 12,
          [[c[1] for c in row] for row in colours])
    text(d, (20, 40 + out * cell + 24),
         "ConvTranspose2d(1, 1, 3, stride=2): input pixel (r, c) adds x[r, c] times the kernel "
         "at rows 2r..2r+2, cols 2c..2c+2;", 13)
    text(d, (20, 40 + out * cell + 44),
         "where stamps overlap they add (col2im). Output shading: how many stamps (1, 2 or 4).", 13)
    return save(img, path)


FIGURES = {
    "im2col_offsets.png": im2col_offsets,
    "col2im_counts.png": col2im_counts,
    "conv_transpose_stamping.png": conv_transpose_stamping,
}


def make_all(out_dir=OUT):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [draw(out_dir / name) for name, draw in FIGURES.items()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", default=str(OUT), help="folder for the PNGs")
    for path in make_all(parser.parse_args().out):
        print(f"wrote {path} ({Path(path).stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
