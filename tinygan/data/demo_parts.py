"""The parts of a demo face (tinygan/data/demo.py draws them back to front): hair behind the
head, body, head, blush, eyes, mouth and fringe, each drawn with Pillow in face-relative units
(Frame), plus the palettes and colour helpers they share.
"""

import numpy as np

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


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------

def jitter(rng, colour, amount=14):
    """Perturb an RGB colour so no two faces share exactly the same palette."""
    noise = rng.integers(-amount, amount + 1, size=3)
    return tuple(int(c) for c in np.clip(np.add(colour, noise), 0, 255))


def mix(a, b, t):
    """Blend colour ``a`` towards ``b`` by ``t``; drawing on RGB overwrites, never blends."""
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))


def pick(rng, items):
    return items[rng.integers(len(items))]


class Frame:
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


def back_hair(draw, rng, f, head_rx, colour, tie_colour):
    """Hair mass behind the head; its silhouette is what varies most.

    Returns the radii of the crown ellipse, so the fringe can cover its
    upper part exactly.
    """
    style = pick(rng, _HAIR_BACKS)
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
                         fill=mix(tie_colour, (255, 255, 255), 0.5))
    elif style == "bun":
        x = pick(rng, [-0.18, 0.0, 0.18])
        draw.ellipse(f.ellipse(x, -0.38, 0.1, 0.09), fill=colour)
    return rx, ry


def body(draw, rng, f, skin):
    """Neck and shoulders, so the head does not float in mid-air."""
    shirt = jitter(rng, rng.integers(30, 240, size=3), 0)
    draw.ellipse(f.box(-0.46, 0.33, 0.46, 1.1), fill=shirt)
    neck = mix(skin, (90, 40, 40), 0.12)  # in the shadow of the chin
    draw.rectangle(f.box(-0.065, 0.12, 0.065, 0.36), fill=neck)
    draw.ellipse(f.ellipse(0, 0.36, 0.065, 0.035), fill=neck)


def head(draw, f, rx, skin):
    """Round skull plus a pointed chin, the usual anime face outline."""
    draw.ellipse(f.box(-rx, -0.30, rx, 0.20), fill=skin)
    draw.polygon([f.pt(-rx * 0.98, 0.0), f.pt(rx * 0.98, 0.0), f.pt(rx * 0.5, 0.22),
                  f.pt(0, 0.28), f.pt(-rx * 0.5, 0.22)], fill=skin)


def blush(draw, rng, f, eye_dx, y, skin):
    colour = mix(skin, BLUSH, rng.uniform(0.3, 0.5))
    for side in (-1, 1):
        draw.ellipse(f.ellipse(side * (eye_dx + 0.02), y + 0.035, 0.045, 0.018), fill=colour)


def eyes(draw, rng, f, dx, y, rx, ry):
    """Big eyes: white, two-tone iris, pupil, highlights and a heavy lash line."""
    iris = jitter(rng, pick(rng, IRIS_COLOURS))
    iris_dark = mix(iris, (0, 0, 0), 0.45)
    iris_light = mix(iris, (255, 255, 255), 0.25)
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


def mouth(draw, rng, f, skin):
    style = pick(rng, _MOUTHS)
    y = rng.uniform(0.18, 0.2)
    w = rng.uniform(0.025, 0.04)
    stroke = f.width(0.012)
    line = mix(skin, LINE, 0.7)
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


def fringe(draw, rng, f, head_rx, crown, colour, eye_top):
    """Hair over the forehead and along the cheeks, drawn over the face."""
    style = pick(rng, _FRINGES)
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
