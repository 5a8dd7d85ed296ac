"""The array-module shim: the one place that decides between NumPy (CPU) and CuPy (GPU).

Every other module asks this one for its array module instead of importing CuPy, so the same
layer code runs on both. Arrays carry their device with them: `array_module(x)` returns `cupy`
for a CuPy array and `numpy` otherwise, which is how the layers pick `xp` at call time.
"""

import os

import numpy as np

_cupy = None          # the cupy module once imported successfully
_cupy_error = None    # why it could not be used, for the error message
_cupy_remedy = None   # and what to do about it

DEVICES = ("cpu", "gpu", "auto")


class DeviceError(RuntimeError):
    """The requested device cannot be used (no CuPy, no visible GPU)."""


INSTALL_HINT = ("install CuPy with the CUDA libraries it needs: pip install 'cupy-cuda12x[ctk]' "
                "(CUDA 12) or 'cupy-cuda13x[ctk]' (CUDA 13), the extras cuda12 and cuda13 of "
                "tinygan")
NO_GPU_HINT = ("this machine shows no NVIDIA GPU or driver (no /proc/driver/nvidia, no "
               "libcuda): use --device cpu, or a machine where nvidia-smi lists a GPU")
DRIVER_HINT = ("the NVIDIA driver is there but CuPy cannot use it: install the CuPy built for "
               "the CUDA version nvidia-smi shows (pip install 'cupy-cuda12x[ctk]' for 12, "
               "'cupy-cuda13x[ctk]' for 13), or update the driver")


def nvidia_driver_present():
    """Whether this machine has an NVIDIA kernel driver and its user-space library: without
    them no CuPy install can help, and the advice is --device cpu, not pip."""
    if os.path.exists("/proc/driver/nvidia/version"):
        return True
    import ctypes
    try:
        ctypes.CDLL("libcuda.so.1")
        return True
    except OSError:
        return False


def _trial_run(cupy):
    """A small matrix product and an elementwise kernel, read back: CuPy can see a GPU and
    still fail on its first real work (no cuBLAS, no NVRTC to compile kernels)."""
    a = cupy.ones((8, 8), dtype=cupy.float32)
    if abs(float((cupy.tanh(a @ a / 8) * 2).sum()) - 128 * np.tanh(1)) > 1e-3:
        raise RuntimeError("a trial computation on the GPU gave a wrong result")


def _try_import_cupy():
    global _cupy, _cupy_error
    if _cupy is not None or _cupy_error is not None:
        return _cupy
    global _cupy_remedy
    try:
        import cupy  # the only cupy import in the package
    except Exception as exc:  # ImportError, or a CUDA library that fails to load
        _cupy_error = f"CuPy could not be imported ({exc.__class__.__name__}: {exc})"
        _cupy_remedy = f"to use one, {INSTALL_HINT}" if nvidia_driver_present() else NO_GPU_HINT
        return None
    try:
        if not cupy.is_available():
            _cupy_error = "CuPy is installed but sees no CUDA GPU"
            _cupy_remedy = DRIVER_HINT if nvidia_driver_present() else NO_GPU_HINT
            return None
        _trial_run(cupy)
    except Exception as exc:
        reason = " ".join(str(exc).split())[:300]
        _cupy_error = f"CuPy sees a GPU but cannot run on it ({exc.__class__.__name__}: {reason})"
        _cupy_remedy = f"to use it, {INSTALL_HINT}"
        return None
    _cupy = cupy
    return _cupy


def enable_tf32():
    """Let cuBLAS use TF32 tensor cores for float32 matrix products (faster, ~1e-3 relative
    precision). CuPy reads CUPY_TF32 once, so this must run before the first GPU product."""
    os.environ["CUPY_TF32"] = "1"


def resolve_device(device, notice=None):
    """Map 'cpu' | 'gpu' | 'auto' to 'cpu' or 'gpu', or raise DeviceError saying what to do.
    When 'auto' falls back to the CPU although CuPy is installed, `notice(message)` says why."""
    if device not in DEVICES:
        raise DeviceError(f"unknown device {device!r}: choose one of {', '.join(DEVICES)}")
    if device == "cpu":
        return "cpu"
    cupy = _try_import_cupy()
    if cupy is not None:
        return "gpu"
    if device == "auto":
        if notice is not None and _cupy_error.startswith("CuPy sees a GPU"):
            notice(f"--device auto: {_cupy_error}; using the CPU")
        return "cpu"
    raise DeviceError(f"--device gpu needs CuPy and an NVIDIA GPU: {_cupy_error}; "
                      f"{_cupy_remedy}")


def get_xp(device):
    """The array module for a resolved device name."""
    return _try_import_cupy() if resolve_device(device) == "gpu" else np


def array_module(x):
    """numpy or cupy, whichever owns array `x`."""
    if _cupy is not None and isinstance(x, _cupy.ndarray):
        return _cupy
    return np


def to_device(x, device):
    """Copy a host (NumPy) array to `device` ('cpu' returns it unchanged)."""
    return get_xp(device).asarray(x) if device == "gpu" else to_host(x)


def to_host(x):
    """A NumPy copy of `x` (no copy when it already is a NumPy array)."""
    if _cupy is not None and isinstance(x, _cupy.ndarray):
        return _cupy.asnumpy(x)
    return np.asarray(x)


def device_of(x):
    return "gpu" if array_module(x) is not np else "cpu"


def use_gpu(index):
    """Make GPU `index` mod (the number of visible GPUs) the current CUDA device."""
    cupy = get_xp("gpu")
    cupy.cuda.Device(index % cupy.cuda.runtime.getDeviceCount()).use()


def synchronize(x=None):
    """Wait for queued GPU work (a no-op on the CPU); needed before wall-clock timing."""
    if _cupy is not None:
        _cupy.cuda.get_current_stream().synchronize()


def rng(seed):
    """A host-side, seeded random generator. Randomness is drawn on the host and copied over,
    so a seed gives the same numbers on CPU and GPU."""
    return np.random.default_rng(seed)


def free_memory_pool():
    """Hand the GPU memory that CuPy's pool keeps for reuse back to the driver."""
    if _cupy is not None:
        _cupy.get_default_memory_pool().free_all_blocks()


def gpu_memory_mb():
    """Bytes held by CuPy's memory pool, in MB (None on the CPU)."""
    if _cupy is None:
        return None
    return _cupy.get_default_memory_pool().total_bytes() / 2**20
