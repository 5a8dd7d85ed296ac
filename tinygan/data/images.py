"""Converting between model outputs and pictures: uint8 mapping, grids, enlarging, PNG and GIF
files."""

import math
import os

import numpy as np
from PIL import Image


def to_uint8(x):
    """[-1, 1] floats (N, H, W, 3) on the host -> uint8, as round((x + 1) * 127.5)."""
    return np.clip(np.rint((np.asarray(x, dtype=np.float32) + 1) * 127.5), 0, 255).astype(np.uint8)


def to_float(images, dtype=np.float32):
    """uint8 (N, H, W, 3) -> [-1, 1] floats."""
    return images.astype(dtype) * (2 / 255) - 1


def grid(images, ncols=None, pad=2, background=255):
    """Tile uint8 images (N, H, W, 3) into one uint8 picture with `pad` pixels between them."""
    n, h, w, c = images.shape
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    out = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), background, np.uint8)
    for i, img in enumerate(images):
        r, q = divmod(i, ncols)
        y, x = pad + r * (h + pad), pad + q * (w + pad)
        out[y:y + h, x:x + w] = img
    return out


def enlarge(picture, factor):
    """Scale a uint8 picture up by a whole factor, each pixel becoming a factor x factor block
    (even for any size, unlike resizing to a fixed size)."""
    return np.repeat(np.repeat(picture, factor, axis=0), factor, axis=1)


RESAMPLING = ("lanczos", "nearest")


def scale_up(picture, factor, resample="lanczos"):
    """A uint8 picture `factor` times larger: 'lanczos' resamples it with a Lanczos filter (a
    windowed sinc over 3 pixels each side: smooth edges, no blocks), 'nearest' repeats each
    pixel as a factor x factor block (enlarge)."""
    if resample == "nearest":
        return enlarge(picture, factor)
    if resample != "lanczos":
        raise ValueError(f"resample is one of {', '.join(RESAMPLING)}, not {resample!r}")
    h, w = picture.shape[:2]
    image = Image.fromarray(picture).resize((w * factor, h * factor), Image.Resampling.LANCZOS)
    return np.asarray(image)


def tile_spread(images):
    """How different the tiles of a grid are at a glance: the standard deviation across
    images of their 4x4 average colours, in grey levels. Real faces give ~40; an untrained
    generator, whose output hardly depends on its noise yet, gives ~2."""
    n, h, w, c = images.shape
    coarse = images[:, :h - h % 4, :w - w % 4].astype(np.float32)
    coarse = coarse.reshape(n, 4, h // 4, 4, w // 4, c).mean(axis=(2, 4))
    return float(coarse.std(axis=0).mean())


def save_png(array, path):
    """Write a uint8 picture atomically (a reader never sees half a file)."""
    _write_atomically(path, lambda tmp: Image.fromarray(array).save(tmp, format="PNG"))


def save_gif(frames, path, duration_ms=120, last_frame_ms=1500):
    """Animate uint8 pictures; the last frame lingers so the result can be seen."""
    if not frames:
        return
    pictures = [Image.fromarray(f) for f in frames]
    durations = [duration_ms] * (len(frames) - 1) + [last_frame_ms]
    _write_atomically(path, lambda tmp: pictures[0].save(
        tmp, format="GIF", save_all=True, append_images=pictures[1:], duration=durations,
        loop=0))


def _write_atomically(path, write):
    """write(tmp) then rename tmp to path; on failure no temporary file is left, and the
    error names `path`, the file the user asked for."""
    tmp = f"{path}.tmp"
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
