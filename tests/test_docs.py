"""The walk-through in docs/ is executed: every `>>>` example in docs/*.md runs as a doctest, so
a page whose numbers no longer match the code fails the suite."""

import doctest
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("[0-9][0-9]-*.md"))
FENCE = re.compile(r"^[ \t]*```.*$", re.MULTILINE)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def page_doctest(path):
    """The page's examples as one doctest. A code fence's closing line becomes a blank line,
    so an expected output ends at its fence (and line numbers in reports stay right)."""
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return doctest.DocTestParser().get_doctest(text, {"__name__": path.stem}, path.name,
                                               str(path), 0)


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_page_examples(page):
    test = page_doctest(page)
    assert test.examples, f"{page.name} has no executed examples"
    report = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    with np.printoptions():   # a page may set print options; they are restored afterwards
        result = runner.run(test, out=report.append, clear_globs=True)
    assert result.failed == 0, "".join(report)


def test_index_lists_every_page_and_every_picture_exists():
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    for page in PAGES:
        assert f"({page.name})" in index, f"docs/README.md does not link {page.name}"
    for page in PAGES:
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text(encoding="utf-8")):
            assert (DOCS / target).is_file(), f"{page.name}: missing picture {target}"


def test_a_wrong_number_fails():
    """The runner really compares: a page with one wrong output is reported as failing."""
    text = "```python\n>>> 1 + 1\n3\n```\n"
    test = doctest.DocTestParser().get_doctest(FENCE.sub("", text), {}, "bad", "bad.md", 0)
    result = doctest.DocTestRunner(optionflags=FLAGS).run(test, out=lambda s: None)
    assert result.failed == 1


def test_committed_figures_are_what_the_figure_script_draws(tmp_path):
    """scripts/figures/make_figures.py draws every picture in docs/figures from the current
    code, and the committed PNGs are those pictures, pixel for pixel.

    The pixels are compared decoded (the PNG bytes may change with the zlib that wrote them),
    and exactly: every number in them is an integer the code computes, and Pillow draws the
    same pixels for the same drawing calls. A tolerance loose enough to let Pillow draw its
    letters differently would also let a changed digit through (some 100 pixels of 250,000);
    if a Pillow release does draw its letters differently, this fails, and the figures are
    redrawn with the script."""
    import runpy

    from PIL import Image
    script = runpy.run_path(str(ROOT / "scripts" / "figures" / "make_figures.py"))
    assert Path(script["OUT"]) == DOCS / "figures"   # where the script writes by default
    written = [Path(p) for p in script["make_all"](tmp_path)]
    committed = sorted((DOCS / "figures").glob("*.png"))
    assert sorted(p.name for p in written) == [p.name for p in committed]
    for path in written:
        drawn = np.asarray(Image.open(path).convert("RGB"))
        kept = np.asarray(Image.open(DOCS / "figures" / path.name).convert("RGB"))
        assert drawn.shape == kept.shape, path.name
        differ = int((drawn != kept).any(axis=-1).sum())
        assert differ == 0, (f"docs/figures/{path.name} is stale: {differ} pixels differ from "
                             "what `python scripts/figures/make_figures.py` draws now")


LINKED_PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md")),
                *sorted((ROOT / "tinygan" / "pretrained").glob("*.md"))]


@pytest.mark.parametrize("page", LINKED_PAGES, ids=[p.name for p in LINKED_PAGES])
def test_every_relative_link_resolves(page):
    """Every link to a file of the repository (not to a web address) points at one that exists."""
    text = page.read_text(encoding="utf-8")
    missing = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        if not (page.parent / target.split("#")[0]).exists():
            missing.append(target)
    assert not missing, f"{page.name}: {missing}"


def test_the_link_check_sees_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("[a](missing.py) [b](https://example.org/x) [c](page.md#top)\n")
    with pytest.raises(AssertionError, match="missing.py"):
        test_every_relative_link_resolves(page)
