"""`tinygan eval`: scoring a model's faces against real ones with the SWD."""

import json

import click
import numpy as np

from . import DEVICE_OPTION, MODEL_OPTION, device_or_fail, fail, load_or_fail, main


@main.command("eval", short_help="Score generated faces against real ones (SWD).")
@click.option("--checkpoint", help="Checkpoint file or run folder to score [default: as for "
              "sample].")
@MODEL_OPTION
@click.option("--samples", help="Score these images instead of a model: a folder, zip, tar or "
              ".npy/.npz of uint8 (N,H,W,3).")
@click.option("--data", required=True, help="The real images to compare with (as for train "
              "--data; decoded through the same cache).")
@click.option("-n", "n", type=click.IntRange(min=16), default=2048, show_default=True,
              help="Images per set.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Picks the generated faces and the two real subsets.")
@click.option("--repeats", type=click.IntRange(min=1), default=1, show_default=True,
              help="Score this many times, with seeds --seed, --seed+1, ..., and print each "
              "score and their mean: two models closer than the scores' spread are not told "
              "apart.")
@click.option("--train-mode-bn", is_flag=True, help="Generate with batch statistics "
              "instead of running statistics.")
@click.option("--truncation", type=click.FloatRange(min=0, min_open=True),
              help="Score faces drawn as `sample --truncation` draws them: noise values "
              "beyond this magnitude redrawn.")
@click.option("--size", type=click.Choice(["32", "64", "96", "128"]), default="64",
              show_default=True, help="With --samples: the size both sets are compared at.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line.")
@DEVICE_OPTION
def evaluate(checkpoint, model, samples, data, n, seed, repeats, train_mode_bn, truncation, size,
             as_json, device):
    """Score generated faces against real ones (SWD, lower is better).

    The multi-scale sliced Wasserstein distance x1e3 of Karras et al. 2018, per pyramid level
    and averaged, with the real-vs-real floor of two disjoint real subsets beside it."""
    from ..data.load import DataError, load_images
    device = device_or_fail(device)
    size = int(size)   # click hands a Choice over as the string it matched
    if samples and (truncation or train_mode_bn or checkpoint or model):
        fail("--checkpoint, --model, --truncation and --train-mode-bn choose a model and how "
             "it draws faces; --samples scores images already drawn")
    if samples:
        try:
            # sample sets are small and rewritten often: decoded in memory, not cached
            fake, _ = load_images(samples, size, cache=False)
        except DataError as exc:
            fail(str(exc))
        if len(fake) < n:
            fail(f"{samples}: {len(fake)} images, need -n {n}")
        draw, what = (lambda s: fake[:n]), samples
    else:
        from ..draw.generate import generate, latent
        path, G, _, meta = load_or_fail(checkpoint, device, model=model)
        size, nz = meta["config"]["size"], meta["config"]["nz"]
        def draw(s):
            z = latent(s + 1000, n, nz, truncation)
            return generate(G, z, device, batch_statistics=train_mode_bn)
        what = f"{path} (step {meta.get('step')})"
    try:
        real, _ = load_images(data, size, demo_count=2 * n, seed=seed + 1)
    except DataError as exc:
        fail(str(exc))
    if len(real) < 2 * n:
        fail(f"{data}: {len(real)} images, need {2 * n} (two disjoint sets of -n {n})")
    scores = [_score(draw(s), real, n, s) for s in range(seed, seed + repeats)]
    result, floor = (_mean([score[i] for score in scores]) for i in (0, 1))
    if as_json:
        line = dict(what=what, n=n, swd=result, floor=floor)
        if repeats > 1:
            line["seeds"] = [dict(seed=seed + i, swd=r, floor=f) for i, (r, f) in enumerate(scores)]
        click.echo(json.dumps(line))
        return
    levels = [k for k in result if k != "avg"]
    click.echo(f"SWD x1e3, {n} vs {n} images ({what}); lower is better")
    click.echo(f"{'':<18}" + "".join(f"{lv:>8}" for lv in levels) + f"{'avg':>8}")
    rows = [(f"seed {seed + i}", r) for i, (r, _) in enumerate(scores)] if repeats > 1 else []
    rows += [("generated vs real" + (" (mean)" if repeats > 1 else ""), result),
             ("real vs real" + (" (mean)" if repeats > 1 else ""), floor)]
    width = max(18, *(len(label) + 1 for label, _ in rows))
    for label, r in rows:
        click.echo(f"{label:<{width}}" + "".join(f"{r[lv]:8.2f}" for lv in levels)
                   + f"{r['avg']:8.2f}")


def _score(fake, real, n, seed):
    """(SWD of fake against a real subset, the floor: SWD of another real subset against it),
    each {level: value, "avg": value} with string keys; the subsets are drawn by `seed`."""
    from ..metrics.swd import swd
    order = np.random.default_rng(seed).permutation(len(real))
    real_a, real_b = real[order[:n]], real[order[n:2 * n]]
    return ({str(k): v for k, v in swd(fake, real_a, seed=seed).items()},
            {str(k): v for k, v in swd(real_b, real_a, seed=seed).items()})


def _mean(results):
    return {k: float(np.mean([r[k] for r in results])) for k in results[0]}
