"""Long runs survive faults: kill -9, damaged checkpoints, NaN, a full disk, two trainers.

Each test injects one fault and checks the outcome. Every run is tiny (32 px, 8 channels, 128
demo faces, a few dozen steps), so the file takes seconds.
"""

import errno
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from tinygan.cli import main
from tinygan.data.demo import demo_faces
from tinygan.draw.generate import find_checkpoint
from tinygan.run import checkpoint as ckpt
from tinygan.run.folder import RunLock, TrainingError, write_config
from tinygan.run.trainer import Trainer

TINY = ["--data", "demo", "--demo-count", "128", "--size", "32", "--nz", "16", "--ngf", "8",
        "--ndf", "8", "--batch", "16", "--sample-every", "1000", "--device", "cpu"]
# one BLAS thread: the models are tiny, and on a small busy machine more threads only wait
ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
CLI = [sys.executable, "-m", "tinygan"]


def tinygan(*args, timeout=60):
    """Run the real command line in a subprocess -> CompletedProcess with text output."""
    return subprocess.run(CLI + [str(a) for a in args], env=ENV, capture_output=True,
                          text=True, timeout=timeout)


def assert_clean_error(result, *fragments):
    """Exit code 2 and a one-line 'Error: ...' naming the problem, never a traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def invoke(*args):
    """Run the command line in this process (faster; monkeypatches apply) -> click Result,
    checked to have ended with exit code 2 and a message rather than an exception."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


def steps_of(run_dir):
    return [int(os.path.basename(p)[5:13]) for p in ckpt.list_checkpoints(run_dir)]


def same_arrays(a, b):
    return set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)


def logged_steps(run_dir):
    with open(os.path.join(run_dir, "log.csv")) as f:
        return [line.split(",")[0] for line in f]


@pytest.fixture(scope="module")
def images():
    return demo_faces(128, size=32, seed=0)


def make_trainer(run_dir, images, **overrides):
    config = dict(data="demo", size=32, nz=16, ngf=8, ndf=8, batch=16, lr=2e-4, beta1=0.5,
                  beta2=0.999, real_label=1.0, label_noise=0.0, flip=True, ema=0.999, seed=0,
                  steps=None, epochs=None, log_every=2, sample_every=1000, ckpt_every=2, keep=3,
                  demo_count=128, init=None)
    config.update(overrides)
    os.makedirs(run_dir, exist_ok=True)
    write_config(run_dir, config)
    return Trainer(config, str(run_dir), images, log=lambda message: None)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, images):
    """A run folder trained 4 steps, with checkpoints at steps 2 and 4. Copy before changing."""
    run = tmp_path_factory.mktemp("trained") / "run"
    make_trainer(run, images).train(4)
    return run


def copy_run(trained, tmp_path):
    return str(shutil.copytree(trained, tmp_path / "run"))


def resumed(trained, tmp_path, images, **overrides):
    """A trainer resumed at step 4, in a copy of the trained run."""
    run = copy_run(trained, tmp_path)
    trainer = make_trainer(run, images, **overrides)
    trainer.resume()
    return run, trainer


# ------------------------------------------------------------------------------- kill -9
# Run as `python -c STALL_ON_THIRD_CHECKPOINT train ...`: tinygan, except that the third
# checkpoint is written half-way and then hangs, so the test can kill it mid-write for sure.
STALL_ON_THIRD_CHECKPOINT = """
import io, sys, time
import numpy as np
from tinygan.cli import main
savez, calls = np.savez, []
def stalling_savez(f, **arrays):
    calls.append(1)
    if len(calls) == 3:
        buf = io.BytesIO()
        savez(buf, **arrays)
        f.write(buf.getvalue()[:len(buf.getvalue()) // 2])
        f.flush()
        time.sleep(600)
    return savez(f, **arrays)
np.savez = stalling_savez
main(sys.argv[1:], prog_name="tinygan")
"""


def wait_for(condition, timeout=30):
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def test_kill9_at_random_moments_then_resume_is_exact(tmp_path):
    args = TINY + ["--steps", 60, "--ckpt-every", 2, "--log-every", 2, "--keep", 2]
    ref, run = tmp_path / "ref", str(tmp_path / "run")
    assert tinygan("train", *args, "--out", ref).returncode == 0

    # 1. killed in the middle of writing a checkpoint
    p = subprocess.Popen([sys.executable, "-c", STALL_ON_THIRD_CHECKPOINT, "train",
                          *map(str, args), "--out", run], env=ENV, stderr=subprocess.DEVNULL)
    half = ckpt.checkpoint_path(run, 6) + ".tmp"
    wait_for(lambda: os.path.exists(half) and os.path.getsize(half) > 0)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert os.path.exists(half) and steps_of(run) == [4, 2]   # half a file, and no checkpoint

    # 2. resumed and killed again at random moments (seeded): once during the start-up, then
    #    each time soon after a new checkpoint, so at any point of a step or of a write
    rng = random.Random(1234)
    log = tmp_path / "stderr.txt"
    for kill in range(5):
        newest = ckpt.list_checkpoints(run)[0]
        with open(log, "w") as err:
            p = subprocess.Popen(CLI + ["train", "--resume", run], env=ENV, stderr=err)
            if kill == 0:
                time.sleep(rng.uniform(0.05, 0.3))
            else:
                wait_for(lambda: p.poll() is not None or ckpt.list_checkpoints(run)[0] != newest)
                time.sleep(rng.uniform(0, 0.05))
            p.send_signal(signal.SIGKILL)
            p.wait()
        assert p.returncode == -signal.SIGKILL   # it was killed, it did not finish
        if "resumed from" in log.read_text():    # it went on from the newest complete checkpoint
            assert f"resumed from {os.path.basename(newest)}" in log.read_text()
        for path in ckpt.list_checkpoints(run):  # and whatever it left half-done is not loaded
            ckpt.load(path)
    result = tinygan("train", "--resume", run)
    assert result.returncode == 0, result.stderr
    assert steps_of(run) == [60, 58]

    final, expected = ckpt.load(ckpt.checkpoint_path(run, 60)), \
        ckpt.load(ckpt.checkpoint_path(ref, 60))
    assert same_arrays(final[0], expected[0])   # G, D, G_ema and Adam state, bit for bit
    # and the log has each interval once: rows past a checkpoint were dropped on resume
    assert logged_steps(run) == logged_steps(ref)


def test_leftover_tmp_file_is_never_loaded(trained, tmp_path, images):
    run = copy_run(trained, tmp_path)
    newest = ckpt.checkpoint_path(run, 4)
    data = open(newest, "rb").read()
    with open(ckpt.checkpoint_path(run, 6) + ".tmp", "wb") as f:   # cut short by a crash
        f.write(data[:len(data) // 2])
    shutil.copy(newest, ckpt.checkpoint_path(run, 8) + ".tmp")     # complete, but not renamed
    assert steps_of(run) == [4, 2]
    assert find_checkpoint(run) == newest
    trainer = make_trainer(run, images)
    assert trainer.resume() == newest and trainer.step == 4
    trainer.train(6)
    assert not glob.glob(f"{run}/*.tmp")   # cleaned up by the next checkpoint


def test_resume_before_the_first_checkpoint_starts_over(tmp_path, images):
    # killed after config.json was written but before the first checkpoint
    trainer = make_trainer(tmp_path / "run", images)
    assert trainer.resume() is None and trainer.step == 0
    assert "starting from step 0" in (tmp_path / "run" / "events.log").read_text()


# ------------------------------------------------------------------- damaged checkpoints
class Payload:
    """Unpickling this creates the file Payload.path: proof that a pickle ran."""
    path = None

    def __reduce__(self):
        return (open, (Payload.path, "w"))


def rewrite(src, dst, changes):
    """Copy a checkpoint with entries replaced (or removed, for None)."""
    with np.load(src) as npz:
        arrays = dict(npz)
    for name, value in changes.items():
        if value is None:
            arrays.pop(name)
        else:
            arrays[name] = value(arrays[name]) if callable(value) else value
    np.savez(dst, **arrays)   # np.save's default allow_pickle=True pickles object arrays


def without_moments(src, prefix):
    """The changes that remove every Adam moment of `prefix`, leaving its step count."""
    with np.load(src) as npz:
        return {k: None for k in npz.files if k.startswith((f"{prefix}/m/", f"{prefix}/v/"))}


def with_nan(array):
    array = array.copy()
    array.flat[0] = np.nan
    return array


def flip_middle(src, dst):
    data = bytearray(open(src, "rb").read())
    data[len(data) // 2] ^= 0x10   # inside some array's data: the zip CRC catches it
    open(dst, "wb").write(data)


def smuggle_pickle_member(src, dst):
    shutil.copy(src, dst)
    with zipfile.ZipFile(dst, "a") as z:
        z.writestr("evil.pkl", __import__("pickle").dumps(Payload()))


def truncate(src, dst):
    open(dst, "wb").write(open(src, "rb").read()[:3000])


DAMAGE = {   # name: (make a damaged copy of src at dst, what the error must say)
    "flipped": (flip_middle, "corrupt"),
    "truncated": (truncate, "truncated"),
    "empty": (lambda s, d: open(d, "wb").close(), "corrupt"),
    "missing": (lambda s, d: rewrite(s, d, {"G/1.W": None}), "G is missing arrays (1.W)"),
    "shape": (lambda s, d: rewrite(s, d, {"D/0.W": np.zeros((4, 4, 3, 9))}),
              "D array 0.W has shape (4, 4, 3, 9)"),
    "nan": (lambda s, d: rewrite(s, d, {"G_ema/1.W": with_nan}), "G_ema array 1.W holds NaN"),
    "optimizer": (lambda s, d: rewrite(s, d, {"optD/m/0.W": np.zeros(3)}),
                  "optD entry m/0.W does not fit"),
    # Adam's moments, loaded as zeros where one is missing, would make the resume inexact
    "optimizer missing": (lambda s, d: rewrite(s, d, {"optD/v/0.W": None}),
                          "optD is missing entries (v/0.W)"),
    "optimizer moments": (lambda s, d: rewrite(s, d, without_moments(s, "optG")),
                          "optG is missing entries (m/1.W, m/2.gamma, m/2.beta, ...)"),
    "optimizer extra": (lambda s, d: rewrite(s, d, {"optG/m/9.W": np.zeros(3)}),
                        "optG entry m/9.W does not fit"),
    "no meta": (lambda s, d: rewrite(s, d, {"meta": None}), "no 'meta' entry"),
    "bad meta": (lambda s, d: rewrite(s, d, {"meta": np.zeros(5, np.uint8)}),
                 "'meta' entry is not valid JSON"),
    "object array": (lambda s, d: rewrite(s, d, {"G/1.W": np.array([Payload()], dtype=object)}),
                     "pickled objects, which are never loaded"),
    "pickle member": (smuggle_pickle_member, "'evil.pkl' is not an array"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_checkpoint_is_a_clear_error(damage, trained, tmp_path):
    Payload.path = str(tmp_path / "PWNED")
    bad = str(tmp_path / "bad.npz")
    make, fragment = DAMAGE[damage]
    make(str(ckpt.checkpoint_path(trained, 4)), bad)
    with pytest.raises(ckpt.CheckpointError) as error:
        ckpt.load(bad)
    message = str(error.value)
    assert message.startswith(bad + ": ") and fragment in message and "\n" not in message
    assert f"Error: {message}" in invoke("info", bad).output
    assert f"Error: {message}" in invoke("sample", "--checkpoint", bad, "--out", tmp_path / "s.png").output
    assert not os.path.exists(Payload.path)   # the pickle never ran


def test_export_and_eval_refuse_bad_arguments_before_any_work(trained, tmp_path):
    card = tmp_path / "card.json"
    card.write_text("{not json")
    out = tmp_path / "g.npz"
    assert f"--card {card}: not a readable JSON" in invoke("export", trained, "--card", card,
                                                           "--out", out).output
    assert "--out" in invoke("export", trained, "--out", tmp_path / "no" / "such" / "g.npz").output
    assert not out.exists()
    samples = tmp_path / "faces.npy"
    np.save(samples, np.zeros((16, 32, 32, 3), np.uint8))
    for choice in (("--checkpoint", trained), ("--model", "anime")):
        assert "--samples scores images already drawn" in invoke(
            "eval", "--samples", samples, "--data", "demo", "-n", 16, *choice).output


def test_smuggled_pickle_never_runs_in_the_real_cli(trained, tmp_path):
    Payload.path = str(tmp_path / "PWNED")
    for damage in ("object array", "pickle member"):
        bad = str(tmp_path / f"{damage.replace(' ', '_')}.npz")
        DAMAGE[damage][0](str(ckpt.checkpoint_path(trained, 4)), bad)
        assert_clean_error(tinygan("info", bad), bad)
        assert_clean_error(tinygan("sample", "--checkpoint", bad, "--out", tmp_path / "s.png"), bad)
    assert not os.path.exists(Payload.path)
    # the control: the payload is live, and runs as soon as something does unpickle it
    with np.load(str(tmp_path / "object_array.npz"), allow_pickle=True) as npz:
        npz["G/1.W"]
    assert os.path.exists(Payload.path)


def test_random_bit_flips_never_load_wrong_weights(trained, tmp_path):
    src = ckpt.checkpoint_path(trained, 4)
    good, data = ckpt.load(src)[0], open(src, "rb").read()
    rng = random.Random(7)
    bad = str(tmp_path / "flipped.npz")
    for _ in range(60):
        flipped = bytearray(data)
        flipped[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        open(bad, "wb").write(flipped)
        try:
            arrays, _ = ckpt.load(bad)
        except ckpt.CheckpointError:
            continue
        assert same_arrays(arrays, good)   # a harmless byte (a timestamp, say), or an error


def test_resume_falls_back_past_a_damaged_checkpoint(trained, tmp_path, images):
    run = copy_run(trained, tmp_path)
    newest = ckpt.checkpoint_path(run, 4)
    with open(newest, "r+b") as f:
        f.truncate(1000)
    trainer = make_trainer(run, images)
    assert trainer.resume() == ckpt.checkpoint_path(run, 2) and trainer.step == 2
    events = open(os.path.join(run, "events.log")).read()
    assert "skipping unusable checkpoint" in events and "ckpt_00000004.npz" in events
    assert trainer.train(6) == "done" and steps_of(run) == [6, 4, 2]
    ckpt.load(newest)   # the damaged file was replaced by a good one for step 4


def test_resume_with_no_usable_checkpoint_is_a_clear_error(trained, tmp_path):
    run = copy_run(trained, tmp_path)
    for path in ckpt.list_checkpoints(run):
        flip_middle(path, path)
    result = invoke("train", "--resume", run)
    assert "no usable checkpoint in" in result.output and "corrupt" in result.output


def test_resume_refuses_a_checkpoint_missing_adam_state(trained, tmp_path, images):
    """A checkpoint without one of Adam's second moments is skipped on resume, like any other
    damaged one, and with none usable left the command says why in one line (exit 2)."""
    run = copy_run(trained, tmp_path)
    newest = ckpt.checkpoint_path(run, 4)
    rewrite(newest, newest, {"optG/v/1.W": None})
    trainer = make_trainer(run, images)
    assert trainer.resume() == ckpt.checkpoint_path(run, 2) and trainer.step == 2
    assert "optG is missing entries (v/1.W)" in open(os.path.join(run, "events.log")).read()
    for path in ckpt.list_checkpoints(run):
        rewrite(path, path, {"optD/v/0.W": None})
    result = invoke("train", "--resume", run)
    assert "no usable checkpoint in" in result.output
    assert "ckpt_00000004.npz: optG is missing entries (v/1.W)" in result.output


# ---------------------------------------------------------------------------- divergence
def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    run = tmp_path / "run"
    args = TINY + ["--steps", 16, "--ckpt-every", 4, "--log-every", 10]
    # NaN in step 6; no log row until step 10, but the checkpoint at step 8 must not be written
    result = tinygan("train", *args, "--out", run, "--inject-nan-at", 5)
    assert_clean_error(result, "step 8: loss_d is nan", "last good checkpoint is ckpt_00000004.npz")
    assert steps_of(run) == [4]
    assert "diverged" in (run / "events.log").read_text()
    result = tinygan("train", "--resume", run)   # the injection is not part of the run
    assert result.returncode == 0 and "resumed from ckpt_00000004.npz" in result.stderr
    assert steps_of(run)[0] == 16


def test_nan_with_rollback_halves_the_lr_and_goes_on(tmp_path):
    run = tmp_path / "run"
    result = tinygan("train", *TINY, "--steps", 16, "--ckpt-every", 4, "--log-every", 10,
                     "--out", run, "--inject-nan-at", 5, "--on-nan", "rollback")
    assert result.returncode == 0, result.stderr
    events = (run / "events.log").read_text()
    assert "rolling back, learning rate halved to 0.0001" in events
    assert "resumed from ckpt_00000004.npz at step 4" in events
    assert json.loads((run / "config.json").read_text())["lr"] == 1e-4
    arrays, meta = ckpt.load(ckpt.checkpoint_path(run, 16))
    assert meta["config"]["lr"] == 1e-4 and meta["step"] == 16


def poison_weights(trainer, from_step):
    """Make D's first weight inf in every training step from `from_step` on."""
    train_step = trainer.gan.train_step

    def step(*args):
        scalars = train_step(*args)
        if trainer.step >= from_step:
            trainer.gan.D.layers[0].params["W"][0, 0, 0, 0] = np.inf
        return scalars
    trainer.gan.train_step = step


def test_inf_weights_stop_the_run_before_they_reach_a_checkpoint(trained, tmp_path, images):
    run, trainer = resumed(trained, tmp_path, images, ckpt_every=4, log_every=100)
    poison_weights(trainer, from_step=7)   # the update of step 8 poisons D; its loss is still finite
    with pytest.raises(TrainingError, match="step 8: the weight D/0.W holds NaN or inf: the run "
                                            "diverged; the last good checkpoint is ckpt_00000004"):
        trainer.train(12)
    assert steps_of(run) == [4, 2]


def test_rollback_gives_up_after_a_few_tries(trained, tmp_path, images):
    run, trainer = resumed(trained, tmp_path, images, ckpt_every=4, on_nan="rollback")
    # every rollback builds a fresh GAN, so poison through the class: every step from 5 on
    train_step = type(trainer.gan).train_step

    def poisoned(gan, *args):
        scalars = train_step(gan, *args)
        if trainer.step >= 5:
            scalars["loss_g"] = scalars["loss_g"] * np.inf
        return scalars
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(type(trainer.gan), "train_step", poisoned)
        with pytest.raises(TrainingError, match="diverged again after 3 rollbacks"):
            trainer.train(12)
    assert trainer.config["lr"] == 2e-4 / 8
    assert trainer.gan.opt_G.lr == trainer.gan.opt_D.lr == 2e-4 / 8
    assert steps_of(run) == [4, 2]


def test_mode_collapse_is_warned_about(tmp_path, images):
    trainer = make_trainer(tmp_path / "run", images, log_every=1, ckpt_every=1000)
    trainer.gan.opt_G.lr, trainer.gan.opt_D.lr = 0.0, 1e-2   # G frozen, D wins outright
    trainer.train(32)
    assert "D is winning outright" in (tmp_path / "run" / "events.log").read_text()


# ----------------------------------------------------------------------------- disk full
def disk_full_savez(f, **arrays):
    f.write(b"PK\x03\x04 half a checkpoint")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_keeps_the_previous_checkpoint(trained, tmp_path, images, monkeypatch):
    run, trainer = resumed(trained, tmp_path, images)
    before = open(ckpt.checkpoint_path(run, 4), "rb").read()
    monkeypatch.setattr(np, "savez", disk_full_savez)
    with pytest.raises(TrainingError, match=r"could not write checkpoint .*ckpt_00000006.npz: "
                                            r"No space left on device; the previous checkpoint"):
        trainer.train(6)
    monkeypatch.undo()
    assert steps_of(run) == [4, 2] and not glob.glob(f"{run}/*.tmp")
    assert open(ckpt.checkpoint_path(run, 4), "rb").read() == before
    ckpt.load(ckpt.checkpoint_path(run, 4))


def test_unwritable_run_folder_is_a_clear_error(trained, tmp_path, images, monkeypatch):
    # A read-only folder, as the operating system would refuse it (chmod does not stop root,
    # who runs CI): the refusal comes where checkpoint.py opens its file.
    run, trainer = resumed(trained, tmp_path, images)

    def refuse(path, *args, **kw):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
    monkeypatch.setattr(ckpt, "open", refuse, raising=False)
    with pytest.raises(TrainingError, match="ckpt_00000006.npz: Permission denied; the previous"):
        trainer.train(6)
    monkeypatch.undo()
    assert steps_of(run) == [4, 2]
    ckpt.load(ckpt.checkpoint_path(run, 4))


def test_disk_full_on_the_log_is_a_clear_error(trained, tmp_path, images, monkeypatch):
    run, trainer = resumed(trained, tmp_path, images)

    def full(row):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.path.join(run, "log.csv"))
    monkeypatch.setattr(trainer, "write_log_row", full)
    with pytest.raises(TrainingError, match=r"log.csv \(No space left on device\); the last good "
                                            "checkpoint is ckpt_00000004.npz"):
        trainer.train(6)


def test_disk_full_from_the_cli_exits_2(tmp_path, monkeypatch):
    monkeypatch.setattr(np, "savez", disk_full_savez)
    result = invoke("train", *TINY, "--steps", 4, "--out", tmp_path / "run")
    assert "No space left on device" in result.output


# ------------------------------------------------------------------------- two trainers
def test_second_trainer_in_the_same_folder_is_refused(tmp_path):
    run = str(tmp_path / "run")
    first = subprocess.Popen(CLI + ["train", *map(str, TINY), "--steps", "100000",
                                    "--ckpt-every", "5", "--out", run],
                             env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: ckpt.list_checkpoints(run))
        assert_clean_error(tinygan("train", "--resume", run),
                           "is in use by another training process")
        # a new run into it: "in use" (not "use --resume", which would be refused too)
        assert_clean_error(tinygan("train", *TINY, "--steps", 10, "--out", run),
                           "is in use by another training process")
        assert first.poll() is None   # the first one trains on undisturbed
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    with RunLock(run):   # the kernel released the lock of the killed process
        pass
    assert_clean_error(tinygan("train", *TINY, "--steps", 10, "--out", run),
                       "already holds a run; use --resume")   # no longer in use: resume it

