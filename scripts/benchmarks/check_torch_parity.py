"""Check tinygan's training step against PyTorch's DCGAN, step for step.

Both models start from the same weights and see the same images and noise; after each
training step the losses and all weights are compared. Agreement to float32 round-off shows
that every hand-written backward pass, the loss, BatchNorm's running statistics and Adam
behave exactly like PyTorch's autograd and optimizer. Needs `pip install torch`.

    python scripts/benchmarks/check_torch_parity.py --size 32 --steps 5
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--size", type=int, default=32, help="image side in pixels (32 or 64)")
    p.add_argument("--batch", type=int, default=16, help="images per training step")
    p.add_argument("--steps", type=int, default=5, help="training steps compared")
    p.add_argument("--ngf", type=int, default=16, help="generator width")
    p.add_argument("--ndf", type=int, default=16, help="discriminator width")
    args = p.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("this check needs PyTorch: pip install torch")
    from bench_torch import build_models

    from tinygan.gan.step import GAN

    torch.manual_seed(0)
    tG, tD = build_models(args.size, 100, args.ngf, args.ndf)
    gan = GAN(dict(size=args.size, nz=100, ngf=args.ngf, ndf=args.ndf, ema=0.0))

    def pairs(tiny, torch_model):
        """(tinygan layer, torch module) for every layer with weights, in order."""
        mine = [layer for layer in tiny.layers if layer.params]
        theirs = [m for m in torch_model if any(True for _ in m.parameters())]
        assert len(mine) == len(theirs)
        return list(zip(mine, theirs))

    def copy_weights(tiny, torch_model):
        for layer, module in pairs(tiny, torch_model):
            if "W" in layer.params:   # (k, k, a, b) -> torch's (b, a, k, k), both conv kinds
                layer.params["W"] = module.weight.detach().numpy().transpose(2, 3, 1, 0).copy()
            else:
                layer.params["gamma"] = module.weight.detach().numpy().copy()
                layer.params["beta"] = module.bias.detach().numpy().copy()

    def max_weight_diff(tiny, torch_model):
        worst = 0.0
        for layer, module in pairs(tiny, torch_model):
            key = "W" if "W" in layer.params else "gamma"
            theirs = module.weight.detach().numpy()
            mine = layer.params[key].transpose(3, 2, 0, 1) if key == "W" else layer.params[key]
            worst = max(worst, float(np.abs(mine - theirs).max() / (np.abs(theirs).max())))
        return worst

    copy_weights(gan.G, tG)
    copy_weights(gan.D, tD)
    optD = torch.optim.Adam(tD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = torch.optim.Adam(tG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = torch.nn.BCEWithLogitsLoss()
    rng = np.random.default_rng(0)
    worst = 0.0
    for step in range(args.steps):
        real = rng.uniform(-1, 1, (args.batch, args.size, args.size, 3)).astype(np.float32)
        z = rng.standard_normal((args.batch, 100)).astype(np.float32)
        mine = {k: float(v) for k, v in gan.train_step(real, z).items()}

        real_t = torch.from_numpy(real.transpose(0, 3, 1, 2).copy())
        z_t = torch.from_numpy(z.reshape(args.batch, 100, 1, 1))
        tD.zero_grad()
        out_real = tD(real_t).view(-1)
        err_real = bce(out_real, torch.ones_like(out_real))
        err_real.backward()
        fake = tG(z_t)
        out_fake = tD(fake.detach()).view(-1)
        err_fake = bce(out_fake, torch.zeros_like(out_fake))
        err_fake.backward()
        optD.step()
        tG.zero_grad()
        out = tD(fake).view(-1)
        err_g = bce(out, torch.ones_like(out))
        err_g.backward()
        optG.step()
        theirs = dict(loss_d=(err_real + err_fake).item(), loss_g=err_g.item())
        w = max(max_weight_diff(gan.G, tG), max_weight_diff(gan.D, tD))
        worst = max(worst, w)
        print(f"step {step + 1}: loss_d {mine['loss_d']:.6f} vs {theirs['loss_d']:.6f}   "
              f"loss_g {mine['loss_g']:.6f} vs {theirs['loss_g']:.6f}   "
              f"max weight difference (relative) {w:.1e}")
    running = [(layer.buffers["running_var"], m.running_var.numpy())
               for layer, m in pairs(gan.D, tD) if layer.buffers]
    bn_diff = max(float(np.abs(a - b).max()) for a, b in running)
    print(f"BatchNorm running_var max difference {bn_diff:.1e}")
    ok = worst < 1e-3 and bn_diff < 1e-4
    print("parity:", "ok" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
