"""The GAN itself: G, D, their optimizers, the generator's moving average, and one training
step (Goodfellow et al. 2014), with the loss and the augmentation its recipe names
(tinygan/gan/recipes.py).

One step, as in pytorch/examples' DCGAN:
  1. D on real images, target `real_label` (1, or 0.9 with label smoothing); backward.
  2. fake = G(z); D on fake, target 0; backward; the two gradients add; Adam step on D.
  3. D on the same fake with target 1 (G wants D fooled); backward through D into G;
     Adam step on G. D's weight gradients are not needed here, so they are skipped.
  4. The moving average of G's weights (EMA) moves towards G's.
With an R1 weight (`r1` > 0), every `r1_every`-th step adds to D's gradient in step 2 that of
the R1 penalty on the real batch, times r1_every (tinygan/gan/penalty.py; "lazy" regularisation,
Karras et al. 2020: the penalty changes slowly, so an occasional larger push does the same).
With the hinge loss, D's targets are "above +1 on real, below -1 on fake" and G's loss is
-D(G(z)) (tinygan/nn/losses.py). With DiffAugment, every batch D sees, real or fake, first goes
through random transforms of its own, and in step 3 G's gradient flows back through the
fake batch's transforms.
"""

import copy

import numpy as np

from ..fast import FastAdam
from ..nn.backend import array_module, to_device
from ..nn.layers import BatchNorm2d
from ..nn.layers.base import section
from ..nn.losses import bce_with_logits, hinge_d, hinge_g
from ..nn.optim import Adam
from . import penalty
from .augment import DiffAugment
from .networks import build
from .recipes import complete, d_learning_rate

DEFAULTS = dict(size=64, nz=100, ngf=64, ndf=64, real_label=1.0, label_noise=0.0, ema=0.999,
                seed=0, r1_every=penalty.EVERY)


class GAN:
    def __init__(self, config, device="cpu", seed=0, dtype=np.float32, fast=True):
        self.config = complete(dict(DEFAULTS, **config))
        c = self.config
        self.G, self.D = build(c, np.random.default_rng(seed), fast=fast)
        self.G.astype(dtype).to(device)
        self.D.astype(dtype).to(device)
        self.G_ema = copy.deepcopy(self.G)
        betas = (c["beta1"], c["beta2"])
        Optimizer = FastAdam if fast else Adam
        self.opt_G = Optimizer(self.G, lr=c["lr"], betas=betas)
        self.opt_D = Optimizer(self.D, lr=d_learning_rate(c), betas=betas)
        # two: the fake batch's transforms must survive until G's backward, after D's step
        self.augment_real = DiffAugment(c["augment"]) if c["augment"] else None
        self.augment_fake = DiffAugment(c["augment"]) if c["augment"] else None
        self.device, self.dtype = device, dtype
        self.steps_done = 0

    # -- the training step --------------------------------------------------------------
    def train_step(self, real, z, rng=None):
        """One D step and one G step. `real` (N, S, S, 3) in [-1, 1] and `z` (N, nz) are on
        the model's device. Returns scalars (0-d device arrays): loss_d, loss_g, d_real, d_fake.
        `rng` supplies the label-noise coin flips and the augmentations' draws (without one, a
        generator seeded by the run's seed and this step)."""
        G, D = self.G, self.D
        xp = array_module(real)
        if rng is None:
            rng = np.random.default_rng([self.config["seed"], self.steps_done, 3])
        real_target, fake_target = self._targets(len(real), rng, xp)

        real = self._augment(self.augment_real, real, rng)
        r1_grad = self._r1(real)
        D.set_requires_grad(True)
        logits_real = D.forward(real)
        loss_real, dlogits = self.loss(logits_real, "real", real_target)
        D.backward(dlogits, input_grad=False)
        grad_real = D.flat_gradients()
        if r1_grad is not None:
            grad_real += r1_grad

        fake = self._augment(self.augment_fake, G.forward(z), rng)
        logits_fake = D.forward(fake)
        loss_fake, dlogits = self.loss(logits_fake, "fake", fake_target)
        D.backward(dlogits, input_grad=False)
        grad_D = D.flat_gradients()
        grad_D += grad_real   # the D loss is the sum of the two terms
        self.opt_D.step(self.reduce_gradients(grad_D))

        D.set_requires_grad(False)
        logits_gen = D.forward(fake)
        loss_g, dlogits = self.loss(logits_gen, "G", 1.0)
        dfake = D.backward(dlogits)
        if self.augment_fake is not None:
            dfake = self.augment_fake.backward(dfake)
        G.backward(dfake, input_grad=False)
        self.opt_G.step(self.reduce_gradients(G.flat_gradients()))
        self.update_ema()
        self.steps_done += 1

        return dict(loss_d=loss_real + loss_fake, loss_g=loss_g,
                    d_real=_mean_sigmoid(logits_real), d_fake=_mean_sigmoid(logits_fake))

    def loss(self, logits, kind, targets):
        """The loss on this process's batch and its gradient with respect to the logits, for
        D's `kind` "real" or "fake" batch or for G's step ("G"); `targets` are the BCE labels
        (data-parallel training rescales the gradient to that of the global batch's mean)."""
        if self.config["loss"] == "hinge":
            return hinge_g(logits) if kind == "G" else hinge_d(logits, real=kind == "real")
        return bce_with_logits(logits, targets)

    def _r1(self, real):
        """This step's R1 gradient for D, times r1_every, or None on the steps without."""
        c = self.config
        if not c["r1"] or self.steps_done % c["r1_every"]:
            return None
        _, grad = penalty.r1_gradient(self.D, real, c["r1"] * c["r1_every"],
                                      sum_over_ranks=self.sum_over_ranks)
        return grad

    def sum_over_ranks(self, a):
        """The sum of a small array over the processes that share the batch: one process here
        (tinygan/run/mpi.py replaces it with a sum over its ranks)."""
        return a

    def _augment(self, augment, images, rng):
        """The images through new random transforms (or unchanged, with no augmentation)."""
        if augment is None:
            return images
        self._draw_augmentation(augment, images.shape, rng)
        return augment.forward(images)

    def _draw_augmentation(self, augment, shape, rng):
        augment.resample(rng, shape)

    def reduce_gradients(self, grad):
        """The gradient the optimizer applies: this process's own (data-parallel training over
        several processes replaces this with a sum over them, see tinygan/run/mpi.py)."""
        return grad

    def _targets(self, n, rng, xp):
        c = self.config
        real = xp.full((n, 1), c["real_label"], dtype=self.dtype)
        fake = xp.zeros((n, 1), dtype=self.dtype)
        if c["label_noise"] > 0 and rng is not None:
            # flip a fraction of D's labels: a regulariser against an overconfident D
            flip_real = to_device(rng.random((n, 1)) < c["label_noise"], self.device)
            flip_fake = to_device(rng.random((n, 1)) < c["label_noise"], self.device)
            real, fake = xp.where(flip_real, 0, real), xp.where(flip_fake, c["real_label"], fake)
            real, fake = real.astype(self.dtype), fake.astype(self.dtype)
        return real, fake

    def update_ema(self):
        """ema <- ema + (1 - d)(w - ema), with d warming up as min(decay, (1+t)/(10+t)) so the
        average does not drag the random initial weights along for thousands of steps."""
        t = self.steps_done
        decay = min(self.config["ema"], (1 + t) / (10 + t))
        ema = self.G_ema.flat_parameters()
        ema += (1 - decay) * (self.G.flat_parameters() - ema)
        # its BatchNorm statistics are re-estimated whenever it is used: see recalibrate_batchnorm

    # -- state for checkpoints ----------------------------------------------------------
    def state_arrays(self):
        arrays = {}
        for prefix, model in (("G", self.G), ("D", self.D), ("G_ema", self.G_ema)):
            arrays.update({f"{prefix}/{k}": v for k, v in model.state_dict().items()})
        for prefix, opt in (("optG", self.opt_G), ("optD", self.opt_D)):
            arrays.update({f"{prefix}/{k}": np.asarray(v) for k, v in opt.state_dict().items()})
        return arrays

    def load_state_arrays(self, arrays):
        for prefix, model in (("G", self.G), ("D", self.D), ("G_ema", self.G_ema)):
            model.load_state_dict(section(arrays, prefix))
        for prefix, opt in (("optG", self.opt_G), ("optD", self.opt_D)):
            opt.load_state_dict(section(arrays, prefix))
        self.steps_done = int(self.opt_G.t)


def _mean_sigmoid(logits):
    """The mean of sigmoid(logits): what D says on average (1 = real)."""
    xp = array_module(logits)
    return 0.5 + 0.5 * xp.tanh(0.5 * logits).mean()


def recalibrate_batchnorm(G, nz, seed=0, faces=512, batch_size=256, chunk=None):
    """Re-estimate G's BatchNorm running statistics for its current weights.

    The EMA generator's weights are an average, but the running statistics it inherits were
    measured on the raw generator; running a few batches in train mode with a cumulative
    average gives statistics that match the averaged weights (BigGAN's "standing statistics").
    Each batch of `batch_size` faces goes through G layer by layer in chunks of `chunk` faces:
    by default 64 on the CPU (a quarter of the memory) and the whole batch on a GPU (fewer
    kernel launches). BatchNorm's statistics are those of the whole batch either way, so the
    result does not depend on the device.
    """
    bns = [layer for layer in G.layers if isinstance(layer, BatchNorm2d)]
    if not bns:
        return G
    xp = array_module(bns[0].params["gamma"])
    chunk = chunk or (min(batch_size, 64) if xp is np else batch_size)
    rng = np.random.default_rng(seed)
    for i in range(max(1, faces // batch_size)):
        z = xp.asarray(rng.standard_normal((batch_size, nz)), dtype=bns[0].params["gamma"].dtype)
        parts = [z[j:j + chunk] for j in range(0, batch_size, chunk)]
        for layer in G.layers:
            if isinstance(layer, BatchNorm2d):
                parts = _batchnorm_over_parts(layer, parts, momentum=1.0 / (i + 1))
            elif len(parts) == 1:
                parts = [layer.forward(parts[0], train=True)]
            else:   # a copy each: a fast layer's output may be a buffer its next call reuses
                parts = [layer.forward(part, train=True).copy() for part in parts]
    return G


def _batchnorm_over_parts(bn, parts, momentum):
    """BatchNorm in train mode over the batch made of `parts`: the whole batch's mean and
    variance (two passes over the parts), the running estimates updated once with `momentum`
    (1/k for the k-th batch: a cumulative average), every part normalised with them."""
    xp = array_module(parts[0])
    axes, dtype = tuple(range(parts[0].ndim - 1)), parts[0].dtype
    m = sum(part.size // part.shape[-1] for part in parts)
    # sums in float64: split into parts or not, they then round to the same float32 statistics
    mean = parts[0].sum(axis=axes, dtype=np.float64)
    for part in parts[1:]:
        mean += part.sum(axis=axes, dtype=np.float64)
    mean = (mean / m).astype(dtype)
    var = ((parts[0] - mean) ** 2).sum(axis=axes, dtype=np.float64)
    for part in parts[1:]:
        var += ((part - mean) ** 2).sum(axis=axes, dtype=np.float64)
    var = (var / m).astype(dtype)
    saved, bn.momentum = bn.momentum, momentum
    bn.update_running_statistics(mean, var, m)
    bn.momentum = saved
    scale = bn.params["gamma"] / xp.sqrt(var + bn.eps)
    shift = bn.params["beta"] - mean * scale
    return [part * scale + shift for part in parts]
