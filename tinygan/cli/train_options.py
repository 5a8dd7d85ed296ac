"""`tinygan train`'s options, and the titled groups its --help shows them in (everyday options
first; cli/grouped_help.py draws the groups)."""

import click

from ..gan import penalty
from ..gan.recipes import D_NORMS, G_NORMS, LOSSES, RECIPES, describe
from ..gan.recipes import DEFAULT as DEFAULT_RECIPE
from ..run import checkpoint as ckpt
from ..run.folder import DEFAULT_EPOCHS
from . import DEVICE_OPTION

GROUPS = [
    ("Everyday options", ["data", "steps", "epochs", "size", "batch", "out", "resume",
                          "device", "seed"]),
    ("Data", ["flip", "demo_count"]),
    ("Run folder and schedule", ["name", "more_steps", "continue_from", "warmup", "init_from",
                                 "log_every",
                                 "sample_every", "ckpt_every", "keep", "milestone_every",
                                 "on_nan"]),
    ("Networks", ["nz", "ngf", "ndf", "g_norm", "d_norm", "mbstd", "attention"]),
    ("Recipe (what each setting gave when measured: docs/results.md)",
     ["recipe", "loss", "augment", "lr", "lr_d", "beta1", "beta2", "ema", "r1", "r1_every",
      "real_label", "label_noise"]),
    ("How it runs", ["textbook", "tf32"]),
]

OPTIONS = [
    click.option("--data", help="Training images: a .zip, a .tar/.tar.gz/.tgz, a folder (searched "
                 "recursively), a .npy/.npz uint8 array (N,H,W,3), or 'demo' for built-in drawn "
                 "faces. Decoded once into a cache that later runs reuse (see 'Data' above)."),
    click.option("--size", type=click.Choice(["32", "64", "96", "128"]), default="64",
                 show_default=True, help="Image size in pixels (square)."),
    click.option("--steps", type=click.IntRange(min=1), help="Train until the run has done this "
                 "many steps in all (one step = one D and one G update). With --resume too it "
                 "is the run's total, not steps to add: see --more-steps."),
    click.option("--epochs", type=click.FloatRange(min=0, min_open=True),
                 help="Or: this many passes over the data in all. Given neither --steps nor "
                 f"--epochs, a run trains {DEFAULT_EPOCHS} epochs."),
    click.option("--more-steps", type=click.IntRange(min=1), help="With --resume: train this "
                 "many steps past the newest checkpoint."),
    click.option("--batch", type=click.IntRange(min=2), default=64, show_default=True,
                 help="Images per training step, for D and for G."),
    click.option("--nz", type=click.IntRange(min=1), default=100, show_default=True,
                 help="Length of the noise vector."),
    click.option("--ngf", type=click.IntRange(min=4), default=64, show_default=True,
                 help="Generator width (channels of its last hidden layer)."),
    click.option("--ndf", type=click.IntRange(min=4), default=64, show_default=True,
                 help="Discriminator width (channels of its first layer)."),
    click.option("--recipe", type=click.Choice(list(RECIPES)), default=DEFAULT_RECIPE,
                 show_default=True, help="How to train. " + "; ".join(map(describe, RECIPES))
                 + ". The options marked [recipe] override one of its settings."),
    click.option("--loss", type=click.Choice(LOSSES), help="[recipe] bce (cross-entropy on D's "
                 "logits, non-saturating for G) or hinge."),
    click.option("--d-norm", type=click.Choice(D_NORMS), help="[recipe] How D's convolutions are "
                 "normalised: batchnorm, or spectral (each weight divided by its largest singular "
                 "value; no BatchNorm in D)."),
    click.option("--g-norm", type=click.Choice(G_NORMS), help="[recipe] How G's layers are "
                 "normalised: batchnorm, or pixel (each pixel's features scaled to unit length; "
                 "no batch statistics in G)."),
    click.option("--mbstd/--no-mbstd", default=None, help="[recipe] A minibatch-standard-deviation "
                 "channel (groups of 4 images) before D's last layer; each process's share of "
                 "--batch must then be a multiple of 4."),
    click.option("--attention/--no-attention", default=None, help="[recipe] One self-attention "
                 "layer in each network, on its 16 x 16 maps (SAGAN): every position mixes in "
                 "features from the whole map, not only from its neighbours; a step costs more."),
    click.option("--augment", help="[recipe] DiffAugment transforms applied to everything D sees, "
                 "comma-separated from color, translation, cutout; 'none' for none."),
    click.option("--lr", type=click.FloatRange(min=0, min_open=True),
                 help="[recipe] Adam's learning rate, for G and (without --lr-d) D. Both recipes: "
                 "0.0002."),
    click.option("--lr-d", type=click.FloatRange(min=0, min_open=True),
                 help="[recipe] D's own learning rate [default: --lr]."),
    click.option("--beta1", type=click.FloatRange(0, 1), help="[recipe] Adam's first-moment decay "
                 "(both recipes use 0.5, not the usual 0.9)."),
    click.option("--beta2", type=click.FloatRange(0, 1, max_open=True), help="[recipe] Adam's "
                 "second-moment decay (both recipes: 0.999)."),
    click.option("--r1", type=click.FloatRange(min=0), help="[recipe] Weight gamma of the R1 "
                 "penalty on D's slope at real images (gamma/2 * mean ||dD/dx||^2, taken by "
                 "finite differences: tinygan/gan/penalty.py); 0 for none, as in both recipes."),
    click.option("--r1-every", type=click.IntRange(min=1), default=penalty.EVERY,
                 show_default=True, help="With --r1: compute the penalty on every K-th step "
                 "only, with K times its weight (lazy regularisation; each such step runs D three "
                 "more times)."),
    click.option("--real-label", type=click.FloatRange(0.5, 1), default=1.0, show_default=True,
                 help="With --loss bce: D's target for real images; 0.9 is one-sided label "
                 "smoothing."),
    click.option("--label-noise", type=click.FloatRange(0, 0.5), default=0.0, show_default=True,
                 help="With --loss bce: fraction of D's labels flipped at random."),
    click.option("--flip/--no-flip", default=True, show_default=True,
                 help="Random horizontal flips of the training images."),
    click.option("--ema", type=click.FloatRange(0, 1, max_open=True), default=0.999,
                 show_default=True, help="Decay of the generator's moving average (used for "
                 "samples); 0 turns it off."),
    click.option("--seed", type=int, default=0, show_default=True,
                 help="Seeds the initial weights, the batches, flips and noise: the same seed and "
                 "data train the same model on the CPU."),
    click.option("--out", type=click.Path(file_okay=False),
                 help="Run folder [default: runs/<name>]."),
    click.option("--name", help="Run name under runs/ [default: data name and time]."),
    click.option("--resume", type=click.Path(file_okay=False),
                 help="Continue the run in this folder from its newest good checkpoint, with the "
                 "settings it started with (config.json); its length, --on-nan, --device, "
                 "--textbook, --keep and the --*-every options may change."),
    click.option("--continue", "continue_from", type=click.Path(dir_okay=False),
                 help="Start a new run where the run of a continuation file (tinygan export "
                 "--continuation) left off: its step, settings, G, moving average and D, on "
                 "the same --data (and a fresh run folder). --steps is the run's total, as "
                 "with --resume; Adam's moments refill under --warmup."),
    click.option("--warmup", type=click.IntRange(min=0), default=200, show_default=True,
                 help="With --continue: raise the learning rate linearly from 0 over this "
                 "many steps while Adam's moments refill; 0 for none."),
    click.option("--init", "init_from", type=click.Path(dir_okay=True),
                 help="Start from this checkpoint, run folder or exported generator, or a "
                 "shipped model ('anime', 'human'): fine-tuning; optimizer state and the "
                 "moving average's warm-up start fresh, so to train a run longer use --resume "
                 "(docs/results.md: a restart on the same data did worse). "
                 "--attention, --g-norm, --d-norm and --mbstd follow the model unless given."),
    click.option("--log-every", type=click.IntRange(min=1), default=10, show_default=True,
                 help="Steps per row of log.csv and per update of the progress bar's numbers."),
    click.option("--sample-every", type=click.IntRange(min=1), default=250, show_default=True,
                 help="Steps between fixed-noise progress grids."),
    click.option("--ckpt-every", type=click.IntRange(min=1), default=250, show_default=True,
                 help="Steps between checkpoints."),
    click.option("--keep", type=click.IntRange(min=1), default=3, show_default=True,
                 help="Checkpoints kept (older ones are deleted once a newer one is complete)."),
    click.option("--milestone-every", type=click.IntRange(min=0), default=ckpt.MILESTONE_EVERY,
                 show_default=True, help="Also keep for good the first checkpoint at or past "
                 "every multiple of this many steps, in the run's milestones/ folder, so that "
                 "a run that gets worse late still holds its earlier models. 0: none."),
    click.option("--demo-count", type=click.IntRange(min=64), default=4096, show_default=True,
                 help="How many faces --data demo draws."),
    click.option("--textbook", is_flag=True, help="Train with the textbook layers of "
                 "tinygan/nn/ and plain Adam, the code the docs walk through, instead of their "
                 "fast variants (tinygan/fast/): the same numbers to float round-off, slower "
                 "(docs/performance.md). One process only."),
    click.option("--tf32", is_flag=True, help="GPU only: let cuBLAS use TF32 tensor cores for "
                 "float32 matrix products (faster, ~1e-3 relative precision)."),
    click.option("--inject-nan-at", type=int, hidden=True),
    click.option("--on-nan", type=click.Choice(["stop", "rollback"]), default="stop",
                 show_default=True, help="When a loss or weight becomes NaN/inf: stop, or reload "
                 "the last good checkpoint, halve the learning rate (kept in config.json) and go "
                 "on, at most 3 times; then the run stops."),
    DEVICE_OPTION,
]


def train_options(command):
    """Apply every option to the command function, in the order of OPTIONS."""
    for option in reversed(OPTIONS):
        command = option(command)
    return command
