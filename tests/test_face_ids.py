"""Face ids: every face has one that draws it again (sample --id), with the model that drew it
only; --separate names files by them, --best and --sharpest keep them, --like and interpolate
take them; --scale enlarges with Lanczos or nearest; the same id draws the same face on a GPU."""

import numpy as np
import pytest
from conftest import invoke
from PIL import Image

from tinygan.data.images import scale_up
from tinygan.draw import ids
from tinygan.draw.avatars import blend_ids, draw, grid_ids, like_ids, load_model
from tinygan.draw.generate import generate, latent, shipped_model, slerp


@pytest.fixture(scope="module")
def anime():
    return load_model(shipped_model("anime"))


def picture(path):
    return np.asarray(Image.open(path).convert("RGB"))


def assert_same_face(a, b):
    """The same face: drawn in batches of different sizes, float round-off may move a few
    pixels by one grey level (3 of 786,432 for 64 shipped anime faces), never more."""
    diff = np.abs(a.astype(int) - b)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3


# -- the ids themselves ----------------------------------------------------------------------

def test_an_id_reads_back_as_itself_and_names_its_noise(anime):
    tag = anime.tag
    assert ids.TAG.fullmatch(tag) and tag.startswith("anime-")
    texts = [f"{tag}-7-12", f"{tag}-7-12t70n64", f"{tag}-7-12.v3s40", f"{tag}-7-12.9-3.m25",
             f"{tag}-0-0.v1s5.2-1.v0s100.m50"]
    parsed = [ids.parse(t) for t in texts]
    assert [str(p) for p in parsed] == texts
    z = ids.noise(parsed, 100)
    np.testing.assert_array_equal(z[0], latent(7, 13, 100)[12])
    np.testing.assert_array_equal(z[1], latent(7, 64, 100, 0.7)[12])
    a, b = latent(7, 13, 100)[12].astype(np.float64), latent(9, 4, 100)[3].astype(np.float64)
    np.testing.assert_allclose(z[3], slerp(a, b, 0.25), rtol=1e-6)
    e = ids.variation_noise("7-12", 3, 100)
    np.testing.assert_allclose(z[2], (a + 0.4 * e) / np.sqrt(1.16), rtol=1e-6)
    assert not np.allclose(e, ids.variation_noise("7-12", 4, 100))   # k matters
    assert not np.allclose(e, ids.variation_noise("7-11", 3, 100))   # so does the face


def test_the_cost_of_drawing_ids_is_known_before_drawing():
    faces = [ids.parse(t) for t in ("anime-3f2a-1-9", "anime-3f2a-1-3.2-4.m50",
                                    "anime-3f2a-1-0t50n64")]
    assert ids.noise_draws(faces[:2]) == 10 + 5   # seed 1 up to face 9, seed 2 up to face 4
    assert ids.noise_draws(faces[2:]) == pytest.approx(64 / 0.3829, rel=1e-3)   # P(|z| < .5)


@pytest.mark.parametrize("text,says", [
    ("anime-7-12", "not a face id"), ("cat-3f2a-7-12", "not a face id"),
    ("anime-3f2a-07-12", "'07-12' is not a step"), ("anime-3f2a-7-12.v3", "'v3' is not a step"),
    ("anime-3f2a-7-12.m50", "fewer come before it"), ("anime-3f2a-7-12.8-1", "leave 2 faces"),
    ("anime-3f2a-7-65536", "out of range"), ("anime-3f2a-7-64t70n64", "out of range"),
    ("anime-3f2a-7-1.v1s401", "out of range"), ("anime-3f2a-7-1.8-1.m101", "at most 100"),
    ("anime-3f2a-7-1" + ".v0s1" * 16, "at most 16 steps"), ("anime-3f2a-" + "1" * 200, "200"),
    ("anime-3f2a-1-1/../x", "not a step"), ("anime-3f2a-1-1 ", "not a step")])
def test_a_malformed_id_is_refused_with_what_is_wrong(text, says):
    with pytest.raises(ids.IdError, match=None) as refused:
        ids.parse(text)
    assert says in str(refused.value) and "\n" not in str(refused.value)


def test_the_tag_is_the_models_fingerprint(anime, tiny_run):
    assert anime.tag == load_model(shipped_model("anime")).tag        # stable
    human = load_model(shipped_model("human"))
    assert human.tag.startswith("human-") and human.tag[6:] != anime.tag[6:]
    mine = load_model(str(sorted(tiny_run.glob("ckpt_*.npz"))[-1]))
    assert ids.TAG.fullmatch(mine.tag) and mine.tag.startswith("ckpt-")
    state = {key: value.copy() for key, value in anime.G.state_dict().items()}
    name = sorted(state)[0]
    anime.G.load_state_dict({**state, name: state[name] + 1e-3})      # one weight changed
    try:
        assert ids.fingerprint(anime.G)[:4] != anime.tag[6:]
    finally:
        anime.G.load_state_dict(state)
    with pytest.raises(ids.IdError, match="is a face of model"):
        draw(mine, [ids.parse(f"{anime.tag}-1-1")])


def test_grids_variations_and_blends_are_faces_of_their_ids(anime):
    grid = grid_ids(anime.tag, 3, 6)
    assert [str(f) for f in grid] == [f"{anime.tag}-3-{i}" for i in range(6)]
    np.testing.assert_array_equal(draw(anime, grid), generate(anime.G, latent(3, 6, 100)))
    like = like_ids(grid[2], 4, start=4, spread=0.3)
    assert [f.steps[-1] for f in like] == ["v4s30", "v5s30", "v6s30", "v7s30"]
    faces = draw(anime, [grid[2]] + like).astype(int)
    near = np.abs(faces[1:] - faces[0]).mean()
    far = np.abs(draw(anime, grid).astype(int)[:, None] - draw(anime, grid)[None]).mean()
    assert near < 0.7 * far   # variations stay nearer their face than other faces are
    strip = blend_ids(grid[0], grid[1], 3)
    assert [str(f) for f in strip][1:-1] == [f"{grid[0]}.3-1.m{p}" for p in (25, 50, 75)]
    assert strip[0] == grid[0] and strip[-1] == grid[1]


# -- the commands ----------------------------------------------------------------------------

def test_separate_writes_ids_that_sample_id_draws_again(anime, tmp_path):
    r = invoke("sample", "-n", 8, "--seed", 4, "--model", "anime", "--separate",
               tmp_path / "dir", "--out", tmp_path / "g.png", "--device", "cpu")
    assert r.exit_code == 0, r.output
    names = sorted(p.stem for p in (tmp_path / "dir").glob("*.png"))
    assert names == sorted(f"{anime.tag}-4-{i}" for i in range(8))
    assert "named by id" in r.output and f"ids: {anime.tag}-4-0" in r.output
    one = f"{anime.tag}-4-6"
    r = invoke("sample", "--id", one, "--out", tmp_path / "one.png", "--separate",
               tmp_path / "again", "--device", "cpu")   # the id picks its model
    assert r.exit_code == 0, r.output
    again = picture(tmp_path / "again" / f"{one}.png")
    assert_same_face(again, picture(tmp_path / "dir" / f"{one}.png"))   # a batch of 8 and 1
    np.testing.assert_array_equal(picture(tmp_path / "one.png")[2:66, 2:66], again)


def test_sharpest_and_best_faces_keep_their_own_ids(anime, tmp_path):
    for flag in ("--sharpest", "--best"):
        out = tmp_path / flag.strip("-")
        r = invoke("sample", flag, 4, "--model", "anime", "--seed", 2, "--separate", out,
                   "--out", tmp_path / "g.png", "--device", "cpu")
        assert r.exit_code == 0, r.output
        kept = sorted(out.glob("*.png"))
        assert len(kept) == 4
        assert any(not p.stem.endswith(("-2-0", "-2-1", "-2-2", "-2-3")) for p in kept)
        for path in kept:   # each file is the face its id draws
            assert_same_face(picture(path), draw(anime, [ids.parse(path.stem)])[0])


def test_like_labels_and_scale(anime, tmp_path):
    base = f"{anime.tag}-1-2"
    r = invoke("sample", "--like", base, "-n", 3, "--seed", 1, "--spread", 0.25, "--labels",
               "--scale", 2, "--out", tmp_path / "like.png", "--separate", tmp_path / "like",
               "--device", "cpu")
    assert r.exit_code == 0, r.output
    names = sorted(p.stem for p in (tmp_path / "like").glob("*.png"))
    assert names == [f"{base}.v{k}s25" for k in (3, 4, 5)]   # seed 1: variations 3 to 5
    face = picture(tmp_path / "like" / f"{base}.v4s25.png")
    assert face.shape == (128, 128, 3)
    expected = draw(anime, [ids.parse(name) for name in names])[1]   # drawn as a batch of 3
    np.testing.assert_array_equal(face, scale_up(expected, 2))
    grid = picture(tmp_path / "like.png")
    assert grid.shape[1] == 2 * 130 + 2 and grid.shape[0] >= 2 * (130 + 8) + 2   # 2 x 2
    assert (grid[132:140, 2:130] < 100).any()   # the label under the first face is written
    r = invoke("sample", "--id", base, "--scale", 4, "--resample", "nearest", "--out",
               tmp_path / "big.png", "--separate", tmp_path / "big", "--device", "cpu")
    big = picture(tmp_path / "big" / f"{base}.png").astype(int)
    blocks = big.reshape(64, 4, 64, 4, 3)
    assert np.all(blocks == blocks[:, :1, :, :1])   # nearest: 4 x 4 blocks
    smooth = scale_up(draw(anime, [ids.parse(base)])[0], 4).astype(int)
    assert not np.all(smooth.reshape(64, 4, 64, 4, 3) == smooth.reshape(64, 4, 64, 4, 3)[
        :, :1, :, :1])   # Lanczos: no blocks
    assert abs(smooth.mean() - big.mean()) < 2


def test_interpolate_walks_between_two_ids_or_two_seeds(anime, tmp_path):
    a, b = f"{anime.tag}-1-5", f"{anime.tag}-2-0.v1s50"
    r = invoke("interpolate", a, b, "--frames", 3, "--out", tmp_path / "w.gif",
               "--device", "cpu")
    assert r.exit_code == 0 and f"from {a} to {b}, 1 back)" in r.output, r.output
    gif = Image.open(tmp_path / "w.gif")
    assert gif.n_frames == 4 and gif.size == (128, 128)
    gif.seek(0)
    first = np.asarray(gif.convert("RGB")).astype(int)
    expected = scale_up(draw(anime, [ids.parse(a)])[0], 2).astype(int)
    assert np.abs(first - expected).mean() < 4   # the GIF's palette rounds colours
    r = invoke("interpolate", 3, 4, "--frames", 2, "--model", "anime", "--out",
               tmp_path / "s.gif", "--device", "cpu")
    assert r.exit_code == 0 and "from seed 3 to 4" in r.output, r.output


@pytest.mark.parametrize("args,says", [
    (["--id", "human-0000-1-1"], "another version"),
    (["--id", "ANIME-1-1"], "not a face id"),
    (["--id", "{anime}-1-1", "--model", "human"], "--model anime draws it"),
    (["--id", "{anime}-1-1", "--id", "{human}-1-1"], "different models"),
    (["--id", "{anime}-1-1", "-n", "4"], "-n cannot change them"),
    (["--id", "{anime}-1-1", "--sharpest", "2"], "--sharpest"),
    (["--like", "{anime}-1-1", "--truncation", "0.5"], "--like varies"),
    (["--truncation", "0.755", "-n", "2", "--model", "anime"], "two decimals"),
    (["--like", "{anime}-1-1", "--spread", "0.333"], "two decimals"),
    (["--like", "{anime}-1-1", "-n", "64", "--seed", "1024"], "variations are numbered"),
    (["--sharpest", "20000", "--model", "anime"], "at most 65,536 faces")])
def test_sample_refuses_ids_it_cannot_draw_in_one_line(anime, tmp_path, args, says):
    tags = {"anime": anime.tag, "human": load_model(shipped_model("human")).tag}
    result = invoke("sample", *[a.format(**tags) for a in args], "--out", tmp_path / "x.png",
                    "--device", "cpu")
    assert result.exit_code == 2, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: ") and says in last, result.output
    assert not (tmp_path / "x.png").exists()


def test_a_checkpoints_ids_need_that_checkpoint(tiny_run, tmp_path):
    r = invoke("sample", "-n", 2, "--checkpoint", tiny_run, "--separate", tmp_path / "d",
               "--out", tmp_path / "g.png", "--device", "cpu")
    assert r.exit_code == 0, r.output
    one = sorted(p.stem for p in (tmp_path / "d").glob("*.png"))[0]
    assert one.startswith("ckpt-")
    r = invoke("sample", "--id", one, "--checkpoint", tiny_run, "--out", tmp_path / "o.png",
               "--device", "cpu")
    assert r.exit_code == 0, r.output
    r = invoke("sample", "--id", one, "--model", "anime", "--out", tmp_path / "o.png")
    assert r.exit_code == 2 and "give --checkpoint the model that drew it" in r.output


def test_an_id_draws_the_same_face_on_a_gpu(gpu, anime, tmp_path):
    """Noise is drawn on the host from the id: the GPU's face differs by round-off at most."""
    faces = {}
    for device in ("cpu", "gpu"):
        r = invoke("sample", "--id", f"{anime.tag}-5-3.2-1.m40.v2s30", "--out",
                   tmp_path / f"{device}.png", "--device", device)
        assert r.exit_code == 0, r.output
        faces[device] = picture(tmp_path / f"{device}.png").astype(int)
    assert np.abs(faces["cpu"] - faces["gpu"]).max() <= 1
