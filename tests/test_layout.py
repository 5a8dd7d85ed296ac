"""The package's shape: folders by role with dependencies running one way, no import cycles,
no import-time side effects, and files written before the folders existed still load."""

import ast
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import tinygan

PACKAGE = os.path.dirname(tinygan.__file__)
BEFORE = os.path.join(os.path.dirname(__file__), "data", "before-layout")

# a folder may import from its own rank and below, never above
RANKS = {"nn": 0, "data": 0, "fast": 1, "metrics": 1, "gan": 2, "run": 3, "draw": 4, "cli": 5,
         "serve": 5}
TOP = 6   # tinygan/__init__.py and __main__.py


def modules():
    """{dotted name: path} of every module of the package."""
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path[:-3], os.path.dirname(PACKAGE)).replace(os.sep, ".")
                found[dotted.removesuffix(".__init__")] = path
    return found


MODULES = modules()


def imports_of(name, path, top_level_only=False):
    """The package modules `name` imports (resolved to dotted names)."""
    tree = ast.parse(open(path).read())
    package = name if path.endswith("__init__.py") else name.rsplit(".", 1)[0]
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in MODULES else base)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in MODULES and m != name}


def rank(name):
    parts = name.split(".")
    return RANKS[parts[1]] if len(parts) > 1 and parts[1] in RANKS else TOP


def test_dependencies_run_one_way_between_folders():
    upward = [f"{name} imports {target}" for name, path in MODULES.items()
              for target in imports_of(name, path) if rank(target) > rank(name)]
    assert not upward


def test_no_import_cycles():
    graph = {name: imports_of(name, path, top_level_only=True) for name, path in MODULES.items()}
    graph = {name: {t for t in targets if not name.startswith(t + ".")}   # a package's own
             for name, targets in graph.items()}                        # __init__ is no cycle
    state = {}

    def visit(node, trail):
        state[node] = "open"
        for target in graph[node]:
            assert state.get(target) != "open", " -> ".join(trail + [target])
            if target not in state:
                visit(target, trail + [target])
        state[node] = "done"

    for name in graph:
        if name not in state:
            visit(name, [name])


def test_every_folder_says_what_it_is_and_no_module_is_long():
    for name, path in MODULES.items():
        text = open(path).read()
        if path.endswith("__init__.py"):
            assert ast.get_docstring(ast.parse(text)), f"{name} has no docstring"
        assert text.count("\n") <= 320, f"{path}: {text.count(chr(10))} lines"


def test_importing_tinygan_leaves_the_environment_alone():
    """Every module imported, the command's module too: os.environ is as it was. The command
    itself sets what must precede NumPy (tests/test_fast.py checks that it does)."""
    code = ("import importlib, os, sys; before = dict(os.environ)\n"
            f"for name in {sorted(MODULES)!r}:\n"
            "    importlib.import_module(name)\n"
            "changed = {k for k in set(before) | set(os.environ) if before.get(k) != "
            "os.environ.get(k)}\n"
            "print(sorted(changed))")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_THREAD_TIMEOUT", "OPENBLAS_NUM_THREADS")}
    env["PMI_SIZE"], env["PMI_RANK"] = "2", "1"   # as under mpiexec, where the command acts
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


# -- files written before the package had folders -------------------------------------------

def _faces_and_logits(path):
    from tinygan.draw.generate import generate, latent, load_generator
    from tinygan.nn.backend import to_host
    G, D, meta = load_generator(path, "cpu", with_discriminator=True)
    z = latent(5, 8, meta["config"]["nz"])
    return generate(G, z), to_host(D.forward(G.forward(z, train=False), train=False)).ravel()


@pytest.mark.parametrize("name,file", [("ckpt", "ckpt_00000003.npz"), ("export", "export.npz")])
def test_a_checkpoint_and_an_export_from_before_draw_the_same_faces(name, file):
    """A training checkpoint and an exported model written by tinygan before its modules moved
    into folders: same faces, same D logits as the code of that time drew (expected.npz)."""
    expected = np.load(os.path.join(BEFORE, "expected.npz"))
    faces, logits = _faces_and_logits(os.path.join(BEFORE, file))
    assert np.abs(faces.astype(int) - expected[f"{name}_faces"]).max() <= 1
    np.testing.assert_allclose(logits, expected[f"{name}_logits"], rtol=1e-4, atol=1e-7)


def test_a_run_from_before_resumes_as_it_would_have(tmp_path):
    """The run folder's checkpoint (step 3) resumed to step 5 ends where the code of that time
    ended the same resume: every array of the new checkpoint (weights, BatchNorm statistics,
    both optimizers' moments) has the sum, sum of squares and largest magnitude it had then."""
    from click.testing import CliRunner

    from tinygan.cli import main
    from tinygan.run import checkpoint as ckpt
    run = tmp_path / "run"
    run.mkdir()
    for file in ("ckpt_00000003.npz", "config.json"):
        shutil.copy(os.path.join(BEFORE, file), run / file)
    result = CliRunner().invoke(main, ["train", "--resume", str(run), "--steps", "5"])
    assert result.exit_code == 0, result.output
    arrays, _ = ckpt.load(str(run / "ckpt_00000005.npz"))
    expected = ckpt.section(np.load(os.path.join(BEFORE, "expected.npz")), "resumed5")
    assert sorted(arrays) == sorted(expected)
    for name, value in arrays.items():
        value = value.astype(np.float64)
        np.testing.assert_allclose([value.sum(), (value * value).sum(), np.abs(value).max()],
                                   expected[name], rtol=1e-5, atol=1e-9, err_msg=name)
