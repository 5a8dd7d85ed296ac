"""Using a trained generator: finding and loading it, drawing faces, walking latent space."""

import glob
import os

import numpy as np

from ..data.images import to_uint8
from ..fast import release
from ..gan.networks import discriminator_for, generator_for
from ..nn.backend import to_device, to_host
from ..run import checkpoint as ckpt


class NoModelError(ValueError):
    pass


PRETRAINED_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "pretrained")
# the models shipped in the package (`--model NAME`); each has a model card NAME.md beside it
SHIPPED = ("anime", "human")
DEFAULT_MODEL = "anime"


def shipped_model(name):
    """The file of a shipped model."""
    if name not in SHIPPED:
        raise NoModelError(f"no shipped model {name!r}: choose from {', '.join(SHIPPED)}")
    path = os.path.join(PRETRAINED_DIR, f"{name}.npz")
    if not os.path.exists(path):
        raise NoModelError(f"the {name} model is not in this installation ({path}); "
                           "use a checkpoint of your own, or train one with tinygan train")
    return path


def find_model(name_or_path):
    """A shipped model's file for its name ('anime', 'human': unless a file or folder of that
    name exists), else find_checkpoint's answer for a path."""
    if name_or_path in SHIPPED and not os.path.exists(name_or_path):
        return shipped_model(name_or_path)
    return find_checkpoint(name_or_path)


def find_checkpoint(path=None, runs_dir="runs"):
    """A checkpoint file for `path` (a file, or a run folder -> its newest checkpoint); without
    a path, the newest checkpoint under runs/, else the shipped anime model."""
    if path:
        if os.path.isdir(path):
            found = ckpt.list_checkpoints(path)
            if not found:
                raise NoModelError(f"{path}: this folder holds no checkpoint (ckpt_*.npz)")
            return found[0]
        if not os.path.exists(path):
            raise NoModelError(f"{path}: no such checkpoint file or run folder")
        return path
    runs = glob.glob(os.path.join(runs_dir, "*", f"{ckpt.PREFIX}*.npz"))
    if runs:
        return max(runs, key=os.path.getmtime)
    if os.path.exists(os.path.join(PRETRAINED_DIR, f"{DEFAULT_MODEL}.npz")):
        return shipped_model(DEFAULT_MODEL)
    raise NoModelError("no trained model found: train one with `tinygan train --data demo "
                       "--steps 500`, or give a checkpoint")


def load_generator(path, device="cpu", with_discriminator=False, prefer_ema=True, fast=True):
    """(G, D or None, meta) from a checkpoint or an exported generator, on `device`, float32;
    built from the fast layers, or (fast=False) the textbook ones."""
    arrays, meta = ckpt.load(path)   # every array already checked against meta's config
    config = meta["config"]
    G = generator_for(config, fast)
    prefix = "G_ema" if prefer_ema and any(k.startswith("G_ema/") for k in arrays) else "G"
    state = ckpt.section(arrays, prefix)
    G.load_state_dict({k: v.astype(np.float32) for k, v in state.items()})
    D = None
    if with_discriminator:
        d_state = ckpt.section(arrays, "D")
        if not d_state:
            raise ckpt.CheckpointError(f"{path}: holds no discriminator (a generator exported "
                                       "without --with-d); --best needs a training "
                                       "checkpoint or an export with D")
        D = discriminator_for(config, fast)
        D.load_state_dict({k: v.astype(np.float32) for k, v in d_state.items()})
        D.to(device)
    return G.to(device), D, meta


def latent(seed, n, nz, truncation=None):
    """n noise vectors from `seed`; without truncation, face i is the same for any n >= i+1.
    With a truncation threshold t, values with |z| > t are redrawn (the truncation trick:
    typical faces); the redraws depend on n."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, nz))
    if truncation is not None:
        bad = np.abs(z) > truncation
        while bad.any():
            z[bad] = rng.standard_normal(int(bad.sum()))
            bad = np.abs(z) > truncation
    return z.astype(np.float32)


# the training batch: batch statistics are taken over this many faces, as in training
STATISTICS_BATCH = 64


def generate(G, z, device="cpu", batch_size=256, batch_statistics=False):
    """uint8 faces (N, S, S, 3) for noise z (N, nz), with BatchNorm's running statistics, so a
    face does not depend on the others in its batch. With batch_statistics=True, BatchNorm
    uses each batch of 64's own statistics instead ("train-mode" sampling)."""
    out = []
    if batch_statistics:
        batch_size = STATISTICS_BATCH
    for i in range(0, len(z), batch_size):
        x = G.forward(to_device(z[i:i + batch_size], device), train=batch_statistics)
        out.append(to_uint8(to_host(x)))
    release(G)   # a sampling job is over: its buffers need not outlive it
    return np.concatenate(out)


def discriminator_scores(G, D, z, device="cpu"):
    """uint8 faces for z and D's logit for each, as `--best` ranks them.

    D scores them with BatchNorm's batch statistics, over batches of about 64 generated
    faces: that is how D saw G's faces in every training step. Its running statistics mix
    real batches with generated ones, and with them D can rate a scrambled image above a
    face."""
    faces = []
    scores = []
    for part in _parts_of_whole_groups(z, max(1, round(len(z) / STATISTICS_BATCH))):
        x = G.forward(to_device(part, device), train=False)
        scores.append(to_host(D.forward(x, train=True)).ravel())
        faces.append(to_uint8(to_host(x)))
    release(G, D)
    return np.concatenate(faces), np.concatenate(scores)


def _parts_of_whole_groups(z, parts, group=4):
    """z split into `parts` nearly equal runs whose lengths are multiples of `group` (but for
    the last): a D with a minibatch-standard-deviation channel takes groups of 4 images."""
    bounds = np.linspace(0, len(z) // group, parts + 1).round().astype(int) * group
    bounds[-1] = len(z)
    return [z[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def best_of(G, D, z, k, device="cpu"):
    """The k faces of z that D finds most real (discriminator_scores), best first."""
    faces, scores = discriminator_scores(G, D, z, device)
    return faces[np.argsort(-scores)[:k]]


def slerp(a, b, t):
    """Spherical interpolation, which keeps |z| typical for Gaussian noise along the path."""
    na, nb = a / np.linalg.norm(a), b / np.linalg.norm(b)
    omega = np.arccos(np.clip(np.dot(na, nb), -1, 1))
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)
