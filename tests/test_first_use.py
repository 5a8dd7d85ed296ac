"""What a newcomer meets on first use: which model a bare command draws from, results that
are never silently replaced, counts in words that agree with their numbers, tables whose
headers stand over their columns."""

import re

import pytest
from conftest import TINY, invoke


@pytest.fixture
def young_run(tmp_path, monkeypatch):
    """A folder with runs/young trained 3 steps, as the working directory."""
    monkeypatch.chdir(tmp_path)
    result = invoke("train", "--data", "demo", "--steps", 3, "--out", "runs/young", *TINY)
    assert result.exit_code == 0, result.output
    return tmp_path


@pytest.mark.parametrize("command", [["sample", "-n", "4"], ["info"],
                                     ["interpolate", "1", "2", "--frames", "2"],
                                     ["eval", "--data", "demo", "-n", "16"]])
def test_a_bare_command_says_it_uses_the_newest_run_and_that_it_is_young(young_run, command):
    result = invoke(*command)
    assert result.exit_code == 0, result.output
    assert ("note: no --checkpoint or --model given: using runs/young/ckpt_00000003.npz, the "
            "newest run's checkpoint (step 3)") in result.output
    assert ("note: runs/young is at step 3: faces come after a few hundred steps; --model "
            "anime draws the shipped model") in result.output


def test_a_named_model_draws_without_notes(young_run):
    shipped = invoke("sample", "-n", "4", "--model", "anime")
    named = invoke("sample", "-n", "4", "--checkpoint", "runs/young")
    assert shipped.exit_code == named.exit_code == 0
    assert "note:" not in shipped.output
    assert "newest run" not in named.output and "is at step 3" in named.output   # still young


def test_a_second_grid_does_not_replace_the_first(young_run):
    first = invoke("sample", "-n", "4", "--model", "anime")
    second = invoke("sample", "-n", "4", "--model", "human")
    third = invoke("sample", "-n", "4", "--model", "human")
    assert "wrote samples.png (4 faces" in first.output
    assert "wrote samples-2.png" in second.output and "samples.png, an earlier result, is kept" \
        in second.output
    assert "wrote samples-3.png" in third.output
    grids = [(young_run / name).read_bytes() for name in
             ("samples.png", "samples-2.png", "samples-3.png")]
    assert grids[0] != grids[1] == grids[2]   # anime, then human twice
    named = invoke("sample", "-n", "4", "--model", "human", "--out", "samples.png")
    assert "it replaced the earlier file" in named.output
    assert (young_run / "samples.png").read_bytes() == grids[1]


def test_interpolate_numbers_its_gif_too(young_run):
    for expected in ("interpolation.gif", "interpolation-2.gif"):
        result = invoke("interpolate", "1", "2", "--frames", "2", "--model", "anime")
        assert f"wrote {expected}:" in result.output
    assert (young_run / "interpolation.gif").exists()


def test_one_is_singular(young_run, tmp_path):
    result = invoke("sample", "-n", "1", "--model", "anime", "--separate", tmp_path / "one")
    assert "(1 face from" in result.output and "and 1 PNG in" in result.output
    result = invoke("sample", "-n", "2", "--model", "anime", "--separate", tmp_path / "two")
    assert "(2 faces from" in result.output and "and 2 PNGs in" in result.output
    result = invoke("train", "--data", "demo", "--steps", 1, "--out", "runs/one", *TINY[:6],
                    "--batch", "64", "--demo-count", "64")
    assert "(1 step per epoch)" in result.output
    result = invoke("export", "runs/one", "--out", tmp_path / "small.npz")
    assert re.search(r"\((0\.\d|<0\.1) MB, step 1\)", result.output), result.output


def test_eval_repeats_headers_stand_over_their_columns(young_run):
    result = invoke("eval", "--model", "anime", "--data", "demo", "-n", "16", "--repeats", "2")
    lines = result.output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.rstrip().endswith("avg"))
    rows = lines[header + 1:header + 5]
    assert [row.split("  ")[0] for row in rows][:2] == ["seed 0", "seed 1"]
    for row in rows:   # every number ends where its header ends
        ends = [m.end() for m in re.finditer(r"\d+\.\d\d", row)]
        assert ends == [m.end() for m in re.finditer(r"\S+", lines[header])], (lines[header], row)


# -- data: what decoding did, and why a file was skipped -------------------------------------
def odd_folder(folder):
    """4 square 40 px faces, plus one 300x100 (cropped), one 16 px (enlarged at 32 px), one
    animated GIF (its first frame), and one file of each kind of failure."""
    from PIL import Image
    folder.mkdir()
    for i in range(4):
        Image.new("RGB", (40, 40), (i * 60, 90, 150)).save(folder / f"face{i}.png")
    Image.new("RGB", (300, 100), (200, 10, 10)).save(folder / "wide.png")
    Image.new("RGB", (16, 16), (10, 200, 10)).save(folder / "small.png")
    frames = [Image.new("RGB", (40, 40), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(folder / "moving.gif", save_all=True, append_images=frames[1:])
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.png").write_text("not a picture")
    (folder / "cut.png").write_bytes((folder / "face0.png").read_bytes()[:60])
    return folder


def test_loading_counts_what_decoding_did_and_why_files_were_skipped(tmp_path):
    from tinygan.data.load import load_images
    images, report = load_images(str(odd_folder(tmp_path / "odd")), 32, cache=False)
    assert len(images) == 7
    assert report.adjusted == {"cropped": 1, "enlarged": 1, "first frame": 1}
    assert report.adjustments() == ("1 enlarged (smaller than --size), 1 centre-cropped to a "
                                    "square, 1 taken from an animation's first frame")
    assert dict(report.skipped_files) == {"cut.png": "truncated or damaged",
                                          "empty.png": "empty, 0 bytes",
                                          "notes.png": "not an image inside"}
    moving = images[sorted(["face0.png", "face1.png", "face2.png", "face3.png", "moving.gif",
                            "small.png", "wide.png"]).index("moving.gif")]
    assert tuple(moving[16, 16]) == (255, 0, 0)   # the first frame, not the second


def test_train_says_what_decoding_did_once_and_logs_it(tmp_path):
    out = tmp_path / "run"
    result = invoke("train", "--data", odd_folder(tmp_path / "odd"), "--steps", 1, "--out", out,
                    *TINY[:4], "--batch", "4")
    assert result.exit_code == 0, result.output
    assert result.output.count("note: decoding at 32 px: 1 enlarged (smaller than --size)") == 1
    assert "7 images (skipped 1 empty file, 1 file that holds no image, 1 truncated or " \
           "damaged image)" in result.output
    events = (out / "events.log").read_text()
    assert "decoding: 1 enlarged (smaller than --size), 1 centre-cropped" in events
    resumed = invoke("train", "--resume", out, "--steps", 2)   # from the cache: same counts
    assert resumed.output.count("note: decoding at 32 px: 1 enlarged") == 1


def test_data_too_small_for_a_batch_names_the_skipped_files(tmp_path):
    result = invoke("train", "--data", odd_folder(tmp_path / "odd"), "--steps", 1, "--out",
                    tmp_path / "run", *TINY[:4], "--batch", "16")
    assert result.exit_code == 2
    last = result.output.strip().splitlines()[-1]
    assert "the data has 7 images, fewer than one batch of 16; skipped cut.png (truncated or " \
           "damaged), empty.png (empty, 0 bytes), notes.png (not an image inside)" in last


def test_data_check_says_what_training_would_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    odd_folder(tmp_path / "odd")
    result = invoke("data", "check", "odd", "--size", "32")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "odd: 7 images (skipped 1 empty file, 1 file that holds no image, 1 truncated or " \
           "damaged image)" in out
    assert "sizes (8 image headers read): most common 40x40 (6)" in out
    assert "short side 16 to 100 px" in out and "smaller than 32 px: 1, larger: 7" in out
    assert "decoding at 32 px: 1 enlarged (smaller than --size), 1 centre-cropped to a " \
           "square, 1 taken from an animation's first frame" in out
    for line in ("skipped cut.png: truncated or damaged", "skipped empty.png: empty, 0 bytes",
                 "skipped notes.png: not an image inside"):
        assert line in out
    assert "wrote data-check.png: 7 images as training sees them" in out
    from PIL import Image
    assert Image.open(tmp_path / "data-check.png").size == (3 * 34 + 2, 3 * 34 + 2)
    again = invoke("data", "check", "odd", "--size", "32")   # from the cache, the same report
    assert "odd: 7 images (skipped 1 empty file" in again.output
    assert "wrote data-check-2.png" in again.output
    trained = invoke("train", "--data", "odd", "--steps", 1, "--out", "run", *TINY[:4],
                     "--batch", "4")
    assert "memory-mapped from the decode cache" in trained.output   # check filled the cache


def test_data_check_refuses_what_is_not_a_data_set(tmp_path):
    result = invoke("data", "check", tmp_path / "nothing")
    assert result.exit_code == 2 and "no such file or folder" in result.output.splitlines()[-1]



# -- unwritable or busy run folders: refused before any data is read -------------------------
def read_only(monkeypatch):
    """Every new file refused, as on a read-only file system (chmod does not stop root)."""
    import errno
    import os

    from tinygan.run import folder

    def refuse(*args, **kw):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))
    monkeypatch.setattr(folder.tempfile, "mkstemp", refuse)


def test_resume_into_an_unwritable_folder_is_refused_first(tmp_path, monkeypatch):
    run = tmp_path / "run"
    assert invoke("train", "--data", "demo", "--steps", 2, "--out", run, *TINY).exit_code == 0
    events = (run / "events.log").read_text()
    read_only(monkeypatch)
    monkeypatch.setattr("tinygan.data.load.load_images", lambda *a, **k: 1 / 0)
    result = invoke("train", "--resume", run, "--more-steps", 2)
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        f"Error: cannot write in {run}: Read-only file system; copy the run folder somewhere "
        "writable and --resume the copy")
    assert "resumed" not in result.output and (run / "events.log").read_text() == events


def test_a_new_run_under_an_unwritable_folder_is_refused_first(tmp_path, monkeypatch):
    read_only(monkeypatch)
    monkeypatch.setattr("tinygan.data.load.load_images", lambda *a, **k: 1 / 0)
    result = invoke("train", "--data", "demo", "--out", tmp_path / "new" / "run", *TINY)
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        f"Error: cannot write in {tmp_path} (to hold {tmp_path / 'new' / 'run'}): Read-only "
        "file system; give a writable folder with --out DIR")
    assert not (tmp_path / "new").exists()


def test_a_folder_in_use_is_refused_before_the_data_is_read(tmp_path, monkeypatch):
    from tinygan.run.folder import RunLock
    run = tmp_path / "run"
    assert invoke("train", "--data", "demo", "--steps", 2, "--out", run, *TINY).exit_code == 0
    monkeypatch.setattr("tinygan.data.load.load_images", lambda *a, **k: 1 / 0)
    with RunLock(str(run)):
        result = invoke("train", "--resume", run, "--more-steps", 2)
        listing = invoke("runs", "--dir", tmp_path)
    assert result.exit_code == 2 and "is in use by another training process" in result.output
    assert "(training now)" in listing.output
    after = invoke("runs", "--dir", tmp_path).output
    assert "(training now)" not in after
    assert after.splitlines()[1].split()[:2] == ["run", "2/2"]   # the step of the steps planned


def test_runs_shows_how_far_a_run_by_epochs_has_come(tmp_path):
    run = tmp_path / "run"
    assert invoke("train", "--data", "demo", "--epochs", 2, "--out", run, *TINY).exit_code == 0
    listing = invoke("runs", "--dir", tmp_path).output   # 64 faces, batch 16: 8 steps
    assert listing.splitlines()[1].split()[:2] == ["run", "8/8"]


# -- what events.log and log.csv keep of a stop ----------------------------------------------
def test_a_stop_is_logged_with_its_own_row_and_a_kill_is_noticed(tmp_path):
    import csv
    import signal

    from tinygan.data.load import load_images
    from tinygan.run.trainer import Trainer
    run = tmp_path / "run"
    run.mkdir()
    config = dict(invoke_config(), log_every=4, ckpt_every=100)
    images, _ = load_images("demo", 32, demo_count=64)
    trainer = Trainer(config, str(run), images)
    stop_after = 6

    def stop_at():   # Ctrl-C after step 6, between log rows (at 4 and 8)
        return trainer.step >= stop_after
    trainer.should_stop = stop_at
    trainer._stop_signal = signal.SIGINT
    assert trainer.train(12) == "interrupted"
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert [r["step"] for r in rows] == ["4", "6"]   # the stop's own row: steps 5 and 6
    events = (run / "events.log").read_text()
    assert "step 6: process ended: stopped by SIGINT; checkpoint saved" in events
    # a process that ends without a word (kill -9): the next resume says so
    (run / "events.log").write_text(events + "2026-01-01 00:00:00 step 6: resumed from x\n")
    resumed = Trainer(config, str(run), images)
    resumed.resume()
    last = (run / "events.log").read_text().splitlines()[-1]
    assert "resumed from ckpt_00000006.npz at step 6 (the process before ended without a " \
           "word: killed, or the machine stopped; its log reached step 6)" in last


def invoke_config():
    from tinygan.gan.recipes import complete
    return complete(dict(recipe="modern", data="demo", size=32, nz=16, ngf=8, ndf=8, batch=16,
                         real_label=1.0, label_noise=0.0, r1_every=4, flip=True, ema=0.999,
                         seed=0, steps=12, epochs=None, log_every=4, sample_every=100,
                         ckpt_every=100, keep=3, milestone_every=0, demo_count=64, init=None,
                         on_nan="stop"))


def test_the_progress_bar_ends_once_and_notes_go_above_it(tmp_path):
    result = invoke("train", "--data", "demo", "--steps", 6, "--out", tmp_path / "run",
                    "--sample-every", 3, *TINY)
    assert result.exit_code == 0
    lines = result.output.replace("\r", "\n").splitlines()
    notes = [line for line in lines if "are nearly alike" in line]
    assert notes and all(line.startswith("note: the 64 tiles") for line in notes)
    assert sum("100%|" in line for line in lines) == 1


def test_eval_on_a_few_images_says_its_score_is_noisy(tmp_path):
    few = invoke("eval", "--model", "anime", "--data", "demo", "-n", 16)
    assert "note: with fewer than 512 images a set, SWD is noisy" in few.output
    enough = invoke("eval", "--model", "anime", "--data", "demo", "-n", 512)
    assert "noisy" not in enough.output


def test_eval_all_draws_its_last_bar_line_once(tmp_path):
    run = tmp_path / "run"
    assert invoke("train", "--data", "demo", "--steps", 4, "--ckpt-every", 2, "--out", run,
                  *TINY).exit_code == 0
    result = invoke("eval", run, "--all", "--data", "demo", "-n", 32)
    lines = result.output.replace("\r", "\n").splitlines()
    assert sum("eval: 100%" in line for line in lines) == 1
