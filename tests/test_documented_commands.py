"""Every command the README and docs show still works: each tinygan command line parses (its
command and every option exist), the cheap ones run for real on a tiny run, and every script
they name exists and knows the options it is shown with."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import TINY, invoke

from tinygan.cli import main

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# what the pages call a run of the reader's own, here all one tiny run
RUN_NAMES = re.compile(r"runs/(NAME|faces-\.\.\.|faces-\d{8}-\d{6}|faces)(?=[/\s]|$)")
# commands fast enough to run for real (training, scoring 2,048 faces and the like only parse)
CHEAP = {"sample", "runs", "info", "plot", "export", "interpolate", "gradcheck"}


def documented_commands():
    """(page, command line) of every tinygan, mpiexec ... tinygan and python scripts/... line
    in a shell block, continuation lines joined and comments dropped."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for block in re.findall(r"```(?:bash|sh|console)?\n(.*?)```", text, re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split(" #")[0].strip()
                if re.match(r"(mpiexec\s.*?)?tinygan\s|python scripts/", line):
                    found.append((page.name, line))
    return found


COMMANDS = documented_commands()
TINYGAN = [(page, line) for page, line in COMMANDS if "tinygan " in line
           and not line.startswith("python ")]
SCRIPTS = [(page, line) for page, line in COMMANDS if line.startswith("python scripts/")]


def tinygan_args(line):
    """The arguments after `tinygan`, with shell variables of loops given a value."""
    line = re.sub(r"\$\{?n\}?", "1000", line)
    words = shlex.split(line)
    return words[words.index("tinygan") + 1:]


def test_the_pages_show_commands():
    assert len(TINYGAN) > 30 and len(SCRIPTS) > 5 and len(RUNNABLE) > 10
    readme = [line for page, line in TINYGAN if page == "README.md"]
    assert any(line.startswith("tinygan train --data demo") for line in readme)


@pytest.mark.parametrize("page,line", TINYGAN, ids=[f"{p}: {c}" for p, c in TINYGAN])
def test_every_tinygan_command_parses(page, line):
    """--help is eager: after the command line parses (no unknown command or option, every
    option given its value), it prints the help and stops before any work."""
    result = CliRunner().invoke(main, tinygan_args(line) + ["--help"])
    assert result.exit_code == 0, f"{page}: {line}\n{result.output}"
    assert "Usage:" in result.output


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder holding runs/tiny, a 6-step run, for the commands that name a run."""
    folder = tmp_path_factory.mktemp("reader")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        result = invoke("train", "--data", "demo", "--steps", 6, "--out", "runs/tiny",
                        "--ckpt-every", 3, *TINY)
        assert result.exit_code == 0, result.output
    finally:
        os.chdir(cwd)
    return folder


def runnable(line):
    """The arguments of a cheap command whose only input file is the reader's own run (so
    runs/tiny can stand in for it), else None."""
    if line.startswith("mpiexec") or tinygan_args(line)[0] not in CHEAP:
        return None
    if "--layer" in line:   # grades a file the reader has written (tests/test_grading.py)
        return None
    args = [RUN_NAMES.sub("runs/tiny", a) for a in tinygan_args(line)]
    outputs = {args[i + 1] for i, a in enumerate(args[:-1]) if a in ("--out", "--separate")}
    inputs = [a for a in args if (a.startswith("runs/") or a.endswith(".npz"))
              and a not in outputs]
    return args if all(a == "runs/tiny" for a in inputs) else None


RUNNABLE = [(page, line) for page, line in TINYGAN if runnable(line)]


@pytest.mark.parametrize("page,line", RUNNABLE, ids=[f"{p}: {c}" for p, c in RUNNABLE])
def test_cheap_commands_run(page, line, workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    args = runnable(line)
    outputs = {args[i + 1] for i, a in enumerate(args[:-1]) if a in ("--out", "--separate")}
    for out in outputs:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, f"{page}: {line}\n{result.output}"


@pytest.mark.parametrize("page,line", SCRIPTS, ids=[f"{p}: {c}" for p, c in SCRIPTS])
def test_every_script_exists_and_knows_its_options(page, line):
    words = shlex.split(line)
    script = ROOT / words[1]
    assert script.is_file(), f"{page}: {words[1]} does not exist"
    words = words[:words.index("|")] if "|" in words else words
    def help_of(*sub):
        done = subprocess.run([sys.executable, str(script), *sub, "--help"], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout
    helptext = help_of()
    commands = re.search(r"\{([\w,]+)\}", helptext.split("\n\n")[0])   # argparse subcommands
    if commands and len(words) > 2 and words[2] in commands.group(1).split(","):
        helptext = help_of(words[2])
    for option in (w.split("=")[0] for w in words[2:] if w.startswith("--")):
        assert option in helptext, f"{page}: {words[1]} has no {option}"
