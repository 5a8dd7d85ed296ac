"""`tinygan eval RUN --all` (every checkpoint a run holds, scored and written to swd.csv) and
`tinygan plot RUN` (the run on one picture)."""

import csv

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from tinygan.cli import main
from tinygan.data.load import load_images
from tinygan.draw.generate import generate, latent
from tinygan.gan.networks import generator_for
from tinygan.metrics.swd import swd
from tinygan.run import checkpoint as ckpt
from tinygan.run.plot import BLUE, PANEL_HEIGHT, PURPLE, RED

N = 32


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """30 steps, a checkpoint every 10, the newest 2 kept and a milestone every 20: the run
    holds steps 20 and 30 (20 twice: newest and milestone)."""
    folder = tmp_path_factory.mktemp("runs") / "run"
    result = invoke("train", "--data", "demo", "--demo-count", 128, "--size", 32, "--ngf", 8,
                    "--ndf", 8, "--nz", 16, "--batch", 16, "--steps", 30, "--ckpt-every", 10,
                    "--keep", 2, "--milestone-every", 20, "--log-every", 5, "--out", folder)
    assert result.exit_code == 0, result.output
    return folder


def rows_of(folder):
    with open(folder / "swd.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_every_checkpoint_is_scored_as_its_definition_says(run):
    result = invoke("eval", run, "--all", "--data", "demo", "-n", N, "--variants",
                    "eval-mode,avg2")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ["step"])
    assert lines[header].split() == ["step", "eval-mode", "avg2"]
    table = {int(line.split()[0]): line.split()[1:] for line in lines[header + 1:header + 3]}
    assert lines[header + 3].split()[0] == "floor"
    assert sorted(table) == [20, 30]
    assert table[20][1] == "-"   # step 10, which avg2 needs, is gone
    # eval-mode, by its definition: G's own weights and running statistics, noise of seed
    # 1000, against the first N of the real faces shuffled by seed 0
    real, _ = load_images("demo", 32, demo_count=2 * N, seed=1)
    real_a = real[np.random.default_rng(0).permutation(len(real))[:N]]
    for step in (20, 30):
        arrays, meta = ckpt.load(str(run / f"ckpt_{step:08d}.npz"))
        G = generator_for(meta["config"])
        G.load_state_dict(ckpt.section(arrays, "G"))
        expected = swd(generate(G, latent(1000, N, 16)), real_a, seed=0)["avg"]
        assert float(table[step][0]) == pytest.approx(expected, abs=0.006)
    rows = rows_of(run)
    assert {(r["step"], r["variant"]) for r in rows} == {("20", "eval-mode"),
                                                         ("30", "eval-mode"), ("30", "avg2")}
    assert all(r["n"] == str(N) and r["seed"] == "0" for r in rows)
    assert float(rows[0]["swd_avg"]) == pytest.approx(np.mean(
        [float(rows[0][k]) for k in rows[0] if k.startswith("swd_") and k != "swd_avg"]),
        abs=0.002)


def test_scoring_again_replaces_only_the_same_rows(run):
    assert invoke("eval", run, "--all", "--data", "demo", "-n", N, "--variants",
                  "eval-mode").exit_code == 0
    before = {(r["step"], r["variant"]): r["swd_avg"] for r in rows_of(run)}
    result = invoke("eval", run, "--all", "--data", "demo", "-n", N, "--steps", 30)
    assert result.exit_code == 0, result.output
    after = {(r["step"], r["variant"]): r["swd_avg"] for r in rows_of(run)}
    assert set(after) == set(before) | {("30", "ema")}
    assert all(after[key] == value for key, value in before.items())


def test_the_plot_shows_the_scores_once_there_are_some(run, tmp_path):
    (tmp_path / "bare").mkdir()
    for name in ("log.csv", "config.json"):
        (tmp_path / "bare" / name).write_bytes((run / name).read_bytes())
    unscored, scored = tmp_path / "unscored.png", tmp_path / "scored.png"
    assert invoke("plot", tmp_path / "bare", "--out", unscored).exit_code == 0
    assert invoke("eval", run, "--all", "--data", "demo", "-n", N).exit_code == 0
    result = invoke("plot", run, "--out", scored)
    assert result.exit_code == 0 and "SWD" in result.output
    small, large = np.asarray(Image.open(unscored)), np.asarray(Image.open(scored))
    assert large.shape[0] - small.shape[0] >= PANEL_HEIGHT   # one more panel
    def has(picture, colour, top, bottom):
        return bool((picture[top:bottom] == colour).all(axis=-1).any())
    first_panel = PANEL_HEIGHT + 30
    assert has(small, RED, 0, first_panel) and has(small, BLUE, 0, first_panel)
    swd_panel = slice(small.shape[0], large.shape[0])
    assert has(large, PURPLE, swd_panel.start, swd_panel.stop)   # the ema line
    assert not has(small, PURPLE, 0, small.shape[0])


@pytest.mark.parametrize("args,message", [
    (["eval", "{tmp}", "--all", "--data", "demo"], "holds no checkpoint"),
    (["eval", "{run}", "--all", "--data", "demo", "--steps", "5"],
     "holds no checkpoint of step 5 (it holds 20, 30)"),
    (["eval", "{run}", "--all", "--data", "demo", "--variants", "best"], "--variants 'best'"),
    (["eval", "{run}", "--all", "--data", "demo", "--repeats", "3"], "--all scores a run's"),
    (["eval", "{run}", "--data", "demo", "--steps", "20"], "add --all"),
    (["plot", "{tmp}"], "no log.csv"),
    (["plot", "{run}", "--out", "{tmp}/no/such/folder/x.png"], "--out"),
])
def test_mistakes_are_one_line(run, tmp_path, args, message):
    result = invoke(*[a.format(run=run, tmp=tmp_path) for a in args])
    assert result.exit_code == 2
    assert message in result.output.strip().splitlines()[-1]
    assert "Traceback" not in result.output


def test_the_plot_draws_one_scoring_setting_and_centres_a_lone_point(tmp_path):
    """Scores of different -n or --seed do not belong on one line: the setting scored most
    often is drawn, and named; a single score sits inside its panel, not on the frame."""
    from tinygan.run.folder import append_log_row, save_scores
    from tinygan.run.plot import MARGIN, WIDTH, plot_run
    for step in (10, 20, 30):
        append_log_row(tmp_path, dict(step=step, epoch=0, loss_d=1.0, loss_g=1.0, d_real=0.6,
                                      d_fake=0.4, images_per_s=1, time_s=step))
    save_scores(tmp_path, [dict(step=20, variant="ema", n=32, seed=0, swd_avg=50.0),
                           dict(step=30, variant="ema", n=64, seed=1, swd_avg=40.0),
                           dict(step=20, variant="ema", n=64, seed=1, swd_avg=45.0)])
    titles = plot_run(str(tmp_path), str(tmp_path / "run.png"))
    assert titles[-1].startswith("SWD x1e3 by step, 64 faces, seed 1")
    save_scores(tmp_path, [dict(step=30, variant="ema", n=64, seed=1, swd_avg=45.0)])
    plot_run(str(tmp_path), str(tmp_path / "flat.png"))
    picture = np.asarray(Image.open(tmp_path / "flat.png"))
    panel = picture[2 * (PANEL_HEIGHT + 40) + 20:2 * (PANEL_HEIGHT + 40) + 20 + PANEL_HEIGHT,
                    MARGIN + 1:WIDTH - 21]
    rows = np.nonzero((panel == PURPLE).all(axis=-1).any(axis=1))[0]
    assert rows.size and abs(rows.mean() - PANEL_HEIGHT / 2) < 0.1 * PANEL_HEIGHT
