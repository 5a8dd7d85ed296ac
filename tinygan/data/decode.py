"""One image file -> one training image: uint8 (size, size, 3), upright, RGB, square.

A face set collected from the web holds every kind of file, so decoding does more than open
and resize:
    EXIF orientation    phone photos store "rotate me" in a tag; the pixels are turned upright
    16-bit greyscale    scaled to 8 bits (Pillow's own conversion clips it to white)
    transparency        composited onto black, so what was hidden under it never shows
    tiny images         skipped: an image a quarter of the training size is no face crop
    huge images         skipped from the header, before a pixel is decoded (bomb guard)
Any file that fails is a skip with a short reason, never an exception.
"""

import io
import warnings

import numpy as np
from PIL import Image

# Pillow picks a decoder by the file's content, not its name: only these are allowed, so a file
# named .png cannot reach a decoder for an exotic format (EPS, for one, runs Ghostscript)
IMAGE_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF")
MAX_PIXELS = 40_000_000          # decompression-bomb guard: larger images are skipped
MIN_SIDE_FRACTION = 0.25         # images whose short side is below size/4 are skipped
EXIF_ORIENTATION = 0x0112
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")   # more than 8 bits per grey value

# decode() refuses images over MAX_PIXELS itself, well below Pillow's own bomb limit, so
# Pillow's warning would only repeat that. It is silenced once here: warnings.catch_warnings()
# around each decode is not thread-safe, and decoding runs in parallel.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def decode(data, size):
    """Bytes of one image file -> uint8 (size, size, 3), or a short reason string on failure:
    'unreadable', 'too large' or 'too small'."""
    try:
        img = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
        w, h = img.size
        if w * h > MAX_PIXELS:   # checked on the header, before any pixel is decoded
            return "too large"
        if min(w, h) < size * MIN_SIDE_FRACTION:
            return "too small"
        img.load()
        return prepare_image(upright(img), size)
    except Image.DecompressionBombError:
        return "too large"
    except Exception:   # any failure to decode, whatever the bytes, is a skip
        return "unreadable"


def upright(img):
    """Apply the EXIF orientation tag, so a photo taken sideways trains upright."""
    from PIL import ImageOps
    if img.getexif().get(EXIF_ORIENTATION, 1) == 1:
        return img   # the common case: nothing to turn, no copy
    return ImageOps.exif_transpose(img)


def to_rgb(img):
    """Any PIL image -> an 8-bit RGB image."""
    if img.mode in WIDE_MODES:
        # 0..65535 -> 0..255; Pillow's convert() would clip everything above 255 to white
        grey = np.rint(np.clip(np.asarray(img, dtype=np.float64), 0, 65535) / 257)
        img = Image.fromarray(grey.astype(np.uint8), "L")
    if img.mode in ALPHA_MODES or "transparency" in img.info:
        # composite onto black: a transparent pixel's colour values are arbitrary (often
        # noise or a leftover background), and dropping the alpha channel would show them
        rgba = img.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, rgba).convert("RGB")
    return img if img.mode == "RGB" else img.convert("RGB")


def prepare_image(img, size):
    """Any PIL image -> uint8 (size, size, 3): RGB, centre-cropped to a square, resized."""
    img = to_rgb(img)
    w, h = img.size
    if w != h:
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        img = img.crop((left, top, left + side, top + side))
    if img.size != (size, size):
        img = img.resize((size, size), Image.LANCZOS if img.size[0] < size else Image.BICUBIC,
                         reducing_gap=None if img.size[0] < size else 2.0)
    return np.asarray(img, dtype=np.uint8)


def decode_many(payloads, size):
    """Decode a chunk of files (run in a worker process) -> (kept images as one uint8 array
    (k, size, size, 3), and per file None if kept or the reason it was skipped)."""
    kept, outcomes = [], []
    for data in payloads:
        result = decode(data, size)
        if isinstance(result, str):
            outcomes.append(result)
        else:
            kept.append(result)
            outcomes.append(None)
    images = np.stack(kept) if kept else np.empty((0, size, size, 3), np.uint8)
    return images, outcomes
