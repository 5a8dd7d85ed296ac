"""Reused buffers: what keeps the fast layers from allocating big arrays on every call.

NumPy maps arrays over ~32 MB straight from the OS, so a fresh 64 MB im2col matrix on every
step costs thousands of page faults; on a GPU, every allocation is a call into the memory
pool. Two kinds of buffer avoid that:
    scratch(name, ...)     one flat arena per name, grown to the largest request, for values
                           that are dead before the next request of the same name
    zero_bordered(...)     one buffer per exact shape, zeroed once: a padded image's border
                           stays zero because only its interior is ever written (used on a
                           GPU; the CPU pads into one arena and re-zeroes the thin border)
`release()` drops them all (after sampling), so a long-lived process does not keep the memory
of its largest call forever.
"""

import numpy as np

from ..nn.backend import array_module, free_memory_pool

_buffers = {}


def scratch(name, shape, dtype, xp=np):
    """A reusable, uninitialised buffer of `shape`: a view into one flat arena per name."""
    key = ("arena", name, np.dtype(dtype).str, xp.__name__)
    size = int(np.prod(shape))
    arena = _buffers.get(key)
    if arena is None or arena.size < size:
        arena = _buffers[key] = xp.empty(size, dtype=dtype)
    return arena[:size].reshape(shape)


def zero_bordered(name, shape, dtype, xp=np):
    """A reusable buffer of exactly `shape`, zero-filled once when it is created."""
    key = ("zeroed", name, tuple(shape), np.dtype(dtype).str, xp.__name__)
    buf = _buffers.get(key)
    if buf is None:
        buf = _buffers[key] = xp.zeros(shape, dtype=dtype)
    return buf


def reuse(previous, shape, dtype, xp=np):
    """`previous` if it is an array of this shape, dtype and module, else a new empty one: a
    layer's own cached array recycled on its next call."""
    if (previous is not None and previous.shape == tuple(shape) and previous.dtype == dtype
            and array_module(previous) is xp):
        return previous
    return xp.empty(shape, dtype=dtype)


def release(*models):
    """Forget every shared buffer and what the layers of `models` keep between calls (cached
    inputs, im2col matrices, output buffers, gradients), and give the GPU's pooled memory back.
    Everything is allocated again, once, by the next call that needs it."""
    _buffers.clear()
    for model in models:
        # a wrapper (SpectralNorm) keeps its own layer, whose caches count too
        wrapped = [layer.layer for layer in model.layers if hasattr(layer, "layer")]
        for layer in model.layers + wrapped:
            layer.grads = {}
            for name, value in list(vars(layer).items()):
                if hasattr(value, "shape") and hasattr(value, "dtype"):
                    setattr(layer, name, None)
    free_memory_pool()


def held_bytes():
    """Bytes held by the shared buffers."""
    return sum(buf.nbytes for buf in _buffers.values())
