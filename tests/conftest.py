"""Shared helpers: tiny runs that finish in seconds, small generated image sets, and the GPU
(real CuPy, or the CPU stand-in for it) for the GPU tests."""

import ast
import contextlib
import importlib
import inspect
import re
import sys
import types

import numpy as np
import pytest
from click.testing import CliRunner

from tinygan import fast as speed
from tinygan.cli import main
from tinygan.nn import backend

TINY = ["--size", "32", "--ngf", "8", "--ndf", "8", "--batch", "16", "--demo-count", "64",
        "--log-every", "2", "--device", "cpu"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(autouse=True)
def decode_cache(tmp_path_factory, monkeypatch):
    """Every test decodes into its own cache folder, never the user's ~/.cache."""
    folder = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("TINYGAN_CACHE", str(folder))
    return folder


@pytest.fixture
def tiny_run(tmp_path):
    """A trained tiny run folder (6 steps on the demo faces)."""
    out = tmp_path / "run"
    result = invoke("train", "--data", "demo", "--steps", 6, "--out", out,
                    "--ckpt-every", 3, "--sample-every", 3, *TINY)
    assert result.exit_code == 0, result.output
    return out


def assert_same_checkpoint(path, expected_path):
    """The two checkpoints hold the same arrays (G, D, G_ema and Adam's state), bit for bit,
    and the same step."""
    from tinygan.run import checkpoint as ckpt
    (arrays, meta), (expected, expected_meta) = ckpt.load(str(path)), ckpt.load(
        str(expected_path))
    assert meta["step"] == expected_meta["step"]
    assert arrays.keys() == expected.keys()
    assert any(key.startswith("optG/") for key in arrays)
    for key, value in expected.items():
        np.testing.assert_array_equal(arrays[key], value, err_msg=key)


def random_images(n, h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def real_gpu_available():
    """True where CuPy runs on a real GPU: then the GPU tests use it instead of the stand-in."""
    return backend.resolve_device("auto") == "gpu"


@pytest.fixture
def standin(monkeypatch):
    """tests/cupy_standin.py put in place of CuPy: `--device gpu` runs on it, on any machine.
    Yields the stand-in module; its counters are `module.stats`.

    Each test starts with an empty record of the names the stand-in saw in use, and when it
    ends, every one of them must exist in the real CuPy package: each test checks what it
    used itself, whichever tests ran before it."""
    import cupy_standin
    module = cupy_standin.make_module()
    installed = sys.modules.get("cupy")
    if installed is not None and not isinstance(installed, cupy_standin.StandinModule) \
            and not _installed_cupy:
        _installed_cupy.append(installed)   # for the check at the end, not imported again
    monkeypatch.setitem(sys.modules, "cupy", module)
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_error", None)
    speed.release()
    assert backend.resolve_device("gpu") == "gpu"
    module.stats.reset()
    module.stats.seen.clear()
    yield module
    speed.release()
    backend._cupy, backend._cupy_error = None, None
    with installed_cupy() as cupy:
        missing = missing_in_cupy(cupy, module.stats.seen)
    assert not missing, f"this test used names that CuPy does not have: {missing}"


_installed_cupy = []


@contextlib.contextmanager
def installed_cupy():
    """The installed CuPy package (the dev extra installs it; it imports without a GPU), put
    in sys.modules['cupy'] meanwhile, where the stand-in may be."""
    import cupy_standin
    current = sys.modules.get("cupy")
    if not _installed_cupy:
        if current is not None and not isinstance(current, cupy_standin.StandinModule):
            _installed_cupy.append(current)
        else:
            sys.modules.pop("cupy", None)
            try:
                _installed_cupy.append(importlib.import_module("cupy"))
            finally:
                if current is not None:
                    sys.modules["cupy"] = current
    sys.modules["cupy"] = _installed_cupy[0]
    try:
        yield _installed_cupy[0]
    finally:
        if current is None:
            sys.modules.pop("cupy", None)
        else:
            sys.modules["cupy"] = current


class _EveryName:
    def __contains__(self, name):
        return True


ANY_KEYWORD = _EveryName()   # what a function with **kwargs takes


def keywords_of(func):
    """The names `func` takes as keywords (ANY_KEYWORD with **kwargs), from its signature, or,
    for a compiled function, from the signature Cython puts on its docstring's first line
    ("_ndarray_base.sum(self, axis=None, dtype=None, out=None, keepdims=False) -> ...",
    "exp(x, /, out=None, \\*, casting='same_kind', dtype=None)"); None where neither is
    there. Positional-only parameters cannot be given as keywords, and are left out."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        first = (func.__doc__ or "").strip().split("\n", 1)[0]
        match = re.fullmatch(r"[\w.]+\((.*)\)(\s*->.*)?", first)
        if match is None:
            return None
        text = match.group(1).replace("\\*", "*")   # Cython escapes '*' for reST
        try:
            args = ast.parse(f"def f({text}): pass").body[0].args
        except SyntaxError:
            return None
        if args.kwarg is not None:
            return ANY_KEYWORD
        return {a.arg for a in args.args + args.kwonlyargs}
    if any(p.kind == p.VAR_KEYWORD for p in params):
        return ANY_KEYWORD
    return {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def missing_in_cupy(cupy, seen):
    """The names in `seen` (the stand-in's record) that the real CuPy does not have: functions,
    array methods, and keywords each takes."""
    def lookup(owner, dotted):
        path = owner.__name__
        for part in dotted.split("."):
            path += "." + part
            found = getattr(owner, part, None)
            if found is None and isinstance(owner, types.ModuleType):
                try:   # a submodule that is imported on first use (cupy.lib)
                    found = importlib.import_module(path)
                except ImportError:
                    return None
            owner = found
            if owner is None:
                return None
        return owner

    missing = [f"cupy.{n}" for n in sorted(seen["function"]) if lookup(cupy, n) is None]
    missing += [f"cupy.ndarray.{m}" for m in sorted(seen["method"])
                if not hasattr(cupy.ndarray, m)]
    for kind, name, key in sorted(seen["keyword"]):
        func = lookup(cupy.ndarray if kind == "method" else cupy, name)
        if func is None:
            continue   # already reported above
        keywords = keywords_of(func)
        if keywords is None or key not in keywords:
            missing.append(f"keyword {key}= of {name}")
    return missing


@pytest.fixture
def gpu(request):
    """The GPU array module: real CuPy on a machine with a working GPU, else the stand-in."""
    if real_gpu_available():
        yield backend.get_xp("gpu")
    else:
        yield request.getfixturevalue("standin")


# -- shared by the layer tests ---------------------------------------------------------------
TOL = 1e-6   # the gradient checks' pass threshold (relative error, float64)

CONV_CASES = [  # (k, stride, padding, H, W, batch, bias)
    (3, 1, 0, 5, 5, 1, True),
    (3, 1, 1, 5, 7, 2, True),
    (3, 2, 1, 7, 6, 2, False),
    (4, 2, 1, 8, 8, 2, False),
    (4, 2, 2, 6, 9, 1, True),
    (5, 1, 2, 5, 4, 2, True),
    (5, 2, 0, 9, 11, 3, False),
    (4, 1, 0, 4, 4, 2, True),
]


def randomized(layer, seed=0):
    """The layer with every parameter drawn from N(0, 0.5), in float64."""
    rng = np.random.default_rng(seed)
    for key, value in layer.params.items():
        layer.params[key] = rng.normal(0, 0.5, value.shape)
    return layer


def assert_grads_ok(layer, x, train=True):
    from tinygan.nn.gradcheck import check_layer
    errors = check_layer(layer, x, train)
    assert set(errors) == {"x", *layer.params}
    for name, err in errors.items():
        assert err < TOL, f"{name}: relative error {err:.2e}"
