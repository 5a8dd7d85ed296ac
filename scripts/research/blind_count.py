"""Counting smeared faces by eye, blind: shuffled grids under neutral names, then the tally.

    python scripts/research/blind_count.py grids OUT --models anime,human --truncations none,1.5 \
        --seeds 1,2,3 [--pictures other.png]
    python scripts/research/blind_count.py tally counts.json
    python scripts/research/blind_count.py rank counts.json [more.json ...] --model anime \
        [--by discriminator|sharpness] [--truncation none]

`grids` writes one 8x8 grid of 64 faces per (model, truncation, seed), at twice the size, as
OUT/grid_NN.png in a shuffled order, and OUT-key.json beside the folder saying which is which:
show the folder to the raters, not the key. A model is a shipped model's name or a checkpoint.
`--pictures` adds 8x8 grids drawn elsewhere (a PNG with 2 px between its 64 faces, as
torchvision's `save_image` writes them), re-laid like the others, so that another program's
faces are counted by the same raters with the same eyes.
The raters mark each smeared or malformed face as row,col (from 1,1 at the top left);
`counts.json` holds the key and the marks:

    {"key": {"grid_00.png": {"model": "anime", "truncation": null, "seed": 2}, ...},
     "raters": {"A": {"grid_00.png": [[1, 2], [4, 5]], ...}, "B": {...}}}

`tally` prints the share of marked faces per model and truncation, for each rater.
`rank` asks whether D's logit (`sample --best`'s score) or the sharpness of the face's middle
(`sample --sharpest`'s) tells marked faces from the others: the probability that an unmarked
face outscores a marked one (0.5 is chance, 1 a perfect filter), for each rater and with a
face called marked when half or more of the raters who saw it marked it (`half+`); several
counts files pool their raters.
"""

import argparse
import json
import os
import random
from collections import defaultdict

import numpy as np
from PIL import Image

from tinygan.data.images import grid
from tinygan.draw.generate import (
    SHIPPED,
    discriminator_scores,
    find_checkpoint,
    generate,
    latent,
    load_generator,
    shipped_model,
)
from tinygan.metrics.sharpness import sharpness

FACES, COLS = 64, 8


def load(model, with_discriminator=False):
    path = shipped_model(model) if model in SHIPPED else find_checkpoint(model)
    return load_generator(path, with_discriminator=with_discriminator)


def noise(meta, seed, truncation):
    """The noise of a grid: that of `tinygan sample -n 64 --seed S [--truncation T]`."""
    return latent(seed, FACES, meta["config"]["nz"], truncation)


def faces_of_picture(path, pad=2):
    """The 64 faces of an 8x8 grid picture with `pad` pixels around and between them."""
    picture = np.asarray(Image.open(path).convert("RGB"))
    size, rest = divmod(picture.shape[1] - (COLS + 1) * pad, COLS)
    if rest or picture.shape[0] != picture.shape[1]:
        raise SystemExit(f"{path}: not a square 8x8 grid with {pad} px between its faces")
    step = size + pad
    return np.stack([picture[pad + r * step:pad + r * step + size,
                             pad + c * step:pad + c * step + size]
                     for r in range(COLS) for c in range(COLS)])


def save_grid(faces, path):
    image = Image.fromarray(grid(faces, COLS))
    image.resize((2 * image.width, 2 * image.height), Image.NEAREST).save(path)


def make_grids(out, models, truncations, seeds, shuffle_seed, pictures=()):
    conditions = [(m, t, s) for m in models for t in truncations for s in seeds]
    names = [f"grid_{i:02d}.png" for i in range(len(conditions) + len(pictures))]
    random.Random(shuffle_seed).shuffle(names)
    os.makedirs(out, exist_ok=True)
    key = {}
    for model in models:
        G, _, meta = load(model)
        for (m, t, s), name in zip(conditions, names):
            if m == model:
                save_grid(generate(G, noise(meta, s, t)), os.path.join(out, name))
                key[name] = dict(model=m, truncation=t, seed=s)
    for path, name in zip(pictures, names[len(conditions):]):
        save_grid(faces_of_picture(path), os.path.join(out, name))
        key[name] = dict(model=os.path.basename(path), truncation=None, seed=None)
    key_path = os.path.normpath(out) + "-key.json"   # outside the folder the raters see
    with open(key_path, "w") as f:
        json.dump(dict(sorted(key.items())), f, indent=1)
    print(f"wrote {len(key)} grids to {out} and their key to {key_path}")


def tally(counts):
    for rater, marks in sorted(counts["raters"].items()):
        totals = defaultdict(lambda: [0, 0])
        for name, condition in counts["key"].items():
            total = totals[(condition["model"], condition["truncation"] or "none")]
            total[0] += len(marks[name])
            total[1] += FACES
        width = max(len(model) for model, _ in totals)
        for (model, truncation), (marked, faces) in sorted(totals.items(), key=str):
            print(f"rater {rater}  {model:<{width}}  truncation {truncation!s:<5} "
                  f"{marked:4d} / {faces} = {100 * marked / faces:4.0f} %")


def marks_by_face(rounds, model, truncation):
    """{(seed, index): {rater: marked?}} over the grids of `model` at `truncation` in a list
    of counts dicts (raters of different rounds who saw the same faces)."""
    faces = defaultdict(dict)
    for c in rounds:
        for name, condition in c["key"].items():
            if condition["model"] != model or condition["truncation"] != truncation:
                continue
            for rater, marks in c["raters"].items():
                spots = {(r - 1) * COLS + col - 1 for r, col in marks[name]}
                for i in range(FACES):
                    faces[(condition["seed"], i)][rater] = i in spots
    return dict(sorted(faces.items()))


def scores(model, truncation, seeds, by):
    """Each face's score, grid by grid: D's logit as `sample --best` scores it, or
    metrics.sharpness as `sample --sharpest` does."""
    G, D, meta = load(model, with_discriminator=by == "discriminator")
    out = []
    for seed in seeds:
        z = noise(meta, seed, truncation)
        out.extend(discriminator_scores(G, D, z)[1] if by == "discriminator"
                   else sharpness(generate(G, z)))
    return np.array(out)


def rank(rounds, model, truncation, by="discriminator"):
    """Whether a score tells marked faces from the others, per rater and by half or more."""
    faces = marks_by_face(rounds, model, truncation)
    seeds = sorted({seed for seed, _ in faces})
    score = scores(model, truncation, seeds, by)   # in the order of `faces`: seed, then index
    raters = sorted({r for votes in faces.values() for r in votes})
    groups = {r: [(k, votes[r]) for k, (_, votes) in enumerate(faces.items()) if r in votes]
              for r in raters}
    groups["half+"] = [(k, 2 * sum(v.values()) >= len(v)) for k, v in enumerate(faces.values())]
    for rater, pairs in groups.items():
        seen = np.array([k for k, _ in pairs])
        bad = np.array([b for _, b in pairs])
        if not 0 < bad.sum() < len(bad):
            print(f"{rater:<10} marked {bad.sum()} of {len(bad)}: nothing to compare")
            continue
        s = score[seen]
        good_over_bad = (s[~bad][:, None] > s[bad][None, :]).mean()
        top = np.argsort(-s)[:len(s) // 4]
        print(f"{rater:<10} marked {bad.sum():3d} of {len(bad)}; P(unmarked outscores marked) "
              f"{good_over_bad:.3f}; marked among the top quarter {100 * bad[top].mean():.0f} % "
              f"(all: {100 * bad.mean():.0f} %)")


def main():
    defaults = argparse.ArgumentDefaultsHelpFormatter
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=defaults)
    sub = p.add_subparsers(dest="command", required=True)
    about = "write shuffled 8x8 face grids for the raters, and their key"
    g = sub.add_parser("grids", help=about, description=about, formatter_class=defaults)
    g.add_argument("out", help="folder for the grid PNGs; the key goes to OUT-key.json beside it")
    g.add_argument("--models", default="anime,human",
                   help="comma-separated models: anime, human, a checkpoint or a run folder")
    g.add_argument("--truncations", default="none",
                   help="comma-separated truncation thresholds; none for plain noise")
    g.add_argument("--seeds", default="1,2,3",
                   help="comma-separated noise seeds, one grid each (as tinygan sample --seed)")
    g.add_argument("--shuffle-seed", type=int, default=7, help="seed of the shuffled grid order")
    g.add_argument("--pictures", default="",
                   help="comma-separated 8x8 grid PNGs drawn elsewhere, to add; empty for none")
    about = "print the share of marked faces per model and truncation, for each rater"
    t = sub.add_parser("tally", help=about, description=about, formatter_class=defaults)
    t.add_argument("counts", help="the counts JSON file: the key and the raters' marks")
    about = "whether D's logit or sharpness tells marked faces from the others"
    r = sub.add_parser("rank", help=about, description=about, formatter_class=defaults)
    r.add_argument("counts", nargs="+", help="one or more counts files; their raters pooled")
    r.add_argument("--by", choices=("discriminator", "sharpness"), default="discriminator",
                   help="the score: D's logit (as sample --best) or sharpness (as --sharpest)")
    r.add_argument("--model", default="anime",
                   help="the model whose faces are ranked, as given to grids --models")
    r.add_argument("--truncation", default="none",
                   help="the grids drawn with this truncation; none for plain noise")
    args = p.parse_args()
    if args.command == "grids":
        truncations = [None if t == "none" else float(t) for t in args.truncations.split(",")]
        make_grids(args.out, args.models.split(","), truncations,
                   [int(s) for s in args.seeds.split(",")], args.shuffle_seed,
                   [p for p in args.pictures.split(",") if p])
        return
    if args.command == "tally":
        with open(args.counts) as f:
            tally(json.load(f))
        return
    counts = []
    for path in args.counts:
        with open(path) as f:
            counts.append(json.load(f))
    rank(counts, args.model, None if args.truncation == "none" else float(args.truncation),
         args.by)


if __name__ == "__main__":
    main()
