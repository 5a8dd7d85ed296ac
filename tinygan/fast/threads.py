"""Every core for NumPy's own passes, not only for its matrix products.

OpenBLAS runs a matrix product on all cores, but NumPy runs copies and element-wise operations
on one. Around each product of a training step sit such passes (im2col and col2im copies,
BatchNorm, activations) that take about as long as the products themselves, while the other
cores wait. NumPy releases the GIL inside those loops, so cutting an array along its batch axis
and giving each part to a thread runs them on all cores at once:

    over_batch(fn, a, b, args=(c,))   [fn(a[part], b[part], c) for each part of the first
                                      axis], the parts on `threads()` threads (the caller
                                      runs one of them); `args` go whole to every part

The parts never overlap, so writes into them cannot collide. fn's results come back one per
part (partial sums, say) for the caller to combine. On a GPU (CuPy arrays), or for arrays too
small to be worth a thread, fn simply runs once on the whole arrays.

OpenBLAS keeps its threads polling for new work for a while after each product, on the very
cores these threads need; tinygan/run/launch.py shortens that wait before NumPy loads.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

MIN_ELEMENTS = 1 << 15   # smaller arrays: starting a thread costs more than it saves

_count = None
_pool = None
_pool_lock = threading.Lock()


def threads():
    """How many threads share the passes: TINYGAN_THREADS if set, else the BLAS thread count
    if the environment sets one (under mpiexec, the rank's share of the cores), else every
    core this process may use."""
    global _count
    if _count is None:
        for name in ("TINYGAN_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                     "MKL_NUM_THREADS"):
            value = os.environ.get(name, "").strip()
            if value.isdigit() and int(value) > 0:
                _count = int(value)
                break
        else:
            _count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
                else (os.cpu_count() or 1)
    return _count


def set_threads(count):
    """Use `count` threads from now on (None: decide again from the environment)."""
    global _count, _pool
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown()
        _count, _pool = count, None


def _forget_pool():
    """In a forked child the pool's threads do not exist (and its lock may have been held by
    one of them): a new pool and lock, should the child need them."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _workers():
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(threads() - 1, thread_name_prefix="tinygan-pass")
        return _pool


def over_batch(fn, *arrays, args=()):
    """fn(*parts, *args) for matching parts of `arrays` along their first axis, on several
    threads; the list of its results, part by part (one result when it ran once)."""
    first = arrays[0]
    n, count = first.shape[0], threads()
    if count == 1 or n < 2 or first.size < MIN_ELEMENTS or not isinstance(first, np.ndarray):
        return [fn(*arrays, *args)]
    count = min(count, n)
    bounds = [n * i // count for i in range(count + 1)]
    parts = [[a[lo:hi] for a in arrays] + list(args) for lo, hi in zip(bounds, bounds[1:])]
    pool = _workers()
    futures = [pool.submit(fn, *part) for part in parts[1:]]
    results = [fn(*parts[0])]   # the calling thread does a share too
    return results + [future.result() for future in futures]


def copy(dst, src):
    """dst[...] = src, on several threads."""
    over_batch(_assign, dst, src)
    return dst


def _assign(dst, src):
    dst[...] = src
