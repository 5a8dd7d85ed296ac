"""Bad data at scale: whatever bytes an image file or a zip holds, loading ends in a clean skip
(counted in the LoadReport) or a clean DataError; it never hangs and never fills the memory."""

import io
import os
import struct
import subprocess
import sys
import threading
import zipfile
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tinygan.data import sources
from tinygan.data.load import DataError, decode, load_images

SIZE = 16
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")
FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def image_bytes(fmt="PNG", colour=(200, 30, 40)):
    buf = io.BytesIO()
    Image.new("RGB", (12, 10), colour).save(buf, fmt)
    return buf.getvalue()


def bomb_png(width, height):
    """A valid PNG header that declares width x height pixels, with almost no data: the shape
    of a decompression bomb, without building one."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def zip_bytes(members, compression=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, payload in members:
            z.writestr(name, payload)
    return buf.getvalue()


def assert_clean(result_or_error, source):
    """An array of decoded images that matches its report, or a one-line DataError."""
    if isinstance(result_or_error, DataError):
        message = str(result_or_error)
        assert message.startswith(str(source)) and "\n" not in message
        return None
    images, report = result_or_error
    assert images.dtype == np.uint8 and images.shape[1:] == (SIZE, SIZE, 3)
    assert report.used == len(images)
    return report


def load(source):
    try:
        return load_images(str(source), SIZE)
    except DataError as exc:
        return exc


# --------------------------------------------------------------------------------- decode
def check_decoded(result):
    if isinstance(result, str):
        assert result in ("empty", "not an image", "damaged", "too large", "too small")
    else:
        image, notes = result
        assert image.dtype == np.uint8 and image.shape == (SIZE, SIZE, 3)
        assert set(notes) <= {"cropped", "enlarged", "first frame"}


@FUZZ
@given(st.binary(max_size=4096))
def test_decode_random_bytes(payload):
    check_decoded(decode(payload, SIZE))


@pytest.mark.filterwarnings("ignore::UserWarning")   # Pillow's notes on the damage it skips
@FUZZ
@given(fmt=st.sampled_from(FORMATS),
       edits=st.lists(st.tuples(st.integers(0, 2 ** 12), st.integers(0, 255)), max_size=6),
       cut=st.none() | st.integers(0, 2 ** 12))
def test_decode_damaged_images(fmt, edits, cut):
    payload = bytearray(image_bytes(fmt))
    for position, value in edits:   # damage real files, so the decoders get past the header
        payload[position % len(payload)] = value
    check_decoded(decode(bytes(payload[:cut]), SIZE))


@pytest.mark.parametrize("width, height", [(20000, 20000), (7000, 7000), (1, 50_000_000)])
def test_decode_refuses_bombs_from_the_header(width, height):
    assert decode(bomb_png(width, height), SIZE) == "too large"


def test_decode_refuses_formats_it_does_not_need():
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 12 10\nshowpage\n"   # would run Ghostscript
    assert decode(eps, SIZE) == "not an image"


# ---------------------------------------------------------------------------- zip layouts
# kind -> (file name ending, payload, how the loader must count it)
KINDS = {
    "image": (None, None, "used"),
    "truncated": (".png", image_bytes()[:40], "truncated or damaged images"),
    "empty": (".jpg", b"", "empty files"),
    "text as image": (".png", b"just some text", "files that hold no image"),
    "zip as image": (".png", zip_bytes([("a.png", image_bytes())]), "files that hold no image"),
    "bomb": (".png", bomb_png(20000, 20000), "too large"),
    "huge": (".png", bytes(3000), "too large"),   # over MAX_FILE_BYTES, patched to 2048
    "nested zip": (".zip", zip_bytes([("a.png", image_bytes())]), "nested archives (not unpacked)"),
    "text": (".txt", b"notes", "non-image files"),
    "hidden": (".png", image_bytes(), None),       # named .something: ignored, not counted
}
READ = {"image", "truncated", "empty", "text as image", "zip as image", "bomb"}


@FUZZ
@given(layout=st.lists(st.tuples(st.sampled_from(sorted(KINDS)), st.sampled_from(FORMATS),
                                 st.sampled_from(["", "sub/", "a/b/"])), max_size=12),
       compression=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]),
       with_dirs=st.booleans())
def test_zip_layouts(tmp_path_factory, layout, compression, with_dirs):
    members = [("sub/", b"")] if with_dirs else []
    expected, used = {}, 0
    for i, (kind, fmt, folder) in enumerate(layout):
        ending, payload, outcome = KINDS[kind]
        if kind == "image":
            ending, payload = "." + fmt.lower(), image_bytes(fmt, (i * 20 % 256, 90, 150))
            used += 1
        elif outcome is not None:
            expected[outcome] = expected.get(outcome, 0) + 1
        members.append((f"{folder}{'.' if kind == 'hidden' else ''}{i:03d}{ending}", payload))
    source = tmp_path_factory.mktemp("zips") / "faces.zip"
    source.write_bytes(zip_bytes(members, compression))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sources, "MAX_FILE_BYTES", 2048)
        report = assert_clean(load(source), source)

    read = sum(kind in READ for kind, _, _ in layout)
    if read == 0 or used == 0 or read - used > read / 2:
        assert report is None   # nothing usable, or mostly junk: a DataError says so
    else:
        assert report.used == used and report.skipped == expected


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 2 ** 16), st.integers(0, 255)), min_size=1,
                      max_size=8),
       cut=st.none() | st.integers(0, 2 ** 16))
def test_damaged_zip_files(tmp_path_factory, edits, cut):
    members = [(f"{i}.{fmt.lower()}", image_bytes(fmt)) for i, fmt in enumerate(FORMATS)]
    archive = bytearray(zip_bytes(members, zipfile.ZIP_DEFLATED))
    for position, value in edits:
        archive[position % len(archive)] = value
    source = tmp_path_factory.mktemp("zips") / "faces.zip"
    source.write_bytes(bytes(archive[:cut]))
    assert_clean(load(source), source)


# ----------------------------------------------------------------- the worst, by hand
def test_bombs_and_junk_are_skipped_with_counts(tmp_path):
    source = tmp_path / "faces.zip"
    with zipfile.ZipFile(source, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(4):
            z.writestr(f"faces/{i}.png", image_bytes(colour=(i * 60, 100, 100)))
        z.writestr("faces/bomb.png", bomb_png(20000, 20000))
        z.writestr("faces/empty.jpg", b"")
        z.writestr("faces/notes.png", b"not an image")
        z.writestr("faces/more.zip", zip_bytes([("a.png", image_bytes())]))
        z.writestr("faces/.DS_Store", b"\0" * 10)
        with z.open("faces/huge.png", "w", force_zip64=True) as f:   # 70 MB of zeros, honest
            for _ in range(70):
                f.write(bytes(2 ** 20))
    images, report = load_images(str(source), SIZE)
    assert len(images) == report.used == 4
    assert report.skipped == {"too large": 2, "empty files": 1, "files that hold no image": 1,
                              "nested archives (not unpacked)": 1}
    # the peak memory of a fresh process (this one's peak is already set by earlier tests)
    script = ("import resource, sys; from tinygan.data.load import load_images; "
              "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; "
              f"load_images(sys.argv[1], {SIZE}, cache=False); "
              "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024)")
    grown_mb = float(subprocess.run([sys.executable, "-c", script, str(source)], check=True,
                                    capture_output=True, text=True).stdout)
    assert grown_mb < 50   # the 70 MB member and the 1.2 GB bomb were never expanded


def test_folder_with_a_fifo_and_a_device_never_hangs(tmp_path):
    for i in range(3):
        (tmp_path / f"{i}.png").write_bytes(image_bytes(colour=(i * 80, 50, 50)))
    os.mkfifo(tmp_path / "pipe.png")                    # open() on it would wait forever
    os.symlink("/dev/zero", tmp_path / "zeros.png")     # read() on it would never end
    result = []
    worker = threading.Thread(target=lambda: result.append(load(tmp_path)), daemon=True)
    worker.start()
    worker.join(timeout=30)
    if worker.is_alive():   # let the stuck reader go before failing
        os.close(os.open(tmp_path / "pipe.png", os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("load_images hung on a FIFO or a device file")
    report = assert_clean(result[0], tmp_path)
    assert report.used == 3 and report.skipped == {"unreadable files": 2}


def test_array_files_that_are_not_arrays(tmp_path):
    source = tmp_path / "faces.npz"
    with zipfile.ZipFile(source, "w") as z:
        z.writestr("images.pkl", b"\x80\x04K\x01.")   # a pickle, not a .npy member
    with pytest.raises(DataError, match="not an array"):
        load_images(str(source), SIZE)
    source.write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(DataError, match="not a readable"):
        load_images(str(source), SIZE)
