"""Picking an avatar: faces drawn by their ids (ids.py), in grids, as variations of one face or
blends of two, the sharpest or the most convincing kept with their own ids, grids labelled with
the ids, and faces enlarged. `tinygan sample`, `interpolate` and `serve` all draw through here.
"""

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..data.images import scale_up
from ..metrics.sharpness import sharpness
from . import ids as face_ids
from .generate import discriminator_scores, generate, load_generator

DEFAULT_SPREAD = 0.4   # variations: near enough to stay the same face, far enough to differ
PICKED_FROM = 4        # --best N and --sharpest N draw 4 x N faces and keep N


@dataclass
class Model:
    """A generator loaded for drawing, with its tag, its discriminator if asked for, and the
    device it draws on."""
    path: str
    G: object
    D: object
    meta: dict
    tag: str
    device: str = "cpu"

    @property
    def nz(self):
        return self.meta["config"]["nz"]

    @property
    def size(self):
        return self.meta["config"]["size"]


def load_model(path, device="cpu", with_discriminator=False):
    """A Model for a checkpoint or export file (see generate.load_generator)."""
    G, D, meta = load_generator(path, device, with_discriminator=with_discriminator)
    return Model(path, G, D, meta, face_ids.model_tag(path, G), device)


# -- which faces -----------------------------------------------------------------------------

def grid_ids(tag, seed, n, truncation=None):
    """The ids of the n faces `sample --seed SEED -n N` draws."""
    return [face_ids.face_id(tag, seed, i, truncation, n) for i in range(n)]


def like_ids(base, n, start=0, spread=DEFAULT_SPREAD):
    """Variations start .. start + n - 1 of the face `base`."""
    return [face_ids.variation_id(base, k, spread) for k in range(start, start + n)]


def blend_ids(a, b, steps):
    """a, `steps` blends evenly spaced between a and b (in whole percents), then b."""
    percents = sorted({round(100 * i / (steps + 1)) for i in range(1, steps + 1)} - {0, 100})
    return [a] + [face_ids.blend_id(a, b, p) for p in percents] + [b]


# -- drawing them ----------------------------------------------------------------------------

def draw(model, ids):
    """uint8 faces (N, S, S, 3) for parsed ids of `model`; an IdError for another model's."""
    face_ids.check_model(ids, model.tag)
    return generate(model.G, face_ids.noise(ids, model.nz), model.device)


def pick(model, ids, k, by):
    """(faces, ids) of the k faces of `ids` that are sharpest (by='sharpest': the middle's
    Laplacian, metrics/sharpness.py) or that D rates most real (by='best'), first first."""
    face_ids.check_model(ids, model.tag)
    z = face_ids.noise(ids, model.nz)
    if by == "best":
        faces, scores = discriminator_scores(model.G, model.D, z, model.device)
        order = np.argsort(-scores)[:k]
    else:
        faces = generate(model.G, z, model.device)
        order = np.argsort(-sharpness(faces), kind="stable")[:k]
    return faces[order], [ids[i] for i in order]


def enlarged(faces, scale, resample="lanczos"):
    """Each face `scale` times larger (data/images.py's scale_up)."""
    if scale == 1:
        return faces
    return np.stack([scale_up(face, scale, resample) for face in faces])


# -- grids with the ids under the faces ------------------------------------------------------

def labelled_grid(faces, labels, ncols=None, pad=2, background=255):
    """Tile faces like data/images.py's grid, each with its label (its id) written under it; a
    cell is as wide as its face or its longest label, whichever is wider."""
    font = ImageFont.load_default()
    n, h, w, _ = faces.shape
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    boxes = [font.getbbox(label) for label in labels]
    text_h = max(box[3] for box in boxes) + 3
    cell_w = max(w, max(box[2] - box[0] for box in boxes) + 4)
    picture = Image.new("RGB", (ncols * (cell_w + pad) + pad,
                                nrows * (h + text_h + pad) + pad), (background,) * 3)
    pen = ImageDraw.Draw(picture)
    for i, (face, label, box) in enumerate(zip(faces, labels, boxes)):
        r, q = divmod(i, ncols)
        x, y = pad + q * (cell_w + pad), pad + r * (h + text_h + pad)
        picture.paste(Image.fromarray(face), (x + (cell_w - w) // 2, y))
        text_x = x + (cell_w - (box[2] - box[0])) // 2 - box[0]
        pen.text((text_x, y + h + 1), label, fill=(0, 0, 0), font=font)
    return np.asarray(picture)
