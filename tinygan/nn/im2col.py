"""im2col and col2im for channels-last (NHWC) images: the heart of every convolution here.

A convolution is a matrix product once each output pixel's receptive field is laid out as one
row ("im2col"). We build those rows the way Chainer does: a loop over the k x k kernel offsets,
each offset taking one strided slice of the padded input. For offset (i, j) the slice
`x_padded[:, i:i + stride*OH:stride, j:j + stride*OW:stride]` holds, for every output pixel
(oh, ow), the input pixel (stride*oh + i, stride*ow + j) that kernel tap (i, j) multiplies.

col2im is the same loop run backwards, adding (`+=`) every slice back to where it came from.
Windows overlap when stride < k, so one input pixel is read by several output pixels; its
gradient is the sum of what each of them sends back. That is why col2im adds instead of
copying, and why it is the adjoint (the transpose) of im2col.

Shapes (k = kernel size, s = stride, p = padding):
    x    : (N, H, W, C)
    cols : (N, OH, OW, k, k, C)   with OH = (H + 2p - k) // s + 1, likewise OW
Reshaped to (N*OH*OW, k*k*C), `cols` multiplies a weight of shape (k, k, C, C_out) reshaped to
(k*k*C, C_out): the row and column orders match, so no transposes are needed.

This is the textbook version. tinygan/fast/ holds a faster one (one strided copy for im2col,
fewer additions for col2im) that the tests check against this one.
"""

from .backend import array_module


def conv_output_size(size, k, stride, padding):
    """Spatial output size of a convolution: floor((size + 2p - k) / s) + 1."""
    return (size + 2 * padding - k) // stride + 1


def pad_hw(x, padding):
    """Zero-pad the two spatial axes of an NHWC array by `padding` pixels on each side."""
    xp = array_module(x)
    p = padding
    return xp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))


def im2col(x, k, stride, padding):
    """(N, H, W, C) -> (N, OH, OW, k, k, C): every k x k window of the padded input."""
    xp = array_module(x)
    n, h, w, c = x.shape
    oh, ow = conv_output_size(h, k, stride, padding), conv_output_size(w, k, stride, padding)
    x_padded = pad_hw(x, padding)
    cols = xp.empty((n, oh, ow, k, k, c), dtype=x.dtype)
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
    x_padded = xp.zeros((n, h + 2 * p, w + 2 * p, c), dtype=cols.dtype)
    for i in range(k):
        for j in range(k):
            x_padded[:, i:i + stride * oh:stride, j:j + stride * ow:stride, :] += \
                cols[:, :, :, i, j, :]
    return x_padded[:, p:p + h, p:p + w, :]
