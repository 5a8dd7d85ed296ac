"""Named training recipes: which loss, which discriminator and which optimizer settings a run
uses, under one name (`tinygan train --recipe NAME`). Each option of `tinygan train` that a
recipe sets can still be given on its own, and then wins.

    dcgan    Radford et al. 2015, as pytorch/examples trains it: BCE on logits, BatchNorm in D,
             Adam lr 2e-4, betas (0.5, 0.999). What every run before recipes existed used, so
             a checkpoint whose config names no recipe is a dcgan one.
    modern   the default, the best of the measured ablation (docs/15-recipes.md): the DCGAN
             networks trained with the hinge loss (Lim & Ye 2017) and DiffAugment's
             translation on everything D sees (Zhao et al. 2020).

The ablation also tried spectral normalisation in D (Miyato et al. 2018, `--d-norm
spectral`), a minibatch-standard-deviation channel (`--mbstd`), DiffAugment's colour and
cutout transforms, separate learning rates, a PixelNorm generator (`--g-norm pixel`), the
R1 penalty (`--r1`, tinygan/gan/penalty.py) and self-attention (`--attention`,
tinygan/nn/layers/attention.py); each is an option, none is in a recipe. None but R1
paid off within the steps a CPU can afford; R1 kept a long 64 px run from getting worse for
some 2,000 steps (it then collapsed all the same), but its faces were no better by eye and a
step costs 40 % more; self-attention left SWD level at 64 px and its faces were, if
anything, more often smeared, at 46 % more a step (the docs pages have the numbers).

Both recipes use the DCGAN generator, with BatchNorm; `--g-norm pixel` swaps BatchNorm for
PixelNorm (no batch statistics), and the config a checkpoint carries says which it has.
"""

RECIPES = {
    "dcgan": dict(loss="bce", d_norm="batchnorm", g_norm="batchnorm", mbstd=False, augment="",
                  lr=2e-4, lr_d=None, beta1=0.5, beta2=0.999, r1=0.0, attention=False),
    "modern": dict(loss="hinge", d_norm="batchnorm", g_norm="batchnorm", mbstd=False,
                   augment="translation", lr=2e-4, lr_d=None, beta1=0.5, beta2=0.999,
                   r1=0.0, attention=False),
}
DEFAULT = "modern"
LOSSES = ("bce", "hinge")
D_NORMS = ("batchnorm", "spectral")
G_NORMS = ("batchnorm", "pixel")


def complete(config):
    """The config with every recipe setting it lacks taken from its recipe (dcgan for configs
    written before recipes existed); the settings it has are kept."""
    name = config.get("recipe") or "dcgan"
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}: choose from {', '.join(RECIPES)}")
    settings = {k: v for k, v in config.items() if v is not None or k not in RECIPES[name]}
    return dict(RECIPES[name], **dict(settings, recipe=name))


def d_learning_rate(config):
    """D's learning rate: lr_d when the config sets one, else the shared lr."""
    return config["lr_d"] if config.get("lr_d") is not None else config["lr"]


def describe(name):
    """A recipe's settings in a few words, for --help."""
    r = RECIPES[name]
    parts = [f"{r['loss']} loss", f"{r['d_norm']} in D"]
    if r["mbstd"]:
        parts.append("minibatch std. dev.")
    if r["attention"]:
        parts.append("self-attention")
    parts.append(f"DiffAugment {r['augment']}" if r["augment"] else "no augmentation")
    lr = f"lr {r['lr']:g}" + (f" (D {r['lr_d']:g})" if r["lr_d"] else "")
    parts.append(f"Adam {lr}, betas ({r['beta1']:g}, {r['beta2']:g})")
    return f"{name}: " + ", ".join(parts)
