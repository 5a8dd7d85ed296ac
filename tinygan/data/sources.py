"""What a data source holds: sorting the entries of a zip, a tar or a folder into images to
decode and files to skip (counted by reason in a LoadReport), reading each entry safely, and
the fingerprint that tells whether a decode cache still matches its source.

Nothing here decodes an image; data.py does that, through the cache.
"""

import hashlib
import os
import stat
import tarfile
import zipfile

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
ARCHIVE_EXTENSIONS = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar")
TAR_EXTENSIONS = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
MAX_FILE_BYTES = 64 * 2 ** 20     # no face crop is this big; an archive member claiming more is skipped

# why a file was skipped: the count's label, and the words used when the file is named
NOT_IMAGE, NESTED, UNREADABLE = "non-image files", "nested archives (not unpacked)", "unreadable files"
EMPTY, NO_IMAGE, DAMAGED = "empty files", "files that hold no image", "truncated or damaged images"
FILE_REASONS = {NOT_IMAGE: "not an image", NESTED: "an archive inside the data, not unpacked",
                UNREADABLE: "could not be read", EMPTY: "empty, 0 bytes",
                NO_IMAGE: "not an image inside",
                DAMAGED: "truncated or damaged", "too large": "too large",
                "too small": "too small: short side under a quarter of --size"}
ONE = {NOT_IMAGE: "non-image file", NESTED: "nested archive (not unpacked)",
       UNREADABLE: "unreadable file", EMPTY: "empty file", NO_IMAGE: "file that holds no image",
       DAMAGED: "truncated or damaged image"}
# what decoding did to images it kept: the count's label (see decode.py for the rules)
ADJUSTMENTS = {"enlarged": "enlarged (smaller than --size)",
               "cropped": "centre-cropped to a square",
               "first frame": "taken from an animation's first frame"}


class DataError(ValueError):
    """The data cannot be used; the message says why, in one line."""


class LoadReport:
    """What happened while loading: how many images were used, which files were skipped and
    why, and where the decoded images live (the cache file, if any)."""

    def __init__(self):
        self.used = 0
        self.skipped = {}         # reason -> count
        self.skipped_files = []   # (file name, reason), in the order met
        self.adjusted = {}        # what decoding did to kept images (decode.py) -> count
        self.cache = None         # the decode cache file the images are mapped from
        self.from_cache = False   # True: an earlier run's cache was reused, nothing decoded
        self.why_decoded = None   # why the cache could not be reused
        self.files_decoded = 0
        self.decode_seconds = None
        self.workers = None

    def skip(self, reason, name=None):
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        if name is not None:
            self.skipped_files.append((name, FILE_REASONS.get(reason, reason)))

    def adjust(self, note):
        self.adjusted[note] = self.adjusted.get(note, 0) + 1

    def adjustments(self):
        """'12,000 enlarged (smaller than --size), 3 centre-cropped to a square', or ''."""
        return ", ".join(f"{self.adjusted[note]:,} {words}" for note, words in
                         ADJUSTMENTS.items() if self.adjusted.get(note))

    @property
    def n_skipped(self):
        return sum(self.skipped.values())

    def first_skipped(self, n=3):
        """'a.png (unreadable), b.txt (not an image) and 5 more'"""
        named = ", ".join(f"{name} ({why})" for name, why in self.skipped_files[:n])
        more = len(self.skipped_files) - n
        return named + (f" and {more} more" if more > 0 else "")

    def to_dict(self):
        return dict(used=self.used, skipped=self.skipped, adjusted=self.adjusted,
                    skipped_files=[list(x) for x in self.skipped_files],
                    files_decoded=self.files_decoded, decode_seconds=self.decode_seconds,
                    workers=self.workers)

    def restore(self, saved):
        self.used, self.skipped = saved["used"], dict(saved["skipped"])
        self.skipped_files = [tuple(x) for x in saved["skipped_files"]]
        self.adjusted = dict(saved.get("adjusted", {}))   # caches written before it: none
        self.files_decoded = saved.get("files_decoded", 0)
        self.decode_seconds, self.workers = saved.get("decode_seconds"), saved.get("workers")

    def __str__(self):
        text = f"{self.used:,} image{'s' * (self.used != 1)}"
        if self.skipped:
            text += " (skipped " + ", ".join(f"{n:,} {ONE.get(r, r) if n == 1 else r}"
                                             for r, n in sorted(self.skipped.items())) + ")"
        return text


def _is_candidate(name, report, display, size_bytes=None):
    """Sort one entry of a zip, tar or folder: True for an image to decode; else counted (or,
    for hidden files, ignored)."""
    base = os.path.basename(name)
    lower = base.lower()
    if not base or base.startswith("."):
        return False
    if lower.endswith(ARCHIVE_EXTENSIONS):
        report.skip(NESTED, display)
    elif not lower.endswith(IMAGE_EXTENSIONS):
        report.skip(NOT_IMAGE, display)
    elif size_bytes is not None and size_bytes > MAX_FILE_BYTES:
        report.skip("too large", display)
    else:
        return True
    return False


def _zip_members(path, report):
    try:
        archive = zipfile.ZipFile(path)
    except Exception as exc:   # BadZipFile, and the odd ValueError or UnicodeDecodeError
        raise DataError(f"{path}: not a readable zip file ({exc})") from None
    names, readers = [], []
    for info in archive.infolist():
        # folders end in '/' (not info.is_dir(): that fails on a damaged, empty name)
        if not info.filename.endswith("/") and \
                _is_candidate(info.filename, report, info.filename, info.file_size):
            names.append(info.filename)
            readers.append(lambda info=info: _read_member(archive.open, info))
    return names, readers


def _tar_members(path, report):
    try:
        archive = tarfile.open(path)   # any compression; reading all headers is one pass
        members = archive.getmembers()
    except Exception as exc:   # ReadError, EOFError, zlib and lzma errors
        raise DataError(f"{path}: not a readable tar archive ({exc.__class__.__name__})") from None
    names, readers = [], []
    for member in members:
        if member.isdir():
            continue
        if _is_candidate(member.name, report, member.name, member.size):
            names.append(member.name)
            # links and devices are never followed: extractfile() gives None, read as b""
            readers.append(lambda m=member: _read_member(archive.extractfile, m))
    return names, readers


def _read_member(open_member, member):
    """The member's bytes, or None when they cannot be read."""
    try:
        with open_member(member) as f:
            return f.read(MAX_FILE_BYTES + 1)
    except Exception:   # damaged data, a bad CRC, a link (None has no __enter__)
        return None


def _walk(path):
    """(full path, name relative to the folder) of every visible file, in sorted order."""
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if not name.startswith("."):
                full = os.path.join(root, name)
                yield full, os.path.relpath(full, path)


def _folder_files(path, report):
    names, readers = [], []
    for full, relative in _walk(path):
        if _is_candidate(relative, report, relative):
            names.append(relative)
            readers.append(lambda p=full: _read_file(p))
    return names, readers


def _read_file(path):
    """The file's bytes; None when they cannot be read, "too large" past MAX_FILE_BYTES."""
    try:
        # only regular files: a FIFO named x.png would block forever, /dev/zero never ends
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return None
        if st.st_size > MAX_FILE_BYTES:
            return "too large"
        with open(path, "rb") as f:
            return f.read(MAX_FILE_BYTES + 1)
    except OSError:
        return None


def fingerprint(source, kind):
    """What must stay the same for a cache to be reused: a file's size and modification time;
    for a folder, every file's name, size and time, hashed."""
    path = os.path.abspath(source)
    if kind != "folder":
        st = os.stat(source)
        return dict(kind=kind, path=path, bytes=st.st_size, mtime_ns=st.st_mtime_ns)
    digest, count = hashlib.sha1(), 0
    for full, relative in _walk(source):
        try:
            st = os.stat(full)
            digest.update(f"{relative}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8",
                                                                                "surrogateescape"))
        except OSError:
            digest.update(f"{relative}\0gone\n".encode("utf-8", "surrogateescape"))
        count += 1
    return dict(kind=kind, path=path, files=count, listing=digest.hexdigest())


LISTERS = {"zip": _zip_members, "tar": _tar_members, "folder": _folder_files}


def source_kind(source):
    """'demo', 'folder', 'array', 'zip' or 'tar'; a DataError for anything else."""
    lower = source.lower()
    if source == "demo":
        return "demo"
    if not os.path.exists(source):
        raise DataError(f"{source}: no such file or folder")
    if os.path.isdir(source):
        return "folder"
    if lower.endswith((".npy", ".npz")):
        return "array"
    # by name first; then by content, tar before zip: a tar holding a zip can look like one
    if lower.endswith(".zip"):
        return "zip"
    if lower.endswith(TAR_EXTENSIONS) or _is_tar(source):
        return "tar"
    if zipfile.is_zipfile(source):
        return "zip"
    if lower.endswith(IMAGE_EXTENSIONS):
        raise DataError(f"{source}: a single image is not a data set; pass the folder or zip "
                        "that holds the images")
    raise DataError(f"{source}: not a zip, tar, folder, .npy or .npz file")


def _is_tar(source):
    try:
        return tarfile.is_tarfile(source)
    except Exception:
        return False
