#!/usr/bin/env python
"""Time the reference PyTorch DCGAN, for comparison with tinygan's own benchmark.

The networks and the training step follow the DCGAN recipe of pytorch/examples:

* Generator: a transposed convolution from the 1x1 latent to an s0 x s0 map
  (s0 = 6 for 96x96 images, 4 otherwise), then stride-2 transposed
  convolutions (kernel 4, padding 1) that halve the channel count and double
  the resolution, BatchNorm + ReLU in between, Tanh at the end.
* Discriminator: the mirror image, stride-2 convolutions with BatchNorm +
  LeakyReLU(0.2) and a final s0 x s0 convolution giving one logit per image
  (trained with BCEWithLogitsLoss).
* Weights ~ N(0, 0.02), BatchNorm gamma ~ N(1, 0.02), beta = 0;
  Adam(lr=2e-4, betas=(0.5, 0.999)) for both networks.

One training step is: D(real) against label 1 and backward; fake = G(z);
D(fake.detach()) against label 0 and backward; D optimiser step; D(fake)
against label 1 and backward; G optimiser step.  The "real" images are random
values in [-1, 1], since speed does not depend on the content.

The script prints a single JSON line on stdout, e.g.::

    {"impl": "torch", "device": "cpu", "size": 64, "batch": 64, "threads": 2,
     "step_ms_median": ..., "step_ms_min": ..., "images_per_s": ...,
     "gflop_per_step": 159.7, "gflop_per_s": ..., "sample64_ms": ...,
     "peak_rss_mb": ..., "torch_version": "...", ...}

gflop_per_step is the nominal convolution arithmetic of one step,
2 * (3 * G_fwd_MACs + 9 * D_fwd_MACs) / 1e9: the generator runs forward once
and backward once (counted as twice a forward), the discriminator runs forward
three times and backward three times.  Normalisation, activations, the loss and
the optimiser are not counted.

Examples::

    python scripts/benchmarks/bench_torch.py --size 64 --batch 64 --threads 2
    python scripts/benchmarks/bench_torch.py --size 128 --device cuda --steps 50
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import sys
import time

SIZES = (32, 64, 96, 128)


def start_resolution(size: int) -> int:
    """Spatial size of the first generator feature map (and last D input)."""
    return 6 if size == 96 else 4


def num_upsamplings(size: int) -> int:
    """Number of stride-2 stages between s0 and the image size."""
    n = math.log2(size / start_resolution(size))
    if n != int(n) or n < 1:
        raise ValueError(f"unsupported image size {size}")
    return int(n)


def build_models(size: int, nz: int, ngf: int, ndf: int):
    """Return (generator, discriminator) for square images of side ``size``."""
    from torch import nn

    s0 = start_resolution(size)
    n_up = num_upsamplings(size)

    g_layers = [
        nn.ConvTranspose2d(nz, ngf * 2 ** (n_up - 1), s0, 1, 0, bias=False),
        nn.BatchNorm2d(ngf * 2 ** (n_up - 1)),
        nn.ReLU(True),
    ]
    for i in range(n_up - 1, 0, -1):
        g_layers += [
            nn.ConvTranspose2d(ngf * 2**i, ngf * 2 ** (i - 1), 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2 ** (i - 1)),
            nn.ReLU(True),
        ]
    g_layers += [nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh()]

    d_layers = [nn.Conv2d(3, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
    for i in range(1, n_up):
        d_layers += [
            nn.Conv2d(ndf * 2 ** (i - 1), ndf * 2**i, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2**i),
            nn.LeakyReLU(0.2, inplace=True),
        ]
    d_layers += [nn.Conv2d(ndf * 2 ** (n_up - 1), 1, s0, 1, 0, bias=False)]

    netG = nn.Sequential(*g_layers)
    netD = nn.Sequential(*d_layers)
    netG.apply(init_weights)
    netD.apply(init_weights)
    return netG, netD


def init_weights(m) -> None:
    """DCGAN initialisation: conv weights N(0, 0.02), BN gamma N(1, 0.02), beta 0."""
    from torch import nn

    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def conv_macs(module, input_shape) -> int:
    """Multiply-accumulates of all (transposed) convolutions in one forward pass.

    ``input_shape`` includes the batch dimension.  The count is analytic: the
    module is copied to the ``meta`` device and run there with forward hooks
    that read the layer shapes, so nothing is computed and ``module`` itself is
    left untouched.

    * Conv2d:          N * Hout * Wout * Cout * (Cin / groups) * kh * kw
    * ConvTranspose2d: N * Hin  * Win  * Cin  * (Cout / groups) * kh * kw
    """
    import copy

    import torch
    from torch import nn

    total = 0

    def hook(layer, inputs, output):
        nonlocal total
        kh, kw = layer.kernel_size
        if isinstance(layer, nn.ConvTranspose2d):
            n, cin, h, w = inputs[0].shape
            per_pos = cin * (layer.out_channels // layer.groups) * kh * kw
        else:
            n, _, h, w = output.shape
            per_pos = layer.out_channels * (layer.in_channels // layer.groups) * kh * kw
        total += int(n) * int(h) * int(w) * per_pos

    shadow = copy.deepcopy(module).to("meta")
    handles = [
        m.register_forward_hook(hook)
        for m in shadow.modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))
    ]
    try:
        with torch.no_grad():
            shadow(torch.empty(tuple(input_shape), device="meta"))
    finally:
        for h in handles:
            h.remove()
    return total


def step_gflop(netG, netD, batch: int, nz: int, size: int) -> float:
    """Nominal GFLOP of one training step: 2 * (3 * G_MACs + 9 * D_MACs) / 1e9."""
    g = conv_macs(netG, (batch, nz, 1, 1))
    d = conv_macs(netD, (batch, 3, size, size))
    return 2.0 * (3 * g + 9 * d) / 1e9


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Time the pytorch/examples DCGAN training step and sampling "
        "and print one JSON line.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--size", type=int, default=64, choices=SIZES, help="image side in pixels")
    p.add_argument("--batch", type=int, default=64, help="training batch size")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="cpu, or cuda for an NVIDIA GPU")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads value")
    p.add_argument("--steps", type=int, default=20, help="number of timed training steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before timing")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the weights, the random images and the noise")
    p.add_argument("--nz", type=int, default=100, help="latent size")
    p.add_argument("--ngf", type=int, default=64, help="generator base width")
    p.add_argument("--ndf", type=int, default=64, help="discriminator base width")
    p.add_argument(
        "--channels-last",
        action="store_true",
        help="use the channels_last memory format for models and data",
    )
    args = p.parse_args(argv)
    for name in ("batch", "threads", "steps", "nz", "ngf", "ndf"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1")
    if args.warmup < 0:
        p.error("--warmup must be non-negative")
    return args


class Timer:
    """Wall-clock timer on CPU; CUDA events on the GPU."""

    def __init__(self, device):
        import torch

        self.torch = torch
        self.cuda = device.type == "cuda"

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()

    def time_calls(self, fn, repeats: int) -> list[float]:
        """Run ``fn`` ``repeats`` times and return each call's duration in ms."""
        if self.cuda:
            ev = self.torch.cuda.Event
            pairs = []
            self.sync()
            for _ in range(repeats):
                start, end = ev(enable_timing=True), ev(enable_timing=True)
                start.record()
                fn()
                end.record()
                pairs.append((start, end))
            self.sync()
            return [s.elapsed_time(e) for s, e in pairs]
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
        return times


def main(argv=None) -> int:
    args = parse_args(argv)

    import torch
    from torch import nn, optim

    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench_torch: --device cuda requested but CUDA is not available", file=sys.stderr)
        return 2

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as in pytorch/examples
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format

    netG, netD = build_models(args.size, args.nz, args.ngf, args.ndf)
    gflop = step_gflop(netG, netD, args.batch, args.nz, args.size)
    netG = netG.to(device, memory_format=fmt)
    netD = netD.to(device, memory_format=fmt)

    criterion = nn.BCEWithLogitsLoss()
    optD = optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))

    b = args.batch
    real = (torch.rand(b, 3, args.size, args.size, device=device) * 2 - 1).contiguous(
        memory_format=fmt
    )
    ones = torch.full((b,), 1.0, device=device)
    zeros = torch.full((b,), 0.0, device=device)

    def train_step() -> None:
        # (1) update D: maximise log D(x) + log(1 - D(G(z)))
        netD.zero_grad()
        errD_real = criterion(netD(real).view(-1), ones)
        errD_real.backward()
        noise = torch.randn(b, args.nz, 1, 1, device=device)
        fake = netG(noise)
        errD_fake = criterion(netD(fake.detach()).view(-1), zeros)
        errD_fake.backward()
        optD.step()
        # (2) update G: maximise log D(G(z))
        netG.zero_grad()
        errG = criterion(netD(fake).view(-1), ones)
        errG.backward()
        optG.step()

    timer = Timer(device)
    netG.train()
    netD.train()
    for _ in range(args.warmup):
        train_step()
    timer.sync()
    step_ms = timer.time_calls(train_step, args.steps)

    netG.eval()
    z64 = torch.randn(64, args.nz, 1, 1, device=device)

    def sample() -> None:
        with torch.no_grad():
            netG(z64)

    for _ in range(2):
        sample()
    timer.sync()
    sample_ms = timer.time_calls(sample, 10)

    median_ms = statistics.median(step_ms)
    median_s = median_ms / 1e3
    result = {
        "impl": "torch",
        "device": args.device,
        "size": args.size,
        "batch": b,
        "threads": args.threads,
        "step_ms_median": round(median_ms, 3),
        "step_ms_min": round(min(step_ms), 3),
        "images_per_s": round(b / median_s, 2),
        "gflop_per_step": round(gflop, 3),
        "gflop_per_s": round(gflop / median_s, 2),
        "sample64_ms": round(statistics.median(sample_ms), 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "gpu_mem_mb": (
            round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
            if device.type == "cuda"
            else None
        ),
        "torch_version": torch.__version__,
        "steps": args.steps,
        "warmup": args.warmup,
        "nz": args.nz,
        "ngf": args.ngf,
        "ndf": args.ndf,
        "channels_last": args.channels_last,
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
