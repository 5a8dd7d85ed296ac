"""Training images: reading a zip, a folder, a .npy/.npz array or the built-in demo set, and
serving shuffled batches.

Everything is decoded once, up front, into one uint8 array in memory (22,969 faces at 64 px
are 282 MB), so decoding never stalls a training step. Files that cannot be used are skipped
and counted; if most of them fail, loading stops with a clear message instead.
"""

import io
import os
import queue
import stat
import threading
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
# Pillow picks a decoder by the file's content, not its name: only these are allowed, so a file
# named .png cannot reach a decoder for an exotic format (EPS, for one, runs Ghostscript)
IMAGE_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF")
ARCHIVE_EXTENSIONS = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar")
MAX_PIXELS = 40_000_000          # decompression-bomb guard: larger images are skipped
MAX_FILE_BYTES = 64 * 2 ** 20     # no face crop is this big; a zip member claiming more is skipped
MAX_IMAGES_BYTES = 8 * 2 ** 30    # decoded data must fit in memory

# decode() refuses images over MAX_PIXELS itself, well below Pillow's own bomb limit, so
# Pillow's warning would only repeat that. It is silenced once here: warnings.catch_warnings()
# around each decode is not thread-safe, and decoding runs in threads.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


class DataError(ValueError):
    """The data cannot be used; the message says why, in one line."""


class LoadReport:
    """What happened while loading: how many images were used and why others were skipped."""

    def __init__(self):
        self.used = 0
        self.skipped = {}   # reason -> count

    def skip(self, reason):
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    @property
    def n_skipped(self):
        return sum(self.skipped.values())

    def __str__(self):
        text = f"{self.used} images"
        if self.skipped:
            text += " (skipped " + ", ".join(f"{n} {r}" for r, n in sorted(self.skipped.items())) + ")"
        return text


def prepare_image(img, size):
    """Any PIL image -> uint8 (size, size, 3): RGB, centre-cropped to a square, resized."""
    if img.mode != "RGB":
        # palette and alpha images go through RGBA so transparency becomes black, not noise
        img = img.convert("RGBA").convert("RGB") if img.mode in ("P", "LA", "RGBA", "PA") \
            else img.convert("RGB")
    w, h = img.size
    if w != h:
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        img = img.crop((left, top, left + side, top + side))
    if img.size != (size, size):
        img = img.resize((size, size), Image.LANCZOS if img.size[0] < size else Image.BICUBIC,
                         reducing_gap=None if img.size[0] < size else 2.0)
    return np.asarray(img, dtype=np.uint8)


def decode(data, size):
    """Bytes of one image file -> uint8 (size, size, 3), or a short reason string on failure."""
    try:
        img = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
        w, h = img.size
        if w * h > MAX_PIXELS:   # checked on the header, before any pixel is decoded
            return "too large"
        img.load()
        return prepare_image(img, size)
    except Image.DecompressionBombError:
        return "too large"
    except Exception:   # any failure to decode, whatever the bytes, is a skip
        return "unreadable"


def _zip_members(path, report):
    try:
        archive = zipfile.ZipFile(path)
    except Exception as exc:   # BadZipFile, and the odd ValueError or UnicodeDecodeError
        raise DataError(f"{path}: not a readable zip file ({exc})") from None
    members = []
    for info in archive.infolist():
        # folders end in '/' (not info.is_dir(): that fails on a damaged, empty name)
        if info.filename.endswith("/") or os.path.basename(info.filename).startswith("."):
            continue
        if info.filename.lower().endswith(ARCHIVE_EXTENSIONS):
            report.skip("nested archives (not unpacked)")
        elif not info.filename.lower().endswith(IMAGE_EXTENSIONS):
            report.skip("non-image files")
        elif info.file_size > MAX_FILE_BYTES:
            report.skip("too large")
        else:
            members.append(info)
    return archive, members


def _read_member(archive, lock, info):
    try:
        with lock:   # one zip handle is not safe to read from several threads at once
            with archive.open(info) as f:
                return f.read(MAX_FILE_BYTES + 1)
    except Exception:
        return b""


def _folder_files(path, report):
    files = []
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            if name.lower().endswith(IMAGE_EXTENSIONS):
                files.append(os.path.join(root, name))
            else:
                report.skip("non-image files")
    return files


def _read_file(path):
    try:
        # only regular files: a FIFO named x.png would block forever, /dev/zero never ends
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:
            return b""
        with open(path, "rb") as f:
            return f.read(MAX_FILE_BYTES + 1)
    except OSError:
        return b""


def _decode_all(readers, size, report, progress=None):
    """Read and decode in a small thread pool (Pillow releases the GIL while decoding)."""
    if len(readers) * size * size * 3 > MAX_IMAGES_BYTES:
        raise DataError(f"{len(readers)} images at {size} px do not fit in memory "
                        f"({len(readers) * size * size * 3 / 2**30:.1f} GB); use a subset")
    out = np.empty((len(readers), size, size, 3), dtype=np.uint8)
    kept = 0
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for result in pool.map(lambda read: decode(read(), size), readers, chunksize=64):
            if isinstance(result, str):
                report.skip(result + " files" if result == "unreadable" else result)
            else:
                out[kept] = result
                kept += 1
            if progress is not None:
                progress.update(1)
    return out[:kept]


def _load_array(path, size, report):
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
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
        arr = np.stack([prepare_image(Image.fromarray(a), size) for a in arr])
    report.used = len(arr)
    return np.ascontiguousarray(arr)


def load_images(source, size, progress_factory=None, demo_count=4096, seed=0):
    """Load a data set as uint8 (N, size, size, 3) and a LoadReport.

    `source` is 'demo', a .zip, a folder (searched recursively), or a .npy/.npz array.
    `progress_factory(total)` may return a tqdm-like bar for decoding.
    """
    report = LoadReport()
    if source == "demo":
        from .demo import demo_faces
        images = demo_faces(demo_count, size=size, seed=seed)
        report.used = len(images)
        return images, report
    if not os.path.exists(source):
        raise DataError(f"{source}: no such file or folder")
    lower = source.lower()
    if os.path.isdir(source):
        files = _folder_files(source, report)
        readers = [lambda p=p: _read_file(p) for p in files]
        what = "folder"
    elif lower.endswith((".npy", ".npz")):
        return _load_array(source, size, report), report
    elif zipfile.is_zipfile(source) or lower.endswith(".zip"):
        archive, members = _zip_members(source, report)
        lock = threading.Lock()
        readers = [lambda m=m: _read_member(archive, lock, m) for m in members]
        what = "zip"
    elif lower.endswith(IMAGE_EXTENSIONS):
        raise DataError(f"{source}: a single image is not a data set; pass the folder or zip "
                        "that holds the images")
    else:
        raise DataError(f"{source}: not a zip, folder, .npy or .npz file")
    if not readers:
        raise DataError(f"{source}: this {what} contains no images ({IMAGE_EXTENSIONS[0]}, "
                        f"{IMAGE_EXTENSIONS[2]}, ...)")
    bar = progress_factory(len(readers)) if progress_factory else None
    try:
        images = _decode_all(readers, size, report, bar)
    finally:
        if bar is not None:
            bar.close()
    report.used = len(images)
    failed = len(readers) - len(images)
    if len(images) == 0 or failed > len(readers) / 2:
        raise DataError(f"{source}: {failed} of {len(readers)} image files could not be decoded; "
                        "is this the right data?")
    return images, report


class Batches:
    """Shuffled batches of a uint8 data set, as [-1, 1] floats, prepared in a background thread.

    The batch of a given step depends only on (seed, step): the permutation of epoch e is drawn
    from rng([seed, e]) and the flips of step t from rng([seed, t, 1]). That makes a resumed run
    see exactly the batches an uninterrupted one would. The last partial batch of each epoch is
    dropped, as in the usual DCGAN recipe.

    With `share=(rank, ranks)` (data-parallel training, tinygan/parallel.py) the batch is
    still drawn whole, and this process gets its slice `rank` of `ranks` equal slices.
    """

    def __init__(self, images, batch_size, seed=0, flip=False, dtype=np.float32, share=(0, 1)):
        if len(images) < batch_size:
            raise DataError(f"the data has {len(images)} images, fewer than one batch of "
                            f"{batch_size}; use a smaller --batch")
        self.images, self.batch_size, self.seed, self.flip, self.dtype = \
            images, batch_size, seed, flip, dtype
        self.steps_per_epoch = len(images) // batch_size
        self._perm_epoch, self._perm = None, None
        rank, ranks = share
        part = batch_size // ranks
        self.part = slice(rank * part, (rank + 1) * part)

    def indices(self, step):
        epoch, i = divmod(step, self.steps_per_epoch)
        if self._perm_epoch != epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(len(self.images))
            self._perm_epoch = epoch
        return self._perm[i * self.batch_size:(i + 1) * self.batch_size]

    def batch(self, step):
        """(batch, size, size, 3) floats in [-1, 1] for training step `step` (this process's
        slice of them)."""
        x = self.images[self.indices(step)[self.part]]
        if self.flip:
            coins = np.random.default_rng([self.seed, step, 1]).random(self.batch_size)
            flips = coins[self.part] < 0.5
            x = np.where(flips[:, None, None, None], x[:, :, ::-1], x)
        return x.astype(self.dtype) * self.dtype(2 / 255) - self.dtype(1)

    def iterate(self, start_step, prefetch=2):
        """Yield batches for start_step, start_step + 1, ... prepared one step ahead."""
        q = queue.Queue(maxsize=prefetch)
        stop = threading.Event()

        def work():
            step = start_step
            while not stop.is_set():
                item = self.batch(step)
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                step += 1

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        try:
            while True:
                yield q.get()
        finally:
            stop.set()
