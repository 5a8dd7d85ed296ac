"""DiffAugment (Zhao et al. 2020): random image transforms that gradients flow through.

A discriminator trained on few images memorises them. Augmenting only the real images would
teach G to produce augmented images, so DiffAugment applies the same kind of random transform
to real and fake images alike, every time D sees them, including in G's step, where G's
gradient flows back through the transform. Each transform is therefore a layer: given its
random draws it is a fixed, differentiable (here even linear or affine) map of the images,
with a backward pass.

    augment = DiffAugment("color,translation,cutout")
    y = augment.augment(images, rng)     # new draws (on the host, from `rng`), then forward
    dx = augment.backward(dy)            # dL/dimages for those same draws

Images are NHWC in [-1, 1]. The draws are made on the host with a NumPy Generator and copied
to the images' device, so a seed gives the same augmentations on CPU and GPU. Keep one
DiffAugment per batch whose gradient you need (real and fake each get their own draws, and a
backward pass uses the draws of the last `augment`).
"""

import numpy as np

from ..nn.backend import array_module
from ..nn.layers.base import Layer


class Augmentation(Layer):
    """A random transform: `resample(rng, shape)` draws its random numbers and holds them;
    forward and backward then use those draws, in any mode, until the next resample.
    `draws` names the attributes holding them, one row per image."""

    draws = ()

    def resample(self, rng, shape):
        raise NotImplementedError

    def select(self, images):
        """Keep the draws of these images only (a slice of the batch the draws were made for:
        data-parallel training draws for the whole batch and each process takes its part)."""
        for name in self.draws:
            setattr(self, name, getattr(self, name)[images])

    def augment(self, x, rng):
        """New draws for a batch of x's shape, then the forward pass."""
        self.resample(rng, x.shape)
        return self.forward(x)


def _on_device(host_array, like):
    """A host array of draws as an array on `like`'s device, in its dtype."""
    return array_module(like).asarray(host_array, dtype=like.dtype)


class _Affine(Augmentation):
    """y = a * x + (1 - a) * mean_S(x) + b, one (a, b) per image; mean_S averages over the
    axes S (kept, so it broadcasts back). For S = () the mean term is dropped: y = a * x + b.

    Shapes: x, y : (N, H, W, C)    a, b : (N, 1, 1, 1)

    Backward: averaging over S is a symmetric linear map (its matrix has 1/n, n the number of
    values averaged, in every entry of a block), so it is its own transpose:
        dx = a * dy + (1 - a) * mean_S(dy)
    """

    axes = ()
    draws = ("scale", "shift")

    def forward(self, x, train=True):
        a, b = _on_device(self.scale, x), _on_device(self.shift, x)
        y = a * x + b
        if self.axes:
            y += (1 - a) * x.mean(axis=self.axes, keepdims=True)
        return y

    def backward(self, dy):
        a = _on_device(self.scale, dy)
        dx = a * dy
        if self.axes:
            dx += (1 - a) * dy.mean(axis=self.axes, keepdims=True)
        return dx


class Brightness(_Affine):
    """y = x + b, b ~ U(-0.5, 0.5) per image (a = 1).   dx = dy"""

    def resample(self, rng, shape):
        self.scale = np.ones((shape[0], 1, 1, 1))
        self.shift = rng.uniform(-0.5, 0.5, (shape[0], 1, 1, 1))


class Saturation(_Affine):
    """y = a (x - m) + m, m = the pixel's mean over its channels (grey), a ~ U(0, 2) per image:
    a = 0 makes the image grey, a = 2 doubles its colours' distance from grey."""

    axes = (3,)

    def resample(self, rng, shape):
        self.scale = rng.uniform(0, 2, (shape[0], 1, 1, 1))
        self.shift = np.zeros((shape[0], 1, 1, 1))


class Contrast(_Affine):
    """y = a (x - m) + m, m = the image's mean over all pixels and channels, a ~ U(0.5, 1.5)."""

    axes = (1, 2, 3)

    def resample(self, rng, shape):
        self.scale = rng.uniform(0.5, 1.5, (shape[0], 1, 1, 1))
        self.shift = np.zeros((shape[0], 1, 1, 1))


class Translation(Augmentation):
    """Shift each image by (dr, dc) pixels, filling with zeros:
        y[n, i, j] = x[n, i + dr_n, j + dc_n]   (0 where that falls outside the image)
    with dr, dc integers uniform in [-s, s], s = round(ratio * size) per axis (ratio 1/8).

    Shapes: x, y : (N, H, W, C)    dr, dc : (N,)

    Backward: every output pixel reads at most one input pixel and no two read the same one,
    so the transpose sends dy back to where it was read from, which is the opposite shift:
        dx[n, a, b] = dy[n, a - dr_n, b - dc_n]   (0 outside)
    """

    draws = ("dr", "dc")

    def __init__(self, ratio=1 / 8):
        super().__init__()
        self.ratio = ratio

    def resample(self, rng, shape):
        n, h, w = shape[:3]
        max_r, max_c = int(h * self.ratio + 0.5), int(w * self.ratio + 0.5)
        self.dr = rng.integers(-max_r, max_r + 1, n)
        self.dc = rng.integers(-max_c, max_c + 1, n)

    def forward(self, x, train=True):
        return shift(x, self.dr, self.dc)

    def backward(self, dy):
        return shift(dy, -self.dr, -self.dc)


def shift(x, dr, dc):
    """y[n, i, j] = x[n, i + dr[n], j + dc[n]], zero where i + dr[n] or j + dc[n] is outside:
    one gather with per-image index arrays (no loop over the batch)."""
    xp = array_module(x)
    n, h, w = x.shape[:3]
    rows = np.arange(h)[None, :] + dr[:, None]            # (N, H): the row each output reads
    cols = np.arange(w)[None, :] + dc[:, None]            # (N, W)
    inside = (((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :])
    rows, cols = np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1)   # any valid index; masked
    batch = np.arange(n)[:, None, None]
    gathered = x[xp.asarray(batch), xp.asarray(rows[:, :, None]), xp.asarray(cols[:, None, :])]
    return gathered * _on_device(inside[..., None], x)


class Cutout(Augmentation):
    """Zero a square of side round(ratio * size) (ratio 1/2) per image, centred at a random
    pixel and clipped to the image: y = x * keep, keep[n, i, j] = 0 inside the square, else 1.

    Shapes: x, y : (N, H, W, C)    keep : (N, H, W, 1)
    Backward: a mask is a diagonal linear map, its own transpose:  dx = dy * keep
    """

    draws = ("keep",)

    def __init__(self, ratio=1 / 2):
        super().__init__()
        self.ratio = ratio

    def resample(self, rng, shape):
        n, h, w = shape[:3]
        size_r, size_c = int(h * self.ratio + 0.5), int(w * self.ratio + 0.5)
        # the centre's range and the square's first row/column as in the paper's code
        top = rng.integers(0, h + (1 - size_r % 2), n) - size_r // 2
        left = rng.integers(0, w + (1 - size_c % 2), n) - size_c // 2
        i, j = np.arange(h)[None, :], np.arange(w)[None, :]
        in_rows = (i >= top[:, None]) & (i < top[:, None] + size_r)       # (N, H)
        in_cols = (j >= left[:, None]) & (j < left[:, None] + size_c)     # (N, W)
        self.keep = ~(in_rows[:, :, None] & in_cols[:, None, :])[..., None]

    def forward(self, x, train=True):
        return x * _on_device(self.keep, x)

    def backward(self, dy):
        return dy * _on_device(self.keep, dy)


POLICIES = {
    "color": (Brightness, Saturation, Contrast),
    "translation": (Translation,),
    "cutout": (Cutout,),
}


class DiffAugment(Augmentation):
    """The transforms of a policy such as "color,translation,cutout", applied in that order
    (colour is brightness, then saturation, then contrast), each with its own draws per image.
    Backward runs their backward passes in reverse order, as a Sequential does."""

    def __init__(self, policy="color,translation,cutout"):
        super().__init__()
        names = [name for name in policy.split(",") if name]
        unknown = sorted(set(names) - set(POLICIES))
        if unknown:
            raise ValueError(f"unknown DiffAugment policy {', '.join(unknown)}: "
                             f"choose from {', '.join(POLICIES)}")
        self.policy = policy
        self.ops = [kind() for name in names for kind in POLICIES[name]]

    def resample(self, rng, shape):
        for op in self.ops:
            op.resample(rng, shape)

    def select(self, images):
        for op in self.ops:
            op.select(images)

    def forward(self, x, train=True):
        for op in self.ops:
            x = op.forward(x)
        return x

    def backward(self, dy):
        for op in reversed(self.ops):
            dy = op.backward(dy)
        return dy

    def __repr__(self):
        return f"DiffAugment({self.policy!r})"
