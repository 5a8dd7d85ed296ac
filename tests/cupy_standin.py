"""A strict CPU stand-in for CuPy, so the GPU path can be tested on a machine without a GPU.

It is put in place of the `cupy` module (see the `gpu` fixture in conftest.py) and behaves the
way CuPy does where a CPU-only test would otherwise miss a bug:
- its device array is not a numpy.ndarray: NumPy refuses it (no implicit device -> host copy:
  `np.asarray(x)` raises TypeError, as CuPy's `__array__` does), and it refuses NumPy arrays
  as operands, as `out=`, or as a value to assign (CuPy raises TypeError there too);
- reductions return 0-d device arrays, not Python or NumPy scalars;
- `empty` is filled with NaN, so code that reads memory it never wrote is caught;
- only names that tinygan may use exist; each one the code touches is recorded (`Stats.seen`),
  and after each test the `standin` fixture (conftest.py) checks them against the real CuPy.
It also counts what costs time on a real GPU: every operation that would launch a kernel, every
host synchronisation (reading a value back, `.get()`, `float(x)`), and host <-> device copies.
"""

import collections
import types

import numpy as np

SCALARS = (bool, int, float, np.generic)


class Stats:
    def __init__(self):
        self.reset()
        self.seen = collections.defaultdict(set)   # "function" / "method" -> names, and keywords

    def reset(self):
        self.launches = 0
        self.syncs = 0
        self.transfers = 0
        self.by_name = collections.Counter()

    def launch(self, name, n=1):
        self.launches += n
        self.by_name[name] += n


stats = Stats()


def _device(value, what):
    """The NumPy array inside a device operand; NumPy arrays and other objects are refused."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, SCALARS):
        return value
    if isinstance(value, np.ndarray):
        raise TypeError(f"Unsupported type {type(value)} in {what}: a NumPy array cannot be "
                        "mixed with a device array (copy it over with cupy.asarray first)")
    raise TypeError(f"Unsupported type {type(value)} in {what}")


def _wrap(result):
    if isinstance(result, np.ndarray):
        return ndarray(result)
    if isinstance(result, np.generic):   # CuPy reductions give 0-d arrays, never scalars
        return ndarray(np.asarray(result))
    if isinstance(result, tuple):
        return tuple(_wrap(r) for r in result)
    return result


def _record(kind, name, kwargs):
    stats.seen[kind].add(name)
    for key in kwargs:
        stats.seen["keyword"].add((kind, name, key))


def _unwrap_key(key):
    """An index for __getitem__/__setitem__, and whether it is 'advanced' (a gather: a kernel)."""
    parts = key if isinstance(key, tuple) else (key,)
    advanced = False
    out = []
    for part in parts:
        if isinstance(part, ndarray):
            advanced = True
            out.append(part._a)
        elif isinstance(part, np.ndarray):
            raise TypeError("a NumPy array cannot index a device array")
        elif isinstance(part, list):
            advanced = True
            out.append(part)
        else:
            out.append(part)
    return (tuple(out) if isinstance(key, tuple) else out[0]), advanced


class ndarray:
    """A device array: a NumPy array that only the stand-in's functions may touch."""

    __slots__ = ("_a",)
    __array_ufunc__ = None   # NumPy ufuncs refuse it, and NumPy operators return NotImplemented

    def __init__(self, a):
        self._a = a

    # -- metadata: no kernel, no synchronisation
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray(self._a.T))

    def __getattribute__(self, name):
        if not name.startswith("_"):
            stats.seen["method"].add(name)
        return object.__getattribute__(self, name)

    def __len__(self):
        return len(self._a)

    def __repr__(self):
        return f"<device array {self.shape} {self.dtype}>"

    # -- the ways NumPy would convert it: refused, as CuPy refuses them
    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use "
                        "`.get()` to construct a NumPy array explicitly.")

    def __array_function__(self, func, types, args, kwargs):
        raise TypeError(f"numpy.{func.__name__} was called on a device array: use the array's "
                        "own module (cupy) instead")

    # -- reading values back: each is a host synchronisation
    def get(self, stream=None):
        stats.syncs += 1
        stats.transfers += 1
        return self._a.copy()

    def _scalar(self, kind):
        stats.syncs += 1
        return kind(self._a)

    def __float__(self):
        return self._scalar(float)

    def __int__(self):
        return self._scalar(int)

    def __bool__(self):
        return self._scalar(bool)

    def item(self):
        stats.syncs += 1
        return self._a.item()

    def __iter__(self):
        return (ndarray(row) for row in self._a)

    # -- indexing
    def __getitem__(self, key):
        key, advanced = _unwrap_key(key)
        if advanced:
            stats.launch("gather")
        return _wrap(self._a[key])

    def __setitem__(self, key, value):
        key, _ = _unwrap_key(key)
        self._a[key] = _device(value, "__setitem__")
        stats.launch("setitem")

    # -- shape changes: views where NumPy can make one, else a copy kernel
    def reshape(self, *shape, **kwargs):
        _record("method", "reshape", kwargs)
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        try:
            return ndarray(np.reshape(self._a, shape, copy=False))
        except ValueError:
            stats.launch("reshape copy")
            return ndarray(self._a.reshape(shape))

    def ravel(self):
        return self.reshape(-1)

    def transpose(self, *axes):
        return ndarray(self._a.transpose(*axes))

    def copy(self, order="C"):
        stats.launch("copy")
        return ndarray(self._a.copy(order))

    def __deepcopy__(self, memo):
        return self.copy()

    def astype(self, dtype, copy=True, **kwargs):
        _record("method", "astype", kwargs)
        if not copy and np.dtype(dtype) == self.dtype:
            return self
        stats.launch("astype")
        return ndarray(self._a.astype(dtype))

    def fill(self, value):
        self._a.fill(_device(value, "fill"))
        stats.launch("fill")


def _method(name):
    def method(self, *args, **kwargs):
        _record("method", name, kwargs)
        kwargs = {k: (_device(v, name) if k == "out" else v) for k, v in kwargs.items()}
        stats.launch(name)
        return _wrap(getattr(self._a, name)(*args, **kwargs))
    method.__name__ = name
    return method


for _name in ("sum", "mean", "max", "min", "any", "all", "argmax", "argmin", "var", "std"):
    setattr(ndarray, _name, _method(_name))


def _operator(name, inplace=False):
    numpy_op = getattr(np.ndarray, name)

    def op(self, other):
        result = numpy_op(self._a, _device(other, name))
        stats.launch(name)
        if result is NotImplemented:
            return NotImplemented
        return self if inplace else _wrap(result)
    op.__name__ = name
    return op


for _name in ("add", "sub", "mul", "truediv", "floordiv", "pow", "matmul", "and", "or"):
    setattr(ndarray, f"__{_name}__", _operator(f"__{_name}__"))
    setattr(ndarray, f"__r{_name}__", _operator(f"__r{_name}__"))
    setattr(ndarray, f"__i{_name}__", _operator(f"__i{_name}__", inplace=True))
for _name in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(ndarray, f"__{_name}__", _operator(f"__{_name}__"))
ndarray.__hash__ = None


def _unary(name, numpy_op):
    def op(self):
        stats.launch(name)
        return _wrap(numpy_op(self._a))   # a 0-d array stays one, as in CuPy
    return op


ndarray.__neg__ = _unary("__neg__", np.negative)
ndarray.__abs__ = _unary("__abs__", np.abs)
ndarray.__invert__ = _unary("__invert__", np.invert)


# -- the module's functions ------------------------------------------------------------------
def _kernel(name, numpy_func, needs_device=True):
    """A function that runs one kernel: operands must be device arrays or scalars."""
    def func(*args, **kwargs):
        _record("function", name, kwargs)
        operands = [_device(a, name) for a in args]
        if needs_device and not any(isinstance(a, ndarray) for a in args):
            raise TypeError(f"cupy.{name}: no device array among the operands")
        kwargs = {k: (_device(v, name) if k == "out" else v) for k, v in kwargs.items()}
        stats.launch(name)
        return _wrap(numpy_func(*operands, **kwargs))
    func.__name__ = name
    return func


def _sequence_kernel(name, numpy_func):
    """concatenate / stack: one kernel over a sequence of device arrays."""
    def func(arrays, *args, **kwargs):
        _record("function", name, kwargs)
        stats.launch(name)
        return ndarray(numpy_func([_device(a, name) for a in arrays], *args, **kwargs))
    func.__name__ = name
    return func


def _creation(name, numpy_func, fills=True):
    def func(*args, **kwargs):
        _record("function", name, kwargs)
        if any(isinstance(a, np.ndarray) for a in args):
            raise TypeError(f"cupy.{name}: a NumPy array is not a shape or a fill value")
        args = [a._a if isinstance(a, ndarray) else a for a in args]
        if fills:
            stats.launch(name)
        return ndarray(numpy_func(*args, **kwargs))
    func.__name__ = name
    return func


def empty(shape, dtype=np.float64, order="C"):
    _record("function", "empty", {})
    a = np.empty(shape, dtype=dtype, order=order)
    if a.dtype.kind in "fc":
        a.fill(np.nan)   # what a real GPU hands out is garbage; NaN makes reading it visible
    return ndarray(a)


def empty_like(a, dtype=None):
    _record("function", "empty_like", {})
    return empty(a.shape, dtype or a.dtype)


def asarray(a, dtype=None, order=None):
    _record("function", "asarray", {"dtype": dtype} if dtype is not None else {})
    if isinstance(a, ndarray):
        return a if dtype is None or np.dtype(dtype) == a.dtype else a.astype(dtype)
    stats.transfers += 1   # host -> device copy
    return ndarray(np.array(a, dtype=dtype, order=order or "K"))


def asnumpy(a, stream=None):
    _record("function", "asnumpy", {})
    if isinstance(a, ndarray):
        return a.get()
    return np.asarray(a)


def matmul(a, b, out=None):
    _record("function", "matmul", {"out": out} if out is not None else {})
    for operand in (a, b):
        # cuBLAS takes C- or F-ordered matrices; anything else CuPy copies first
        if not (operand.flags.c_contiguous or operand.flags.f_contiguous):
            stats.launch("matmul operand copy")
    stats.launch("matmul")
    if out is None:
        return ndarray(np.matmul(_device(a, "matmul"), _device(b, "matmul")))
    np.matmul(_device(a, "matmul"), _device(b, "matmul"), out=_device(out, "matmul"))
    return out


def pad(a, pad_width, mode="constant", **kwargs):
    _record("function", "pad", kwargs)
    stats.launch("pad", 2)   # a fill of the new array and a copy of the old one into it
    return ndarray(np.pad(_device(a, "pad"), pad_width, mode=mode, **kwargs))


def as_strided(x, shape=None, strides=None):
    return ndarray(np.lib.stride_tricks.as_strided(_device(x, "as_strided"), shape, strides))


class _Stream:
    def synchronize(self):
        stats.syncs += 1


class _MemoryPool:
    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self):
        pass


class _Device:
    def __init__(self, device_id=0):
        self.id = device_id

    def use(self):
        pass

    def synchronize(self):
        stats.syncs += 1


class _Namespace(types.SimpleNamespace):
    """A sub-namespace (cupy.cuda, cupy.lib.stride_tricks) that records what is used."""

    def __init__(self, path, **names):
        super().__init__(**names)
        object.__setattr__(self, "_path", path)

    def __getattribute__(self, name):
        if not name.startswith("_"):
            stats.seen["function"].add(f"{object.__getattribute__(self, '_path')}.{name}")
        return object.__getattribute__(self, name)


class StandinModule(types.ModuleType):
    def __getattribute__(self, name):
        if not name.startswith("_") and name != "stats":   # `stats` is the stand-in's own
            stats.seen["function"].add(name)
        return super().__getattribute__(name)


def make_module():
    """A fresh `cupy` stand-in module (its counters in `module.stats`)."""
    m = StandinModule("cupy")
    m.__dict__.update(
        ndarray=ndarray, stats=stats, float16=np.float16, float32=np.float32,
        float64=np.float64, uint8=np.uint8, int32=np.int32, int64=np.int64, bool_=np.bool_,
        dtype=np.dtype, newaxis=None, inf=np.inf, nan=np.nan, pi=np.pi,
        empty=empty, empty_like=empty_like, asarray=asarray, asnumpy=asnumpy, matmul=matmul,
        pad=pad, is_available=lambda: True,
        get_default_memory_pool=lambda: _MemoryPool(),
        get_array_module=lambda *a: m if any(isinstance(x, ndarray) for x in a) else np,
        lib=_Namespace("lib", stride_tricks=_Namespace("lib.stride_tricks",
                                                        as_strided=as_strided)),
        cuda=_Namespace("cuda", get_current_stream=lambda: _Stream(), Device=_Device,
                        runtime=_Namespace("cuda.runtime", getDeviceCount=lambda: 1)),
    )
    for name in ("zeros", "ones", "full", "arange"):
        m.__dict__[name] = _creation(name, getattr(np, name))
    for name in ("zeros_like", "ones_like", "full_like"):
        m.__dict__[name] = _creation(name, getattr(np, name))
    for name in ("exp", "log", "log1p", "sqrt", "tanh", "abs", "maximum", "minimum", "where",
                 "clip", "sign", "square", "negative", "isfinite", "isnan", "rint", "floor",
                 "multiply", "add", "subtract", "divide", "sum", "mean", "max", "min", "any",
                 "all", "argmax", "argsort", "sort", "transpose", "reshape"):
        numpy_func = getattr(np, name)
        if name in ("transpose", "reshape"):   # views: no kernel
            m.__dict__[name] = (lambda f: lambda a, *args: _wrap(f(_device(a, "view"), *args)))(
                numpy_func)
        else:
            m.__dict__[name] = _kernel(name, numpy_func)
    m.__dict__["concatenate"] = _sequence_kernel("concatenate", np.concatenate)
    m.__dict__["stack"] = _sequence_kernel("stack", np.stack)
    return m
