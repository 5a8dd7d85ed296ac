"""MinibatchStd: one extra feature map telling D how varied the batch is (Karras et al. 2018).

A generator that collapses to a few outputs makes batches whose images are alike; a
discriminator that looks at one image at a time cannot see that. This layer, placed near D's
end, appends a channel holding one number per group of images: the standard deviation over
the group of every feature, averaged over the features. A batch of near-copies gets a small
value, which D can learn to call fake.
"""

from ..backend import array_module
from .base import Layer


class MinibatchStd(Layer):
    """y = concat(x, s) on the channel axis, s the group's mean standard deviation.

    Shapes:  x : (N, H, W, C)    y : (N, H, W, C + 1)
    Groups: with G = min(group_size, N) (the whole batch by default) and M = N / G, images
    mG, ..., mG + G - 1 form group m. (The paper's code takes images m, m + M, m + 2M, ...;
    batches are shuffled, so either is a random group, and neighbours keep each group inside
    one process's share of a batch split over processes.) For a group of G images and each
    of its F = H*W*C features f (one pixel of one channel):
        mu_f = mean_i x_if      var_f = mean_i (x_if - mu_f)^2      s_f = sqrt(var_f + eps)
        s = mean_f s_f, written into every pixel of the extra channel of the group's images.

    Backward. x reaches y directly (the first C channels) and through s. With
    d_s = the sum of dy's extra channel over the group's images and pixels, and
    d s_f / d x_if = (x_if - mu_f) / (G s_f)  (the path through mu_f adds zero, as the
    deviations sum to zero):
        dx_if = dy_if + d_s (x_if - mu_f) / (F G s_f)
    eps keeps s_f >= sqrt(eps) > 0, so the gradient stays finite when a group's values of a
    feature coincide (at G = 1, every feature: then s = sqrt(eps) and dx = dy).
    """

    def __init__(self, group_size=None, eps=1e-8):
        super().__init__()
        self.group_size, self.eps = group_size, eps

    def _groups(self, n):
        g = n if self.group_size is None else min(self.group_size, n)
        if n % g:
            raise ValueError(f"MinibatchStd: a batch of {n} does not split into groups of {g}")
        return g, n // g

    def forward(self, x, train=True):
        xp = array_module(x)
        n, h, w, c = x.shape
        g, m = self._groups(n)
        grouped = x.reshape(m, g, h, w, c)      # grouped[j, i] is image j*G + i, of group j
        self.deviation = grouped - grouped.mean(axis=1, keepdims=True)
        self.std = xp.sqrt((self.deviation ** 2).mean(axis=1) + self.eps)   # (M, H, W, C)
        s = self.std.reshape(m, -1).mean(axis=1)                               # (M,)
        extra = xp.ones((m, g, h, w, 1), dtype=x.dtype) * s[:, None, None, None, None]
        return xp.concatenate([x, extra.reshape(n, h, w, 1)], axis=-1)

    def backward(self, dy):
        n, h, w, c1 = dy.shape
        g, m = self._groups(n)
        d_extra = dy[..., -1].reshape(m, -1).sum(axis=1)                      # (M,): d_s of each group
        features = h * w * (c1 - 1)
        scale = d_extra[:, None, None, None] / (features * g * self.std)       # (M, H, W, C)
        dx = dy[..., :-1] + (self.deviation * scale[:, None]).reshape(n, h, w, c1 - 1)
        return dx
