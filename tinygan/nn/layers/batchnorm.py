"""BatchNorm2d: per-channel normalisation of channels-last activations."""

import numpy as np

from ..backend import array_module
from .base import Layer


class BatchNorm2d(Layer):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta, statistics per channel over (N, H, W).

    Shapes:  x, y : (N, H, W, C)      gamma, beta, running_mean, running_var : (C,)

    Train mode uses the batch's mean and (biased) variance, and updates the running estimates
        running_mean <- (1 - momentum) * running_mean + momentum * mean
        running_var  <- (1 - momentum) * running_var  + momentum * var * M / (M - 1)
    (unbiased, as PyTorch does; M = N*H*W values per channel). Eval mode uses the running ones.

    Backward in train mode, with xhat = (x - mean) / std and sums over the M values of a channel:
        dbeta  = sum(dy)      dgamma = sum(dy * xhat)
        dx     = gamma / (M * std) * (M * dy - dbeta - xhat * dgamma)
    (x reaches y directly and through the mean and the variance; the three terms are those
    three paths: docs/05-batchnorm.md derives them.) In eval mode the statistics are constants,
    so dx = gamma / std * dy.
    """

    def __init__(self, c, momentum=0.1, eps=1e-5):
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.params["gamma"] = np.ones((c,), dtype=np.float32)
        self.params["beta"] = np.zeros((c,), dtype=np.float32)
        self.buffers["running_mean"] = np.zeros((c,), dtype=np.float32)
        self.buffers["running_var"] = np.ones((c,), dtype=np.float32)

    def forward(self, x, train=True):
        xp = array_module(x)
        x2 = x.reshape(-1, x.shape[-1])   # one row per pixel, one column per channel
        gamma, beta = self.params["gamma"], self.params["beta"]
        if train:
            mean = x2.mean(axis=0)
            var = ((x2 - mean) ** 2).mean(axis=0)
            self.update_running_statistics(mean, var, len(x2))
        else:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
        self.train = train
        self.inv_std = 1.0 / xp.sqrt(var + self.eps)
        self.xhat = (x2 - mean) * self.inv_std
        y = gamma * self.xhat + beta
        return y.reshape(x.shape)

    def update_running_statistics(self, mean, var, m):
        mom = self.momentum
        self.buffers["running_mean"] = (1 - mom) * self.buffers["running_mean"] + mom * mean
        self.buffers["running_var"] = ((1 - mom) * self.buffers["running_var"]
                                       + mom * var * (m / max(m - 1, 1)))

    def backward(self, dy):
        dy2 = dy.reshape(-1, dy.shape[-1])
        gamma, xhat = self.params["gamma"], self.xhat
        dbeta = dy2.sum(axis=0)
        dgamma = (dy2 * xhat).sum(axis=0)
        if self.requires_grad:
            self.grads["gamma"], self.grads["beta"] = dgamma, dbeta
        if not self.train:
            return (gamma * self.inv_std * dy2).reshape(dy.shape)
        m = len(dy2)
        dx = gamma * self.inv_std / m * (m * dy2 - dbeta - xhat * dgamma)
        return dx.reshape(dy.shape)
