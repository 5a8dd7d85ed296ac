"""Speed helpers for the CPU path, kept in one place so the layers still read as plain math.

Besides the matrix products themselves, what makes a NumPy convolution slow is fresh big
arrays: NumPy maps arrays over ~32 MB straight from the OS, so every new 64 MB im2col matrix
costs thousands of page faults. `scratch` hands out a buffer that is allocated once and
reused on every later step; `reuse` recycles a layer's own cached array; `matmul_into` writes
a product into a scratch buffer. (Splitting the im2col copies over threads was tried too: it
made steps slower, because the threads fight BLAS's own for the cores.)
"""

import numpy as np

from .backend import array_module

_scratch = {}


def scratch(name, shape, dtype, xp=np):
    """A reusable, uninitialised buffer of `shape`: a view into one flat arena per name that
    grows to the largest request, so memory is the largest temporary, not the sum of all.
    Only for values that are dead before the next request of the same name (one layer's
    temporary, consumed before the next layer runs)."""
    key = (name, np.dtype(dtype).str, xp.__name__)
    size = int(np.prod(shape))
    arena = _scratch.get(key)
    if arena is None or arena.size < size:
        arena = _scratch[key] = xp.empty(size, dtype=dtype)
    return arena[:size].reshape(shape)


def zero_bordered(name, shape, dtype, xp=np):
    """A reusable buffer per exact shape, zero-filled once when created: for padded images,
    whose border stays zero because only the interior is ever written."""
    key = (name, tuple(shape), np.dtype(dtype).str, xp.__name__)
    buf = _scratch.get(key)
    if buf is None:
        buf = _scratch[key] = xp.zeros(shape, dtype=dtype)
    return buf


def reuse(previous, shape, dtype, xp=np):
    """`previous` if it is an array of this shape, dtype and module, else a new empty one: a
    layer's own cached array (kept for its backward pass) recycled on the next forward."""
    if (previous is not None and previous.shape == tuple(shape) and previous.dtype == dtype
            and array_module(previous) is xp):
        return previous
    return xp.empty(shape, dtype=dtype)


def matmul_into(name, a, b):
    """a @ b written into the scratch buffer `name` (no fresh allocation)."""
    xp = array_module(a)
    out = scratch(name, (a.shape[0], b.shape[1]), np.result_type(a.dtype, b.dtype), xp)
    return xp.matmul(a, b, out=out)


FEW_CHANNELS = 8   # at or below this many output channels the channels-first layout wins


def conv_transpose_few_channels(x, W, stride, padding):
    """ConvTranspose2d's forward (see conv_transpose.py) for layers with few output channels,
    such as the generator's RGB layer. The math is the same; the layout is channels-first, so
    that each col2im `+=` runs along image rows instead of over 3 numbers at a time, which in
    NumPy is about 3x faster for the whole layer.

    x : (N, H, W, C_in)   W : (k, k, C_out, C_in)   ->   (N, OH, OW, C_out)
    """
    xp = array_module(x)
    n, h, w, c_in = x.shape
    k, _, c_out, _ = W.shape
    s, p = stride, padding
    oh, ow = (h - 1) * s - 2 * p + k, (w - 1) * s - 2 * p + k
    # one row per (i, j, output channel), one column per input pixel
    cols_t = (W.reshape(-1, c_in) @ x.reshape(-1, c_in).T).reshape(k, k, c_out, n, h, w)
    y_padded = xp.zeros((c_out, n, oh + 2 * p, ow + 2 * p), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            y_padded[:, :, i:i + s * h:s, j:j + s * w:s] += cols_t[i, j]
    return y_padded[:, :, p:p + oh, p:p + ow].transpose(1, 2, 3, 0).copy()
