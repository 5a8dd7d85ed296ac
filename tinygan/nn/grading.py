"""Grading a layer a student wrote (`tinygan gradcheck --layer FILE.py:CLASS`): the gradient
checker of gradcheck.py run on any class with `forward(x, train)`, `backward(dy)` and, where
it has weights, `params` and `grads` dicts; told which project layer it should match
(`--like Conv2d`), it is built with that layer's arguments, given the same weights, and its
forward pass is compared with the project layer's too.

A backward pass can be exact for a forward pass that is wrong (any differentiable function
has a gradient), so without --like only the gradients are graded. Everything runs in
float64, where a right backward scores well under the pass mark of 1e-6 (the project's own
layers 1e-7 at worst, most 1e-9 or less) and a wrong one usually 1e-3 or worse.
The exercises in docs/exercises/ are graded this way; their solutions are the project's own
layers (tinygan/nn/layers/).
"""

import importlib.util
import os
import sys

import numpy as np

from .gradcheck import numerical_gradient, rel_error
from .layers import BatchNorm2d, Conv2d, ConvTranspose2d, LeakyReLU, Linear, ReLU, Sigmoid, Tanh
from .layers.base import Layer
from .losses import bce_with_logits


class GradingError(ValueError):
    """The class cannot be graded (no such file or class, a wrong interface); one line."""


class BCEWithLogits(Layer):
    """bce_with_logits (losses.py) as a layer, for grading a student's: the mean loss over
    the logits `x` against fixed `targets` is the output, a 0-d array; backward(dy) = dy dL/dx."""

    def __init__(self, targets):
        super().__init__()
        self.targets = np.asarray(targets, dtype=np.float64)

    def forward(self, x, train=True):
        self.loss, self.grad = bce_with_logits(x, self.targets)
        return self.loss

    def backward(self, dy):
        return dy * self.grad


TARGETS = np.array([[1.0], [0.0], [0.9], [0.0], [1.0], [0.3]])
# logits a confident discriminator gives: the naive form of BCE is inf or NaN on the outer ones
LOGITS = np.array([[-800.0], [-40.0], [-1.5], [0.3], [40.0], [800.0]])
# the project's layers a class can be graded against: constructor arguments, input shape
# (or the input itself), and whether forward runs in training mode
REFERENCES = {
    "ReLU": (ReLU, (), (2, 3, 3, 2), True),
    "LeakyReLU": (LeakyReLU, (0.2,), (2, 3, 3, 2), True),
    "Sigmoid": (Sigmoid, (), (2, 3, 3, 2), True),
    "Tanh": (Tanh, (), (2, 3, 3, 2), True),
    "Linear": (Linear, (6, 4), (3, 6), True),
    "Conv2d": (Conv2d, (3, 4, 3, 1, 1), (2, 5, 6, 3), True),
    "ConvTranspose2d": (ConvTranspose2d, (4, 3, 4, 2, 1), (2, 3, 4, 4), True),
    "BatchNorm2d": (BatchNorm2d, (3,), (4, 3, 2, 3), True),
    "BCEWithLogits": (BCEWithLogits, (TARGETS,), LOGITS, True),
}
DEFAULT_SHAPE = (2, 4, 4, 3)


def load_class(spec):
    """The class that 'FILE.py:CLASS' names, imported from that file."""
    path, _, name = spec.rpartition(":")
    if not path or not name:
        raise GradingError(f"--layer {spec!r}: give FILE.py:CLASS, e.g. my_conv.py:Conv2d")
    if not os.path.isfile(path):
        raise GradingError(f"{path}: no such file")
    if not path.endswith(".py"):
        raise GradingError(f"{path}: not a Python file (.py)")
    module_name = f"graded_{abs(hash(os.path.abspath(path)))}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module   # dataclasses and the like look themselves up here
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        line = _line_in(exc, path)
        raise GradingError(f"{path}{line}: does not import ({exc.__class__.__name__}: "
                           f"{' '.join(str(exc).split())})") from None
    cls = getattr(module, name, None)
    if not isinstance(cls, type):
        defined = sorted(k for k, v in vars(module).items() if isinstance(v, type)
                         and v.__module__ == module_name)
        raise GradingError(f"{path} has no class {name} (it defines: "
                           f"{', '.join(defined) or 'no class'})")
    for method in ("forward", "backward"):
        if not callable(getattr(cls, method, None)):
            raise GradingError(f"{name} has no {method}() method: a layer needs "
                               "forward(x, train) and backward(dy)")
    return cls


def _line_in(exc, path):
    """':LINE' of the student's file where an import failed, if the traceback shows it."""
    if isinstance(exc, SyntaxError) and exc.lineno:
        return f":{exc.lineno}"
    tb, line = exc.__traceback__, ""
    while tb is not None:
        if os.path.abspath(tb.tb_frame.f_code.co_filename) == os.path.abspath(path):
            line = f":{tb.tb_lineno}"
        tb = tb.tb_next
    return line


def build(cls, like=None, seed=0):
    """(student layer, project layer or None, input x, train) for grading, in float64; with
    `like`, the student's layer gets the project layer's arguments and weights."""
    rng = np.random.default_rng(seed)
    if like is None:
        layer = _construct(cls, ())
        return layer, None, rng.standard_normal(DEFAULT_SHAPE), True
    project_class, args, shape, train = REFERENCES[like]
    layer, reference = _construct(cls, args), project_class(*args)
    for key, value in reference.params.items():
        reference.params[key] = rng.normal(0, 0.5, value.shape) + (key == "gamma")
    theirs = {k: v.shape for k, v in reference.params.items()}
    mine = {k: np.shape(v) for k, v in getattr(layer, "params", {}).items()}
    if mine != theirs:
        raise GradingError(f"{cls.__name__}.params should hold {_shapes(theirs)} like "
                           f"{like}{args}, not {_shapes(mine)}")
    for key, value in reference.params.items():
        layer.params[key] = value.copy()
    x = shape.copy() if isinstance(shape, np.ndarray) else rng.standard_normal(shape)
    return layer, reference, x, train


def _construct(cls, args):
    try:
        return cls(*args)
    except Exception as exc:
        shown = ", ".join("targets" if isinstance(a, np.ndarray) else repr(a) for a in args)
        raise GradingError(f"{cls.__name__}({shown}) could not be built "
                           f"({exc.__class__.__name__}: {exc})") from None


def _shapes(shapes):
    return ", ".join(f"{k} {tuple(v)}" for k, v in shapes.items()) or "nothing"


def grade(layer, reference, x, train, seed=0):
    """[(what, relative error)]: the forward pass against the reference's (when there is
    one), then dL/dx and dL/d(each parameter) against finite differences, for
    L = sum(forward(x) * dy) with a fixed random dy."""
    results = []
    params = getattr(layer, "params", {}) or {}
    for key in params:
        params[key] = np.asarray(params[key], dtype=np.float64)
    y = np.asarray(_call(layer.forward, "forward", x.copy(), train), dtype=np.float64)
    if reference is not None:
        expected = reference.forward(x.copy(), train)
        if np.shape(y) != np.shape(expected):
            raise GradingError(f"forward returned shape {np.shape(y)}, the project layer "
                               f"{np.shape(expected)}")
        results.append(("forward", rel_error(y, expected)))
    dy = np.random.default_rng(seed).standard_normal(np.shape(y))

    def loss():
        return float(np.sum(np.asarray(layer.forward(x.copy(), train)) * dy))

    _call(layer.forward, "forward", x.copy(), train)
    dx = _call(layer.backward, "backward", dy)
    if np.shape(dx) != x.shape:
        raise GradingError(f"backward returned dx of shape {np.shape(dx)}, not the input's "
                           f"{x.shape}")
    grads = getattr(layer, "grads", {}) or {}
    missing = [key for key in params if key not in grads]
    if missing:
        raise GradingError(f"backward left no grads[{missing[0]!r}]: it must write a gradient "
                           "for every entry of params")
    analytic = {key: np.array(grads[key], dtype=np.float64) for key in params}
    results.append(("dx", rel_error(dx, numerical_gradient(loss, x))))
    for key, param in params.items():
        results.append((f"d{key}", rel_error(analytic[key], numerical_gradient(loss, param))))
    return results


def _call(method, name, *args):
    """method(*args); a failure inside the student's code is one line naming where."""
    try:
        return method(*args)
    except NotImplementedError:
        raise GradingError(f"{name}() is not written yet (it raises NotImplementedError)") \
            from None
    except Exception as exc:
        where = _line_in(exc, method.__code__.co_filename)
        raise GradingError(f"{name}() failed{' at line ' + where[1:] if where else ''} "
                           f"({exc.__class__.__name__}: {' '.join(str(exc).split())})") from None
