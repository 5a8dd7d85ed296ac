"""Every image decoded right: EXIF orientation, 16-bit greyscale, transparency, tiny images,
and skipped files counted and named the same way in folders, zips and tars."""

import io
import tarfile
import zipfile

import numpy as np
from PIL import Image

from tinygan.data.decode import EXIF_ORIENTATION, decode
from tinygan.data.load import load_images
from tinygan.data.sources import NESTED

RED, BLUE = (255, 0, 0), (0, 0, 255)


def png_bytes(img):
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_exif_orientation_6_trains_upright():
    # stored sideways: red on the left, blue on the right; the tag says "turn 90 degrees
    # clockwise to view", which puts the left side on top
    arr = np.zeros((32, 32, 3), np.uint8)
    arr[:, :16], arr[:, 16:] = RED, BLUE
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=95, exif=exif.tobytes())
    out = decode(buf.getvalue(), 32)[0].astype(int)
    top, bottom = out[:12].mean(axis=(0, 1)), out[-12:].mean(axis=(0, 1))
    assert top[0] > 200 and top[2] < 50, top          # red on top
    assert bottom[2] > 200 and bottom[0] < 50, bottom  # blue below


def test_16bit_greyscale_png_is_scaled_to_8_bits():
    ramp = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)
    out = decode(png_bytes(Image.fromarray(ramp)), 32)[0]
    assert out.min() <= 2 and out.max() >= 253
    assert abs(out.mean() - 127.5) < 3        # not clipped to white (mean 255)
    grey = np.full((32, 32), 32768, np.uint16)
    assert np.all(decode(png_bytes(Image.fromarray(grey)), 32)[0] == 128)


def test_transparent_pixels_are_composited_onto_black():
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[:16] = (255, 0, 0, 0)          # red, but fully transparent
    rgba[16:] = (200, 100, 50, 128)     # half transparent
    out = decode(png_bytes(Image.fromarray(rgba, "RGBA")), 32)[0].astype(int)
    assert out[:14].max() == 0
    np.testing.assert_allclose(out[18:].mean(axis=(0, 1)), (100, 50, 25), atol=2)
    # a palette image whose transparent colour is white still comes out black there
    pal = Image.new("P", (32, 32), 1)
    pal.putpalette([0, 255, 0] + [255, 255, 255] * 255)
    pal.info["transparency"] = 1
    buf = io.BytesIO()
    pal.save(buf, "PNG", transparency=1)
    assert decode(buf.getvalue(), 32)[0].max() == 0


def test_images_under_a_quarter_of_the_size_are_skipped():
    for w, h in ((1, 1), (15, 200), (200, 15)):
        assert decode(png_bytes(Image.new("RGB", (w, h), RED)), 64) == "too small", (w, h)
    assert decode(png_bytes(Image.new("RGB", (16, 40), RED)), 64)[0].shape == (64, 64, 3)


def _face(i):
    return png_bytes(Image.new("RGB", (20, 20), (i * 40, 90, 120)))


MEMBERS = [(f"faces/{i}.png", _face(i)) for i in range(4)] + [
    ("faces/dot.png", png_bytes(Image.new("RGB", (1, 1)))),
    ("faces/broken.jpg", b"\xff\xd8\xff not really"),
    ("faces/readme.txt", b"notes"),
    ("faces/more.zip", b"PK\x05\x06" + bytes(18)),
    ("faces/.hidden.png", _face(9)),
]
EXPECTED = {"too small": 1, "truncated or damaged images": 1, "non-image files": 1, NESTED: 1}
NAMED = {("faces/dot.png", "too small: short side under a quarter of --size"),
         ("faces/broken.jpg", "truncated or damaged"), ("faces/readme.txt", "not an image"),
         ("faces/more.zip", "an archive inside the data, not unpacked")}


def _as_zip(tmp_path):
    path = tmp_path / "d.zip"
    with zipfile.ZipFile(path, "w") as z:
        for name, payload in MEMBERS:
            z.writestr(name, payload)
    return path


def _as_tar(tmp_path, ending):
    path = tmp_path / f"d{ending}"
    with tarfile.open(path, "w:gz" if ending != ".tar" else "w") as t:
        for name, payload in MEMBERS:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            t.addfile(info, io.BytesIO(payload))
    return path


def _as_folder(tmp_path):
    for name, payload in MEMBERS:
        (tmp_path / "d" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "d" / name).write_bytes(payload)
    return tmp_path / "d"


def test_zips_tars_and_folders_give_the_same_images_and_the_same_skips(tmp_path):
    sources = [_as_zip(tmp_path), _as_folder(tmp_path)] + \
        [_as_tar(tmp_path, e) for e in (".tar", ".tar.gz", ".tgz")]
    first = None
    for source in sources:
        images, report = load_images(str(source), 16)
        assert report.used == 4 and report.skipped == EXPECTED, (source, report.skipped)
        assert set(report.skipped_files) == NAMED, source
        first = images if first is None else first
        np.testing.assert_array_equal(images, first, err_msg=str(source))
    assert {int(v) for v in first[:, 0, 0, 0]} == {0, 40, 80, 120}
