"""The decode cache: a face set is decoded once into a uint8 file on disk, then memory-mapped.

Decoding 200,000 JPEGs takes minutes and their pixels at 128 px take 9.8 GB; neither should
happen again on every run, nor have to fit in memory. So the first run decodes the set on
all cores into one file of raw uint8 pixels, and every later run (and every resume) maps
that file: the operating system reads the pages a batch touches, and `Batches` hands them
back after each batch, so resident memory stays at a few batches whatever the set's size.

Layout of a cache file (`<name>-<size>px-<hash of the source path>.u8`):
    count * size * size * 3 bytes   the images, uint8, (N, size, size, 3), C order
    footer                          JSON: format, fingerprint (holds the source's path), size,
                                    count, report, built (time.time() when written)
    8 bytes                         the footer's length (little-endian uint64)
    8 bytes                         MAGIC
The fingerprint (the source's size and modification time; for a folder, a hash of every
file's name, size and time) must match, or the cache is stale and is rebuilt. A cache is
written to a temporary file and renamed into place, so a build that is killed or fails
leaves the old cache or none, never a half-written one.

Where: $TINYGAN_CACHE if set, else $XDG_CACHE_HOME/tinygan, else ~/.cache/tinygan.
"""

import hashlib
import json
import mmap
import multiprocessing
import os
import re
import shutil
import signal
import struct
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from .decode import decode_many

FORMAT = "tinygan-decode-cache-2"   # change when decoding changes: old caches are then rebuilt
MAGIC = b"TGCACHE\n"
TAIL = struct.Struct("<Q8s")
CHUNK = 64               # files per task sent to a worker process
PARALLEL_FROM = 256      # fewer files than this decode in-process: starting workers costs more


class CacheError(RuntimeError):
    """The cache cannot be built (disk full, no permission, a dead worker); the message says
    where and what to do."""


def cache_dir():
    """The folder that holds decode caches."""
    if os.environ.get("TINYGAN_CACHE"):
        return os.environ["TINYGAN_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tinygan")


def cache_path(source, size):
    """One cache file per source path and image size; a changed source replaces it."""
    source = os.path.abspath(source)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.basename(source.rstrip("/")))[:60]
    digest = hashlib.sha1(source.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return os.path.join(cache_dir(), f"{stem}-{size}px-{digest}.u8")


def default_workers():
    """Decoding processes: $TINYGAN_DECODE_WORKERS if set, else one per core."""
    value = os.environ.get("TINYGAN_DECODE_WORKERS", "")
    return int(value) if value.isdigit() and int(value) > 0 else available_cores()


def workers_for(count, workers=None):
    """How many processes decode `count` files: one for a small set, else `workers` or
    default_workers()."""
    return 1 if count < PARALLEL_FROM else (workers or default_workers())


def available_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:   # not on Linux
        return os.cpu_count() or 1


# ------------------------------------------------------------------------------- reading
def open_cache(path, fingerprint, size):
    """(images, footer) from a cache that matches `fingerprint` and `size`, or (None, why not).
    `images` is a read-only uint8 array backed by a memory map of the file."""
    try:
        f = open(path, "rb")
    except OSError:
        return None, "no cache yet"
    with f:
        total = os.fstat(f.fileno()).st_size
        footer = _read_footer(f, total)
        if footer is None:
            return None, "the cache file is damaged"
        if footer.get("format") != FORMAT or footer.get("size") != size:
            return None, "the cache was written by another version"
        if footer.get("fingerprint") != fingerprint:
            return None, "the source changed since the cache was built"
        count = footer.get("count")
        nbytes = count * size * size * 3 if isinstance(count, int) and count > 0 else -1
        if nbytes + footer["_length"] + TAIL.size != total:
            return None, "the cache file is damaged"
        mapping = mmap.mmap(f.fileno(), nbytes, access=mmap.ACCESS_READ)
    images = np.frombuffer(mapping, dtype=np.uint8).reshape(count, size, size, 3)
    return images, footer


def _read_footer(f, total):
    if total < TAIL.size:
        return None
    f.seek(total - TAIL.size)
    length, magic = TAIL.unpack(f.read(TAIL.size))
    if magic != MAGIC or length > total - TAIL.size:
        return None
    f.seek(total - TAIL.size - length)
    try:
        footer = json.loads(f.read(length).decode())
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(footer, dict):
        return None
    footer["_length"] = length
    return footer


def mapping_of(images):
    """The mmap behind an array from open_cache (through its chain of bases), or None."""
    base = images
    while base is not None:
        if isinstance(base, mmap.mmap):
            return base
        base = base.obj if isinstance(base, memoryview) else getattr(base, "base", None)
    return None


# ------------------------------------------------------------------------------- writing
def write_cache(path, fingerprint, size, max_count, fill):
    """Build a cache atomically. `fill(write)` decodes, calls write(uint8 array) for each
    chunk of kept images, and returns (count, report dict) for the footer. Returns the
    number of bytes written. Anything fill raises leaves no cache file behind."""
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        raise CacheError(f"cannot use the cache folder {folder} ({exc.strerror or exc}); "
                         "set TINYGAN_CACHE to a writable folder") from None
    need = max_count * size * size * 3
    if need > free:
        raise CacheError(f"the decoded images need up to {need / 2**30:.1f} GB in {folder}, "
                         f"which has {free / 2**30:.1f} GB free; set TINYGAN_CACHE to a "
                         "folder with more room")
    _remove_abandoned(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            count, report = fill(lambda images: f.write(memoryview(np.ascontiguousarray(images))))
            footer = json.dumps(dict(format=FORMAT, fingerprint=fingerprint, size=size,
                                     count=count, report=report, built=time.time())).encode()
            f.write(footer)
            f.write(TAIL.pack(len(footer), MAGIC))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        raise CacheError(f"cannot write the cache {path} ({exc.strerror or exc}); set "
                         "TINYGAN_CACHE to a folder with room") from None
    except BaseException:
        _remove(tmp)
        raise
    return os.path.getsize(path)


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _remove_abandoned(path):
    """Delete temporary files of builds whose process is gone (killed mid-build)."""
    folder, name = os.path.split(path)
    for other in os.listdir(folder):
        pid = other[len(name) + 5:] if other.startswith(name + ".tmp-") else ""
        if pid.isdigit() and not _alive(int(pid)):
            _remove(os.path.join(folder, other))


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True   # exists, owned by someone else
    return True


# ------------------------------------------------------------------------------ decoding
def decode_in_order(readers, size, progress=None, workers=None):
    """Decode files in order on `workers` processes (default: every core) -> yields, per chunk,
    (kept images (k, size, size, 3), per file None or the reason it was skipped).

    `readers` are callables returning a file's bytes; they run here, in order (an archive is
    read front to back once), while worker processes decode the chunks read before. At most
    two chunks per worker are in flight, so memory does not grow with the set."""
    workers = workers_for(len(readers), workers)
    chunks = [readers[i:i + CHUNK] for i in range(0, len(readers), CHUNK)]
    if workers == 1:
        for chunk in chunks:
            yield _tick(decode_many([read() for read in chunk], size), progress)
        return
    pool = ProcessPoolExecutor(workers, mp_context=_start_method(), initializer=_ignore_sigint)
    pending = deque()
    try:
        for chunk in chunks:
            pending.append(pool.submit(decode_many, [read() for read in chunk], size))
            if len(pending) >= 2 * workers:
                yield _tick(pending.popleft().result(), progress)
        while pending:
            yield _tick(pending.popleft().result(), progress)
    except BrokenProcessPool:
        raise CacheError("a decoding process died (out of memory?); try again, or with "
                         "TINYGAN_DECODE_WORKERS=1") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _tick(result, progress):
    if progress is not None:
        progress.update(len(result[1]))
    return result


def _start_method():
    # not fork: the parent may already run threads (tqdm's monitor), and forking a threaded
    # process can deadlock; a fork server starts clean workers quickly
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _ignore_sigint():
    # Ctrl-C is the parent's to handle: it stops the build, and the workers are shut down
    signal.signal(signal.SIGINT, signal.SIG_IGN)
