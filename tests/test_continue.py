"""`tinygan export RUN --continuation` and `tinygan train --continue FILE`: a run goes on from
a small file where its checkpoint left it (its step, G, moving average and D), with a fresh
Adam under a learning-rate warm-up."""

import numpy as np
import pytest
from conftest import TINY, invoke

from tinygan.run import checkpoint as ckpt


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """A tiny run to step 8, a checkpoint every 4, and the continuation file of step 4."""
    folder = tmp_path_factory.mktemp("continue")
    run = folder / "straight"
    assert invoke("train", "--data", "demo", "--steps", 8, "--out", run, "--ckpt-every", 4,
                  *TINY).exit_code == 0
    result = invoke("export", run / "ckpt_00000004.npz", "--continuation", "--float32",
                    "--out", folder / "c4.npz")
    assert result.exit_code == 0 and "continue with tinygan train --continue" in result.output
    return run, folder / "c4.npz"


def test_the_file_holds_what_a_run_goes_on_with(straight):
    run, file = straight
    arrays, meta = ckpt.load(str(file))
    source, _ = ckpt.load(str(run / "ckpt_00000004.npz"))
    assert meta["continuation"] and meta["step"] == 4 and meta["config"]["seed"] == 0
    assert {k.split("/")[0] for k in arrays} == {"G", "G_ema", "D"}   # no optimizer state
    for key, value in arrays.items():
        np.testing.assert_array_equal(value, source[key])


def test_a_continued_run_starts_at_the_file_step_with_its_networks(straight, tmp_path):
    run, file = straight
    out = tmp_path / "cont"
    result = invoke("train", "--continue", file, "--data", "demo", "--steps", 8, "--out", out,
                    "--ckpt-every", 4, "--log-every", 2, "--demo-count", 64)
    assert result.exit_code == 0, result.output
    assert "step 4 -> 8" in result.output
    # its first checkpoint at the file's step, at once: a resume never starts from step 0
    assert sorted(p.name for p in out.glob("ckpt_*.npz")) == ["ckpt_00000004.npz",
                                                              "ckpt_00000008.npz"]
    assert (out / "real.png").exists()
    assert "continued from" in (out / "events.log").read_text()
    arrays, meta = ckpt.load(str(out / "ckpt_00000008.npz"))
    assert meta["step"] == 8 and int(arrays["optG/t"]) == 4   # Adam counted from the file
    config = meta["config"]
    assert (config["warmup_from"], config["warmup_steps"]) == (4, 200)


def test_the_learning_rate_warms_up_from_the_file_step(straight):
    from tinygan.data.load import load_images
    from tinygan.run.trainer import Trainer
    run, _ = straight
    _, meta = ckpt.load(str(run / "ckpt_00000004.npz"))
    config = dict(meta["config"], warmup_from=4, warmup_steps=4)
    images, _ = load_images("demo", 32, demo_count=64)
    trainer = Trainer(config, str(run), images)
    seen = []
    for step in range(4, 10):
        trainer.step = step
        trainer._warm_up()
        seen.append((trainer.gan.opt_G.lr / config["lr"], trainer.gan.opt_D.lr / config["lr"]))
    assert seen == [(0.25, 0.25), (0.5, 0.5), (0.75, 0.75), (1, 1), (1, 1), (1, 1)]


def test_a_continued_run_resumes_exactly(straight, tmp_path):
    """The warm-up lives in config.json: stopped at step 6 and resumed, a continued run ends
    where one continued without a break ends, bit for bit."""
    _, file = straight
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    args = ["--data", "demo", "--demo-count", 64, "--ckpt-every", 2, "--warmup", 3]
    assert invoke("train", "--continue", file, "--steps", 8, "--out", whole, *args).exit_code == 0
    assert invoke("train", "--continue", file, "--steps", 6, "--out", broken,
                  *args).exit_code == 0
    assert invoke("train", "--resume", broken, "--steps", 8).exit_code == 0
    a, _ = ckpt.load(str(whole / "ckpt_00000008.npz"))
    b, _ = ckpt.load(str(broken / "ckpt_00000008.npz"))
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.mark.parametrize("args,message", [
    (["--steps", 4], "is at step 4: --steps is the run's total, so give more than 4"),
    (["--steps", 8, "--ngf", 16], "--ngf 16: a continued run keeps the settings of the run it "
                                  "continues"),
    (["--steps", 8, "--resume", "x"], "--continue starts a new run from a continuation file"),
])
def test_continue_refuses_what_would_not_continue(straight, tmp_path, args, message):
    _, file = straight
    result = invoke("train", "--continue", file, "--data", "demo", "--out", tmp_path / "r",
                    *args)
    assert result.exit_code == 2 and message in result.output.strip().splitlines()[-1]


def test_only_a_continuation_file_continues(straight, tmp_path):
    run, _ = straight
    export = tmp_path / "faces.npz"
    assert invoke("export", run, "--out", export).exit_code == 0
    result = invoke("train", "--continue", export, "--data", "demo", "--out", tmp_path / "r")
    assert result.exit_code == 2 and "not a continuation file" in result.output
    again = invoke("export", export, "--continuation", "--out", tmp_path / "c.npz")
    assert again.exit_code == 2 and "not a training checkpoint" in again.output


def test_a_model_file_without_raw_g_continues_only_when_asked(straight, tmp_path):
    """An export with D (like the shipped models) keeps the moving average and D but no raw
    G: its continuation starts G from the average, and only with --g-from-ema."""
    run, _ = straight
    export = tmp_path / "model.npz"
    assert invoke("export", run / "ckpt_00000004.npz", "--with-d", "--no-recalibrate",
                  "--float32", "--out", export).exit_code == 0
    refused = invoke("export", export, "--continuation", "--out", tmp_path / "c.npz")
    assert refused.exit_code == 2 and "add --g-from-ema" in refused.output
    made = invoke("export", export, "--continuation", "--g-from-ema", "--float32",
                  "--out", tmp_path / "c.npz")
    assert made.exit_code == 0, made.output
    arrays, meta = ckpt.load(str(tmp_path / "c.npz"))
    for key in [k for k in arrays if k.startswith("G_ema/")]:
        np.testing.assert_array_equal(arrays["G/" + key[6:]], arrays[key])
    assert meta["config"]["batch"] == 64 and meta["config"]["ema"] == 0.999   # train's defaults
    result = invoke("train", "--continue", tmp_path / "c.npz", "--data", "demo", "--steps", 6,
                    "--out", tmp_path / "on", "--demo-count", 64)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "on" / "ckpt_00000006.npz").exists()


def test_a_continued_run_killed_at_once_resumes_from_the_file_step(straight, tmp_path):
    """Stopped before any training step, a continued run resumes at the file's step with the
    file's networks (not at a random step 0, where the warm-up would make the rate negative)."""
    _, file = straight
    out = tmp_path / "cont"
    assert invoke("train", "--continue", file, "--data", "demo", "--steps", 5, "--out", out,
                  "--demo-count", 64).exit_code == 0
    for later in out.glob("ckpt_0000000[5-9].npz"):
        later.unlink()   # as if the process had died right after starting
    result = invoke("train", "--resume", out, "--steps", 5)
    assert result.exit_code == 0 and "step 4 -> 5" in result.output, result.output


@pytest.mark.parametrize("args,message", [
    (["--warmup", 10], "--warmup is the learning-rate warm-up of a --continue run"),
])
def test_warmup_belongs_to_continue(tmp_path, args, message):
    result = invoke("train", "--data", "demo", "--out", tmp_path / "r", *args)
    assert result.exit_code == 2 and message in result.output


def test_continue_by_epochs_that_end_before_the_file_is_refused(straight, tmp_path):
    _, file = straight
    result = invoke("train", "--continue", file, "--data", "demo", "--epochs", 1,
                    "--demo-count", 64, "--out", tmp_path / "r")
    assert result.exit_code == 2
    assert "is at step 4: the run's length gives 4 steps in all" in result.output


def test_g_from_ema_on_a_checkpoint_with_raw_g_is_refused(straight, tmp_path):
    run, _ = straight
    result = invoke("export", run / "ckpt_00000004.npz", "--continuation", "--g-from-ema",
                    "--out", tmp_path / "c.npz")
    assert result.exit_code == 2 and "keeps G's raw weights" in result.output

