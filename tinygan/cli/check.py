"""`tinygan eval` and `tinygan gradcheck`: scoring a model, checking the backward passes."""

import json
import sys

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
@click.option("--train-mode-bn", is_flag=True, help="Generate with batch statistics "
              "instead of running statistics.")
@click.option("--truncation", type=click.FloatRange(min=0, min_open=True),
              help="Score faces drawn as `sample --truncation` draws them: noise values "
              "beyond this magnitude redrawn.")
@click.option("--size", type=click.Choice(["32", "64", "96", "128"]), default="64",
              show_default=True, help="With --samples: the size both sets are compared at.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line.")
@DEVICE_OPTION
def evaluate(checkpoint, model, samples, data, n, seed, train_mode_bn, truncation, size, as_json,
             device):
    """Score generated faces against real ones (SWD, lower is better).

    The multi-scale sliced Wasserstein distance x1e3 of Karras et al. 2018, per pyramid level
    and averaged, with the real-vs-real floor of two disjoint real subsets beside it."""
    from ..data import DataError, load_images
    from ..swd import swd
    device = device_or_fail(device)
    size = int(size)   # click hands a Choice over as the string it matched
    if samples and (truncation or train_mode_bn):
        fail("--truncation and --train-mode-bn choose how a model draws faces; "
             "--samples scores images already drawn")
    if samples:
        try:
            # sample sets are small and rewritten often: decoded in memory, not cached
            fake, _ = load_images(samples, size, cache=False)
        except DataError as exc:
            fail(str(exc))
        what = samples
    else:
        from ..generate import generate, latent
        path, G, _, meta = load_or_fail(checkpoint, device, model=model)
        size = meta["config"]["size"]
        z = latent(seed + 1000, n, meta["config"]["nz"], truncation)
        fake = generate(G, z, device, batch_statistics=train_mode_bn)
        what = f"{path} (step {meta.get('step')})"
    try:
        real, _ = load_images(data, size, demo_count=2 * n, seed=seed + 1)
    except DataError as exc:
        fail(str(exc))
    if len(real) < 2 * n:
        fail(f"{data}: {len(real)} images, need {2 * n} (two disjoint sets of -n {n})")
    if len(fake) < n:
        fail(f"{samples}: {len(fake)} images, need -n {n}")
    order = np.random.default_rng(seed).permutation(len(real))
    real_a, real_b = real[order[:n]], real[order[n:2 * n]]
    result = swd(fake[:n], real_a, seed=seed)
    floor = swd(real_b, real_a, seed=seed)
    if as_json:
        click.echo(json.dumps(dict(what=what, n=n, swd={str(k): v for k, v in result.items()},
                                   floor={str(k): v for k, v in floor.items()})))
        return
    levels = [k for k in result if k != "avg"]
    click.echo(f"SWD x1e3, {n} vs {n} images ({what}); lower is better")
    click.echo(f"{'':<18}" + "".join(f"{lv:>8}" for lv in levels) + f"{'avg':>8}")
    for label, r in (("generated vs real", result), ("real vs real", floor)):
        click.echo(f"{label:<18}" + "".join(f"{r[lv]:8.2f}" for lv in levels) + f"{r['avg']:8.2f}")


@main.command(short_help="Check every backward pass against finite differences.")
@click.option("--tol", type=float, default=1e-6, show_default=True,
              help="Largest relative error between a backward pass and finite differences "
              "that counts as a pass.")
def gradcheck(tol):
    """Check every layer's backward pass against finite differences (float64)."""
    from ..gradcheck import run_all
    worst = 0.0
    for name, errors in run_all():
        line = "  ".join(f"d{k} {v:.1e}" for k, v in errors.items())
        status = "ok" if max(errors.values()) < tol else "FAIL"
        worst = max(worst, max(errors.values()))
        click.echo(f"{name:<32} {status:<4}  max rel. error {max(errors.values()):.1e}  ({line})")
    click.echo(f"worst relative error {worst:.1e} (tolerance {tol:g})")
    if worst >= tol:
        sys.exit(1)
