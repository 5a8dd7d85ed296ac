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
    In eval mode the statistics are constants, so dx = gamma / std * dy.
    """

    def __init__(self, c, momentum=0.1, eps=1e-5):
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.params["gamma"] = np.ones((c,), dtype=np.float32)
        self.params["beta"] = np.zeros((c,), dtype=np.float32)
        self.buffers["running_mean"] = np.zeros((c,), dtype=np.float32)
        self.buffers["running_var"] = np.ones((c,), dtype=np.float32)

    def forward(self, x, train=True):
        c = x.shape[-1]
        x2 = x.reshape(-1, c)
        gamma, beta = self.params["gamma"], self.params["beta"]
        self.train = train
        if not train:
            # fixed statistics make the layer one affine map per channel: y = x * scale + shift
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
            self.inv_std = (1.0 / array_module(x).sqrt(var + self.eps)).astype(x.dtype)
            scale = gamma * self.inv_std
            self.x2, self.mean = x2, mean
            y = x2 * scale
            y += beta - mean * scale
            return y.reshape(x.shape)
        m = len(x2)
        mean = x2.mean(axis=0)
        centred = x2 - mean
        var = (centred * centred).mean(axis=0)
        mom = self.momentum
        self.buffers["running_mean"] = (1 - mom) * self.buffers["running_mean"] + mom * mean
        self.buffers["running_var"] = ((1 - mom) * self.buffers["running_var"]
                                       + mom * var * (m / max(m - 1, 1)))
        self.inv_std = 1.0 / array_module(x).sqrt(var + self.eps)
        xhat = centred
        xhat *= self.inv_std   # in place: big activations are not copied more than needed
        self.xhat = xhat
        y = xhat * gamma
        y += beta
        return y.reshape(x.shape)

    def backward(self, dy):
        c = dy.shape[-1]
        dy2 = dy.reshape(-1, c)
        gamma = self.params["gamma"]
        xhat = self.xhat if self.train else (self.x2 - self.mean) * self.inv_std
        dbeta = dy2.sum(axis=0)
        dgamma = (dy2 * xhat).sum(axis=0)
        if self.requires_grad:
            self.grads["gamma"], self.grads["beta"] = dgamma, dbeta
        if not self.train:
            return (dy2 * (gamma * self.inv_std)).reshape(dy.shape)
        m = len(dy2)
        dx = xhat * (-dgamma / m)   # the same formula, one temporary, updated in place
        dx += dy2
        dx -= dbeta / m
        dx *= gamma * self.inv_std
        return dx.reshape(dy.shape)
