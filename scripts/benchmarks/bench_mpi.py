#!/usr/bin/env python
"""Benchmark data-parallel training: 1 process x 2 BLAS threads, `mpiexec -n 2` x 1 thread, and
PyTorch, at each size, run one after the other; prints a Markdown table and a scaling note.

    python scripts/benchmarks/bench_mpi.py --sizes 32,64,96 --batch 64          # the README's numbers
    python scripts/benchmarks/bench_mpi.py --sizes 32 --batch 16 --steps 3 --warmup 1 --ngf 8 --ndf 8 \\
        --no-torch                                                   # a quick check

The single process is scripts/benchmarks/bench.py and PyTorch scripts/benchmarks/bench_torch.py (the existing
comparison). The MPI run is this script with --worker under mpiexec: every rank times the same
ParallelGAN steps on its share of the batch; a step's time is the slowest rank's, and the
communication share is the time spent inside MPI calls (which includes waiting for the slower
rank) over the step time. It then times the step's reductions alone, without any training in
between: that is the pure cost of the bytes reduced per step, the figure the ring-allreduce
model extrapolates to more ranks.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
# the ring model's links: bandwidth in Gb/s and a per-message latency (TCP on 10 Gb/s
# Ethernet; RDMA on a 100 Gb/s fabric). Assumptions, not measurements.
LINKS = ((10, 20e-6), (100, 2e-6))
MODEL_RANKS = (8, 64, 512)


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--sizes", default="32,64,96",
                   help="comma-separated image sizes in pixels, one table row each")
    p.add_argument("--batch", type=int, default=64,
                   help="global batch: images per step, over all ranks")
    p.add_argument("--ranks", type=int, default=2, help="MPI processes of the mpiexec run")
    p.add_argument("--steps", type=int, default=20, help="timed training steps per run")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before timing")
    p.add_argument("--nz", type=int, default=100, help="latent (noise) size")
    p.add_argument("--ngf", type=int, default=64, help="generator base width (channels)")
    p.add_argument("--ndf", type=int, default=64,
                   help="discriminator base width (channels)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch column")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, default=64, help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    return p.parse_args(argv)


# -- the worker: one rank under mpiexec ---------------------------------------------------------
def worker(args):
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)   # before NumPy is imported
    import time

    import numpy as np

    from tinygan.run import mpi as parallel

    world = parallel.world()
    if world.size == 1:
        sys.exit("--worker runs under mpiexec -n N (N > 1)")
    config = dict(size=args.size, nz=args.nz, ngf=args.ngf, ndf=args.ndf)
    gan = parallel.ParallelGAN(world, config, device="cpu", seed=0)
    local = args.batch // world.size
    rng = np.random.default_rng(world.rank)
    real = rng.uniform(-1, 1, (local, args.size, args.size, 3)).astype(np.float32)
    step_s, comm_s, bytes_per_step, calls = [], [], 0, 0
    for i in range(args.warmup + args.steps):
        z = rng.standard_normal((local, args.nz)).astype(np.float32)
        world.barrier()
        c0, b0, n0, t = world.comm_seconds, world.bytes_reduced, world.reductions, \
            time.perf_counter()
        float(gan.train_step(real, z)["loss_d"])
        if i >= args.warmup:
            step_s.append(time.perf_counter() - t)
            comm_s.append(world.comm_seconds - c0)
            bytes_per_step, calls = world.bytes_reduced - b0, world.reductions - n0
    slowest = np.empty(len(step_s))
    world.comm.Allreduce(np.array(step_s), slowest, op=world.MPI.MAX)
    share = world.comm.allreduce(float(np.sum(comm_s) / np.sum(step_s))) / world.size
    transfer_s = reductions_alone(world, gan, calls)
    if world.rank == 0:
        median = float(np.median(slowest))
        print(json.dumps(dict(
            impl=f"tinygan mpi x{world.size}", size=args.size, batch=args.batch,
            threads=args.threads, step_ms_median=round(median * 1e3, 1),
            images_per_s=round(args.batch / median, 1), comm_share=round(share, 3),
            reductions_per_step=calls, bytes_reduced_per_step=bytes_per_step,
            flat_bytes=[int(gan.G.num_parameters() * 4), int(gan.D.num_parameters() * 4)],
            reductions_alone_ms=round(transfer_s * 1e3, 2))))


def reductions_alone(world, gan, calls, repeats=10):
    """Seconds per step of the step's reductions by themselves: the two flat gradients and
    `calls - 2` per-channel BatchNorm sums (of 2 x 64 floats, a typical size)."""
    import time

    import numpy as np
    flats = [np.ones(net.num_parameters(), np.float32) for net in (gan.G, gan.D)]
    small = np.ones((2, 64), np.float32)
    world.barrier()
    t = time.perf_counter()
    for _ in range(repeats):
        for flat in flats:
            world.sum_in_place(flat)
        for _ in range(calls - 2):
            world.allreduce_sum(small)
    return world.comm.allreduce(time.perf_counter() - t, op=world.MPI.MAX) / repeats


# -- the driver: the three runs, one after the other --------------------------------------------
def run_json(cmd):
    print("[bench_mpi] " + " ".join(cmd), file=sys.stderr, flush=True)
    # this checkout's tinygan, whatever else is installed
    path = os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH")) if p)
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=path))
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode or not lines:
        print(proc.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(lines[-1])


def ring_ms(nbytes, ranks, gbit, latency):
    """Ring allreduce of nbytes over `ranks`: 2(p-1) messages of nbytes/p each way."""
    return 1e3 * (2 * (ranks - 1) * latency + 2 * (ranks - 1) / ranks * nbytes / (gbit * 1e9 / 8))


def small_ms(calls, ranks, latency):
    """`calls` tiny reductions, latency-bound: recursive doubling, 2 log2(p) messages each."""
    import math
    return 1e3 * calls * 2 * math.log2(ranks) * latency


def scaling_note(result):
    g, d = result["flat_bytes"]
    small = result["reductions_per_step"] - 2
    lines = [f"\nScaling note at {result['size']} px: {result['bytes_reduced_per_step'] / 1e6:.1f} "
             f"MB reduced per step (flat gradients of {g / 1e6:.1f} MB for G and {d / 1e6:.1f} "
             f"MB for D, plus {small} BatchNorm sums); measured on this machine, "
             f"{result['reductions_alone_ms']} ms per step for the reductions alone.",
             "Ring-allreduce model (gradients) + recursive doubling (BatchNorm sums), ms per step:",
             "| ranks | " + " | ".join(f"{b} Gb/s ({lat * 1e6:g} us)" for b, lat in LINKS) + " |",
             "|---:|" + "---:|" * len(LINKS)]
    for p in MODEL_RANKS:
        cells = [ring_ms(g, p, b, lat) + ring_ms(d, p, b, lat) + small_ms(small, p, lat)
                 for b, lat in LINKS]
        lines.append(f"| {p} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    args = parse(argv)
    if args.worker:
        return worker(args)
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or "mpiexec"
    torch = not args.no_torch and subprocess.run(
        [sys.executable, "-c", "import torch"], capture_output=True).returncode == 0
    if not args.no_torch and not torch:
        print("[bench_mpi] PyTorch is not importable: its column is left out", file=sys.stderr)
    common = ["--batch", str(args.batch), "--steps", str(args.steps), "--warmup", str(args.warmup),
              "--nz", str(args.nz), "--ngf", str(args.ngf), "--ndf", str(args.ndf)]
    rows, last_mpi = [], None
    for size in [int(s) for s in args.sizes.split(",")]:
        shape = ["--size", str(size)] + common
        one = run_json([sys.executable, "scripts/benchmarks/bench.py", "--threads", "2"] + shape)
        mpi = run_json([mpiexec, "-n", str(args.ranks), sys.executable, "scripts/benchmarks/bench_mpi.py",
                        "--worker", "--threads", "1"] + shape)
        th = run_json([sys.executable, "scripts/benchmarks/bench_torch.py", "--threads", "2"] + shape) \
            if torch else None
        rows.append((size, one, mpi, th))
        last_mpi = mpi or last_mpi
    print(table(rows, args))
    if last_mpi:
        print(scaling_note(last_mpi))


def table(rows, args):
    def cell(r, key, digits=1):
        return f"{r[key]:.{digits}f}" if r and key in r else "n/a"

    head = ["size", "1 x 2 threads ms/step", "img/s", f"mpiexec -n {args.ranks} ms/step", "img/s",
            "comm share", "PyTorch ms/step", "img/s", "mpi / PyTorch", "1 x 2 / PyTorch"]
    out = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for size, one, mpi, th in rows:
        ratio = lambda r: f"{r['step_ms_median'] / th['step_ms_median']:.2f}" if r and th else "n/a"
        out.append("| " + " | ".join([
            str(size), cell(one, "step_ms_median"), cell(one, "images_per_s"),
            cell(mpi, "step_ms_median"), cell(mpi, "images_per_s"),
            f"{mpi['comm_share']:.0%}" if mpi else "n/a",
            cell(th, "step_ms_median"), cell(th, "images_per_s"), ratio(mpi), ratio(one)]) + " |")
    out.append(f"\nbatch {args.batch} (global), {args.steps} timed steps after {args.warmup}; "
               "ms/step is the median (for MPI, of the slowest rank).")
    return "\n".join(out)


if __name__ == "__main__":
    main()
