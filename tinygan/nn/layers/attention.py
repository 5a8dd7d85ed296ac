"""SelfAttention: every position of a feature map looks at every other (Zhang et al. 2019, SAGAN).

A convolution sees a few pixels around each position, so a DCGAN's generator can only keep
the two eyes of a face alike, or the hair on both sides, by passing that through several
layers, and a face whose halves disagree is one way it fails. Self-attention
lets each position take a weighted mix of features from anywhere in the map, weighted by how
well they match it, in one layer. The layer starts as the identity (gamma = 0) and the
network learns how much of the mix to add.
"""

import numpy as np

from ..backend import array_module
from .base import Layer


def softmax_last_axis(s):
    """Softmax over the last axis, in place (s becomes the probabilities)."""
    xp = array_module(s)
    s -= s.max(axis=-1, keepdims=True)   # exp of a large score would overflow
    xp.exp(s, out=s)
    s /= s.sum(axis=-1, keepdims=True)
    return s


def softmax_backward_last_axis(da, a):
    """ds = a * (da - rowsum(da * a)) for a = softmax(s), in place (da becomes ds)."""
    da -= (da * a).sum(axis=-1, keepdims=True)
    da *= a
    return da


class SelfAttention(Layer):
    """y = x + gamma * softmax(q k^T) v W_out, over the H*W positions of each image.

    Shapes:  x, y : (N, H, W, C), read as X : (N, P, C) with P = H*W positions
             W_query, W_key : (C, C_qk)   W_value : (C, C_v)   W_out : (C_v, C)   gamma : (1,)
             with C_qk = C // 8 and C_v = C // 2 (at least 1) by default (SAGAN's and BigGAN's)
    Forward, per image:
        Q = X W_query   K = X W_key   V = X W_value          (P, C_qk), (P, C_qk), (P, C_v)
        A = softmax(Q K^T), each row summing to 1             (P, P); A_ij: how much
        Z = A V                                               (P, C_v)  i takes from j
        M = Z W_out                                           (P, C)
        Y = X + gamma * M                                     (P, C)
    Backward, from dY (the softmax's: dS = A * (dA - rowsum(dA * A))):
        dgamma = sum(dY * M)            dM = gamma dY        dW_out = Z^T dM
        dZ = dM W_out^T     dA = dZ V^T     dV = A^T dZ      dS as above
        dQ = dS K           dK = dS^T Q
        dW_query = X^T dQ   dW_key = X^T dK   dW_value = X^T dV   (summed over the batch)
        dX = dY + dQ W_query^T + dK W_key^T + dV W_value^T
    Memory: A and dA hold N * P^2 numbers each, 128 MB in float32 for 32 maps of 32 x 32.
    """

    def __init__(self, channels, qk_channels=None, value_channels=None):
        super().__init__()
        c_qk = qk_channels or max(channels // 8, 1)
        c_v = value_channels or max(channels // 2, 1)
        self.params["W_query"] = np.zeros((channels, c_qk), dtype=np.float32)
        self.params["W_key"] = np.zeros((channels, c_qk), dtype=np.float32)
        self.params["W_value"] = np.zeros((channels, c_v), dtype=np.float32)
        self.params["W_out"] = np.zeros((c_v, channels), dtype=np.float32)
        self.params["gamma"] = np.zeros((1,), dtype=np.float32)

    def macs(self, x_shape):
        """Multiply-accumulates of one forward pass on x_shape (N, H, W, C)."""
        n, h, w, c = x_shape
        c_qk, c_v, positions = self.params["W_query"].shape[1], self.params["W_value"].shape[1], h * w
        projections = c * (2 * c_qk + c_v) + c_v * c
        return n * positions * (projections + positions * (c_qk + c_v))

    def forward(self, x, train=True):
        xp = array_module(x)
        p = self.params
        n, h, w, c = x.shape
        X = x.reshape(n, h * w, c)
        Q, K, V = X @ p["W_query"], X @ p["W_key"], X @ p["W_value"]
        A = softmax_last_axis(xp.matmul(Q, K.transpose(0, 2, 1)))
        Z = xp.matmul(A, V)
        mixed = Z @ p["W_out"]
        self.X, self.Q, self.K, self.V, self.A, self.Z, self.mixed = X, Q, K, V, A, Z, mixed
        return (X + p["gamma"] * mixed).reshape(x.shape)

    def backward(self, dy):
        xp = array_module(dy)
        p = self.params
        X, Q, K, V, A, Z = self.X, self.Q, self.K, self.V, self.A, self.Z
        dY = dy.reshape(X.shape)
        dM = p["gamma"] * dY
        dZ = dM @ p["W_out"].T
        dV = xp.matmul(A.transpose(0, 2, 1), dZ)
        dS = softmax_backward_last_axis(xp.matmul(dZ, V.transpose(0, 2, 1)), A)
        dQ = xp.matmul(dS, K)
        dK = xp.matmul(dS.transpose(0, 2, 1), Q)
        if self.requires_grad:
            rows = X.reshape(-1, X.shape[-1]).T
            self.grads["gamma"] = (dY * self.mixed).sum().reshape(1)
            self.grads["W_out"] = Z.reshape(-1, Z.shape[-1]).T @ dM.reshape(-1, dM.shape[-1])
            self.grads["W_query"] = rows @ dQ.reshape(-1, dQ.shape[-1])
            self.grads["W_key"] = rows @ dK.reshape(-1, dK.shape[-1])
            self.grads["W_value"] = rows @ dV.reshape(-1, dV.shape[-1])
        dX = dY + dQ @ p["W_query"].T + dK @ p["W_key"].T + dV @ p["W_value"].T
        return dX.reshape(dy.shape)
