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
