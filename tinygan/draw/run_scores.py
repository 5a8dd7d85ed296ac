"""Scoring every checkpoint a run holds (`tinygan eval RUN --all`): which generators a
checkpoint can give, and their SWD against a fixed real subset.

A run keeps its newest checkpoints and, for good, its milestones (run/checkpoint.py); the
last step is not always the best, so each is scored the same way: the same noise, the same
real faces and the same SWD seed that `tinygan eval --seed S` uses for one model. The scores
go to the run's swd.csv (run/folder.py), which `tinygan plot` draws.

A checkpoint holds two generators, and four ways to draw from them are scored:
    ema         the moving average, BatchNorm statistics re-estimated on 2,048 faces (the
                checkpoint's own, which `tinygan eval` and `sample` use, come from 512, so
                the two commands' scores of one checkpoint differ a little)
    eval-mode   G with its running statistics
    train-mode  G with each batch of 64's own statistics
    avg2        the mean of G's weights here and one checkpoint interval earlier, statistics
                re-estimated (what `tinygan export --raw --average 2` ships)
"""

import os

import numpy as np

from ..gan.networks import generator_for
from ..gan.step import recalibrate_batchnorm
from ..metrics.swd import swd
from ..run import checkpoint as ckpt
from .generate import generate, latent

VARIANTS = ("ema", "eval-mode", "train-mode", "avg2")


def checkpoints_by_step(run_dir):
    """{step: path} of the newest checkpoints and the milestones of a run."""
    paths = ckpt.list_checkpoints(os.path.join(run_dir, ckpt.MILESTONES))
    paths += ckpt.list_checkpoints(run_dir)   # a step in both: the same file, linked
    return dict(sorted((ckpt.step_of(p), p) for p in paths))


def real_subsets(real, n, seed):
    """Two disjoint real subsets of n faces, drawn by `seed` (as `tinygan eval` draws them)."""
    order = np.random.default_rng(seed).permutation(len(real))
    return real[order[:n]], real[order[n:2 * n]]


def variant_generator(variant, arrays, config, earlier=None, fast=True, device="cpu"):
    """The generator `variant` names, from a checkpoint's arrays (None for avg2 without an
    earlier checkpoint `earlier`, the arrays one ckpt_every before)."""
    G = generator_for(config, fast)
    state = ckpt.section(arrays, "G_ema" if variant == "ema" else "G")
    if variant == "avg2":
        if earlier is None:
            return None
        before = ckpt.section(earlier, "G")
        state = {k: (v + before[k]) / 2 for k, v in state.items()}
    G.load_state_dict(state)
    G.to(device)
    if variant in ("ema", "avg2"):
        recalibrate_batchnorm(G, config["nz"], seed=config.get("seed", 0), faces=2048)
    return G


def score_checkpoint(path, variants, real_a, n, seed, by_step, fast=True, device="cpu"):
    """{variant: {level: SWD x1e3, "avg": mean}} for one checkpoint (avg2 left out when the
    run no longer holds the checkpoint before it)."""
    arrays, meta = ckpt.load(path)
    config = meta["config"]
    earlier_path = by_step.get(meta["step"] - config.get("ckpt_every", 0))
    earlier = ckpt.load(earlier_path)[0] if "avg2" in variants and earlier_path else None
    z = latent(seed + 1000, n, config["nz"])
    results = {}
    for variant in variants:
        G = variant_generator(variant, arrays, config, earlier, fast, device)
        if G is not None:
            faces = generate(G, z, device, batch_statistics=variant == "train-mode")
            results[variant] = swd(faces, real_a, seed=seed)
    return results
