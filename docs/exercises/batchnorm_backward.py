"""Exercise 4: BatchNorm's backward pass in training mode (the forward pass is written).

Per channel, over the M = N*H*W values of the batch:
    mean = sum(x) / M      var = sum((x - mean)^2) / M      std = sqrt(var + eps)
    xhat = (x - mean) / std                                  y = gamma * xhat + beta

x reaches y three ways: directly, through the mean, and through the variance. Write
    grads["beta"]  = dL/dbeta   = sum(dy)
    grads["gamma"] = dL/dgamma  = sum(dy * xhat)
    return dx (shape of x), the sum of the three paths (docs/05-batchnorm.md derives them;
    try it on paper first: the mean's path and the variance's path each give one term).

Grade your copy:  tinygan gradcheck --layer batchnorm_backward.py:BatchNorm2d \\
                     --like BatchNorm2d
Solution:  tinygan/nn/layers/batchnorm.py.
"""

import numpy as np


class BatchNorm2d:
    def __init__(self, c, eps=1e-5):
        self.eps = eps
        self.params = {"gamma": np.ones(c), "beta": np.zeros(c)}
        self.grads = {}

    def forward(self, x, train=True):
        x2 = x.reshape(-1, x.shape[-1])   # one row per pixel, one column per channel
        mean = x2.mean(axis=0)
        var = ((x2 - mean) ** 2).mean(axis=0)
        self.inv_std = 1.0 / np.sqrt(var + self.eps)
        self.xhat = (x2 - mean) * self.inv_std
        return (self.params["gamma"] * self.xhat + self.params["beta"]).reshape(x.shape)

    def backward(self, dy):
        # TODO: grads["gamma"], grads["beta"], and dx from dy (reshape it like x2), self.xhat,
        # self.inv_std and gamma
        raise NotImplementedError
