"""Score every checkpoint of a run with SWD, for the raw and the averaged generator.

    python scripts/eval_run.py runs/faces64 --data faces.zip [-n 2048] [--out swd.csv]

For each checkpoint (the newest ones and the milestones/ kept for good) it prints SWD x1e3
(levels and average, 2,048 generated vs 2,048 real) of: G with batch statistics
("train-mode"), G with running statistics ("eval-mode"), the
moving-average generator with re-estimated BatchNorm statistics ("ema"), and the mean of G's
weights at this and the previous regular checkpoint (step - ckpt_every) with re-estimated
statistics ("avg2", what `tinygan export --raw --average 2` ships). The real-vs-real floor is
printed once.
"""

import argparse
import csv
import os

import numpy as np

from tinygan.data.load import load_images
from tinygan.draw.generate import generate, latent
from tinygan.gan.networks import generator_for
from tinygan.gan.step import recalibrate_batchnorm
from tinygan.metrics.swd import swd
from tinygan.run import checkpoint as ckpt


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run", help="the run folder (holding ckpt_*.npz and milestones/)")
    p.add_argument("--data", required=True, default=argparse.SUPPRESS,
                   help="the real faces: a zip, tar, folder or .npy")
    p.add_argument("-n", type=int, default=2048,
                   help="faces per score, generated and real; the data needs 2n")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the real faces picked, the noise and the SWD")
    p.add_argument("--out", help="also append the results to this CSV file")
    p.add_argument("--steps", help="score only these steps, e.g. 250,500,1000; all if not given")
    p.add_argument("--variants", default="train-mode,eval-mode,ema,avg2",
                   help="comma-separated generators to score; the default lists all four")
    args = p.parse_args()

    first = ckpt.load(ckpt.list_checkpoints(args.run)[0])[1]["config"]
    real, _ = load_images(args.data, first["size"])
    order = np.random.default_rng(args.seed).permutation(len(real))
    real_a, real_b = real[order[:args.n]], real[order[args.n:2 * args.n]]
    floor = swd(real_b, real_a, seed=args.seed)
    print(f"real vs real floor: avg {floor['avg']:.2f}  "
          + " / ".join(f"{floor[k]:.2f}" for k in floor if k != "avg"))
    run_name = os.path.basename(os.path.normpath(args.run))
    wanted = {int(s) for s in args.steps.split(",")} if args.steps else None
    rows = []
    variants = args.variants.split(",")
    milestones = ckpt.list_checkpoints(os.path.join(args.run, ckpt.MILESTONES))
    by_step = {ckpt.step_of(p): p for p in milestones + ckpt.list_checkpoints(args.run)}
    for _, path in sorted(by_step.items()):
        arrays, meta = ckpt.load(path)
        step = meta["step"]
        if wanted and step not in wanted:
            continue
        c = meta["config"]
        z = latent(args.seed + 1000, args.n, c["nz"])
        results = {}
        previous = by_step.get(step - c["ckpt_every"])
        for variant in variants:
            G = generator_for(c)
            state = ckpt.section(arrays, "G_ema" if variant == "ema" else "G")
            if variant == "avg2":
                if previous is None:
                    continue
                before = ckpt.section(ckpt.load(previous)[0], "G")
                state = {k: (v + before[k]) / 2 for k, v in state.items()}
            G.load_state_dict(state)
            if variant in ("ema", "avg2"):
                recalibrate_batchnorm(G, c["nz"], seed=c["seed"], faces=2048)
            fake = generate(G, z, batch_statistics=variant == "train-mode")
            results[variant] = swd(fake, real_a, seed=args.seed)
        line = f"step {step:6d}: " + "   ".join(
            f"{v} {r['avg']:6.2f} ({' / '.join(f'{r[k]:.1f}' for k in r if k != 'avg')})"
            for v, r in results.items())
        print(line, flush=True)
        for v, r in results.items():
            rows.append(dict(run=run_name, step=step, variant=v,
                             **{f"swd_{k}": round(r[k], 3) for k in r}))
    if args.out and rows:
        new = not os.path.exists(args.out)
        with open(args.out, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            if new:
                w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
