"""One image file -> one training image: uint8 (size, size, 3), upright, RGB, square.

A face set collected from the web holds every kind of file, so decoding does more than open
and resize:
    EXIF orientation    phone photos store "rotate me" in a tag; the pixels are turned upright
    16-bit greyscale    scaled to 8 bits (Pillow's own conversion clips it to white)
    transparency        composited onto black, so what was hidden under it never shows
    tiny images         skipped: an image a quarter of the training size is no face crop
    huge images         skipped from the header, before a pixel is decoded (bomb guard)
    not square          centre-cropped to the square of its short side (noted)
    smaller than --size enlarged with a Lanczos filter (noted); larger ones are shrunk
    animations          their first frame (noted)
Any file that fails is a skip with a short reason, never an exception: empty, not an image
(its bytes are no JPEG, PNG, BMP, GIF, WEBP or TIFF), truncated or damaged (a known format
whose pixels fail to decode), too small, too large; "unreadable" when its bytes could not be
read at all.
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
# how each allowed format's files begin: a file that starts like one but does not open is a
# truncated or damaged image, not a file of another kind
SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG", b"BM", b"GIF87a", b"GIF89a", b"II*\0", b"MM\0*")
# what decoding changed about a kept image, counted in the LoadReport
CROPPED, ENLARGED, FIRST_FRAME = "cropped", "enlarged", "first frame"

# decode() refuses images over MAX_PIXELS itself, well below Pillow's own bomb limit, so
# Pillow's warning would only repeat that. It is silenced once here: warnings.catch_warnings()
# around each decode is not thread-safe, and decoding runs in parallel.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def decode(data, size):
    """Bytes of one image file -> (uint8 (size, size, 3), notes: what was done to it), or a
    short reason string on failure: 'empty', 'not an image', 'damaged', 'too large',
    'too small', or 'unreadable' for data None (its bytes could not be read). A reader may
    hand over a reason instead of bytes; it is passed on."""
    if data is None:
        return "unreadable"
    if isinstance(data, str):
        return data
    if not data:
        return "empty"
    try:
        img = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
    except Image.DecompressionBombError:
        return "too large"
    except Exception:   # UnidentifiedImageError, or a header no decoder accepts
        webp = data[:4] == b"RIFF" and data[8:12] == b"WEBP"
        return "damaged" if data.startswith(SIGNATURES) or webp else "not an image"
    try:
        w, h = img.size
        if w * h > MAX_PIXELS:   # checked on the header, before any pixel is decoded
            return "too large"
        if min(w, h) < size * MIN_SIDE_FRACTION:
            return "too small"
        notes = [FIRST_FRAME] if getattr(img, "is_animated", False) else []
        img.load()
        return prepare_image(upright(img), size, notes), tuple(notes)
    except Image.DecompressionBombError:
        return "too large"
    except Exception:   # any failure to decode the pixels, whatever the bytes, is a skip
        return "damaged"


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


def prepare_image(img, size, notes=None):
    """Any PIL image -> uint8 (size, size, 3): RGB, centre-cropped to a square, resized.
    Appends to `notes` (a list) CROPPED and ENLARGED where they apply."""
    img = to_rgb(img)
    w, h = img.size
    if notes is not None:
        notes += [CROPPED] * (w != h) + [ENLARGED] * (min(w, h) < size)
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
    (k, size, size, 3), and per file: the reason it was skipped (a string), or for a kept
    file the tuple of notes on what decoding did to it)."""
    kept, outcomes = [], []
    for data in payloads:
        result = decode(data, size)
        if isinstance(result, str):
            outcomes.append(result)
        else:
            kept.append(result[0])
            outcomes.append(result[1])
    images = np.stack(kept) if kept else np.empty((0, size, size, 3), np.uint8)
    return images, outcomes
