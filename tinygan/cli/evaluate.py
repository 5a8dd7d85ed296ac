"""`tinygan eval`: scoring a model's faces against real ones with the SWD."""

import json
import os

import click
import numpy as np

from ..metrics.swd import swd
from ..run import checkpoint as ckpt
from . import DEVICE_OPTION, MODEL_OPTION, TEXTBOOK_OPTION, device_or_fail, fail, load_or_fail, main

FEW = 512   # images a set below which the SWD's estimate is too noisy to compare models


@main.command("eval", short_help="Score generated faces against real ones (SWD).")
@click.argument("target", required=False, metavar="[RUN_OR_CHECKPOINT]")
@click.option("--all", "every", is_flag=True, help="Score every checkpoint RUN holds (the "
              "newest ones and milestones/), print one row per step and write them to "
              "RUN/swd.csv, which `tinygan plot RUN` draws.")
@click.option("--variants", default="ema", show_default=True, help="With --all: which "
              "generators of each checkpoint to score, comma-separated from ema (the moving "
              "average, what sample draws), eval-mode (G), train-mode (G with batch "
              "statistics), avg2 (G averaged with the checkpoint before).")
@click.option("--steps", "only_steps", help="With --all: score only these steps, e.g. "
              "1000,2000 [default: every checkpoint].")
@click.option("--checkpoint", help="Checkpoint file or run folder to score (or give it as "
              "RUN_OR_CHECKPOINT) [default: as for sample].")
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
@TEXTBOOK_OPTION
@DEVICE_OPTION
def evaluate(target, every, variants, only_steps, checkpoint, model, samples, data, n, seed,
             repeats, train_mode_bn, truncation, size, as_json, textbook, device):
    """Score generated faces against real ones (SWD, lower is better).

    The multi-scale sliced Wasserstein distance x1e3 of Karras et al. 2018, per pyramid level
    and averaged, with the real-vs-real floor of two disjoint real subsets beside it.

    \b
    Examples:
      tinygan eval runs/faces --data faces.zip              # the run's newest checkpoint
      tinygan eval runs/faces --all --data faces.zip        # every checkpoint it holds
      tinygan eval --model anime --data anime.zip --repeats 3"""
    from ..data.load import DataError, load_images
    if target and checkpoint:
        fail("give RUN_OR_CHECKPOINT or --checkpoint, not both")
    checkpoint = checkpoint or target
    if every:
        return _evaluate_run(checkpoint, model, samples, data, n, seed, repeats, train_mode_bn,
                             truncation, as_json, variants, only_steps, textbook,
                             device_or_fail(device))
    if only_steps or variants != "ema":
        fail("--steps and --variants choose what --all scores; add --all")
    device = device_or_fail(device)
    size = int(size)   # click hands a Choice over as the string it matched
    if samples and (truncation or train_mode_bn or checkpoint or model or textbook):
        fail("--checkpoint, --model, --truncation, --train-mode-bn and --textbook choose a "
             "model and how it draws faces; --samples scores images already drawn")
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
        path, G, _, meta = load_or_fail(checkpoint, device, model=model, textbook=textbook)
        size, nz = meta["config"]["size"], meta["config"]["nz"]
        def draw(s):
            z = latent(s + 1000, n, nz, truncation)
            return generate(G, z, device, batch_statistics=train_mode_bn)
        what = f"{path}, step {meta.get('step')}"
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
    if n < FEW:
        click.echo(f"note: with fewer than {FEW} images a set, SWD is noisy and high (see how "
                   "far real vs real is from 0); the scores in docs/results.md use 2048",
                   err=True)
    rows = [(f"seed {seed + i}", r) for i, (r, _) in enumerate(scores)] if repeats > 1 else []
    rows += [("generated vs real" + (" (mean)" if repeats > 1 else ""), result),
             ("real vs real" + (" (mean)" if repeats > 1 else ""), floor)]
    width = max(len(label) + 1 for label, _ in rows)
    click.echo(f"{'':<{width}}" + "".join(f"{lv:>8}" for lv in levels) + f"{'avg':>8}")
    for label, r in rows:
        click.echo(f"{label:<{width}}" + "".join(f"{r[lv]:8.2f}" for lv in levels)
                   + f"{r['avg']:8.2f}")


def _score(fake, real, n, seed):
    """(SWD of fake against a real subset, the floor: SWD of another real subset against it),
    each {level: value, "avg": value} with string keys; the subsets are drawn by `seed`."""
    from ..draw.run_scores import real_subsets
    real_a, real_b = real_subsets(real, n, seed)
    return ({str(k): v for k, v in swd(fake, real_a, seed=seed).items()},
            {str(k): v for k, v in swd(real_b, real_a, seed=seed).items()})


def _mean(results):
    return {k: float(np.mean([r[k] for r in results])) for k in results[0]}


def _evaluate_run(run_dir, model, samples, data, n, seed, repeats, train_mode_bn, truncation,
                  as_json, variants, only_steps, textbook, device):
    """`eval RUN --all`: a table of every checkpoint's SWD, also merged into RUN/swd.csv."""
    from ..data.load import DataError, load_images
    from ..draw.run_scores import VARIANTS, checkpoints_by_step, real_subsets, score_checkpoint
    from ..run.folder import save_scores
    from . import tqdm_bar
    if model or samples or repeats > 1 or train_mode_bn or truncation or as_json:
        fail("--all scores a run's checkpoints; --model, --samples, --repeats, "
             "--train-mode-bn, --truncation and --json are for one model")
    if not run_dir or not os.path.isdir(run_dir):
        fail(f"--all needs a run folder: tinygan eval RUN --all --data ... "
             f"({run_dir or 'none given'})")
    chosen = [v.strip() for v in variants.split(",") if v.strip()]
    if not chosen or any(v not in VARIANTS for v in chosen):
        fail(f"--variants {variants!r}: choose from {', '.join(VARIANTS)} (comma-separated)")
    by_step = checkpoints_by_step(run_dir)
    if only_steps:
        try:
            wanted = {int(s) for s in only_steps.split(",") if s.strip()}
        except ValueError:
            fail(f"--steps {only_steps!r}: give step numbers, comma-separated")
        if missing := sorted(wanted - set(by_step)):
            fail(f"{run_dir} holds no checkpoint of step {', '.join(map(str, missing))} "
                 f"(it holds {', '.join(map(str, by_step)) or 'none'})")
    else:
        wanted = set(by_step)
    if not wanted:
        fail(f"{run_dir}: this folder holds no checkpoint (ckpt_*.npz)")
    try:
        config = ckpt.load(by_step[min(wanted)])[1]["config"]
        real, _ = load_images(data, config["size"], demo_count=2 * n, seed=seed + 1)
    except (ckpt.CheckpointError, DataError) as exc:
        fail(str(exc))
    if len(real) < 2 * n:
        fail(f"{data}: {len(real)} images, need {2 * n} (two disjoint sets of -n {n})")
    real_a, real_b = real_subsets(real, n, seed)
    floor = swd(real_b, real_a, seed=seed)
    rows = []
    bar = tqdm_bar(total=len(wanted), desc="eval", unit="ckpt")
    try:
        for step in sorted(wanted):
            try:
                results = score_checkpoint(by_step[step], chosen, real_a, n, seed, by_step,
                                           fast=not textbook, device=device)
            except ckpt.CheckpointError as exc:
                bar.write(f"skipped step {step}: {exc}")
                results = {}
            rows += [dict(step=step, variant=v, n=n, seed=seed,
                          **{f"swd_{k}": round(float(r[k]), 3) for k in ("avg", *_levels(r))})
                     for v, r in results.items()]
            if bar.n + 1 < len(wanted):
                bar.update()
            else:
                bar.n = len(wanted)   # the last line is close()'s, drawn once
    finally:
        bar.close()
    path = save_scores(run_dir, rows)
    click.echo(f"SWD x1e3 (average over levels), {n} vs {n} images, seed {seed}; "
               "lower is better")
    if n < FEW:
        click.echo(f"note: with fewer than {FEW} images a set, SWD is noisy and high", err=True)
    click.echo(f"{'step':>8}" + "".join(f"{v:>12}" for v in chosen))
    table = {}
    for row in rows:
        table.setdefault(row["step"], {})[row["variant"]] = row["swd_avg"]
    for step in sorted(wanted):
        cells = table.get(step, {})
        click.echo(f"{step:>8}" + "".join(f"{cells[v]:>12.2f}" if v in cells else f"{'-':>12}"
                                          for v in chosen))
    click.echo(f"{'floor':>8}{floor['avg']:>12.2f}   (real vs real)")
    if table:
        best_step = min(table, key=lambda s: min(table[s].values()))
        click.echo(f"lowest: step {best_step}; written to {path}")


def _levels(result):
    return [k for k in result if k != "avg"]
