"""`tinygan info`, `tinygan runs`, `tinygan plot` and `tinygan export`: looking into
checkpoints and run folders, writing generator files."""

import json
import os

import click
import numpy as np

from ..run import checkpoint as ckpt
from . import fail, main, megabytes, note_model


@main.command(short_help="A checkpoint's config, step and parameter counts.")
@click.argument("checkpoint", required=False)
@click.option("--model", type=click.Choice(["anime", "human"]),
              help="A model shipped with tinygan instead of CHECKPOINT; its card is printed too.")
def info(checkpoint, model):
    """Print a checkpoint's config, the step reached and parameter counts (and, for a shipped
    model or an export made with --card, its model card).

    CHECKPOINT is a checkpoint file, a run folder (its newest checkpoint) or an exported
    generator; without it, the newest run under runs/ (else the shipped anime model)."""
    from ..draw.generate import NoModelError, find_checkpoint, shipped_model
    from ..gan.networks import discriminator_for, generator_for
    if checkpoint and model:
        fail("give CHECKPOINT or --model, not both")
    try:
        path = shipped_model(model) if model else find_checkpoint(checkpoint)
        arrays, meta = ckpt.load(path)
    except (NoModelError, ckpt.CheckpointError) as exc:
        fail(str(exc))
    note_model(path, meta, chosen=bool(checkpoint or model))
    config = meta.get("config", {})
    click.echo(f"file: {path}")
    # an exported generator from before exports kept the epoch has none: say nothing then
    epoch = f"  epoch: {meta['epoch']:.2f}" if "epoch" in meta else ""
    click.echo(f"step: {meta.get('step')}{epoch}")
    for label, count in _parameter_counts(arrays, meta):
        click.echo(f"{label}: {count:,} parameters")
    try:
        g, d = generator_for(config), discriminator_for(config)
        click.echo(f"architecture: G {g.num_parameters():,} / D {d.num_parameters():,} "
                   "parameters for this config")
    except (KeyError, ValueError):
        pass
    for key in ("model_card",):
        if key in meta:
            click.echo(f"{key}: {json.dumps(meta[key], indent=2)}")
    click.echo("config: " + json.dumps(config, indent=2, sort_keys=True))


def _parameter_counts(arrays, meta):
    """(label, count) per model in the file. An exported generator is labelled with what its
    weights are ('G, mean of 2', ...), whatever name its arrays are stored under."""
    def count(part):
        return sum(v.size for k, v in ckpt.section(arrays, part).items()
                   if not k.endswith(("running_mean", "running_var")))
    exported = "weights" in meta and not meta.get("continuation")
    if exported or not ckpt.section(arrays, "D"):   # an export, with or without D
        part = "G_ema" if ckpt.section(arrays, "G_ema") else "G"
        found = [(f"generator ({meta.get('weights', part)})", count(part))]
        return found + ([("discriminator", count("D"))] if count("D") else [])
    labels = dict(G="G", G_ema="G_ema (moving average of G)", D="D")
    return [(labels[part], count(part)) for part in labels if count(part)]


@main.command(short_help="The run folders under runs/: step, data, losses, checkpoint.")
@click.option("--dir", "root", default="runs", show_default=True, type=click.Path(),
              help="The folder that holds the run folders.")
def runs(root):
    """List the run folders under runs/ (or --dir), most recently active first: the step of
    the newest checkpoint (of the log, for a run training now) and the step the run trains
    to, the data, the image size, the last logged losses of D and G, and the newest
    checkpoint's file."""
    from ..run.listing import find_runs, summarise
    try:
        found = [summarise(r) for r in find_runs(root)]
    except OSError as exc:   # a folder that cannot be read
        fail(f"--dir {root}: {exc.strerror or exc}")
    if not found:
        click.echo(f"no runs under {root}/: start one with tinygan train --data demo "
                   "--steps 200 --size 32", err=True)
        return
    width = max(len(r["run"]) for r in found)
    data_width = min(30, max(len(r["data"]) for r in found))
    steps = [f"{r['step']}/{r['planned']}" if r["planned"] else str(r["step"]) for r in found]
    step_width = max(4, *(len(s) for s in steps))
    click.echo(f"{'run':<{width}}  {'step':>{step_width}}  {'size':>4}  {'data':<{data_width}}  "
               f"{'D':>6}  {'G':>6}  newest checkpoint")
    for r, step in zip(found, steps):
        losses = "  ".join(f"{float(v):6.3f}" if v else f"{'-':>6}"
                           for v in (r["loss_d"], r["loss_g"]))
        newest = r["checkpoint"] or "(none yet)"
        click.echo(f"{r['run']:<{width}}  {step:>{step_width}}  {r['size'] or '?':>4}  "
                   f"{r['data'][:data_width]:<{data_width}}  {losses}  {newest}"
                   + ("  (training now)" if r["running"] else ""))


@main.command(short_help="Write a model file for sampling and fine-tuning.")
@click.argument("checkpoint")
@click.option("--out", required=True, help="The .npz file to write.")
@click.option("--float16/--float32", default=True, show_default=True,
              help="Store weights in half precision (half the size).")
@click.option("--card", type=click.Path(exists=True, dir_okay=False),
              help="A JSON file of model-card facts stored with the weights.")
@click.option("--raw", is_flag=True, help="Export G instead of its moving average.")
@click.option("--average", type=click.IntRange(min=1), default=1, show_default=True,
              help="Average the generator weights of the run's newest N checkpoints "
              "(checkpoint averaging; CHECKPOINT must then be a run folder).")
@click.option("--recalibrate/--no-recalibrate", default=True, show_default=True,
              help="Re-estimate BatchNorm statistics for the exported weights.")
@click.option("--with-d", is_flag=True, help="Also store the discriminator of CHECKPOINT "
              "(with --average, of the newest one), so that `tinygan sample --best` works on "
              "the file.")
@click.option("--continuation", is_flag=True, help="Write what `tinygan train --continue` "
              "needs to train the run on where CHECKPOINT left it: G's raw weights, the moving "
              "average, D, the step and the run's settings (no optimizer state: the "
              "continued run refills it under a learning-rate warm-up). Sampling works on "
              "the file too.")
@click.option("--g-from-ema", is_flag=True, help="With --continuation, from a model file that "
              "keeps no raw G but a moving average and D (a shipped model, an export made "
              "with --with-d): start G from the moving average, and take the settings the "
              "file does not record from train's defaults. Measured a little behind a "
              "continuation with raw G: docs/results.md.")
def export(checkpoint, out, float16, card, raw, average, recalibrate, with_d, continuation,
           g_from_ema):
    """Write a generator file (for sampling and fine-tuning) from a checkpoint; with --with-d,
    the discriminator too; with --continuation, all a run needs to go on. No optimizer state
    is kept."""
    from ..draw.generate import NoModelError, find_checkpoint
    from ..gan.networks import DISCRIMINATOR_KEYS, GENERATOR_KEYS, generator_for
    from ..gan.step import recalibrate_batchnorm
    if continuation:
        if raw or average > 1 or with_d or card or not recalibrate:
            fail("--continuation keeps G, its moving average and D as the checkpoint has them; "
                 "--raw, --average, --with-d, --card and --no-recalibrate choose what a "
                 "sampling file holds")
        return _export_continuation(checkpoint, out, float16, g_from_ema)
    if g_from_ema:
        fail("--g-from-ema is for --continuation")
    if average > 1 and not (checkpoint and os.path.isdir(checkpoint)):
        fail("--average needs a run folder as CHECKPOINT")
    if card:
        try:
            with open(card) as f:
                card_facts = json.load(f)
        except (OSError, ValueError) as exc:   # ValueError: not JSON, or not UTF-8
            fail(f"--card {card}: not a readable JSON file ({exc})")
    try:
        paths = ckpt.list_checkpoints(checkpoint)[:average] if average > 1 \
            else [find_checkpoint(checkpoint)]
        if len(paths) < average:
            fail(f"{checkpoint} holds {len(paths)} checkpoints, fewer than --average {average}")
        loaded = [ckpt.load(p) for p in paths]
    except (NoModelError, ckpt.CheckpointError) as exc:
        fail(str(exc))
    meta = loaded[0][1]   # the newest checkpoint speaks for the config and step
    config = meta["config"]
    G = generator_for(config)
    part = "G" if raw else "G_ema"
    states = [ckpt.section(a, part) or ckpt.section(a, "G") for a, _ in loaded]
    G.load_state_dict({k: np.mean([st[k] for st in states], axis=0) for k in states[0]})
    if recalibrate:
        recalibrate_batchnorm(G, config["nz"], seed=config.get("seed", 0), faces=2048)
    dtype = np.float16 if float16 else np.float32
    exported = {f"G_ema/{k}": v.astype(dtype) for k, v in G.state_dict().items()}
    if with_d:
        d_state = ckpt.section(loaded[0][0], "D")
        if not d_state:
            fail(f"{paths[0]}: holds no discriminator to export")
        exported.update({f"D/{k}": v.astype(dtype) for k, v in d_state.items()})
    keep = GENERATOR_KEYS + DISCRIMINATOR_KEYS + ("seed", "recipe", "loss", "augment")
    new_meta = dict(config={k: config[k] for k in keep if k in config}, step=meta.get("step"),
                    **{k: meta[k] for k in ("epoch", "steps_per_epoch") if k in meta},
                    source=", ".join(os.path.basename(p) for p in paths),
                    weights=("G" if raw else "G_ema") + (f", mean of {average}" if average > 1 else ""))
    if card:
        new_meta["model_card"] = card_facts
    try:
        ckpt.save(out, exported, new_meta, compress=True)
    except OSError as exc:
        fail(f"--out {out}: {exc.strerror or exc}")
    click.echo(f"wrote {out} ({megabytes(os.path.getsize(out))}, step {meta.get('step')})",
               err=True)


# the settings a training run keeps in its config beyond the networks and the recipe
RUN_SETTINGS = ("batch", "flip", "ema", "real_label", "label_noise", "r1_every")


def _export_continuation(checkpoint, out, float16, g_from_ema):
    """The continuation file of a training checkpoint (see export --continuation), or, with
    g_from_ema, of a model file that keeps the moving average and D alone."""
    from ..draw.generate import NoModelError, find_model
    try:
        path = find_model(checkpoint)
        arrays, meta = ckpt.load(path)
    except (NoModelError, ckpt.CheckpointError) as exc:
        fail(str(exc))
    parts = {part: ckpt.section(arrays, part) for part in ("G", "G_ema", "D")}
    config = meta["config"]
    if g_from_ema and parts["G"]:
        fail(f"{path} keeps G's raw weights: a continuation takes them, so drop --g-from-ema")
    if not parts["G"] and parts["G_ema"] and parts["D"] and g_from_ema:
        parts["G"] = parts["G_ema"]
        train = main.commands["train"]   # what the file does not record: train's defaults
        defaults = {p.name: p.default for p in train.params if p.name in RUN_SETTINGS}
        config = dict(defaults, **config)
    elif not parts["G"] and parts["G_ema"] and parts["D"]:
        fail(f"{path} keeps no raw G (a model file, not a training checkpoint): add "
             "--g-from-ema to start G from its moving average")
    if not all(parts.values()):
        fail(f"{path}: not a training checkpoint (a continuation needs G, G_ema and D; "
             "exported files keep only some of them)")
    dtype = np.float16 if float16 else np.float32
    kept = {f"{part}/{k}": v.astype(dtype) for part, state in parts.items()
            for k, v in state.items()}
    new_meta = dict(config=config, step=meta["step"], continuation=True,
                    **{k: meta[k] for k in ("epoch", "steps_per_epoch", "time_s") if k in meta},
                    source=os.path.basename(path),
                    weights="G (from G_ema), G_ema and D" if g_from_ema else "G, G_ema and D")
    try:
        ckpt.save(out, kept, new_meta, compress=True)
    except OSError as exc:
        fail(f"--out {out}: {exc.strerror or exc}")
    click.echo(f"wrote {out} ({megabytes(os.path.getsize(out))}, step {meta['step']}): continue "
               f"with tinygan train --continue {out} --data ...", err=True)


@main.command(short_help="Draw a run's losses, D's outputs and SWD by step into a PNG.")
@click.argument("run", type=click.Path(file_okay=False))
@click.option("--out", default="run.png", show_default=True, help="The PNG to write.")
@click.option("--smooth", type=click.IntRange(min=1), default=10, show_default=True,
              help="Average each line over this many log.csv rows.")
def plot(run, out, smooth):
    """Plot a run: D's and G's losses and D's outputs from its log.csv, and SWD by step once
    `tinygan eval RUN --all --data ...` has scored its checkpoints (RUN/swd.csv)."""
    from ..run.plot import PlotError, plot_run
    if not os.path.isdir(run):
        fail(f"{run}: no such run folder")
    try:
        panels = plot_run(run, out, smooth)
    except PlotError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"--out {out}: {exc.strerror or exc}")
    click.echo(f"wrote {out}: " + "; ".join(panels))
