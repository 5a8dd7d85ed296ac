"""The rough edges a new user meets: help texts, hints that paste into a shell, resume
semantics, log times, info on exports, interpolation sizes, early grids, listing runs."""

import json
import os
import shlex
import shutil
import time
import zipfile

import click
import numpy as np
import pytest
from conftest import TINY, invoke
from PIL import Image

from tinygan.cli import main
from tinygan.data import load as data_module
from tinygan.data.demo import demo_faces
from tinygan.data.images import tile_spread
from tinygan.run.progress import ALIKE_SPREAD


@pytest.fixture(scope="module")
def run6(tmp_path_factory):
    """A tiny run trained 6 steps (checkpoints at 3 and 6), and how long training took.
    Copy it before changing it."""
    out = tmp_path_factory.mktemp("run6") / "run"
    start = time.perf_counter()
    result = invoke("train", "--data", "demo", "--steps", 6, "--out", out, "--ckpt-every", 3,
                    "--sample-every", 3, *TINY)
    assert result.exit_code == 0, result.output
    return out, time.perf_counter() - start, result.output


def copy_of(run6, tmp_path, name="run"):
    return shutil.copytree(run6[0], tmp_path / name)


def log_times(run):
    rows = (run / "log.csv").read_text().splitlines()[1:]
    return [float(r.split(",")[7]) for r in rows]


# ---------------------------------------------------------------------------------- help
def test_every_option_has_help_and_the_command_list_reads_whole():
    for name, command in main.commands.items():
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert param.help, f"tinygan {name} {param.opts[0]} has no help text"
    listing = invoke("--help").output.split("Commands:")[1]
    assert len(listing.strip().splitlines()) == len(main.commands)
    assert "..." not in listing
    train_help = invoke("train", "--help").output
    words = " ".join(train_help.split())   # help text wraps anywhere
    assert "a run trains 25 epochs" in words and "--more-steps" in words
    for field in ("D ", "G ", "Dx ", "DGz ", "ips "):
        assert f"\n    {field}" in train_help, field   # a line of the legend each
    assert "2 x FRAMES - 2" in " ".join(invoke("interpolate", "--help").output.split())


def test_train_help_shows_titled_groups_everyday_options_first():
    from tinygan.cli.train_options import GROUPS
    text = invoke("train", "--help").output
    titles = [title for title, _ in GROUPS]
    places = [text.index(f"\n{title}:\n") for title in titles]
    assert places == sorted(places)
    everyday = text[places[0]:places[1]]
    for option in ("--data", "--steps", "--size", "--batch", "--out", "--resume", "--device",
                   "--seed"):
        assert f"\n  {option} " in everyday, option
    visible = [p for p in main.commands["train"].params
               if isinstance(p, click.Option) and not p.hidden and p.name != "help"]
    for param in visible:   # each exactly once, and in a titled group, not left over
        assert text.count(f"  {param.opts[0]} ") + text.count(f"  {param.opts[0]}\n") == 1, \
            param.opts[0]
        assert any(param.name in names for _, names in GROUPS), param.opts[0]
    assert text.index("Other options:") > places[-1]


# ----------------------------------------------------------------------------------- eval
def test_eval_scores_a_sample_folder_against_a_zip(tmp_path):
    samples = tmp_path / "samples"
    samples.mkdir()
    for i, face in enumerate(demo_faces(16, 32, seed=5)):
        Image.fromarray(face).save(samples / f"{i:02d}.png")   # sorted = drawn order
    with zipfile.ZipFile(tmp_path / "real.zip", "w") as z:
        for i, face in enumerate(demo_faces(32, 32, seed=6)):
            Image.fromarray(face).save(tmp_path / "f.png")
            z.write(tmp_path / "f.png", f"{i}.png")
    r = invoke("eval", "--samples", samples, "--data", tmp_path / "real.zip", "-n", 16,
               "--size", 32, "--json")
    assert r.exit_code == 0, r.output
    score = json.loads(r.output.strip().splitlines()[-1])["swd"]
    assert score["avg"] > 0
    # the same faces as an array score the same: the folder was read, in order, in full
    np.save(tmp_path / "samples.npy", demo_faces(16, 32, seed=5))
    r = invoke("eval", "--samples", tmp_path / "samples.npy", "--data", tmp_path / "real.zip",
               "-n", 16, "--size", 32, "--json")
    assert json.loads(r.output.strip().splitlines()[-1])["swd"] == score


# ------------------------------------------------------------------------------ log times
def test_log_time_counts_seconds_since_the_run_started_across_resumes(run6, tmp_path):
    _, seconds, _ = run6
    run = copy_of(run6, tmp_path)
    before = log_times(run)
    assert before == sorted(before) and 0 <= before[0] and before[-1] <= seconds + 0.5
    start = time.perf_counter()
    r = invoke("train", "--resume", run, "--more-steps", 4)
    assert r.exit_code == 0, r.output
    after = log_times(run)
    assert after[:len(before)] == before and len(after) == len(before) + 2
    assert before[-1] <= after[-2] <= after[-1] <= before[-1] + time.perf_counter() - start + 0.5


# --------------------------------------------------------------------------- shell hints
def test_hints_paste_into_a_shell_with_spaces_and_accents(tmp_path):
    out = tmp_path / "my runs" / "café 1"
    r = invoke("train", "--data", "demo", "--steps", 2, "--out", out, *TINY)
    assert r.exit_code == 0, r.output
    hint = r.output.split("Sample with: ")[1].splitlines()[0]
    assert shlex.split(hint) == ["tinygan", "sample", "--checkpoint", str(out)]


# -------------------------------------------------------------------------------- resume
def test_resume_semantics_are_checked_before_any_data_is_read(run6, tmp_path, monkeypatch):
    run = copy_of(run6, tmp_path)
    events = (run / "events.log").read_text()

    def no_decoding(*args, **kw):
        raise AssertionError("the data was loaded for a resume that trains nothing")
    with monkeypatch.context() as patch:
        patch.setattr(data_module, "load_images", no_decoding)
        r = invoke("train", "--resume", run, "--steps", 3)
        assert r.exit_code == 2 and "is at step 6, past --steps 3" in r.output, r.output
        assert "--more-steps 3" in r.output
        for args in ((), ("--steps", 6)):
            r = invoke("train", "--resume", run, *args)
            assert r.exit_code == 0 and "at step 6 of 6: nothing to train" in r.output, r.output
        assert (run / "events.log").read_text() == events   # no-ops log nothing
        r = invoke("train", "--more-steps", 2, "--data", "demo")
        assert r.exit_code == 2 and "--more-steps needs --resume" in r.output
    r = invoke("train", "--resume", run, "--more-steps", 2)
    assert r.exit_code == 0, r.output
    assert (run / "ckpt_00000008.npz").exists()
    assert (run / "events.log").read_text().count("resumed from") == events.count("resumed from") + 1
    assert json.loads((run / "config.json").read_text())["steps"] == 8   # the new total sticks
    assert "nothing to train" in invoke("train", "--resume", run).output


def test_resume_refuses_settings_it_would_ignore_and_takes_bookkeeping(run6, tmp_path):
    run = copy_of(run6, tmp_path)
    config = json.loads((run / "config.json").read_text())
    for args in (("--lr", 0.1), ("--data", "demo", "--seed", 3), ("--recipe", "dcgan"),
                 ("--no-flip",), ("--init", "anime")):
        r = invoke("train", "--resume", run, "--more-steps", 2, *args)
        assert r.exit_code == 2 and "keeps the settings it started with" in r.output, r.output
        assert args[0] in r.output and "Traceback" not in r.output
    assert json.loads((run / "config.json").read_text()) == config   # nothing changed
    assert not (run / "ckpt_00000008.npz").exists()
    r = invoke("train", "--resume", run, "--more-steps", 2, "--keep", 7, "--log-every", 1)
    assert r.exit_code == 0, r.output
    after = json.loads((run / "config.json").read_text())
    assert (after["keep"], after["log_every"]) == (7, 1)
    assert after["lr"] == config["lr"] and after["seed"] == config["seed"]
    assert len((run / "log.csv").read_text().splitlines()) >= 3   # a row for each new step


# ------------------------------------------------------------------------- info / export
def test_info_on_an_export_shows_its_epoch_and_what_its_weights_are(run6, tmp_path):
    exported = tmp_path / "g.npz"
    r = invoke("export", run6[0], "--out", exported, "--raw", "--average", 2)
    assert r.exit_code == 0, r.output
    out = invoke("info", exported).output
    assert "step: 6  epoch: 1.50" in out        # 6 steps of 4 per epoch (64 faces, batch 16)
    assert "generator (G, mean of 2):" in out and "G_ema" not in out
    with_d = tmp_path / "gd.npz"
    assert invoke("export", run6[0], "--out", with_d, "--average", 2, "--with-d").exit_code == 0
    out = invoke("info", with_d).output
    assert "generator (G_ema, mean of 2):" in out and "discriminator:" in out


def test_a_stray_ckpt_file_and_a_non_checkpoint_are_not_taken_for_checkpoints(run6, tmp_path):
    run = copy_of(run6, tmp_path)
    shutil.copy(run / "ckpt_00000006.npz", run / "ckpt_best.npz")   # a copy the user made
    assert "file: " + str(run / "ckpt_00000006.npz") in invoke("info", run).output
    r = invoke("runs", "--dir", tmp_path)
    assert r.exit_code == 0 and "ckpt_00000006.npz" in r.output, r.output
    r = invoke("train", "--resume", run, "--more-steps", 1)
    assert r.exit_code == 0 and (run / "ckpt_00000007.npz").exists(), r.output
    picture = tmp_path / "face.png"
    Image.new("RGB", (8, 8)).save(picture)
    r = invoke("info", picture)
    assert r.exit_code == 2 and f"{picture}: not a checkpoint (.npz) file" in r.output


def test_an_unwritable_out_is_named_and_leaves_no_temporary_file(run6, tmp_path):
    out = tmp_path / "no-such-folder" / "faces.png"
    r = invoke("sample", "-n", 4, "--checkpoint", run6[0], "--out", out, "--device", "cpu")
    assert r.exit_code == 2 and f"cannot write {out}:" in r.output, r.output
    blocker = tmp_path / "taken"
    blocker.mkdir()   # a folder where the picture should go: the rename fails
    r = invoke("sample", "-n", 4, "--checkpoint", run6[0], "--out", blocker, "--device", "cpu")
    assert r.exit_code == 2 and f"cannot write {blocker}:" in r.output, r.output
    assert not list(tmp_path.glob("*.tmp"))


def test_info_without_an_argument_and_runs_list_the_newest_run(run6, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.makedirs("runs")
    old, new = copy_of(run6, tmp_path / "runs", "older"), copy_of(run6, tmp_path / "runs", "newer")
    past = time.time() - 3600
    for path in old.iterdir():
        os.utime(path, (past, past))
    assert "file: runs/newer/ckpt_00000006.npz" in invoke("info").output
    lines = invoke("runs").output.splitlines()
    assert lines[0].split()[:4] == ["run", "step", "size", "data"]
    assert [line.split()[0] for line in lines[1:]] == ["newer", "older"]
    last = (new / "log.csv").read_text().splitlines()[-1].split(",")
    fields = lines[1].split()
    assert fields[1:4] == ["6/6", "32", "demo"] and fields[-1] == "ckpt_00000006.npz"
    assert float(fields[4]) == pytest.approx(float(last[2]), abs=1e-3)   # D's last loss


# --------------------------------------------------------------------------- interpolate
def test_interpolate_enlarges_by_whole_factors_and_says_how_many_frames(run6, tmp_path):
    gif = tmp_path / "walk.gif"
    r = invoke("interpolate", 1, 2, "--checkpoint", run6[0], "--frames", 5, "--out", gif,
               "--device", "cpu")
    assert r.exit_code == 0 and "8 frames (5 from seed 1 to 2, 3 back)" in r.output, r.output
    assert Image.open(gif).size == (128, 128)   # 32 px x4
    r = invoke("interpolate", 1, 2, "--checkpoint", run6[0], "--frames", 3, "--scale", 3,
               "--resample", "nearest", "--out", gif, "--device", "cpu")
    assert r.exit_code == 0, r.output
    frame = np.asarray(Image.open(gif).convert("RGB")).astype(int)
    assert frame.shape == (96, 96, 3)
    blocks = frame.reshape(32, 3, 32, 3, 3)
    assert np.all(blocks == blocks[:, :1, :, :1])   # every 3x3 block one colour


# ------------------------------------------------------------------------ early grids
def test_early_grids_say_why_their_tiles_look_alike(run6):
    events = (run6[0] / "events.log").read_text()
    assert "tiles of progress/step_00000003.png are nearly alike" in events
    assert "untrained generator" in events
    assert tile_spread(demo_faces(64, 32)) > 3 * ALIKE_SPREAD   # real faces would not say so


# ---------------------------------------------------------------------- skipped files
def test_skipped_files_are_named_on_screen_and_all_in_events_log(tmp_path):
    folder = tmp_path / "faces"
    folder.mkdir()
    for i, face in enumerate(demo_faces(20, 32)):
        Image.fromarray(face).save(folder / f"{i:02d}.png")
    for i in range(5):
        (folder / f"bad{i}.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    Image.new("RGB", (1, 1)).save(folder / "dot.png")
    out = tmp_path / "run"
    r = invoke("train", "--data", folder, "--steps", 1, "--out", out, *TINY)
    assert r.exit_code == 0, r.output
    assert "warning: skipped 6 files: bad0.jpg (truncated or damaged), bad1.jpg (truncated or " \
           "damaged), bad2.jpg (truncated or damaged) and 3 more; all are named in" in r.output
    events = (out / "events.log").read_text()
    for name in [f"bad{i}.jpg: truncated or damaged" for i in range(5)] + ["dot.png: too small"]:
        assert f"skipped {name}" in events, name
