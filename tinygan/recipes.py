"""Named training recipes: which loss, which discriminator and which optimizer settings a run
uses, under one name (`tinygan train --recipe NAME`). Each option of `tinygan train` that a
recipe sets can still be given on its own, and then wins.

    dcgan    Radford et al. 2015, as pytorch/examples trains it: BCE on logits, BatchNorm in D,
             Adam lr 2e-4, betas (0.5, 0.999). What every run before recipes existed used, so
             a checkpoint whose config names no recipe is a dcgan one.
    modern   the default: spectral normalisation in D instead of BatchNorm (Miyato et al.
             2018), the hinge loss, a minibatch-standard-deviation channel before D's last
             layer (Karras et al. 2018) and DiffAugment's translation and colour transforms on
             everything D sees (Zhao et al. 2020). README, section Quality, has the ablation
             that picked these.

The generator is the same DCGAN generator in every recipe, so sampling, exporting and the
shipped models do not depend on the recipe.
"""

RECIPES = {
    "dcgan": dict(loss="bce", d_norm="batchnorm", mbstd=False, augment="",
                  lr=2e-4, lr_d=None, beta1=0.5, beta2=0.999),
    "modern": dict(loss="hinge", d_norm="spectral", mbstd=True, augment="translation,color",
                   lr=2e-4, lr_d=None, beta1=0.5, beta2=0.999),
}
DEFAULT = "modern"
LOSSES = ("bce", "hinge")
D_NORMS = ("batchnorm", "spectral")


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
