"""A built-in toy data set of procedurally drawn anime-style faces.

Training a GAN normally starts with downloading thousands of images. This
module removes that step: ``demo_faces`` draws simple cartoon faces (hair,
head, big eyes, mouth) with Pillow, so a new user -- and the test suite -- can
run the whole pipeline offline in seconds.

Every face is built from a handful of random choices (hair style and colour,
skin tone, eye shape and colour, mouth, jitter of position and scale). The set
is diverse enough that a GAN has something to learn, yet structured enough
(faces are always centred and upright) that a small model learns it quickly.

Faces are drawn in a unit coordinate system centred on the face, on a canvas
at least twice the requested size, then shrunk with a LANCZOS filter. The
supersampling is what gives smooth, anti-aliased edges: ImageDraw itself
draws hard-edged shapes.
"""

import numpy as np
from PIL import Image, ImageDraw

# Palettes. Each pick is jittered a little, so these are just anchors.
HAIR_COLOURS = [
    (30, 26, 36),     # black
    (92, 58, 36),     # dark brown
    (150, 96, 54),    # light brown
    (242, 208, 112),  # blonde
    (248, 150, 190),  # pink
    (74, 118, 222),   # blue
    (206, 210, 222),  # silver
    (204, 52, 48),    # red
    (142, 92, 204),   # purple
    (72, 170, 120),   # green
    (250, 142, 62),   # orange
    (64, 196, 218),   # cyan
]
SKIN_TONES = [
    (255, 228, 210),
    (253, 216, 190),
    (246, 204, 174),
    (232, 182, 146),
    (204, 148, 112),
    (156, 106, 76),
]
IRIS_COLOURS = [
    (58, 108, 222),   # blue
    (48, 160, 92),    # green
    (190, 58, 60),    # red
    (132, 72, 184),   # purple
    (206, 142, 40),   # amber
    (116, 72, 42),    # brown
    (36, 168, 188),   # teal
    (222, 88, 160),   # pink
    (96, 100, 116),   # grey
]
LINE = (40, 24, 30)   # eyelashes and mouth: dark, slightly warm, never pure black
BLUSH = (250, 120, 140)

_CROWN_Y = -0.1  # centre of the hair mass, a little above the face centre
_HAIR_BACKS = ("short", "bob", "long", "twintails", "bun")
_FRINGES = ("spiky", "blunt", "parted")
_MOUTHS = ("smile", "line", "open", "cat")


def demo_faces(n: int, size: int = 64, seed: int = 0) -> np.ndarray:
    """Return ``n`` random faces as a uint8 array of shape (n, size, size, 3).

    The same ``seed`` always gives the same faces, and face ``i`` does not
    depend on ``n`` or ``size``: ``demo_faces(10)[:5]`` equals
    ``demo_faces(5)``, and changing ``size`` re-renders the same faces.
    """
    n, size = int(n), int(size)
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if size < 16:
        raise ValueError(f"size must be at least 16, got {size}")

    rng = np.random.default_rng(seed)
    # Supersample by at least 2x; small outputs get a 128 px canvas so that
    # thin strokes (eyelashes, mouth) survive the shrink as soft grey lines.
    canvas = max(128, 2 * size)
    faces = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        img = _draw_face(rng, canvas)
        faces[i] = np.asarray(img.resize((size, size), Image.LANCZOS))
    return faces


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------

def _jitter(rng, colour, amount=14):
    """Perturb an RGB colour so no two faces share exactly the same palette."""
    noise = rng.integers(-amount, amount + 1, size=3)
    return tuple(int(c) for c in np.clip(np.add(colour, noise), 0, 255))


def _mix(a, b, t):
    """Blend colour ``a`` towards ``b`` by ``t``; drawing on RGB overwrites, never blends."""
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))


def _pick(rng, items):
    return items[rng.integers(len(items))]


class _Frame:
    """Maps face-relative coordinates to canvas pixels.

    Offsets are in units of the canvas width, measured from the face centre
    and multiplied by the face scale. Working in these units keeps the
    drawing code independent of resolution, position and size jitter.
    """

    def __init__(self, canvas, cx, cy, scale):
        self.canvas, self.cx, self.cy, self.scale = canvas, cx, cy, scale

    def pt(self, dx, dy):
        k = self.canvas
        return ((self.cx + dx * self.scale) * k, (self.cy + dy * self.scale) * k)

    def box(self, x0, y0, x1, y1):
        return (*self.pt(x0, y0), *self.pt(x1, y1))

    def ellipse(self, x, y, rx, ry):
        """Bounding box of an ellipse with centre (x, y) and radii (rx, ry)."""
        return self.box(x - rx, y - ry, x + rx, y + ry)

    def width(self, w):
        """Stroke width in pixels (at least 1, so lines never vanish)."""
        return max(1, int(round(w * self.scale * self.canvas)))


# --------------------------------------------------------------------------
# Drawing one face, back to front
# --------------------------------------------------------------------------

def _draw_face(rng, canvas):
    """Draw one random face on a square RGB canvas of ``canvas`` pixels."""
    img = _background(rng, canvas)
    draw = ImageDraw.Draw(img)

    # Small jitter in position and scale: enough that the GAN cannot simply
    # memorise pixel positions, small enough that every face stays in frame.
    f = _Frame(canvas,
               cx=0.5 + rng.uniform(-0.03, 0.03),
               cy=0.47 + rng.uniform(-0.025, 0.025),
               scale=rng.uniform(0.88, 1.04))
    head_rx = rng.uniform(0.25, 0.29)
    hair = _jitter(rng, _pick(rng, HAIR_COLOURS))
    # Back hair is a shade darker than the fringe: that alone reads as depth.
    hair_back = _mix(hair, (0, 0, 0), 0.18)
    skin = _jitter(rng, _pick(rng, SKIN_TONES), 6)

    crown = _back_hair(draw, rng, f, head_rx, hair_back, hair)
    _body(draw, rng, f, skin)
    _head(draw, f, head_rx, skin)
    eye_y = rng.uniform(0.02, 0.055)
    eye_dx = rng.uniform(0.105, 0.125)
    eye_rx, eye_ry = rng.uniform(0.058, 0.072), rng.uniform(0.072, 0.092)
    if rng.random() < 0.6:
        _blush(draw, rng, f, eye_dx, eye_y + eye_ry, skin)
    _eyes(draw, rng, f, eye_dx, eye_y, eye_rx, eye_ry)
    _mouth(draw, rng, f, skin)
    _fringe(draw, rng, f, head_rx, crown, hair, eye_y - eye_ry)
    return img


def _background(rng, canvas):
    """Plain or gently graded background in a random colour."""
    top = _jitter(rng, rng.integers(70, 250, size=3), 0)
    if rng.random() < 0.5:
        return Image.new("RGB", (canvas, canvas), top)
    # Fade towards white or black; a vertical gradient is a column of
    # colours broadcast across the width.
    bottom = _mix(top, _pick(rng, [(255, 255, 255), (0, 0, 0)]), rng.uniform(0.2, 0.45))
    t = np.linspace(0.0, 1.0, canvas)[:, None, None]
    column = (1 - t) * np.array(top) + t * np.array(bottom)
    pixels = np.broadcast_to(column, (canvas, canvas, 3)).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def _back_hair(draw, rng, f, head_rx, colour, tie_colour):
    """Hair mass behind the head; its silhouette is what varies most.

    Returns the radii of the crown ellipse, so the fringe can cover its
    upper part exactly.
    """
    style = _pick(rng, _HAIR_BACKS)
    rx = head_rx + rng.uniform(0.05, 0.08)
    ry = rng.uniform(0.27, 0.30)
    draw.ellipse(f.ellipse(0, _CROWN_Y, rx, ry), fill=colour)

    if style == "bob":
        bottom = rng.uniform(0.18, 0.28)
        draw.rounded_rectangle(f.box(-rx, -0.1, rx, bottom),
                               radius=f.width(0.06), fill=colour)
    elif style == "long":
        # Runs off the bottom of the canvas, like hair over the shoulders.
        draw.rectangle(f.box(-rx - 0.02, -0.1, rx + 0.02, 0.7), fill=colour)
    elif style == "twintails":
        for side in (-1, 1):
            x = side * (rx + 0.07)
            tail = rng.uniform(0.2, 0.28)
            draw.ellipse(f.ellipse(x, -0.05 + tail, 0.09, tail), fill=colour)
            # A bright hair tie where the tail leaves the head.
            draw.ellipse(f.ellipse(side * (rx + 0.005), -0.14, 0.035, 0.035),
                         fill=_mix(tie_colour, (255, 255, 255), 0.5))
    elif style == "bun":
        x = _pick(rng, [-0.18, 0.0, 0.18])
        draw.ellipse(f.ellipse(x, -0.38, 0.1, 0.09), fill=colour)
    return rx, ry


def _body(draw, rng, f, skin):
    """Neck and shoulders, so the head does not float in mid-air."""
    shirt = _jitter(rng, rng.integers(30, 240, size=3), 0)
    draw.ellipse(f.box(-0.46, 0.33, 0.46, 1.1), fill=shirt)
    neck = _mix(skin, (90, 40, 40), 0.12)  # in the shadow of the chin
    draw.rectangle(f.box(-0.065, 0.12, 0.065, 0.36), fill=neck)
    draw.ellipse(f.ellipse(0, 0.36, 0.065, 0.035), fill=neck)


def _head(draw, f, rx, skin):
    """Round skull plus a pointed chin, the usual anime face outline."""
    draw.ellipse(f.box(-rx, -0.30, rx, 0.20), fill=skin)
    draw.polygon([f.pt(-rx * 0.98, 0.0), f.pt(rx * 0.98, 0.0), f.pt(rx * 0.5, 0.22),
                  f.pt(0, 0.28), f.pt(-rx * 0.5, 0.22)], fill=skin)


def _blush(draw, rng, f, eye_dx, y, skin):
    colour = _mix(skin, BLUSH, rng.uniform(0.3, 0.5))
    for side in (-1, 1):
        draw.ellipse(f.ellipse(side * (eye_dx + 0.02), y + 0.035, 0.045, 0.018), fill=colour)


def _eyes(draw, rng, f, dx, y, rx, ry):
    """Big eyes: white, two-tone iris, pupil, highlights and a heavy lash line."""
    iris = _jitter(rng, _pick(rng, IRIS_COLOURS))
    iris_dark = _mix(iris, (0, 0, 0), 0.45)
    iris_light = _mix(iris, (255, 255, 255), 0.25)
    lash = f.width(rng.uniform(0.018, 0.026))
    # Looking slightly sideways now and then makes the set less uniform.
    look = rng.uniform(-0.15, 0.15) * rx
    for side in (-1, 1):
        x = side * dx
        ix = x + look
        draw.ellipse(f.ellipse(x, y, rx, ry), fill=(255, 255, 255))
        # Iris: dark at the top (shadow of the lid), lighter below.
        draw.ellipse(f.ellipse(ix, y + 0.08 * ry, 0.8 * rx, 0.9 * ry), fill=iris_dark)
        draw.ellipse(f.ellipse(ix, y + 0.25 * ry, 0.62 * rx, 0.68 * ry), fill=iris_light)
        draw.ellipse(f.ellipse(ix, y + 0.1 * ry, 0.36 * rx, 0.42 * ry), fill=iris_dark)
        # Highlights are what make a cartoon eye look alive.
        draw.ellipse(f.ellipse(ix - 0.32 * rx, y - 0.3 * ry, 0.24 * rx, 0.22 * ry),
                     fill=(255, 255, 255))
        draw.ellipse(f.ellipse(ix + 0.3 * rx, y + 0.45 * ry, 0.12 * rx, 0.1 * ry),
                     fill=(255, 255, 255))
        # Upper lash: a thick arc over the top of the eye, a flick outwards.
        draw.arc(f.ellipse(x, y, rx * 1.05, ry * 1.02), 195, 345, fill=LINE, width=lash)
        outer = f.pt(x + side * rx * 1.02, y - 0.25 * ry)
        flick = f.pt(x + side * rx * 1.35, y - 0.55 * ry)
        draw.line([outer, flick], fill=LINE, width=lash)


def _mouth(draw, rng, f, skin):
    style = _pick(rng, _MOUTHS)
    y = rng.uniform(0.18, 0.2)
    w = rng.uniform(0.025, 0.04)
    stroke = f.width(0.012)
    line = _mix(skin, LINE, 0.7)
    if style == "smile":
        draw.arc(f.ellipse(0, y - 0.02, w, 0.025), 20, 160, fill=line, width=stroke)
    elif style == "line":
        draw.line([f.pt(-w * 0.7, y), f.pt(w * 0.7, y)], fill=line, width=stroke)
    elif style == "open":
        # Lower half of an ellipse (Pillow counts angles clockwise), flat on top: an open,
        # happy mouth.
        draw.chord(f.ellipse(0, y - 0.01, w, 0.03), 0, 180, fill=(170, 50, 60))
    else:  # "cat": the little w-shaped mouth
        for side in (-1, 1):
            draw.arc(f.ellipse(side * w * 0.5, y - 0.012, w * 0.5, 0.015), 0, 180,
                     fill=line, width=stroke)


def _fringe(draw, rng, f, head_rx, crown, colour, eye_top):
    """Hair over the forehead and along the cheeks, drawn over the face."""
    style = _pick(rng, _FRINGES)
    rx = head_rx + 0.04
    line = rng.uniform(-0.17, -0.13)  # where the cap of hair meets the fringe
    # Fringe tips stop just above the eyes so the eyes are never hidden.
    lowest = eye_top - 0.012

    # The cap: the part of the crown ellipse above the fringe line. It hides
    # the darker back hair there, which then only shows at the sides.
    # PIL measures angles clockwise from 3 o'clock, so the arc above the
    # horizontal line y = line runs from 180 + d to 360 - d degrees.
    crown_rx, crown_ry = crown
    d = np.degrees(np.arcsin((_CROWN_Y - line) / crown_ry))
    draw.chord(f.ellipse(0, _CROWN_Y, crown_rx, crown_ry), 180 + d, 360 - d, fill=colour)

    if style == "spiky":
        k = int(rng.integers(4, 8))
        edges = np.linspace(-rx + 0.01, rx - 0.01, k + 1)
        for a, b in zip(edges[:-1], edges[1:]):
            tip_x = (a + b) / 2 + rng.uniform(-0.03, 0.03)
            tip_y = min(line + rng.uniform(0.07, 0.15), lowest)
            draw.polygon([f.pt(a - 0.015, line - 0.03), f.pt(b + 0.015, line - 0.03),
                          f.pt(tip_x, tip_y)], fill=colour)
    elif style == "blunt":
        # Straight-cut "hime" fringe with a slightly wavy edge.
        edge = min(line + rng.uniform(0.07, 0.11), lowest)
        xs = np.linspace(-rx + 0.02, rx - 0.02, 7)
        waves = [f.pt(x, edge + rng.uniform(-0.012, 0.012)) for x in xs[::-1]]
        draw.polygon([f.pt(-rx + 0.02, line - 0.03), f.pt(rx - 0.02, line - 0.03)] + waves,
                     fill=colour)
    else:  # "parted": two swept locks leaving a triangle of forehead
        part = rng.uniform(-0.08, 0.08)
        for side in (-1, 1):
            outer = side * (rx - 0.01)
            draw.polygon([f.pt(part, line - 0.04), f.pt(outer, line - 0.04),
                          f.pt(outer, lowest + 0.02),
                          f.pt(part + side * 0.1, min(line + 0.12, lowest))],
                         fill=colour)

    # Side locks framing the cheeks; longer ones fall past the chin.
    length = rng.uniform(0.08, 0.4)
    for side in (-1, 1):
        outer = side * (head_rx + 0.035)
        draw.polygon([f.pt(outer, line - 0.05), f.pt(outer - side * 0.075, line - 0.02),
                      f.pt(outer - side * 0.03, length), f.pt(outer + side * 0.01, length)],
                     fill=colour)
