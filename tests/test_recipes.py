"""Recipes: what each one builds and trains, how options override them, and that runs made
before recipes existed still load and train as DCGAN runs."""

import json

import numpy as np
import pytest
from conftest import TINY, invoke

from tinygan.gan.augment import DiffAugment
from tinygan.gan.networks import discriminator_for, generator_for
from tinygan.gan.recipes import RECIPES, complete
from tinygan.gan.step import GAN
from tinygan.nn.dcgan_init import dcgan_init
from tinygan.nn.layers import BatchNorm2d, MinibatchStd, PixelNorm, SpectralNorm
from tinygan.nn.losses import hinge_g
from tinygan.run import checkpoint as ckpt

SMALL = dict(size=32, nz=8, ngf=8, ndf=8)


def kinds(model):
    """The textbook class of each layer (a fast layer subclasses its textbook one)."""
    textbook = (BatchNorm2d, MinibatchStd, SpectralNorm)
    return [next((k for k in textbook if isinstance(layer, k)), type(layer))
            for layer in model.layers]


def test_a_config_without_a_recipe_is_a_dcgan_one():
    old = dict(SMALL, lr=1e-4, beta1=0.5, beta2=0.999)   # a config from before recipes
    c = complete(old)
    assert c["recipe"] == "dcgan" and c["loss"] == "bce" and c["d_norm"] == "batchnorm"
    assert c["lr"] == 1e-4 and not c["mbstd"] and c["augment"] == ""
    assert BatchNorm2d in kinds(discriminator_for(old))
    assert SpectralNorm not in kinds(discriminator_for(old))


def test_a_spectral_discriminator_has_spectral_norm_and_minibatch_std():
    config = dict(SMALL, d_norm="spectral", mbstd=True)
    D = dcgan_init(discriminator_for(config), np.random.default_rng(0))
    assert BatchNorm2d not in kinds(D)
    assert kinds(D).count(SpectralNorm) == 4 and kinds(D)[-3] is MinibatchStd
    # every conv has a bias (no BatchNorm follows), and the last takes the extra channel
    assert all("b" in layer.params for layer in D.layers if isinstance(layer, SpectralNorm))
    assert D.layers[-2].params["W"].shape == (4, 4, 8 * 4 + 1, 1)
    assert D.forward(np.zeros((8, 32, 32, 3), np.float32)).shape == (8, 1)


def test_a_pixel_norm_generator_has_no_batch_statistics():
    """g_norm pixel: PixelNorm where BatchNorm was, a bias in every ConvT, and each face the
    same whether drawn alone or in a batch (a BatchNorm G in train mode fails the last)."""
    assert complete(SMALL)["g_norm"] == "batchnorm"      # old configs keep their G
    G = dcgan_init(generator_for(dict(SMALL, g_norm="pixel")), np.random.default_rng(0))
    assert BatchNorm2d not in kinds(G) and kinds(G).count(PixelNorm) == 3
    assert not any(layer.buffers for layer in G.layers)
    assert all("b" in layer.params for layer in G.layers if "W" in layer.params)
    z = np.random.default_rng(1).standard_normal((4, 8)).astype(np.float32)
    faces = G.forward(z, train=True)
    assert faces.shape == (4, 32, 32, 3)
    np.testing.assert_allclose(G.forward(z[1:2], train=True), faces[1:2], rtol=1e-5,
                               atol=1e-7)
    bn = dcgan_init(generator_for(SMALL), np.random.default_rng(0))
    assert not np.allclose(bn.forward(z[1:2], train=True), bn.forward(z, train=True)[1:2])


def test_settings_given_override_the_recipe_and_unknown_recipes_are_refused():
    c = complete(dict(recipe="modern", loss="bce", lr_d=4e-4, augment=None, mbstd=True))
    assert c["loss"] == "bce" and c["lr_d"] == 4e-4 and c["mbstd"] is True
    assert c["augment"] == RECIPES["modern"]["augment"]     # None means "the recipe's"
    with pytest.raises(ValueError, match="unknown recipe 'wgan'"):
        complete(dict(recipe="wgan"))
    gan = GAN(dict(SMALL, recipe="modern", lr=1e-4, lr_d=3e-4))
    assert gan.opt_G.lr == 1e-4 and gan.opt_D.lr == 3e-4


def test_the_generator_step_follows_the_gradient_through_d_and_the_augmentation():
    """After one step, each weight of G moved against the sign of dL_G/dw, where L_G is
    the hinge loss of the updated D on the augmented fakes (the same draws), taken here by
    central differences in float64. Adam's first step moves every weight by lr * sign(g), so a
    step that skipped the augmentation's backward, or used the wrong loss, moves many of them
    the wrong way."""
    config = dict(SMALL, recipe="modern", d_norm="spectral", mbstd=True,
                  augment="color,translation,cutout", ema=0.0)
    gan = GAN(config, dtype=np.float64, fast=False)
    rng = np.random.default_rng(1)
    real = rng.uniform(-1, 1, (8, 32, 32, 3))
    z = rng.standard_normal((8, 8))
    before = gan.G.flat_parameters().copy()
    gan.train_step(real, z, np.random.default_rng(5))
    moved = gan.G.flat_parameters() - before

    G = GAN(config, dtype=np.float64, fast=False).G   # the same initial weights
    flat = G.flat_parameters()
    augment = gan.augment_fake                          # still holds the step's draws

    def loss_g():
        fake = G.forward(z, train=True)
        return float(hinge_g(gan.D.forward(augment.forward(fake), train=False))[0])

    picked = np.random.default_rng(2).choice(flat.size, 40, replace=False)
    agree = 0
    for i in picked:
        w, h = flat[i], 1e-5
        flat[i] = w + h
        up = loss_g()
        flat[i] = w - h
        down = loss_g()
        flat[i] = w
        numeric = (up - down) / (2 * h)
        if abs(numeric) > 1e-9:
            agree += np.sign(moved[i]) == -np.sign(numeric)
            np.testing.assert_allclose(abs(moved[i]), gan.opt_G.lr, rtol=1e-3)
    assert agree >= 38, agree


def test_the_augmentation_draws_of_a_batch_split_in_parts_are_the_whole_batchs():
    """What a data-parallel rank keeps of the whole batch's draws (augment.select) transforms
    its part of the batch exactly as the whole batch's transforms do."""
    x = np.random.default_rng(0).uniform(-1, 1, (8, 16, 16, 3))
    whole = DiffAugment("color,translation,cutout")
    whole.resample(np.random.default_rng(3), x.shape)
    expected = whole.forward(x)
    for part in (slice(0, 4), slice(4, 8)):
        mine = DiffAugment("color,translation,cutout")
        mine.resample(np.random.default_rng(3), x.shape)
        mine.select(part)
        np.testing.assert_allclose(mine.forward(x[part]), expected[part], rtol=1e-12)


def test_the_cli_writes_the_recipe_and_its_overrides_into_the_config(tmp_path):
    out = tmp_path / "run"
    result = invoke("train", "--data", "demo", "--steps", 2, "--out", out, "--lr-d", 4e-4,
                    "--augment", "translation, cutout", "--d-norm", "spectral", "--mbstd",
                    "--r1", 0.5, "--r1-every", 2, *TINY)
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["recipe"] == "modern" and config["loss"] == RECIPES["modern"]["loss"]
    assert config["d_norm"] == "spectral" and config["mbstd"] is True
    assert config["augment"] == "translation,cutout" and config["lr_d"] == 4e-4
    assert config["lr"] == 2e-4 and config["r1"] == 0.5 and config["r1_every"] == 2
    # the checkpoint's D is the modern one, and --best can use it
    result = invoke("sample", "--checkpoint", out, "-n", 4, "--best", 4,
                    "--out", tmp_path / "best.png", "--device", "cpu")
    assert result.exit_code == 0, result.output


def test_a_pixel_norm_run_trains_exports_samples_and_fine_tunes(tmp_path):
    out, exported = tmp_path / "run", tmp_path / "g.npz"
    result = invoke("train", "--data", "demo", "--steps", 2, "--out", out, "--g-norm", "pixel",
                    *TINY)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["g_norm"] == "pixel"
    result = invoke("export", str(out), "--out", exported)
    assert result.exit_code == 0, result.output
    arrays, meta = ckpt.load(exported)
    assert meta["config"]["g_norm"] == "pixel"
    assert not [k for k in arrays if "running" in k]
    result = invoke("sample", "--checkpoint", exported, "-n", 4, "--out", tmp_path / "s.png",
                    "--device", "cpu")
    assert result.exit_code == 0, result.output
    # a BatchNorm run cannot start from it: the generators' layers differ
    result = invoke("train", "--data", "demo", "--steps", 2, "--out", tmp_path / "bn",
                    "--init", exported, "--g-norm", "batchnorm", *TINY)
    assert result.exit_code == 2
    assert "--g-norm pixel, this run uses --g-norm batchnorm" in result.output
    assert not (tmp_path / "bn").exists()
    # without --g-norm, the fine-tuning run takes the model's, though its recipe says batchnorm
    result = invoke("train", "--data", "demo", "--steps", 2, "--out", tmp_path / "ft",
                    "--init", exported, *TINY)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "ft" / "config.json").read_text())["g_norm"] == "pixel"


def test_fine_tuning_keeps_the_models_attention_layers_unless_told_otherwise(tmp_path):
    run = tmp_path / "run"
    result = invoke("train", "--data", "demo", "--steps", 1, "--out", run, "--attention", *TINY)
    assert result.exit_code == 0, result.output
    result = invoke("train", "--data", "demo", "--steps", 1, "--out", tmp_path / "ft",
                    "--init", run, *TINY)
    assert result.exit_code == 0, result.output
    assert "initialised from" in result.output
    assert json.loads((tmp_path / "ft" / "config.json").read_text())["attention"] is True
    result = invoke("train", "--data", "demo", "--steps", 1, "--out", tmp_path / "plain",
                    "--init", run, "--no-attention", *TINY)
    assert result.exit_code == 2 and "with --attention, this run uses --no-attention" in result.output


@pytest.mark.parametrize("args, message", [
    (["--augment", "blur"], "--augment 'blur': choose from color, translation, cutout"),
    (["--loss", "hinge", "--label-noise", "0.1"], "--real-label and --label-noise are BCE's labels"),
    (["--batch", "18", "--mbstd"], "--mbstd groups 4 images: --batch 18"),
])
def test_bad_recipe_options_are_one_line_errors(tmp_path, args, message):
    from click.testing import CliRunner

    from tinygan.cli import main
    result = CliRunner().invoke(main, ["train", "--data", "demo", "--steps", "2", "--out",
                                       str(tmp_path / "run"), *TINY, *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_a_dcgan_run_from_before_recipes_resumes_as_dcgan(tmp_path):
    out = tmp_path / "run"
    assert invoke("train", "--data", "demo", "--steps", 2, "--out", out, "--recipe", "dcgan",
                  "--label-noise", 0.1, *TINY).exit_code == 0
    config_file = out / "config.json"
    config = json.loads(config_file.read_text())
    for key in ("recipe", "loss", "d_norm", "mbstd", "augment", "lr_d", "r1", "r1_every"):
        del config[key]          # what a config.json written before recipes holds
    config_file.write_text(json.dumps(config))
    result = invoke("train", "--resume", out, "--steps", 4, "--device", "cpu")
    assert result.exit_code == 0, result.output
    arrays, meta = ckpt.load(ckpt.list_checkpoints(out)[0])
    assert meta["step"] == 4 and any("running_mean" in k for k in arrays if k.startswith("D/"))


@pytest.mark.parametrize("ranks, batch, mbstd, message", [
    (1, 18, True, "--mbstd groups 4 images: --batch 18 is not a multiple of 4"),
    (2, 36, True, "--batch 36 over 2 ranks gives 18; use a multiple of 8"),
    (2, 9, False, "--batch 9 cannot be shared by 2 ranks"),
    (2, 40, True, None),
    (1, 18, False, None),
])
def test_batch_rules_are_the_same_for_one_process_and_for_ranks(ranks, batch, mbstd, message):
    """One rule, in World, for a plain process and for MPI ranks (MPIWorld adds its own
    agreement checks first)."""
    from tinygan.run.mpi import World
    world = World()
    world.size = ranks
    problem = world.argument_problem(dict(batch=batch, mbstd=mbstd), "runs/x")
    assert (problem is None) if message is None else (message in problem)
