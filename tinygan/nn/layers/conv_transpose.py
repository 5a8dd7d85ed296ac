"""ConvTranspose2d: the adjoint of a convolution, which the generator uses to upsample."""

import numpy as np

from ..im2col import col2im, im2col
from .base import Layer


class ConvTranspose2d(Layer):
    """The transpose of Conv2d(c_out -> c_in, k, stride, padding): its forward is that
    convolution's backward-data pass, and its backward is that convolution's forward.

    Names: this layer maps c_in channels to c_out channels. The convolution it transposes goes
    the other way, from c_out channels to c_in, so its weight, which this layer shares, is
    (k, k, C_out, C_in): "in" and "out" swap places, exactly as in a matrix transpose.

    Shapes:
        x : (N, H, W, C_in)          W : (k, k, C_out, C_in)  (the weight of the conv it transposes)
        y : (N, OH, OW, C_out)       OH = (H - 1) * stride - 2 * padding + k, likewise OW
        b : (C_out,)

    Forward, with Wm = W as (k*k*C_out, C_in) and x as rows X of shape (N*H*W, C_in):
        cols = X @ Wm.T  -> (N, H, W, k, k, C_out);   y = col2im(cols) + b
    Each input pixel stamps a k x k patch (its row of cols) into the output; col2im adds the
    overlapping stamps. Backward, given dy:
        dcols = im2col(dy) as (N*H*W, k*k*C_out)
        dX = dcols @ Wm       dWm = dcols.T @ X       db = sum of dy over N, OH, OW
    """

    def __init__(self, c_in, c_out, k, stride=1, padding=0, bias=True):
        super().__init__()
        self.k, self.stride, self.padding = k, stride, padding
        self.params["W"] = np.zeros((k, k, c_out, c_in), dtype=np.float32)
        if bias:
            self.params["b"] = np.zeros((c_out,), dtype=np.float32)

    def output_shape(self, x_shape):
        n, h, w, _ = x_shape
        k, s, p = self.k, self.stride, self.padding
        c_out = self.params["W"].shape[2]
        return n, (h - 1) * s - 2 * p + k, (w - 1) * s - 2 * p + k, c_out

    def forward(self, x, train=True):
        W = self.params["W"]
        k, c_out, c_in = self.k, W.shape[2], W.shape[3]
        n, h, w, _ = x.shape
        cols = (x.reshape(-1, c_in) @ W.reshape(-1, c_in).T).reshape(n, h, w, k, k, c_out)
        y = col2im(cols, self.output_shape(x.shape), self.stride, self.padding)
        if "b" in self.params:
            y = y + self.params["b"]
        self.x = x
        return y

    def backward(self, dy):
        dcols = self._dcols(dy)
        self._param_grads(dy, dcols)
        W = self.params["W"]
        return (dcols @ W.reshape(-1, W.shape[3])).reshape(self.x.shape)

    def backward_params(self, dy):
        """The parameter gradients alone (when dx is not needed, e.g. the first layer)."""
        self._param_grads(dy, self._dcols(dy))

    def _dcols(self, dy):
        """im2col(dy) as rows (N*H*W, k*k*C_out), one row per input pixel."""
        n, h, w, _ = self.x.shape
        return im2col(dy, self.k, self.stride, self.padding).reshape(n * h * w, -1)

    def _param_grads(self, dy, dcols):
        if not self.requires_grad:
            return
        W = self.params["W"]
        self.grads["W"] = (dcols.T @ self.x.reshape(-1, W.shape[3])).reshape(W.shape)
        if "b" in self.params:
            self.grads["b"] = dy.reshape(-1, dy.shape[-1]).sum(axis=0)

    def macs(self, x_shape):
        n, h, w, c_in = x_shape
        return n * h * w * c_in * self.params["W"][..., 0].size
