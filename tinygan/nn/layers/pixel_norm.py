"""PixelNorm: each pixel's feature vector scaled to unit length (Karras et al. 2018).

BatchNorm normalises each channel over the batch, so a face depends on the other faces of its
batch, and a generator's running statistics must be re-estimated after its weights are
averaged. PixelNorm normalises each pixel over its own channels: no batch statistics, no
buffers, the same output in training and at sampling time, for one face or a thousand. It
keeps a BatchNorm-free generator's activations from growing or vanishing layer by layer.
"""

from ..backend import array_module
from .base import Layer


class PixelNorm(Layer):
    """y = x / sqrt(mean_c x^2 + eps), per image and pixel.

    Shapes:  x : (N, H, W, C)  (or any (..., C))    y : same as x
    For one pixel's vector x of C values:
        r = 1 / sqrt(m + eps),   m = mean_c x_c^2,   y = r x

    Backward. dr/dx_j = -r^3 x_j / C, so
        dx_j = r dy_j - r^3 x_j mean_c(dy_c x_c) = r (dy_j - y_j mean_c(dy_c y_c)):
    dy minus its component along y (scaled by y's mean square), times r. The output has no
    length of its own to learn, so the gradient along y is taken out.
    """

    def __init__(self, eps=1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x, train=True):
        xp = array_module(x)
        self.r = 1 / xp.sqrt((x * x).mean(axis=-1, keepdims=True) + self.eps)
        self.y = x * self.r
        return self.y

    def backward(self, dy):
        along_y = (dy * self.y).mean(axis=-1, keepdims=True)
        return self.r * (dy - self.y * along_y)
