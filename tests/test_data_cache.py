"""The decode cache: built once, reused, rebuilt when the source changes, never left half
written; parallel decoding gives the serial result; mapped pages are handed back."""

import io
import os
import zipfile

import numpy as np
import pytest
from PIL import Image

from tinygan.data import cache
from tinygan.data import load as data
from tinygan.data.batches import Batches
from tinygan.data.cache import mapping_of
from tinygan.data.load import load_images


def write_zip(path, n, seed=0, junk=()):
    rng = np.random.default_rng(seed)
    with zipfile.ZipFile(path, "w") as z:
        for i in range(n):
            buf = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(buf, "PNG")
            z.writestr(f"faces/{i:04d}.png", buf.getvalue())
        for name in junk:
            z.writestr(name, b"junk")
    return str(path)


def cache_files(folder):
    return sorted(p.name for p in folder.iterdir())


def refuse_to_decode(*args, **kw):
    raise AssertionError("decoded again, though the cache was valid")


def test_built_once_then_reused_as_a_memory_map(tmp_path, decode_cache, monkeypatch):
    source = write_zip(tmp_path / "faces.zip", 40, junk=["faces/broken.png"])
    first, report = load_images(source, 16)
    assert not report.from_cache and report.cache and os.path.exists(report.cache)
    assert report.skipped == {"files that hold no image": 1}
    assert mapping_of(first) is not None and not first.flags.writeable
    monkeypatch.setattr(data, "decode_in_order", refuse_to_decode)
    again, reused = load_images(source, 16)
    assert reused.from_cache and reused.cache == report.cache
    assert reused.skipped == report.skipped and reused.skipped_files == report.skipped_files
    np.testing.assert_array_equal(again, first)
    assert len(cache_files(decode_cache)) == 1


def test_other_size_is_its_own_cache_and_cache_false_decodes_in_memory(tmp_path, decode_cache):
    source = write_zip(tmp_path / "faces.zip", 10)
    a, _ = load_images(source, 16)
    b, _ = load_images(source, 32)
    c, report = load_images(source, 16, cache=False)
    assert len(cache_files(decode_cache)) == 2 and b.shape == (10, 32, 32, 3)
    assert report.cache is None and mapping_of(c) is None
    np.testing.assert_array_equal(a, c)


def test_a_changed_source_is_decoded_again(tmp_path):
    source = write_zip(tmp_path / "faces.zip", 12, seed=1)
    old, _ = load_images(source, 16)
    write_zip(source, 12, seed=2)   # same name, same count, new pixels
    os.utime(source, ns=(os.stat(source).st_atime_ns, os.stat(source).st_mtime_ns + 10**9))
    new, report = load_images(source, 16)
    assert not report.from_cache and "source changed" in report.why_decoded
    assert not np.array_equal(old, new)
    np.testing.assert_array_equal(new, load_images(source, 16, cache=False)[0])


def test_a_folder_change_deep_inside_is_noticed(tmp_path):
    folder = tmp_path / "faces" / "a" / "b"
    folder.mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (20, 20), (i * 50, 0, 0)).save(folder / f"{i}.png")
    assert load_images(str(tmp_path / "faces"), 16)[1].used == 3
    Image.new("RGB", (20, 20), (0, 0, 200)).save(folder / "3.png")
    images, report = load_images(str(tmp_path / "faces"), 16)
    assert report.used == 4 and not report.from_cache


def test_a_failed_build_leaves_no_cache(tmp_path, decode_cache, monkeypatch):
    source = write_zip(tmp_path / "faces.zip", 300)
    real = cache.decode_many
    calls = []

    def dies_on_the_third_chunk(payloads, size):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt   # Ctrl-C half-way through the build
        return real(payloads, size)
    with monkeypatch.context() as patch:   # (undo() would also undo decode_cache's setenv)
        patch.setattr(cache, "decode_many", dies_on_the_third_chunk)
        with pytest.raises(KeyboardInterrupt):
            load_images(source, 16, workers=1)
    assert cache_files(decode_cache) == []   # neither a cache nor its temporary file
    images, report = load_images(source, 16)
    assert report.used == 300 and not report.from_cache


def test_killed_builds_and_damaged_caches_are_never_read(tmp_path, decode_cache):
    source = write_zip(tmp_path / "faces.zip", 8)
    path = cache.cache_path(source, 16)
    os.makedirs(decode_cache, exist_ok=True)
    abandoned = f"{path}.tmp-999999999"   # a build killed with kill -9: no such process now
    with open(abandoned, "wb") as f:
        f.write(b"\0" * 1000)
    images, report = load_images(source, 16)
    assert not os.path.exists(abandoned) and report.used == 8
    with open(path, "r+b") as f:   # cut short, as by a full disk outside our control
        f.truncate(os.path.getsize(path) - 100)
    again, report = load_images(source, 16)
    assert not report.from_cache and report.why_decoded == "the cache file is damaged"
    np.testing.assert_array_equal(again, images)


def test_decoding_on_two_processes_gives_the_serial_result(tmp_path, monkeypatch):
    source = write_zip(tmp_path / "faces.zip", 150, junk=[f"faces/bad{i}.png" for i in range(5)])
    serial, serial_report = load_images(source, 16, cache=False, workers=1)
    monkeypatch.setattr(cache, "PARALLEL_FROM", 0)
    monkeypatch.setattr(cache, "CHUNK", 16)   # several chunks in flight, in order
    parallel, report = load_images(source, 16, workers=2)
    assert report.workers == 2
    np.testing.assert_array_equal(parallel, serial)
    assert report.skipped_files == serial_report.skipped_files


def mapped_rss_kb(path):
    """Resident kB of this process's mapping of `path`, from /proc/self/smaps."""
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            if "-" in line.split(" ", 1)[0]:   # a mapping's header line
                inside = line.rstrip().endswith(path)
            elif inside and line.startswith("Rss:"):
                total += int(line.split()[1])
    return total


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="needs Linux's /proc")
def test_batches_hand_mapped_pages_back(tmp_path):
    source = write_zip(tmp_path / "faces.zip", 200)
    images, report = load_images(source, 32)   # 200 x 3 kB: 600 kB mapped
    int(images.sum())                          # every page read, as an epoch would
    assert mapped_rss_kb(report.cache) > 400
    batches = Batches(images, 16, seed=0, flip=True)
    batch = batches.batch(3)
    assert mapped_rss_kb(report.cache) < 100
    np.testing.assert_array_equal(batch, Batches(np.array(images), 16, seed=0, flip=True).batch(3))


def test_an_unusable_cache_folder_is_a_one_line_error(tmp_path, monkeypatch):
    from conftest import TINY, invoke
    source = write_zip(tmp_path / "faces.zip", 20)
    (tmp_path / "not-a-folder").write_text("a file where the cache folder should be")
    monkeypatch.setenv("TINYGAN_CACHE", str(tmp_path / "not-a-folder"))
    r = invoke("train", "--data", source, "--steps", 1, "--out", tmp_path / "run", *TINY)
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert "cannot use the cache folder" in r.output and "TINYGAN_CACHE" in r.output
