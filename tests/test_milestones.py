"""Milestone checkpoints: one every --milestone-every steps is kept for good, beside the newest
--keep, so a run that gets worse late still holds its earlier models."""

import filecmp
import json
import os

from conftest import TINY, invoke

from tinygan.run import checkpoint as ckpt


def _steps(folder):
    return sorted(ckpt.step_of(p) for p in ckpt.list_checkpoints(str(folder)))


def _touch(run, step):
    path = ckpt.checkpoint_path(str(run), step)
    with open(path, "w") as f:
        f.write(f"checkpoint of step {step}")
    return path


def test_the_first_checkpoint_at_or_past_each_multiple_is_kept(tmp_path):
    kept = []
    for step in (3, 6, 9, 10, 12, 15, 18, 21):      # 10: saved on Ctrl-C, off the grid
        path = _touch(tmp_path, step)
        if ckpt.keep_milestone(str(tmp_path), path, 5):
            kept.append(step)
        ckpt.prune(str(tmp_path), 2)
    assert kept == [6, 10, 15, 21]
    assert _steps(tmp_path / ckpt.MILESTONES) == kept
    assert _steps(tmp_path) == [18, 21]             # pruning leaves the milestones alone
    milestone = tmp_path / ckpt.MILESTONES / "ckpt_00000006.npz"
    assert milestone.read_text() == "checkpoint of step 6"


def test_no_milestones_with_zero(tmp_path):
    for step in (5, 10):
        assert ckpt.keep_milestone(str(tmp_path), _touch(tmp_path, step), 0) is None
    assert not (tmp_path / ckpt.MILESTONES).exists()


def test_a_step_reached_again_replaces_its_milestone(tmp_path):
    """After --on-nan rollback a run can save the same step twice; the newer one is kept."""
    ckpt.keep_milestone(str(tmp_path), _touch(tmp_path, 5), 5)
    path = ckpt.checkpoint_path(str(tmp_path), 5)
    with open(path + ".new", "w") as f:
        f.write("the step again")
    os.replace(path + ".new", path)                 # how ckpt.save replaces a file
    ckpt.keep_milestone(str(tmp_path), path, 5)
    assert (tmp_path / ckpt.MILESTONES / "ckpt_00000005.npz").read_text() == "the step again"


def test_training_keeps_milestones_across_a_resume(tmp_path):
    run = tmp_path / "run"
    common = ["--ckpt-every", 2, "--keep", 2, "--sample-every", 100, *TINY]
    result = invoke("train", "--data", "demo", "--steps", 7, "--out", run,
                    "--milestone-every", 5, *common)
    assert result.exit_code == 0, result.output
    result = invoke("train", "--resume", run, "--steps", 12)
    assert result.exit_code == 0, result.output
    assert json.loads((run / "config.json").read_text())["milestone_every"] == 5
    assert _steps(run) == [10, 12]
    assert _steps(run / ckpt.MILESTONES) == [6, 10]
    # the milestone is the checkpoint itself, usable like any other
    assert filecmp.cmp(run / "ckpt_00000010.npz", run / ckpt.MILESTONES / "ckpt_00000010.npz",
                       shallow=False)
    result = invoke("sample", "-n", 4, "--checkpoint", run / ckpt.MILESTONES / "ckpt_00000006.npz",
                    "--out", tmp_path / "six.png", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "six.png").exists()
