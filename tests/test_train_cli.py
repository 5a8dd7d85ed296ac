"""End to end: train, resume, sample, interpolate, info, export and their error messages."""

import json
import sys
import zipfile

import numpy as np
import pytest
from conftest import TINY, invoke, random_images
from PIL import Image

from tinygan.data.batches import Batches
from tinygan.data.demo import demo_faces
from tinygan.run import checkpoint as ckpt
from tinygan.run.trainer import Trainer


def test_train_writes_a_complete_run_folder(tiny_run):
    names = {p.name for p in tiny_run.iterdir()}
    assert {"config.json", "log.csv", "real.png", "progress", "progress.gif",
            "ckpt_00000006.npz", "ckpt_00000003.npz"} <= names
    rows = (tiny_run / "log.csv").read_text().splitlines()
    assert rows[0].startswith("step,epoch,loss_d,loss_g,d_real,d_fake")
    assert [r.split(",")[0] for r in rows[1:]] == ["2", "4", "6"]
    assert len(list((tiny_run / "progress").glob("*.png"))) == 2
    # 64 faces from the first batches, not one batch of 16 on a mostly blank grid
    assert Image.open(tiny_run / "real.png").size == (8 * 34 + 2, 8 * 34 + 2)
    config = json.loads((tiny_run / "config.json").read_text())
    assert config["size"] == 32 and config["batch"] == 16


def _trainer(tmp_path, name, steps_per_ckpt=100):
    config = dict(size=32, nz=16, ngf=8, ndf=8, batch=8, lr=2e-4, beta1=0.5, beta2=0.999,
                  real_label=0.9, label_noise=0.1, flip=True, ema=0.9, seed=3,
                  log_every=2, sample_every=100, ckpt_every=steps_per_ckpt, keep=3)
    run = tmp_path / name
    run.mkdir(exist_ok=True)
    return Trainer(config, str(run), demo_faces(40, 32, seed=1), log=lambda m: None)


def test_resume_is_exact(tmp_path):
    straight = _trainer(tmp_path, "straight")
    straight.train(8)
    first = _trainer(tmp_path, "split")
    first.train(5)                      # stops at 5: a checkpoint is written on the way out
    second = _trainer(tmp_path, "split")
    second.resume()
    assert second.step == 5
    second.train(8)
    a, b = straight.gan.state_arrays(), second.gan.state_arrays()
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_batches_depend_only_on_seed_and_step():
    images = random_images(50, 8, 8)
    b1, b2 = Batches(images, 8, seed=1, flip=True), Batches(images, 8, seed=1, flip=True)
    np.testing.assert_array_equal(b1.batch(13), b2.batch(13))
    assert not np.array_equal(b1.batch(0), b1.batch(1))
    # every image once per epoch (the remainder dropped)
    seen = np.concatenate([b1.indices(s) for s in range(b1.steps_per_epoch)])
    assert len(set(seen.tolist())) == 48
    batch = next(b1.iterate(13))
    np.testing.assert_array_equal(batch, b2.batch(13))
    assert batch.min() >= -1 and batch.max() <= 1


def test_cli_resume_continues_to_more_steps(tiny_run):
    result = invoke("train", "--resume", tiny_run, "--steps", 8)
    assert result.exit_code == 0, result.output
    assert ckpt.list_checkpoints(tiny_run)[0].endswith("ckpt_00000008.npz")


def test_sample_grid_separate_and_same_face_for_n1(tiny_run, tmp_path):
    out64 = tmp_path / "g64.png"
    r = invoke("sample", "-n", 64, "--checkpoint", tiny_run, "--seed", 5, "--out", out64,
               "--separate", tmp_path / "faces", "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert Image.open(out64).size == (8 * 34 + 2, 8 * 34 + 2)
    assert len(list((tmp_path / "faces").glob("*.png"))) == 64
    r = invoke("sample", "-n", 1, "--checkpoint", tiny_run, "--seed", 5, "--out",
               tmp_path / "g1.png", "--separate", tmp_path / "one", "--device", "cpu")
    assert r.exit_code == 0, r.output
    only = next((tmp_path / "one").glob("*.png"))   # named by its id, as face 0 of seed 5
    one = np.asarray(Image.open(only))
    first = np.asarray(Image.open(tmp_path / "faces" / only.name))
    assert np.abs(one.astype(int) - first).max() <= 1   # same face, batch of 1 or 64


def test_sample_best_and_truncation(tiny_run, tmp_path):
    from tinygan.data.images import grid
    from tinygan.draw.generate import best_of, find_checkpoint, latent, load_generator
    grids = {}
    for truncation in (None, 0.5):
        out = tmp_path / f"best-{truncation}.png"
        extra = ["--truncation", truncation] if truncation else []
        r = invoke("sample", "-n", 4, "--best", 4, "--checkpoint", tiny_run, "--out", out,
                   "--device", "cpu", *extra)
        assert r.exit_code == 0, r.output
        grids[truncation] = np.asarray(Image.open(out))
    G, D, meta = load_generator(find_checkpoint(str(tiny_run)), with_discriminator=True)
    z = latent(0, 16, meta["config"]["nz"], 0.5)   # 4 x 4 faces drawn, the best 4 kept
    np.testing.assert_array_equal(grids[0.5], grid(best_of(G, D, z, 4)))
    assert not np.array_equal(grids[0.5], grids[None])   # the truncation changed the faces


def test_interpolate_info_export_and_init(tiny_run, tmp_path):
    gif = tmp_path / "walk.gif"
    r = invoke("interpolate", 1, 2, "--checkpoint", tiny_run, "--frames", 5, "--out", gif,
               "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert Image.open(gif).n_frames == 8
    r = invoke("info", tiny_run)
    assert r.exit_code == 0 and "step: 6" in r.output and "G_ema" in r.output
    exported = tmp_path / "g.npz"
    r = invoke("export", tiny_run, "--out", exported)
    assert r.exit_code == 0, r.output
    arrays, meta = ckpt.load(str(exported))
    assert all(v.dtype == np.float16 for v in arrays.values()) and meta["config"]["nz"] == 100
    r = invoke("sample", "-n", 4, "--checkpoint", exported, "--out", tmp_path / "e.png",
               "--device", "cpu")
    assert r.exit_code == 0, r.output
    r = invoke("train", "--data", "demo", "--steps", 2, "--init", exported, "--out",
               tmp_path / "ft", *TINY)
    assert r.exit_code == 0 and "initialised from" in r.output, r.output


def test_an_export_with_d_serves_best_and_fine_tuning(tiny_run, tmp_path):
    exported = tmp_path / "gd.npz"
    r = invoke("export", tiny_run, "--with-d", "--out", exported)
    assert r.exit_code == 0, r.output
    arrays, meta = ckpt.load(str(exported))
    newest, _ = ckpt.load(ckpt.list_checkpoints(tiny_run)[0])
    d_keys = [k for k in newest if k.startswith("D/")]
    assert d_keys and all(np.allclose(arrays[k], newest[k], rtol=1e-3, atol=1e-4)
                          for k in d_keys)
    assert meta["config"]["recipe"] == "modern" and meta["config"]["loss"] == "hinge"
    r = invoke("sample", "-n", 4, "--best", 4, "--checkpoint", exported, "--out",
               tmp_path / "best.png", "--device", "cpu")
    assert r.exit_code == 0, r.output
    r = invoke("train", "--data", "demo", "--steps", 1, "--init", exported, "--out",
               tmp_path / "ft", *TINY)
    assert r.exit_code == 0, r.output
    started, _ = ckpt.load(ckpt.list_checkpoints(tmp_path / "ft")[0])
    # one step from the exported D moves it a little, not from a fresh initialisation
    moved = max(np.abs(started[k].astype(np.float64) - newest[k]).max() for k in d_keys
                if k.endswith(".W"))
    assert moved < 5e-3
    # without --with-d, --best says what it needs
    plain = tmp_path / "g.npz"
    assert invoke("export", tiny_run, "--out", plain).exit_code == 0
    r = invoke("sample", "--best", 4, "--checkpoint", plain, "--out", tmp_path / "x.png")
    assert r.exit_code == 2 and "--with-d" in r.output


def test_gradcheck_command_reports_each_case_and_fails_past_its_tolerance():
    # the checks passing at 1e-6 is test_layers.py's test_standard_gradcheck_suite_passes;
    # here, the command's report and exit code, with a tolerance nothing can meet
    r = invoke("gradcheck", "--tol", "1e-30")
    assert r.exit_code == 1
    lines = r.output.splitlines()
    cases = [line for line in lines if "max rel. error" in line]
    assert len(cases) > 10 and all(" FAIL " in line for line in cases)
    assert any(line.startswith("Conv2d") for line in cases)
    assert any(line.startswith("bce_with_logits") for line in cases)
    assert lines[-1].startswith("worst relative error") and "(tolerance 1e-30)" in lines[-1]


# --------------------------------------------------------------------------- data sources
def _write_images(folder, n, size=(40, 30), mode="RGB"):
    folder.mkdir(parents=True, exist_ok=True)
    for i, arr in enumerate(random_images(n, size[1], size[0], seed=n)):
        Image.fromarray(arr).convert(mode).save(folder / f"{i}.png")


def test_data_from_folder_zip_npy_and_any_mode(tmp_path):
    from tinygan.data.load import load_images
    _write_images(tmp_path / "flat", 3)
    _write_images(tmp_path / "nested" / "a" / "b", 2, mode="L")
    _write_images(tmp_path / "nested", 2, mode="RGBA")
    _write_images(tmp_path / "nested" / "c", 2, mode="P")
    Image.fromarray(random_images(1, 20, 50)[0]).convert("CMYK").save(tmp_path / "nested" / "k.jpg")
    for src, n in ((tmp_path / "flat", 3), (tmp_path / "nested", 7)):
        images, report = load_images(str(src), 32)
        assert images.shape == (n, 32, 32, 3) and images.dtype == np.uint8 and report.used == n
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as z:
        for p in (tmp_path / "flat").iterdir():
            z.write(p, f"inner/{p.name}")
        z.writestr("notes.txt", "hello")
    images, report = load_images(str(tmp_path / "d.zip"), 32)
    assert images.shape == (3, 32, 32, 3) and report.skipped == {"non-image files": 1}
    np.save(tmp_path / "a.npy", random_images(5, 16, 16))
    images, _ = load_images(str(tmp_path / "a.npy"), 32)
    assert images.shape == (5, 32, 32, 3)


def test_non_square_images_are_center_cropped():
    from tinygan.data.load import prepare_image
    arr = np.zeros((20, 60, 3), np.uint8)
    arr[:, 20:40] = 255          # a white centre square
    out = prepare_image(Image.fromarray(arr), 20)
    assert out.shape == (20, 20, 3) and out.min() == 255


def _expect_usage_error(result, *words):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for w in words:
        assert w in result.output, result.output


def test_bad_inputs_are_one_line_errors(tmp_path):
    train = ["train", "--steps", 1, "--out", tmp_path / "r", *TINY]
    _expect_usage_error(invoke(*train, "--data", tmp_path / "missing.zip"), "no such file")
    with zipfile.ZipFile(tmp_path / "empty.zip", "w"):
        pass
    _expect_usage_error(invoke(*train, "--data", tmp_path / "empty.zip"), "contains no images")
    (tmp_path / "noimg").mkdir()
    (tmp_path / "noimg" / "a.txt").write_text("x")
    _expect_usage_error(invoke(*train, "--data", tmp_path / "noimg"), "contains no images")
    (tmp_path / "notes.txt").write_text("not images")
    _expect_usage_error(invoke(*train, "--data", tmp_path / "notes.txt"), "not a zip")
    bad = tmp_path / "mostly_bad"
    _write_images(bad, 2)
    for i in range(5):
        (bad / f"broken{i}.jpg").write_bytes(b"\xff\xd8\xff garbage")
    _expect_usage_error(invoke(*train, "--data", bad), "could not be decoded")
    _expect_usage_error(invoke(*train, "--data", "demo", "--size", "50"), "--size")
    _expect_usage_error(invoke("sample", "-n", 0, "--out", tmp_path / "x.png"), "-n")
    _expect_usage_error(invoke("sample", "--checkpoint", tmp_path / "nope"), "no such")
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").glob("ckpt_*"))


def test_corrupt_images_are_skipped_with_a_count(tmp_path):
    folder = tmp_path / "some_bad"
    _write_images(folder, 20, size=(32, 32))
    (folder / "truncated.png").write_bytes((folder / "0.png").read_bytes()[:40])
    (folder / "zero.jpg").write_bytes(b"")
    out = tmp_path / "r"
    r = invoke("train", "--data", folder, "--steps", 1, "--out", out, *TINY)
    assert r.exit_code == 0, r.output
    assert "20 images (skipped 1 empty file, 1 truncated or damaged image)" in r.output


def test_huge_image_is_skipped_and_counted(tmp_path):
    from tinygan.data.load import MAX_PIXELS, load_images
    side = int(MAX_PIXELS ** 0.5) + 10
    Image.new("1", (side, side)).save(tmp_path / "huge.png")   # tiny file, huge canvas
    for i in range(3):
        Image.new("RGB", (40, 40), (i * 60, 90, 150)).save(tmp_path / f"face{i}.png")
    images, report = load_images(str(tmp_path), 32, cache=False, workers=1)
    assert images.shape == (3, 32, 32, 3)
    assert report.skipped == {"too large": 1}
    assert report.skipped_files == [("huge.png", "too large")]


@pytest.mark.parametrize("driver", [True, False])
def test_gpu_without_cupy_is_a_clear_error(tmp_path, monkeypatch, driver):
    """With an NVIDIA driver, the next step is installing CuPy; without one, no install helps
    and the next step is --device cpu."""
    from tinygan.nn import backend
    monkeypatch.setitem(sys.modules, "cupy", None)   # as if CuPy were not installed
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_error", None)
    monkeypatch.setattr(backend, "nvidia_driver_present", lambda: driver)
    result = invoke("sample", "--device", "gpu", "--out", tmp_path / "x.png")
    _expect_usage_error(result, "CuPy could not be imported")
    last = result.output.strip().splitlines()[-1]
    assert ("pip install 'cupy-cuda12x[ctk]'" in last) == driver
    assert ("no NVIDIA GPU or driver" in last and "use --device cpu" in last) == (not driver)
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("driver,advice", [(True, "install the CuPy built for the CUDA version"),
                                           (False, "use --device cpu")])
def test_cupy_that_sees_no_gpu_says_whether_a_driver_is_there(tmp_path, monkeypatch, driver,
                                                                advice):
    import types

    from tinygan.nn import backend
    monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(is_available=lambda: False))
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_error", None)
    monkeypatch.setattr(backend, "nvidia_driver_present", lambda: driver)
    result = invoke("sample", "--device", "gpu", "--out", tmp_path / "x.png")
    _expect_usage_error(result, "CuPy is installed but sees no CUDA GPU")
    assert advice in result.output.strip().splitlines()[-1]


def test_no_model_says_what_to_do(tmp_path, monkeypatch):
    from tinygan.draw import generate
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(generate, "PRETRAINED_DIR", str(tmp_path / "none"))
    _expect_usage_error(invoke("sample", "--out", "x.png"), "tinygan train")


def test_eval_scores_a_checkpoint_and_a_sample_set(tiny_run, tmp_path):
    r = invoke("eval", "--checkpoint", tiny_run, "--data", "demo", "-n", 64, "--json",
               "--device", "cpu")
    assert r.exit_code == 0, r.output
    result = json.loads(r.output.strip().splitlines()[-1])
    assert set(result["swd"]) == {"32", "16", "avg"} and set(result["floor"]) == set(result["swd"])
    # an untrained 6-step generator is far from the faces; two real subsets are close
    assert result["swd"]["avg"] > 2 * result["floor"]["avg"]
    np.save(tmp_path / "fake.npy", demo_faces(64, 32, seed=9))
    r = invoke("eval", "--samples", tmp_path / "fake.npy", "--data", "demo", "-n", 64,
               "--size", "32", "--json")
    assert r.exit_code == 0, r.output
    same_kind = json.loads(r.output.strip().splitlines()[-1])
    assert same_kind["swd"]["avg"] < result["swd"]["avg"]


def test_eval_truncation_scores_the_faces_sample_truncation_draws(tiny_run, tmp_path):
    from tinygan.draw.generate import find_checkpoint, generate, latent, load_generator
    args = ("eval", "--checkpoint", tiny_run, "--data", "demo", "-n", 64, "--json")
    plain = json.loads(invoke(*args).output.strip().splitlines()[-1])
    r = invoke(*args, "--truncation", 0.5)
    assert r.exit_code == 0, r.output
    truncated = json.loads(r.output.strip().splitlines()[-1])
    assert truncated["swd"] != plain["swd"]
    # the same faces, drawn by hand from eval's noise (seed 0 + 1000) and scored as a sample set
    G, _, meta = load_generator(find_checkpoint(str(tiny_run)))
    np.save(tmp_path / "faces.npy", generate(G, latent(1000, 64, meta["config"]["nz"], 0.5)))
    r = invoke("eval", "--samples", tmp_path / "faces.npy", "--data", "demo", "-n", 64,
               "--size", 32, "--json")
    assert json.loads(r.output.strip().splitlines()[-1])["swd"] == truncated["swd"]
    r = invoke("eval", "--samples", tmp_path / "faces.npy", "--data", "demo", "--truncation", 1)
    assert r.exit_code == 2 and "--samples scores images already drawn" in r.output


def test_eval_repeats_scores_each_seed_and_their_mean(tiny_run, tmp_path):
    real = tmp_path / "real.npy"   # not "demo", whose faces --seed would redraw
    np.save(real, demo_faces(128, 32, seed=4))

    def scored(*extra):
        r = invoke("eval", "--checkpoint", tiny_run, "--data", real, "-n", 64, "--json", *extra)
        assert r.exit_code == 0, r.output
        return json.loads(r.output.strip().splitlines()[-1])
    both = scored("--seed", 3, "--repeats", 2)
    one, other = scored("--seed", 3), scored("--seed", 4)
    assert [s["seed"] for s in both["seeds"]] == [3, 4]
    assert both["seeds"][0]["swd"] == one["swd"] and both["seeds"][1]["floor"] == other["floor"]
    assert one["swd"] != other["swd"]
    for key in ("swd", "floor"):
        assert both[key]["avg"] == pytest.approx((one[key]["avg"] + other[key]["avg"]) / 2)
    text = invoke("eval", "--checkpoint", tiny_run, "--data", real, "-n", 64, "--seed", 3,
                  "--repeats", 2).output
    assert "seed 3" in text and "seed 4" in text and "generated vs real (mean)" in text


def test_export_can_average_the_newest_checkpoints(tiny_run, tmp_path):
    out = tmp_path / "avg.npz"
    r = invoke("export", tiny_run, "--out", out, "--raw", "--average", 2, "--float32",
               "--no-recalibrate")
    assert r.exit_code == 0, r.output
    exported, meta = ckpt.load(str(out))
    a, _ = ckpt.load(str(tiny_run / "ckpt_00000006.npz"))
    b, _ = ckpt.load(str(tiny_run / "ckpt_00000003.npz"))
    key = "1.W"
    np.testing.assert_allclose(exported[f"G_ema/{key}"], (a[f"G/{key}"] + b[f"G/{key}"]) / 2,
                               rtol=1e-6)
    assert meta["weights"] == "G, mean of 2"
    r = invoke("export", tiny_run, "--out", out, "--average", 5)
    assert r.exit_code == 2 and "fewer than --average 5" in r.output
