"""im2col and col2im for channels-last (NHWC) images: the heart of every convolution here.

A convolution is a matrix product once each output pixel's receptive field is laid out as one
row ("im2col"). We build those rows the way Chainer does: a loop over the kh x kw kernel offsets,
each offset taking one strided slice of the padded input. col2im is the same loop run backwards,
adding (`+=`) every slice back to where it came from; overlapping windows sum, which is exactly
the gradient of the copy.

Shapes (k = kernel size, s = stride, p = padding):
    x    : (N, H, W, C)
    cols : (N, OH, OW, k, k, C)   with OH = (H + 2p - k) // s + 1, likewise OW
Reshaped to (N*OH*OW, k*k*C), `cols` multiplies a weight of shape (k, k, C, C_out) reshaped to
(k*k*C, C_out): the row and column orders match, so no transposes are needed.

The padded images and the col2im accumulator live in reused buffers (see speed.py).
"""

from .backend import array_module
from .speed import reuse, scratch, zero_bordered


def conv_output_size(size, k, stride, padding):
    """Spatial output size of a convolution: floor((size + 2p - k) / s) + 1."""
    return (size + 2 * padding - k) // stride + 1


def pad_hw(x, padding):
    """Zero-pad the two spatial axes of an NHWC array (into a reused buffer whose border,
    written once, stays zero: only the interior is ever overwritten)."""
    if padding == 0:
        return x
    xp = array_module(x)
    n, h, w, c = x.shape
    p = padding
    x_padded = zero_bordered("pad_hw", (n, h + 2 * p, w + 2 * p, c), x.dtype, xp)
    x_padded[:, p:p + h, p:p + w, :] = x
    return x_padded


def im2col(x, k, stride, padding, out=None):
    """(N, H, W, C) -> (N, OH, OW, k, k, C): every k x k window of the padded input.
    `out`, if it has the right shape, is reused for the result."""
    xp = array_module(x)
    n, h, w, c = x.shape
    oh, ow = conv_output_size(h, k, stride, padding), conv_output_size(w, k, stride, padding)
    x_padded = pad_hw(x, padding)
    cols = reuse(out, (n, oh, ow, k, k, c), x.dtype, xp)
    for i in range(k):
        for j in range(k):
            cols[:, :, :, i, j, :] = x_padded[:, i:i + stride * oh:stride,
                                              j:j + stride * ow:stride, :]
    return cols


def col2im(cols, x_shape, stride, padding):
    """(N, OH, OW, k, k, C) -> (N, H, W, C): the adjoint of im2col, summing overlapping windows.

    `x_shape` is the shape of the (unpadded) image the columns came from.
    """
    xp = array_module(cols)
    n, oh, ow, k, _, c = cols.shape
    _, h, w, _ = x_shape
    p = padding
    x_padded = scratch("col2im", (n, h + 2 * p, w + 2 * p, c), cols.dtype, xp)
    x_padded.fill(0)
    for i in range(k):
        for j in range(k):
            x_padded[:, i:i + stride * oh:stride, j:j + stride * ow:stride, :] += \
                cols[:, :, :, i, j, :]
    return x_padded[:, p:p + h, p:p + w, :].copy()
