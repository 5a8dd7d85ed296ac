"""Fast Conv2d and ConvTranspose2d: the textbook layers' math with reused buffers, the
strided-view im2col, the q*q-addition col2im, and, on the CPU, a channels-first layout for
the generator's 3-channel output layer. tests/test_fast.py checks each against its textbook
layer in float64."""

import numpy as np

from ..nn.backend import array_module
from ..nn.im2col import conv_output_size
from ..nn.layers import Conv2d, ConvTranspose2d
from .buffers import scratch
from .im2col import col2im_fast, im2col_fast


def gemm(a, b, out=None):
    """a @ b: every matrix product of the fast layers goes through here, so that
    scripts/benchmarks/bench.py can time them alone (the step's "GEMM floor")."""
    return array_module(a).matmul(a, b, out=out)


def matmul_into(name, a, b):
    """a @ b written into the scratch buffer `name` (no fresh allocation)."""
    xp = array_module(a)
    out = scratch(name, (a.shape[0], b.shape[1]), np.result_type(a.dtype, b.dtype), xp)
    return gemm(a, b, out=out)


class FastConv2d(Conv2d):
    """Conv2d whose im2col matrix, on the CPU, lives in a shared buffer: backward, when it
    needs the weight gradient, builds it again from the kept input (one copy) instead of
    keeping one matrix per layer between the passes, which at 96 px would hold 300 MB for D
    alone. On a GPU, where memory is plentiful and each copy is a kernel launch, the layer
    keeps its matrix."""

    cols = None

    def forward(self, x, train=True):
        W = self.params["W"]
        if array_module(x) is np:
            cols, self.cols = im2col_fast(x, self.k, self.stride, self.padding,
                                          out=self._cols_buffer(x)), None
        else:
            cols = self.cols = im2col_fast(x, self.k, self.stride, self.padding, out=self.cols)
        n, oh, ow = cols.shape[:3]
        y = gemm(cols.reshape(n * oh * ow, -1), W.reshape(-1, W.shape[-1]))
        if "b" in self.params:
            y += self.params["b"]
        self.x = x
        return y.reshape(n, oh, ow, W.shape[-1])

    def _cols_buffer(self, x):
        n, h, w, c = x.shape
        k, s, p = self.k, self.stride, self.padding
        oh, ow = conv_output_size(h, k, s, p), conv_output_size(w, k, s, p)
        return scratch("cols", (n, oh, ow, k, k, c), x.dtype, array_module(x))

    def backward(self, dy):
        self.backward_params(dy)
        W = self.params["W"]
        n, oh, ow, _ = dy.shape
        cols_shape = (n, oh, ow, self.k, self.k, W.shape[2])
        dcols = matmul_into("cols", dy.reshape(-1, W.shape[-1]), W.reshape(-1, W.shape[-1]).T)
        # dx goes to a shared buffer too: the layer before consumes it at once
        dx, _ = col2im_fast(dcols.reshape(cols_shape), self.x.shape, self.stride, self.padding,
                            name="col2im")
        return dx

    def backward_params(self, dy):
        if not self.requires_grad:
            return
        W, x, cols = self.params["W"], self.x, self.cols
        if cols is None:
            cols = im2col_fast(x, self.k, self.stride, self.padding, out=self._cols_buffer(x))
        dy2 = dy.reshape(-1, W.shape[-1])
        self.grads["W"] = gemm(cols.reshape(len(dy2), -1).T, dy2).reshape(W.shape)
        if "b" in self.params:
            self.grads["b"] = dy2.sum(axis=0)


class FastConvTranspose2d(ConvTranspose2d):
    FEW_CHANNELS = 8   # on the CPU, at or below this many output channels channels-first wins

    def forward(self, x, train=True):
        W = self.params["W"]
        k, c_out, c_in = self.k, W.shape[2], W.shape[3]
        n, h, w, _ = x.shape
        if c_out <= self.FEW_CHANNELS and array_module(x) is np:
            y = conv_transpose_few_channels(x, W, self.stride, self.padding)
        else:
            cols = matmul_into("cols", x.reshape(-1, c_in), W.reshape(-1, c_in).T)
            # into a shared buffer: the next layer (BatchNorm) reads it at once
            y, _ = col2im_fast(cols.reshape(n, h, w, k, k, c_out), self.output_shape(x.shape),
                               self.stride, self.padding, name="col2im")
        if "b" in self.params:
            y = y + self.params["b"]
        self.x = x
        return y

    def _dcols(self, dy):
        n, h, w, _ = self.x.shape
        k, c_out = self.k, dy.shape[-1]
        out = scratch("cols", (n, h, w, k, k, c_out), dy.dtype, array_module(dy))
        return im2col_fast(dy, k, self.stride, self.padding, out=out).reshape(n * h * w, -1)

    def backward(self, dy):
        dcols = self._dcols(dy)
        self._param_grads(dy, dcols)
        W = self.params["W"]
        return gemm(dcols, W.reshape(-1, W.shape[3])).reshape(self.x.shape)

    def _param_grads(self, dy, dcols):
        if not self.requires_grad:
            return
        W = self.params["W"]
        self.grads["W"] = gemm(dcols.T, self.x.reshape(-1, W.shape[3])).reshape(W.shape)
        if "b" in self.params:
            self.grads["b"] = dy.reshape(-1, dy.shape[-1]).sum(axis=0)


def conv_transpose_few_channels(x, W, stride, padding):
    """ConvTranspose2d's forward for layers with few output channels, such as the generator's
    RGB layer. The math is the same; the layout is channels-first, so that each col2im `+=`
    runs along image rows instead of over 3 numbers at a time, which in NumPy is about 3x
    faster for the whole layer.

    x : (N, H, W, C_in)   W : (k, k, C_out, C_in)   ->   (N, OH, OW, C_out)
    """
    xp = array_module(x)
    n, h, w, c_in = x.shape
    k, _, c_out, _ = W.shape
    s, p = stride, padding
    oh, ow = (h - 1) * s - 2 * p + k, (w - 1) * s - 2 * p + k
    # one row per (i, j, output channel), one column per input pixel
    cols_t = gemm(W.reshape(-1, c_in), x.reshape(-1, c_in).T).reshape(k, k, c_out, n, h, w)
    y_padded = xp.zeros((c_out, n, oh + 2 * p, ow + 2 * p), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            target = y_padded[:, :, i:i + s * h:s, j:j + s * w:s]
            target += cols_t[i, j]
    return y_padded[:, :, p:p + oh, p:p + ow].transpose(1, 2, 3, 0).copy()


__all__ = ["FastConv2d", "FastConvTranspose2d", "conv_transpose_few_channels", "gemm",
           "matmul_into"]
