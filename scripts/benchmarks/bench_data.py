"""Data at scale: decode speed, cache reuse and peak memory for a large synthetic face set.

Makes a zip of N synthetic JPEG "faces" (smooth random colour fields, 160 px, re-used under
new names, so every file is decoded and resized for real) in a temporary folder, never in
the repository, then measures each phase in a fresh process:

    decode    building the decode cache: images/s on all cores, peak RSS (parent, workers)
    reuse     loading again: the cache is mapped, nothing is decoded
    epoch     one full epoch of batches from the memory map: RSS stays at a few batches
    train     `tinygan train` on the set for a few steps: the training process's peak RSS
    model     the same training on 64 images held in memory: the model's own peak, for
              comparison (the difference is what the data set costs)

    python scripts/benchmarks/bench_data.py                                  # 200,000 faces at 128 px
    python scripts/benchmarks/bench_data.py --count 20000 --size 64 --steps 2

Prints one JSON line per phase. Holding the set in memory instead would take
count * size * size * 3 bytes (9.8 GB for 200,000 faces at 128 px).
"""

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def synthetic_jpegs(distinct, side=160, seed=0):
    """`distinct` JPEGs of smooth random colour fields with a little noise."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(distinct):
        coarse = Image.fromarray(rng.integers(0, 256, (5, 5, 3), dtype=np.uint8))
        field = np.asarray(coarse.resize((side, side), Image.BICUBIC), dtype=np.int16)
        noisy = np.clip(field + rng.integers(-12, 13, field.shape), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(noisy).save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def make_zip(path, count, distinct=2000):
    if os.path.exists(path):
        with zipfile.ZipFile(path) as z:
            if len(z.infolist()) == count:
                return
    jpegs = synthetic_jpegs(distinct)
    tmp = path + ".part"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as z:
        for i in range(count):
            z.writestr(f"faces/{i // 1000:03d}/{i:06d}.jpg", jpegs[i % distinct])
    os.replace(tmp, path)


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def peak_mb():
    """This process's peak RSS (VmHWM: unlike getrusage's ru_maxrss, it is not inherited from
    the parent across fork and exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# runs `tinygan` and, as it exits, writes its peak RSS to the file named in $PEAK_FILE
REPORT_PEAK = """
import atexit, os, sys
def report():
    with open("/proc/self/status") as f:
        peak = [line.split()[1] for line in f if line.startswith("VmHWM:")][0]
    with open(os.environ["PEAK_FILE"], "w") as out:
        out.write(peak)
atexit.register(report)
from tinygan.cli import main
main(sys.argv[1:], prog_name="tinygan")
"""


# ------------------------------------------------------------------- phases (own process)
def phase_decode(args):
    from tqdm import tqdm

    from tinygan.data.cache import cache_path
    from tinygan.data.load import load_images
    if os.path.exists(cache_path(args.zip, args.size)):   # measure a build, not a reuse
        os.remove(cache_path(args.zip, args.size))
    start = time.perf_counter()
    images, report = load_images(args.zip, args.size, progress_factory=lambda n: tqdm(
        total=n, desc="decoding", unit="img", mininterval=5))
    seconds = time.perf_counter() - start
    return dict(images=len(images), from_cache=report.from_cache, workers=report.workers,
                seconds=round(seconds, 1), images_per_s=round(report.files_decoded / seconds, 1),
                cache_gb=round(os.path.getsize(report.cache) / 2 ** 30, 2),
                peak_rss_mb=peak_mb())   # the parent's; each worker holds a few chunks


def phase_reuse(args):
    from tinygan.data.load import load_images
    start = time.perf_counter()
    images, report = load_images(args.zip, args.size)
    return dict(images=len(images), from_cache=report.from_cache,
                ms=round(1000 * (time.perf_counter() - start), 1), peak_rss_mb=peak_mb())


def phase_epoch(args):
    from tinygan.data.batches import Batches
    from tinygan.data.load import load_images
    images, _ = load_images(args.zip, args.size)
    batches = Batches(images, args.batch, seed=0, flip=True)
    before = rss_mb()
    start = time.perf_counter()
    for step in range(batches.steps_per_epoch):
        batches.batch(step)
    seconds = time.perf_counter() - start
    return dict(batches=batches.steps_per_epoch, ms_per_batch=round(1000 * seconds /
                batches.steps_per_epoch, 2), rss_before_mb=round(before, 1),
                rss_after_mb=round(rss_mb(), 1), peak_rss_mb=peak_mb())


def run_cli_train(args, data, out):
    """`tinygan train` in a child process -> (seconds, the child's peak RSS in MB)."""
    os.makedirs(os.path.dirname(out), exist_ok=True)
    cmd = [sys.executable, "-c", REPORT_PEAK, "train", "--data", data, "--size", str(args.size),
           "--batch", str(args.batch), "--steps", str(args.steps), "--out", out,
           "--device", "cpu", "--sample-every", "100000", "--ckpt-every", "100000"]
    peak_file = out + ".peak"
    start = time.perf_counter()
    child = subprocess.run(cmd, cwd=os.path.dirname(HERE), stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, env=dict(os.environ,
                                                                       PEAK_FILE=peak_file))
    if child.returncode != 0:
        raise SystemExit(f"training failed:\n{child.stderr}")
    with open(peak_file) as f:
        peak_kb = int(f.read())
    return round(time.perf_counter() - start, 1), round(peak_kb / 1024, 1)


def phase_train(args):
    seconds, peak = run_cli_train(args, args.zip, os.path.join(args.workdir, f"run-{time.time()}"))
    return dict(steps=args.steps, batch=args.batch, seconds=seconds, peak_rss_mb=peak)


def phase_model(args):
    small = os.path.join(args.workdir, f"one-batch-{args.size}.npy")
    rng = np.random.default_rng(0)
    np.save(small, rng.integers(0, 256, (args.batch, args.size, args.size, 3), dtype=np.uint8))
    seconds, peak = run_cli_train(args, small, os.path.join(args.workdir, f"run-{time.time()}"))
    return dict(steps=args.steps, batch=args.batch, images=args.batch, seconds=seconds,
                peak_rss_mb=peak)


PHASES = dict(decode=phase_decode, reuse=phase_reuse, epoch=phase_epoch, train=phase_train,
              model=phase_model)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--count", type=int, default=200_000, help="faces in the synthetic set")
    p.add_argument("--size", type=int, default=128,
                   help="side in pixels the faces are resized to")
    p.add_argument("--batch", type=int, default=64,
                   help="batch size of the epoch, train and model phases")
    p.add_argument("--steps", type=int, default=3, help="training steps per training phase")
    p.add_argument("--phases", default="decode,reuse,epoch,train,model",
                   help="comma-separated phases to run, in this order")
    p.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "tinygan-bench-data"),
                   help="folder for the synthetic zip, its decode cache and the training runs")
    p.add_argument("--phase", help=argparse.SUPPRESS)   # run one phase in this process
    args = p.parse_args()
    args.zip = os.path.join(args.workdir, f"synthetic-{args.count}.zip")
    if args.phase:
        print(json.dumps(dict(phase=args.phase, **PHASES[args.phase](args))), flush=True)
        return
    os.makedirs(args.workdir, exist_ok=True)
    env = dict(os.environ, TINYGAN_CACHE=os.path.join(args.workdir, "cache"))
    start = time.perf_counter()
    make_zip(args.zip, args.count)
    print(json.dumps(dict(phase="make", count=args.count, zip_gb=round(
        os.path.getsize(args.zip) / 2 ** 30, 2), seconds=round(time.perf_counter() - start, 1),
        in_memory_gb=round(args.count * args.size ** 2 * 3 / 2 ** 30, 2))), flush=True)
    for phase in args.phases.split(","):
        subprocess.run([sys.executable, __file__, "--phase", phase, "--count", str(args.count),
                        "--size", str(args.size), "--batch", str(args.batch), "--steps",
                        str(args.steps), "--workdir", args.workdir], env=env, check=True)


if __name__ == "__main__":
    main()
