"""Faster im2col and col2im: the same results as tinygan/nn/im2col.py, in fewer operations.

im2col: the k x k windows of a padded image are one strided *view* of it (an output pixel
steps `stride` rows, a kernel offset steps one row), so the whole matrix is a single copy of
that view instead of k*k slice copies. When the window covers the whole image (D's last
layer), the view is the image itself and no copy is needed at all.

col2im: when the stride divides the kernel (k = q*s, as in every 4/2/1 layer), kernel offset
i = a*s + r sends its values to padded row s*(oh + a) + r. Seen as blocks of s rows, offset
(a, r) adds to block oh + a, row r, so all s*s offsets with the same (a, b) land on distinct
pixels and go in one addition: q*q additions (4 for k=4, s=2) instead of k*k (16).

On the CPU, every copy and addition here is cut along the batch axis and run on all cores
(threads.py).
"""

import numpy as np

from ..nn.backend import array_module
from ..nn.im2col import col2im, conv_output_size
from .buffers import reuse, scratch, zero_bordered
from .threads import copy, over_batch


def padded(x, padding, name):
    """x with `padding` zeros around H and W, in a reused buffer. On a GPU, one buffer per
    shape, zeroed once (memory is plentiful there, kernel launches are not); on the CPU, one
    buffer for all shapes, whose thin border is zeroed again on each call (memory is not)."""
    if padding == 0:
        return x
    xp = array_module(x)
    n, h, w, c = x.shape
    p = padding
    shape = (n, h + 2 * p, w + 2 * p, c)
    if xp is not np:
        # keyed by the padding too: the same padded shape with another border would not be zero
        buf = zero_bordered((name, p), shape, x.dtype, xp)
        buf[:, p:p + h, p:p + w, :] = x
        return buf
    buf = scratch(name, shape, x.dtype, xp)
    over_batch(_pad_into, buf, x)
    return buf


def _pad_into(buf, x):
    """buf's interior = x, its border = 0 (one part of the batch; see padded)."""
    p = (buf.shape[1] - x.shape[1]) // 2
    h, w = x.shape[1:3]
    for border in (buf[:, :p], buf[:, p + h:], buf[:, p:p + h, :p], buf[:, p:p + h, p + w:]):
        border.fill(0)
    buf[:, p:p + h, p:p + w, :] = x


def windows(x_padded, k, stride, oh, ow):
    """The (N, OH, OW, k, k, C) strided view of every window of x_padded (no copy)."""
    xp = array_module(x_padded)
    n, _, _, c = x_padded.shape
    sn, sh, sw, sc = x_padded.strides
    return xp.lib.stride_tricks.as_strided(
        x_padded, (n, oh, ow, k, k, c), (sn, stride * sh, stride * sw, sh, sw, sc))


def im2col_fast(x, k, stride, padding, out=None, name="pad"):
    """tinygan.nn.im2col.im2col, as one copy (into `out` when it fits) or none at all."""
    n, h, w, c = x.shape
    oh, ow = conv_output_size(h, k, stride, padding), conv_output_size(w, k, stride, padding)
    if padding == 0 and (h, w) == (k, k):
        return x.reshape(n, 1, 1, k, k, c)
    cols = reuse(out, (n, oh, ow, k, k, c), x.dtype, array_module(x))
    return copy(cols, windows(padded(x, padding, name), k, stride, oh, ow))


def col2im_fast(cols, x_shape, stride, padding, out=None, name=None):
    """tinygan.nn.im2col.col2im in q*q additions when stride divides k (see above), as
    (image, buffer): the image is a view of the buffer, which is `out` recycled, or the shared
    scratch buffer `name`; it is valid until that buffer's next use. Two cases return `out`
    untouched: a whole-window layer (1 x 1 output, k x k image, no padding), whose image is a
    view of `cols` itself, and a stride that does not divide k, whose image is the textbook
    col2im's new array."""
    xp = array_module(cols)
    n, oh, ow, k, _, c = cols.shape
    _, h, w, _ = x_shape
    p, s = padding, stride
    if p == 0 and (oh, ow) == (1, 1) and (h, w) == (k, k):
        return cols.reshape(n, k, k, c), out
    if k % s:
        return col2im(cols, x_shape, s, p), out
    q = k // s
    rows, columns = -(-(h + 2 * p) // s), -(-(w + 2 * p) // s)   # blocks of s, rounded up
    rows, columns = max(rows, oh + q - 1), max(columns, ow + q - 1)
    shape = (n, rows, s, columns, s, c)
    blocks = scratch(name, shape, cols.dtype, xp) if name else reuse(out, shape, cols.dtype, xp)
    over_batch(_add_blocks, blocks, cols.reshape(n, oh, ow, q, s, q, s, c))
    image = blocks.reshape(n, rows * s, columns * s, c)
    return image[:, p:p + h, p:p + w, :], blocks


def _add_blocks(blocks, by_offset):
    """blocks = 0, then col2im's q*q additions into it (one part of the batch; see
    col2im_fast)."""
    _, oh, ow, q = by_offset.shape[:4]
    # On the CPU, offset (0, 0) is copied onto blocks [0, oh) x [0, ow) and only the rest is
    # zeroed, one pass over the image fewer; on a GPU, one fill is one kernel launch fewer.
    copy_first = isinstance(blocks, np.ndarray)
    if copy_first:
        blocks[:, oh:].fill(0)
        blocks[:, :oh, :, ow:].fill(0)
    else:
        blocks.fill(0)
    for a in range(q):
        for b in range(q):
            # `target += ...` on a named view: `blocks[...] += ...` would also store the sum
            # back through __setitem__, one more copy of it
            target = blocks[:, a:a + oh, :, b:b + ow, :, :]
            stamp = by_offset[:, :, :, a, :, b, :, :].transpose(0, 1, 3, 2, 4, 5)
            if a == b == 0 and copy_first:
                target[...] = stamp
            else:
                target += stamp
