"""What a student reads is what trains: `--textbook` runs the layers of tinygan/nn/ and plain
Adam, and a textbook GAN and a fast one trained on the same inputs end with the same weights,
BatchNorm statistics, optimizer state and losses (float64), for every recipe."""

import numpy as np
import pytest
from conftest import TINY, invoke

from tinygan.fast import FastAdam, threads
from tinygan.gan.step import GAN
from tinygan.nn.optim import Adam

RECIPES = [dict(recipe="dcgan", label_noise=0.1, real_label=0.9),
           dict(recipe="modern"),
           dict(recipe="modern", d_norm="spectral", mbstd=True, augment="color,translation,cutout"),
           dict(recipe="modern", g_norm="pixel"),
           dict(recipe="modern", attention=True),
           dict(recipe="modern", r1=1.0, r1_every=2)]


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: ",".join(f"{k}={v}" for k, v in
                                                                    r.items()))
def test_textbook_and_fast_training_agree_in_float64(recipe):
    config = dict(size=32, nz=16, ngf=8, ndf=8, **recipe)
    fast = GAN(config, seed=0, dtype=np.float64)
    textbook = GAN(config, seed=0, dtype=np.float64, fast=False)
    assert isinstance(fast.opt_G, FastAdam) and type(textbook.opt_G) is Adam
    assert not any(type(layer).__module__.startswith("tinygan.fast")
                   for layer in textbook.G.layers + textbook.D.layers)
    rng = np.random.default_rng(3)
    for step in range(3):
        real = rng.uniform(-1, 1, (8, 32, 32, 3))
        z = rng.standard_normal((8, 16))
        out_fast = fast.train_step(real, z, np.random.default_rng(step))
        out_textbook = textbook.train_step(real.copy(), z.copy(), np.random.default_rng(step))
        for key in out_fast:
            np.testing.assert_allclose(float(out_textbook[key]), float(out_fast[key]),
                                       rtol=1e-9, err_msg=key)
        fast.update_ema()
        textbook.update_ema()
    a, b = fast.state_arrays(), textbook.state_arrays()
    assert a.keys() == b.keys()
    for key in a:   # weights, running statistics, G_ema, both optimizers' moments and steps
        np.testing.assert_allclose(b[key], a[key], rtol=1e-8, atol=1e-12, err_msg=key)


def test_train_textbook_uses_no_fast_code(tmp_path, monkeypatch):
    """With every fast pass refused, the textbook run trains; the default run cannot."""
    def refuse(*args, **kw):
        raise AssertionError("a fast pass ran")
    monkeypatch.setattr(threads, "over_batch", refuse)
    monkeypatch.setattr("tinygan.fast.activations.over_batch", refuse)
    monkeypatch.setattr("tinygan.fast.batchnorm.over_batch", refuse)
    run = tmp_path / "run"
    result = invoke("train", "--textbook", "--data", "demo", "--steps", 4, "--out", run, *TINY)
    assert result.exit_code == 0, result.output
    assert (run / "ckpt_00000004.npz").exists()
    with pytest.raises(AssertionError, match="a fast pass ran"):
        invoke("train", "--data", "demo", "--steps", 4, "--out", tmp_path / "fast", *TINY)


def test_a_textbook_run_resumes_fast_where_it_would_have_been(tmp_path):
    """The layers change how the work is done, not the numbers: a run started with
    --textbook and resumed without it ends where a fast run of the same steps ends, to the
    float32 round-off of a different order of sums."""
    from tinygan.run import checkpoint as ckpt
    mixed, fast = tmp_path / "mixed", tmp_path / "fast"
    assert invoke("train", "--textbook", "--data", "demo", "--steps", 2, "--out", mixed,
                  *TINY).exit_code == 0
    assert invoke("train", "--resume", mixed, "--steps", 4).exit_code == 0
    assert invoke("train", "--data", "demo", "--steps", 4, "--out", fast, *TINY).exit_code == 0
    a, meta = ckpt.load(str(mixed / "ckpt_00000004.npz"))
    b, _ = ckpt.load(str(fast / "ckpt_00000004.npz"))
    start = GAN(meta["config"], seed=meta["config"]["seed"]).state_arrays()
    weights = [k for k in a if k.startswith(("G/", "D/")) and k.endswith(".W")]
    assert len(weights) >= 6
    for key in weights:   # the change since step 0 agrees to 1 %: Adam's state carried over
        change_a, change_b = a[key] - start[key], b[key] - start[key]
        assert np.linalg.norm(change_a - change_b) <= 1e-2 * np.linalg.norm(change_b), key


def test_textbook_under_several_ranks_is_refused():
    from tinygan.run.mpi import ParallelError, World
    from tinygan.run.parallel_trainer import trainer_for

    class TwoRanks(World):
        size = 2
    with pytest.raises(ParallelError, match="--textbook trains in one process"):
        trainer_for(TwoRanks(), {}, "run", None, textbook=True)


def test_the_one_page_dcgan_steps_as_the_library_does():
    """tinygan/gan/dcgan.py's loop, written out by hand, against GAN.train_step with the
    dcgan recipe and the textbook layers: same weights, Adam moments and losses, step by step
    (float64)."""
    from tinygan.gan import dcgan
    G, D = dcgan.generator(nz=16, ngf=8), dcgan.discriminator(ndf=8)
    rng = np.random.default_rng(0)
    for model in (G, D):
        dcgan.dcgan_init(model, rng)
        model.astype(np.float64)
    opt_G, opt_D = Adam(G, lr=2e-4, betas=(0.5, 0.999)), Adam(D, lr=2e-4, betas=(0.5, 0.999))
    library = GAN(dict(recipe="dcgan", size=32, nz=16, ngf=8, ndf=8), dtype=np.float64,
                  fast=False)
    library.G.load_state_dict(G.state_dict())
    library.D.load_state_dict(D.state_dict())
    data = np.random.default_rng(1)
    for step in range(3):
        real, z = data.uniform(-1, 1, (8, 32, 32, 3)), data.standard_normal((8, 16))
        loss_d, loss_g = dcgan.train_step(G, D, opt_G, opt_D, real, z)
        out = library.train_step(real.copy(), z.copy(), np.random.default_rng(step))
        assert loss_d == pytest.approx(float(out["loss_d"]), rel=1e-10)
        assert loss_g == pytest.approx(float(out["loss_g"]), rel=1e-10)
        for mine, theirs in ((G, library.G), (D, library.D)):
            np.testing.assert_allclose(mine.flat_parameters(), theirs.flat_parameters(),
                                       rtol=1e-10, atol=1e-14)
    for mine, theirs in ((opt_G, library.opt_G), (opt_D, library.opt_D)):
        for key, value in mine.state_dict().items():
            np.testing.assert_allclose(value, theirs.state_dict()[key], rtol=1e-10, atol=1e-16)


def test_the_one_page_dcgan_runs_and_draws_its_grids(tmp_path, capsys):
    from PIL import Image

    from tinygan.gan import dcgan
    dcgan.main(["--steps", "4", "--faces", "64", "--batch", "16", "--ngf", "8", "--ndf", "8",
                "--every", "2", "--out", str(tmp_path)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_00002.png", "step_00004.png"]
    assert Image.open(tmp_path / "step_00004.png").size == (8 * 34 + 2, 8 * 34 + 2)
    assert "progress grids in" in capsys.readouterr().out


def test_the_one_page_dcgan_is_one_page_of_textbook_code():
    import ast
    import inspect

    from tinygan.gan import dcgan
    source = inspect.getsource(dcgan)
    assert source.count("\n") <= 200
    imported = {node.module for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.ImportFrom) and node.level}
    assert imported and all(m.startswith(("nn.", "data.")) for m in imported), imported


def test_eval_with_the_textbook_layers_scores_the_same():
    import json
    scores = [json.loads(invoke("eval", "--model", "anime", "--data", "demo", "-n", 32,
                                "--json", *flag).output.strip().splitlines()[-1])["swd"]["avg"]
              for flag in ((), ("--textbook",))]
    assert scores[0] == pytest.approx(scores[1], rel=1e-4)


def test_sample_with_the_textbook_layers_draws_the_same_faces(tmp_path):
    from PIL import Image
    grids = []
    for flag in ((), ("--textbook",)):
        out = tmp_path / f"grid{len(grids)}.png"
        assert invoke("sample", "-n", 4, "--model", "anime", "--out", out, *flag).exit_code == 0
        grids.append(np.asarray(Image.open(out)).astype(int))
    assert np.abs(grids[0] - grids[1]).max() <= 1
