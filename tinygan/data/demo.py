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

from .demo_parts import Frame, back_hair, blush, body, eyes, fringe, head, jitter, mix, mouth, pick

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
# Drawing one face, back to front
# --------------------------------------------------------------------------

def _draw_face(rng, canvas):
    """Draw one random face on a square RGB canvas of ``canvas`` pixels."""
    img = _background(rng, canvas)
    draw = ImageDraw.Draw(img)

    # Small jitter in position and scale: enough that the GAN cannot simply
    # memorise pixel positions, small enough that every face stays in frame.
    f = Frame(canvas,
              cx=0.5 + rng.uniform(-0.03, 0.03),
              cy=0.47 + rng.uniform(-0.025, 0.025),
              scale=rng.uniform(0.88, 1.04))
    head_rx = rng.uniform(0.25, 0.29)
    hair = jitter(rng, pick(rng, HAIR_COLOURS))
    # Back hair is a shade darker than the fringe: that alone reads as depth.
    hair_back = mix(hair, (0, 0, 0), 0.18)
    skin = jitter(rng, pick(rng, SKIN_TONES), 6)

    crown = back_hair(draw, rng, f, head_rx, hair_back, hair)
    body(draw, rng, f, skin)
    head(draw, f, head_rx, skin)
    eye_y = rng.uniform(0.02, 0.055)
    eye_dx = rng.uniform(0.105, 0.125)
    eye_rx, eye_ry = rng.uniform(0.058, 0.072), rng.uniform(0.072, 0.092)
    if rng.random() < 0.6:
        blush(draw, rng, f, eye_dx, eye_y + eye_ry, skin)
    eyes(draw, rng, f, eye_dx, eye_y, eye_rx, eye_ry)
    mouth(draw, rng, f, skin)
    fringe(draw, rng, f, head_rx, crown, hair, eye_y - eye_ry)
    return img


def _background(rng, canvas):
    """Plain or gently graded background in a random colour."""
    top = jitter(rng, rng.integers(70, 250, size=3), 0)
    if rng.random() < 0.5:
        return Image.new("RGB", (canvas, canvas), top)
    # Fade towards white or black; a vertical gradient is a column of
    # colours broadcast across the width.
    bottom = mix(top, pick(rng, [(255, 255, 255), (0, 0, 0)]), rng.uniform(0.2, 0.45))
    t = np.linspace(0.0, 1.0, canvas)[:, None, None]
    column = (1 - t) * np.array(top) + t * np.array(bottom)
    pixels = np.broadcast_to(column, (canvas, canvas, 3)).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")
