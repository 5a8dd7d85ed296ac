"""`tinygan gradcheck --layer FILE.py:CLASS [--like NAME]`: grading a layer a student wrote,
and the exercises of docs/exercises/ it grades."""

from pathlib import Path

import pytest
from conftest import invoke

EXERCISES = Path(__file__).resolve().parent.parent / "docs" / "exercises"
# exercise file, class, the project layer it should match, the methods the student writes,
# and where the project's own solution lives
CASES = [("leaky_relu.py", "LeakyReLU", "LeakyReLU", ["forward", "backward"],
          "tinygan.nn.layers", "LeakyReLU"),
         ("conv2d_backward.py", "Conv2d", "Conv2d", ["backward", "backward_params"],
          "tinygan.nn.layers", "Conv2d"),
         ("conv_transpose_forward.py", "ConvTranspose2d", "ConvTranspose2d", ["forward"],
          "tinygan.nn.layers", "ConvTranspose2d"),
         ("batchnorm_backward.py", "BatchNorm2d", "BatchNorm2d", ["backward"],
          "tinygan.nn.layers", "BatchNorm2d"),
         ("bce_on_logits.py", "BCEWithLogits", "BCEWithLogits", ["forward", "backward"],
          "tinygan.nn.grading", "BCEWithLogits")]


def grade(path, cls, like=None):
    return invoke("gradcheck", "--layer", f"{path}:{cls}", *(["--like", like] if like else []))


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_an_exercise_as_shipped_says_what_is_left_to_write(case):
    file, cls, like, todo, _, _ = case
    result = grade(EXERCISES / file, cls, like)
    assert result.exit_code == 2
    assert f"{todo[0]}() is not written yet" in result.output.strip().splitlines()[-1]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_an_exercise_filled_in_with_the_solution_passes(case, tmp_path):
    """The stub's given parts and the project's solution for the missing ones: graded, every
    check passes (so the scaffolding is right and the grader accepts a right answer)."""
    file, cls, like, todo, module, solution = case
    filled = tmp_path / "filled.py"
    methods = "\n".join(f"    {m} = Solution.{m}" for m in todo if m != "backward_params")
    extra = "    backward_params = Solution.backward_params\n" if "backward_params" in todo \
        else ""
    filled.write_text(f"import sys\nsys.path.insert(0, {str(EXERCISES)!r})\n"
                      f"from {file[:-3]} import {cls} as Stub\n"
                      f"from {module} import {solution} as Solution\n\n\n"
                      f"class Filled(Stub):\n"
                      f"    requires_grad = train = True   # what the Layer contract adds\n"
                      f"{methods}\n{extra}")
    result = grade(filled, "Filled", like)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.split()[:3] == ["forward", "vs", like] and line.endswith("ok")
               for line in lines)
    assert any(line.split()[:1] == ["dx"] and line.endswith("ok") for line in lines)
    assert lines[-1] == "passed: every check within 1e-06"


@pytest.mark.parametrize("name", ["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Linear", "Conv2d",
                                  "ConvTranspose2d", "BatchNorm2d"])
def test_the_project_layers_pass_their_own_grading(name, tmp_path):
    mine = tmp_path / "mine.py"
    mine.write_text(f"from tinygan.nn.layers import {name} as Mine  # noqa: F401\n")
    result = grade(mine, "Mine", name)
    assert result.exit_code == 0, result.output
    errors = [float(line.split("relative error")[1].split()[0]) for line in
              result.output.splitlines() if "relative error" in line]
    assert errors and max(errors) < 1e-6


BAD_BATCHNORM = '''
from tinygan.nn.layers import BatchNorm2d


class Forgetful(BatchNorm2d):
    """dx without the path through the mean: the term - dbeta is missing."""

    def backward(self, dy):
        dy2 = dy.reshape(-1, dy.shape[-1])
        gamma, xhat = self.params["gamma"], self.xhat
        self.grads["beta"] = dy2.sum(axis=0)
        self.grads["gamma"] = dgamma = (dy2 * xhat).sum(axis=0)
        m = len(dy2)
        return (gamma * self.inv_std / m * (m * dy2 - xhat * dgamma)).reshape(dy.shape)
'''


def test_a_wrong_backward_fails_naming_the_gradient_and_by_how_much(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(BAD_BATCHNORM)
    result = grade(bad, "Forgetful", "BatchNorm2d")
    assert result.exit_code == 1
    rows = {line.split()[0]: line for line in result.output.splitlines() if "relative" in line}
    assert rows["dx"].endswith("FAIL") and rows["dgamma"].endswith("ok")
    error = float(rows["dx"].split("relative error")[1].split()[0])
    assert error > 1e-3
    assert result.output.splitlines()[-1] == (f"FAIL: the gradient dx is wrong (relative error "
                                              f"{error:.1e}, tolerance 1e-06)")


def test_a_wrong_forward_with_a_matching_backward_is_caught_by_like(tmp_path):
    """2x is a function whose backward 2 dy is exact: only --like can tell it is no ReLU."""
    double = tmp_path / "double.py"
    double.write_text("class Double:\n    params, grads = {}, {}\n\n"
                      "    def forward(self, x, train=True):\n        return 2 * x\n\n"
                      "    def backward(self, dy):\n        return 2 * dy\n")
    assert grade(double, "Double").exit_code == 0
    result = grade(double, "Double", "ReLU")
    assert result.exit_code == 1 and "FAIL: the forward pass is wrong" in result.output


@pytest.mark.parametrize("source,spec,message", [
    (None, "{tmp}/missing.py:X", "missing.py: no such file"),
    ("x = 1\n", "{tmp}/mine.txt:X", "not a Python file"),
    ("def broken(:\n", "{tmp}/mine.py:X", "mine.py:1: does not import (SyntaxError"),
    ("import not_a_module_anywhere\n", "{tmp}/mine.py:X",
     "mine.py:1: does not import (ModuleNotFoundError"),
    ("class A:\n    pass\n", "{tmp}/mine.py:B", "has no class B (it defines: A)"),
    ("class A:\n    def forward(self, x, train=True):\n        return x\n", "{tmp}/mine.py:A",
     "A has no backward() method"),
    ("class A:\n    def __init__(self, n):\n        pass\n\n    def forward(self, x):\n"
     "        return x\n\n    def backward(self, dy):\n        return dy\n", "{tmp}/mine.py:A",
     "A() could not be built (TypeError"),
    ("x = 1\n", "{tmp}/mine.py", "give FILE.py:CLASS"),
])
def test_what_cannot_be_graded_is_one_line(tmp_path, source, spec, message):
    if source is not None:
        name = "mine.txt" if ".txt" in spec else "mine.py"
        (tmp_path / name).write_text(source)
    result = invoke("gradcheck", "--layer", spec.format(tmp=tmp_path))
    assert result.exit_code == 2
    assert message in result.output.strip().splitlines()[-1]
    assert "Traceback" not in result.output


def test_params_of_the_wrong_shape_are_named(tmp_path):
    mine = tmp_path / "mine.py"
    mine.write_text("import numpy as np\n\n\nclass Conv:\n"
                    "    def __init__(self, c_in, c_out, k, stride=1, padding=0, bias=True):\n"
                    "        self.params, self.grads = {'W': np.zeros((c_out, c_in, k, k))}, {}\n"
                    "\n    def forward(self, x, train=True):\n        return x\n\n"
                    "    def backward(self, dy):\n        return dy\n")
    result = grade(mine, "Conv", "Conv2d")
    assert result.exit_code == 2
    assert "Conv.params should hold W (3, 3, 3, 4), b (4,) like Conv2d(3, 4, 3, 1, 1), not " \
           "W (4, 3, 3, 3)" in result.output


@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # the naive form's overflow, on purpose
def test_a_naive_bce_fails_on_the_logits_of_a_confident_discriminator(tmp_path):
    """The exercise asks for BCE stable for any logit: the textbook formula through sigmoid
    and log passes on small logits and is inf or NaN at +-800, where grading looks too."""
    naive = tmp_path / "naive.py"
    naive.write_text("import numpy as np\n\n\nclass Naive:\n"
                     "    def __init__(self, targets):\n"
                     "        self.t, self.params, self.grads = np.asarray(targets), {}, {}\n\n"
                     "    def forward(self, z, train=True):\n"
                     "        self.s, self.n = 1 / (1 + np.exp(-z)), z.size\n"
                     "        return np.mean(-self.t * np.log(self.s)"
                     " - (1 - self.t) * np.log(1 - self.s))\n\n"
                     "    def backward(self, dy):\n"
                     "        return dy * (self.s - self.t) / self.n\n")
    result = grade(naive, "Naive", "BCEWithLogits")
    assert result.exit_code == 1
    assert "FAIL: the forward pass is wrong (relative error nan" in result.output
