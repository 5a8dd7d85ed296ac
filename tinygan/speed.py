"""Speed helpers for the CPU path, kept in one place so the layers still read as plain math.

Two things make a NumPy convolution slow besides the matrix products themselves:
  * Fresh big arrays. NumPy maps arrays over ~32 MB straight from the OS, so every new
    64 MB im2col matrix costs thousands of page faults. `scratch` hands out a buffer that is
    allocated once per (name, shape, dtype) and reused on every later step.
  * One core. BLAS uses every core, but a copy like im2col runs on one. NumPy releases the
    GIL inside such copies, so `over_batch` splits them into batch chunks on a thread pool.
On the GPU (CuPy) both are unnecessary and both simply fall through.
"""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .backend import array_module

_scratch = {}
_pool = None


def threads():
    """Worker threads for memory-bound passes: TINYGAN_THREADS, else the BLAS setting, else
    the number of cores."""
    for var in ("TINYGAN_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        if os.environ.get(var, "").isdigit():
            return max(1, int(os.environ[var]))
    return os.cpu_count() or 1


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


def over_batch(fn, n, xp=np):
    """Call fn(batch_slice) over chunks of range(n), in parallel threads on the CPU."""
    workers = min(threads(), n)
    if xp is not np or workers <= 1:
        fn(slice(0, n))
        return
    global _pool
    if _pool is None or _pool._max_workers < workers:
        _pool = ThreadPoolExecutor(max_workers=workers)
    bounds = np.linspace(0, n, workers + 1).astype(int)
    futures = [_pool.submit(fn, slice(lo, hi)) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
    for f in futures:
        f.result()
