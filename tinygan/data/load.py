"""Training images: finding them in a zip, a tar, a folder, a .npy/.npz array or the built-in
demo set, and decoding them once into the on-disk cache that training memory-maps.

A zip, tar or folder is decoded on all cores into a uint8 file (see cache.py); later runs and
resumes map that file instead of decoding again, and a changed source is decoded anew. A .npy
of the right size is mapped directly. Files that cannot be used are skipped, counted by
reason and named (LoadReport); if most of them fail, loading stops with a clear message.
What a zip, tar or folder holds, and how each entry is read, is sources.py.
"""

import time

import numpy as np
from PIL import Image

from .cache import CacheError, cache_path, decode_in_order, open_cache, workers_for, write_cache
from .decode import MAX_PIXELS, decode, prepare_image  # noqa: F401  (re-exported)
from .sources import (
    DAMAGED,
    EMPTY,
    IMAGE_EXTENSIONS,
    LISTERS,
    NO_IMAGE,
    UNREADABLE,
    DataError,
    LoadReport,
    fingerprint,
    source_kind,
)

MAX_IMAGES_BYTES = 8 * 2 ** 30    # decoded without the cache, the data must fit in memory
# a decoder's outcome -> the reason a file is counted under in the LoadReport
DECODE_REASONS = {"unreadable": UNREADABLE, "empty": EMPTY, "not an image": NO_IMAGE,
                  "damaged": DAMAGED, "too large": "too large", "too small": "too small"}


def load_images(source, size, progress_factory=None, demo_count=4096, seed=0, cache=True,
                workers=None):
    """Load a data set as uint8 (N, size, size, 3) and a LoadReport.

    `source` is 'demo', a .zip, a .tar/.tar.gz/.tgz, a folder (searched recursively), or a
    .npy/.npz array. Zips, tars and folders are decoded into the decode cache (cache=True)
    and come back memory-mapped from it; with cache=False they are decoded into memory.
    `progress_factory(total)` may return a tqdm-like bar for decoding; `workers` is the number
    of decoding processes (default: every core).
    """
    report = LoadReport()
    kind = source_kind(source)
    if kind == "demo":
        from .demo import demo_faces
        images = demo_faces(demo_count, size=size, seed=seed)
        report.used = len(images)
        return images, report
    if kind == "array":
        return _load_array(source, size, report), report
    prints = fingerprint(source, kind)
    path = cache_path(source, size) if cache else None
    if path:
        images, footer = open_cache(path, prints, size)
        if images is not None:
            report.restore(footer["report"])
            report.cache, report.from_cache = path, True
            return images, report
        report.why_decoded = footer   # open_cache says why it could not be used
    names, readers = LISTERS[kind](source, report)
    if not readers:
        raise DataError(f"{source}: this {kind} contains no images ({IMAGE_EXTENSIONS[0]}, "
                        f"{IMAGE_EXTENSIONS[2]}, ...)")
    bar = progress_factory(len(readers)) if progress_factory else None
    try:
        images = _decode(source, names, readers, size, report, bar, workers, path, prints)
    except CacheError as exc:
        raise DataError(f"{source}: {exc}") from None
    finally:
        if bar is not None:
            bar.close()
    return images, report


def _decode(source, names, readers, size, report, bar, workers, path, prints):
    """Decode every file, into the cache file at `path` (then mapped) or, without one, into
    memory; fills in the report."""
    def fill(write):
        start, position = time.perf_counter(), 0
        for images, outcomes in decode_in_order(readers, size, bar, workers):
            for name, outcome in zip(names[position:position + len(outcomes)], outcomes):
                if isinstance(outcome, str):
                    report.skip(DECODE_REASONS[outcome], name)
                else:
                    for note in outcome:
                        report.adjust(note)
            position += len(outcomes)
            report.used += len(images)
            write(images)
        report.files_decoded = len(readers)
        report.decode_seconds = round(time.perf_counter() - start, 2)
        report.workers = workers_for(len(readers), workers)
        failed = len(readers) - report.used
        if report.used == 0 or failed > len(readers) / 2:
            raise DataError(f"{source}: {failed} of {len(readers)} image files could not be "
                            f"decoded ({report.first_skipped()}); is this the right data?")
        return report.used, report.to_dict()

    if path:
        write_cache(path, prints, size, len(readers), fill)
        images, _ = open_cache(path, prints, size)
        report.cache = path
        return images
    if len(readers) * size * size * 3 > MAX_IMAGES_BYTES:
        raise DataError(f"{source}: {len(readers)} images at {size} px do not fit in memory "
                        f"({len(readers) * size * size * 3 / 2**30:.1f} GB); use the cache")
    chunks = []
    fill(chunks.append)
    return np.concatenate(chunks)


def _load_array(path, size, report):
    try:
        loaded = np.load(path, mmap_mode="r", allow_pickle=False)   # a .npy is mapped, not read
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                if not loaded.files:
                    raise DataError(f"{path}: the .npz holds no arrays")
                arr = loaded[loaded.files[0]]   # read here: an .npz member is read lazily
        else:
            arr = loaded
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path}: not a readable .npy/.npz file ({exc.__class__.__name__})") from None
    if not isinstance(arr, np.ndarray):   # a member that is not a .npy comes back as bytes
        raise DataError(f"{path}: its first entry is not an array")
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
        raise DataError(f"{path}: expected a uint8 array of shape (N, H, W, 3), "
                        f"got {arr.dtype} {arr.shape}")
    if arr.shape[1:3] != (size, size):
        notes = []
        arr = np.stack([prepare_image(Image.fromarray(np.asarray(a)), size, notes) for a in arr])
        for note in notes:
            report.adjust(note)
    report.used = len(arr)
    return arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)
