"""A data set seen before training (`tinygan data check SOURCE`): how many files it holds,
the sizes its images come in, and what decoding will do to them or skip, with a contact sheet
of the images as training would see them.

The sizes are read from each image's header alone (no pixel is decoded for them); the rest
is load_images' own report, so the check says exactly what a training run would do.
"""

import io
from collections import Counter

import numpy as np
from PIL import Image

from .decode import IMAGE_FORMATS
from .load import load_images
from .sources import LISTERS, LoadReport, source_kind


def header_sizes(source):
    """Counter of (width, height) over the images of a zip, tar or folder, from headers."""
    kind = source_kind(source)
    if kind not in LISTERS:
        return Counter()
    _, readers = LISTERS[kind](source, LoadReport())
    sizes = Counter()
    for read in readers:
        data = read()
        try:
            sizes[Image.open(io.BytesIO(data), formats=IMAGE_FORMATS).size] += 1
        except Exception:   # what cannot be opened is counted among the skipped files
            pass
    return sizes


def size_summary(sizes, size):
    """Lines on the sizes images come in, against the training size."""
    if not sizes:
        return []
    total = sum(sizes.values())
    short = sorted(min(w, h) for (w, h), n in sizes.items() for _ in range(n))
    square = sum(n for (w, h), n in sizes.items() if w == h)
    common = ", ".join(f"{w}x{h} ({n:,})" for (w, h), n in sizes.most_common(3))
    return [f"sizes ({total:,} image header{'s' * (total != 1)} read): most common {common}; "
            f"short side "
            f"{short[0]} to {short[-1]} px, median {short[len(short) // 2]}",
            f"square: {square:,} of {total:,}; smaller than {size} px: "
            f"{sum(s < size for s in short):,}, larger: {sum(s > size for s in short):,}"]


def check(source, size, progress_factory=None):
    """(uint8 images as training would see them, LoadReport, lines of the summary)."""
    images, report = load_images(source, size, progress_factory=progress_factory)
    lines = [f"{source}: {report}"]
    lines += size_summary(header_sizes(source), size)
    if report.adjustments():
        lines.append(f"decoding at {size} px: {report.adjustments()}")
    lines += [f"skipped {name}: {why}" for name, why in report.skipped_files]
    return images, report, lines


def contact_sheet_indices(n_images, count=64, seed=0):
    """Which images a contact sheet shows: `count` picked at random, in order."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_images, size=min(count, n_images), replace=False))
