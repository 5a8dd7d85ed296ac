"""Benchmark tinygan's DCGAN: time full training steps and sampling, print one JSON line.

    python scripts/benchmarks/bench.py --size 64 --batch 64 --threads 2
    python scripts/benchmarks/bench.py --size 64 --profile          # plus a per-layer breakdown
    python scripts/benchmarks/bench.py --device gpu --batch 128
    python scripts/benchmarks/bench.py --size 64 --attention   # with self-attention in G and D

A step is one D update (real + fake) and one G update, exactly as in training. The GFLOP
figure is the nominal convolution arithmetic of a step, 2 * (3 * G_fwd + 9 * D_fwd) MACs, the
same definition scripts/benchmarks/bench_torch.py uses, so the two can be compared directly (with
--attention, the attention layers' products count too).

The "GEMM floor" is the step's matrix products alone: every product one step makes (recorded
through tinygan.fast.conv.gemm, with its shapes and memory layouts) is replayed on its own into
preallocated outputs. step / floor says how much the rest (im2col, col2im, BatchNorm,
activations, Adam) adds on top of the arithmetic.
"""

import argparse
import importlib
import json
import os
import resource
import sys
import time


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--size", type=int, default=64, choices=[32, 64, 96, 128],
                   help="image side in pixels")
    p.add_argument("--batch", type=int, default=64, help="images per training step")
    p.add_argument("--device", default="cpu", choices=["cpu", "gpu"],
                   help="cpu (NumPy) or gpu (CuPy)")
    p.add_argument("--threads", type=int, default=2, help="BLAS and worker threads (CPU)")
    p.add_argument("--steps", type=int, default=20, help="timed steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before the timed ones")
    p.add_argument("--nz", type=int, default=100, help="latent (noise) size")
    p.add_argument("--ngf", type=int, default=64, help="generator base width (channels)")
    p.add_argument("--ndf", type=int, default=64,
                   help="discriminator base width (channels)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the weights, the random images and the noise")
    p.add_argument("--profile", action="store_true", help="per-layer time table on stderr")
    p.add_argument("--tf32", action="store_true", help="GPU: TF32 tensor cores for float32 GEMMs")
    p.add_argument("--attention", action="store_true",
                   help="networks with self-attention on their 16 x 16 maps (--attention)")
    p.add_argument("--textbook", action="store_true",
                   help="build the networks from the textbook layers instead of tinygan/fast/")
    return p.parse_args()


args = parse()
# BLAS reads its thread count when NumPy is first imported, so set it before that
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)
os.environ["TINYGAN_THREADS"] = str(args.threads)
# as the tinygan command does, before NumPy loads: how OpenBLAS's idle threads wait
importlib.import_module("tinygan.run.launch").prepare_process()

import numpy as np  # noqa: E402

from tinygan.gan.networks import forward_macs  # noqa: E402
from tinygan.gan.step import GAN  # noqa: E402
from tinygan.nn import backend  # noqa: E402


def instrument(model, tag, table):
    """Wrap every layer's forward/backward in a timer that adds into table[(tag, i, name)]."""
    for i, layer in enumerate(model.layers):
        key = f"{tag}.{i} {layer.__class__.__name__}"
        for phase in ("forward", "backward"):
            original = getattr(layer, phase)

            def timed(*a, _original=original, _key=(key, phase), **kw):
                backend.synchronize()
                t = time.perf_counter()
                out = _original(*a, **kw)
                backend.synchronize()
                table[_key] = table.get(_key, 0.0) + time.perf_counter() - t
                return out

            setattr(layer, phase, timed)


def record_gemms(gan, real, z):
    """[(a, b)] template arrays with the shapes and layouts of every product of one step."""
    from tinygan.fast import conv
    seen, templates, original = [], {}, conv.gemm

    def recording(a, b, out=None):
        # one template per shape and layout: the replay needs the products, not their data
        pair = []
        for m in (a, b):
            key = (m.shape, m.dtype.str, m.flags.c_contiguous)
            pair.append(templates.setdefault(key, like(m)))
        seen.append(tuple(pair))
        return original(a, b, out=out)

    conv.gemm = recording
    try:
        gan.train_step(real, z)
    finally:
        conv.gemm = original
    return seen


def like(a):
    """A new array with a's shape, dtype and memory layout (C-ordered or transposed)."""
    xp = backend.get_xp(backend.device_of(a))
    if a.flags.c_contiguous or not a.flags.f_contiguous:
        return xp.ones(a.shape, dtype=a.dtype)
    return xp.ones(a.shape[::-1], dtype=a.dtype).T


def gemm_floor_ms(products, repeats=5):
    xp = backend.get_xp(backend.device_of(products[0][0]))
    by_shape = {}
    outs = [by_shape.setdefault((a.shape[0], b.shape[1]), xp.empty((a.shape[0], b.shape[1]),
                                                                   dtype=a.dtype))
            for a, b in products]
    times = []
    for _ in range(repeats + 1):
        backend.synchronize()
        t = time.perf_counter()
        for (a, b), out in zip(products, outs):
            xp.matmul(a, b, out=out)
        backend.synchronize()
        times.append(time.perf_counter() - t)
    return float(np.median(times[1:])) * 1e3


def main():
    if args.tf32:
        backend.enable_tf32()
    device = backend.resolve_device(args.device)
    gan = GAN(dict(size=args.size, nz=args.nz, ngf=args.ngf, ndf=args.ndf,
                   attention=args.attention), device=device,
              seed=args.seed, fast=not args.textbook)
    rng = np.random.default_rng(args.seed)
    xp = backend.get_xp(device)
    real = xp.asarray(rng.uniform(-1, 1, (args.batch, args.size, args.size, 3)), dtype=np.float32)
    table = {}
    times = []
    for i in range(args.warmup + args.steps):
        if args.profile and i == args.warmup:
            instrument(gan.G, "G", table)
            instrument(gan.D, "D", table)
        z = xp.asarray(rng.standard_normal((args.batch, args.nz)), dtype=np.float32)
        backend.synchronize()
        t = time.perf_counter()
        out = gan.train_step(real, z)
        float(out["loss_d"])   # the one host sync a logged step would do
        backend.synchronize()
        if i >= args.warmup:
            times.append(time.perf_counter() - t)

    training_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    floor = None if args.textbook else gemm_floor_ms(record_gemms(gan, real, z))
    G = gan.G_ema
    sample_times = []
    z = xp.asarray(rng.standard_normal((64, args.nz)), dtype=np.float32)
    for i in range(12):
        backend.synchronize()
        t = time.perf_counter()
        backend.to_host(G.forward(z, train=False))
        if i >= 2:
            sample_times.append(time.perf_counter() - t)

    macs = 3 * forward_macs(gan.G, (args.batch, args.nz)) + \
        9 * forward_macs(gan.D, (args.batch, args.size, args.size, 3))
    median = float(np.median(times))
    result = dict(impl="tinygan", device=device, size=args.size, batch=args.batch,
                  threads=args.threads, step_ms_median=round(median * 1e3, 1),
                  step_ms_min=round(min(times) * 1e3, 1),
                  images_per_s=round(args.batch / median, 1),
                  gemm_floor_ms=floor and round(floor, 1),
                  step_over_floor=floor and round(median * 1e3 / floor, 2),
                  gflop_per_step=round(2 * macs / 1e9, 2),
                  gflop_per_s=round(2 * macs / 1e9 / median, 1),
                  sample64_ms=round(float(np.median(sample_times)) * 1e3, 1),
                  peak_rss_mb=round(training_rss_mb, 1),   # training, before the floor's replay
                  numpy_version=np.__version__, tf32=args.tf32)
    if device == "gpu":
        result["gpu_mem_mb"] = round(backend.gpu_memory_mb(), 1)
    if args.profile:
        total = sum(table.values())
        print(f"{'layer':<28}{'forward ms':>12}{'backward ms':>13}{'share':>8}", file=sys.stderr)
        for key in sorted({k for k, _ in table}, key=lambda k: (k[0], int(k.split()[0][2:]))):
            f = table.get((key, "forward"), 0) / args.steps * 1e3
            b = table.get((key, "backward"), 0) / args.steps * 1e3
            print(f"{key:<28}{f:12.1f}{b:13.1f}{(f + b) / (total / args.steps * 1e3):8.1%}",
                  file=sys.stderr)
        layers_ms = total / args.steps * 1e3
        print(f"{'layers total':<28}{layers_ms:25.1f}   (step {median * 1e3:.1f} ms; the rest is "
              "loss, Adam, EMA)", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
