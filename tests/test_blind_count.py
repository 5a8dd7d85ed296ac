"""scripts/research/blind_count.py: the shuffled grids are the faces their key names, and the tally
counts the marks."""

import json
import runpy
from pathlib import Path

import numpy as np
from conftest import invoke
from PIL import Image

SCRIPT = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "research" / "blind_count.py"))


def test_each_grid_shows_the_faces_its_key_names(tiny_run, tmp_path):
    SCRIPT["make_grids"](str(tmp_path / "blind"), [str(tiny_run)], [None, 1.0], [1, 2],
                         shuffle_seed=3)
    key = json.loads((tmp_path / "blind-key.json").read_text())
    assert sorted(p.name for p in (tmp_path / "blind").iterdir()) == sorted(key)
    assert len(key) == 4 and {c["seed"] for c in key.values()} == {1, 2}
    for name, condition in key.items():
        extra = ["--truncation", condition["truncation"]] if condition["truncation"] else []
        r = invoke("sample", "--checkpoint", tiny_run, "--seed", condition["seed"], "--out",
                   tmp_path / "one.png", *extra)
        assert r.exit_code == 0, r.output
        expected = np.asarray(Image.open(tmp_path / "one.png"))
        shown = np.asarray(Image.open(tmp_path / "blind" / name))
        np.testing.assert_array_equal(shown[::2, ::2], expected)   # at twice the size


def test_tally_counts_marks_per_model_and_truncation(tmp_path, capsys):
    key = {"grid_00.png": dict(model="anime", truncation=None, seed=1),
           "grid_01.png": dict(model="anime", truncation=None, seed=2),
           "grid_02.png": dict(model="anime", truncation=1.0, seed=1)}
    marks = {"grid_00.png": [[1, 1], [2, 3]], "grid_01.png": [[8, 8]],
             "grid_02.png": [[r, 1] for r in range(1, 9)]}
    SCRIPT["tally"](dict(key=key, raters={"A": marks}))
    lines = capsys.readouterr().out.splitlines()
    assert any("none" in line and "3 / 128" in line for line in lines)
    assert any("1.0" in line and "8 / 64" in line and "12 %" in line for line in lines)


def marked(indices):
    return [[i // 8 + 1, i % 8 + 1] for i in indices]


def test_discriminator_measure_reads_one_when_d_ranks_the_marked_faces_last(tiny_run, capsys):
    from tinygan.draw.generate import find_checkpoint, latent, load_generator
    G, D, meta = load_generator(find_checkpoint(str(tiny_run)), with_discriminator=True)
    z = latent(1, 64, meta["config"]["nz"])
    order = np.argsort(D.forward(G.forward(z, train=False), train=True).ravel())
    spots = {"lowest": order[:16], "highest": order[-16:]}
    key = {"grid_00.png": dict(model=str(tiny_run), truncation=None, seed=1)}
    raters = {name: {"grid_00.png": marked(picked)} for name, picked in spots.items()}
    SCRIPT["rank"]([dict(key=key, raters=raters)], str(tiny_run), None)
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("lowest") and "P(unmarked outscores marked) 1.000" in line
               for line in lines)
    assert any(line.startswith("highest") and "P(unmarked outscores marked) 0.000" in line
               for line in lines)


def test_sharpness_measure_pools_raters_of_two_rounds_who_saw_the_same_faces(tiny_run, capsys):
    from tinygan.draw.generate import find_checkpoint, generate, latent, load_generator
    from tinygan.metrics.sharpness import sharpness
    G, _, meta = load_generator(find_checkpoint(str(tiny_run)))
    order = np.argsort(sharpness(generate(G, latent(2, 64, meta["config"]["nz"]))))
    rounds = []
    for rater, picked in (("A", order[:16]), ("B", order[:8])):   # B marks half of A's
        key = {"grid_03.png": dict(model=str(tiny_run), truncation=None, seed=2)}
        rounds.append(dict(key=key, raters={rater: {"grid_03.png": marked(picked)}}))
    SCRIPT["rank"](rounds, str(tiny_run), None, by="sharpness")
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("A ") and "marked  16 of 64" in line and "1.000" in line
               for line in lines)
    # with two raters, half or more is either: A's 16 faces, the least sharp ones
    assert any(line.startswith("half+") and "marked  16 of 64" in line and "1.000" in line
               and "top quarter 0 %" in line for line in lines)


def test_a_picture_drawn_elsewhere_is_re_laid_face_for_face(tmp_path):
    faces = np.random.default_rng(0).integers(0, 256, (64, 12, 12, 3), dtype=np.uint8)
    picture = np.zeros((8 * 14 + 2, 8 * 14 + 2, 3), np.uint8)   # torchvision's layout: black gaps
    for i, face in enumerate(faces):
        r, c = divmod(i, 8)
        picture[2 + 14 * r:14 + 14 * r, 2 + 14 * c:14 + 14 * c] = face
    Image.fromarray(picture).save(tmp_path / "other.png")
    SCRIPT["make_grids"](str(tmp_path / "blind"), [], [None], [1], shuffle_seed=0,
                         pictures=[str(tmp_path / "other.png")])
    key = json.loads((tmp_path / "blind-key.json").read_text())
    assert key == {"grid_00.png": dict(model="other.png", truncation=None, seed=None)}
    shown = np.asarray(Image.open(tmp_path / "blind" / "grid_00.png"))[::2, ::2]
    np.testing.assert_array_equal(SCRIPT["faces_of_picture"](tmp_path / "other.png"), faces)
    for i, face in enumerate(faces):                # tinygan's layout: white gaps of 2 px
        r, c = divmod(i, 8)
        np.testing.assert_array_equal(shown[2 + 14 * r:14 + 14 * r, 2 + 14 * c:14 + 14 * c], face)
    assert (shown[:2] == 255).all()
