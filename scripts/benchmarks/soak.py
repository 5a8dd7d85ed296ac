"""Soak test: train a small model in-process for many steps and watch its resident memory.

A leak of a few kB per step is invisible in a short run and hundreds of MB in a long one. By
step 200 every buffer, cache and thread pool has reached its working size, so the resident
set size (RSS) at the end should equal the RSS at step 200, give or take allocator noise.
Checkpoints, progress grids and log rows are written along the way, as in a real run.

    python scripts/benchmarks/soak.py                                   # 2000 steps, 32 px, ngf/ndf 16
    python scripts/benchmarks/soak.py --steps 400 --ngf 8 --ndf 8       # a quick check

Prints one JSON line: RSS (MB, from /proc/self/statm) every `--every` steps, the growth after
step `--every`, and the peak RSS (from getrusage).
"""

import argparse
import json
import os
import resource
import tempfile
import time

from tinygan.data.load import load_images
from tinygan.run.trainer import Trainer


def rss_mb():
    """The resident set size now (statm's second field is in pages)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


class RssProbe:
    """Stands in for the progress bar: train() calls update(1) after every step."""

    def __init__(self, every):
        self.step, self.every, self.rss = 0, every, {}

    def update(self, n):
        self.step += n
        if self.step % self.every == 0:
            self.rss[self.step] = round(rss_mb(), 1)

    def set_postfix(self, **kw):
        pass

    def refresh(self):
        pass


def main():
    p = argparse.ArgumentParser(description="Train in-process and report RSS as JSON.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--steps", type=int, default=2000, help="training steps")
    p.add_argument("--every", type=int, default=200, help="steps between RSS readings")
    p.add_argument("--size", type=int, default=32, help="image side in pixels")
    p.add_argument("--ngf", type=int, default=16, help="generator base width (channels)")
    p.add_argument("--ndf", type=int, default=16,
                   help="discriminator base width (channels)")
    p.add_argument("--nz", type=int, default=32, help="latent (noise) size")
    p.add_argument("--batch", type=int, default=32, help="images per training step")
    p.add_argument("--demo-count", type=int, default=512,
                   help="faces in the built-in demo set trained on")
    p.add_argument("--out", help="run folder to keep; a temporary one if not given")
    args = p.parse_args()

    config = dict(data="demo", size=args.size, nz=args.nz, ngf=args.ngf, ndf=args.ndf,
                  batch=args.batch, lr=2e-4, beta1=0.5, beta2=0.999, real_label=1.0,
                  label_noise=0.0, flip=True, ema=0.999, seed=0, steps=args.steps, epochs=None,
                  log_every=10, sample_every=100, ckpt_every=100, keep=3,
                  demo_count=args.demo_count, init=None)
    images, _ = load_images("demo", args.size, demo_count=args.demo_count)
    probe = RssProbe(args.every)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.out or tmp
        os.makedirs(run_dir, exist_ok=True)
        Trainer(config, run_dir, images, log=lambda message: None).train(args.steps, probe)
    first, last = probe.rss[args.every], probe.rss[max(probe.rss)]
    print(json.dumps(dict(
        steps=args.steps, model=dict(size=args.size, nz=args.nz, ngf=args.ngf, ndf=args.ndf,
                                     batch=args.batch),
        rss_mb=probe.rss, growth_mb=round(last - first, 1),
        growth_kb_per_step=round((last - first) * 1024 / max(1, max(probe.rss) - args.every), 2),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        seconds=round(time.perf_counter() - start, 1))))


if __name__ == "__main__":
    main()
