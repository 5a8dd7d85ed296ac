"""The whole DCGAN on one page: the 2015 recipe (Radford et al.) trained on the built-in demo
faces, written out top to bottom from the textbook modules alone (tinygan/nn/, with the demo
faces and PNG writing of tinygan/data/): the two networks, D's step on real and on generated
faces, G's step, then the loop: the data, Adam, a progress grid.
No MPI, no recipes, no fast layers, no moving average: everything else in tinygan is this
loop made sturdier or faster. tests/test_textbook.py checks that its step is the library's
(`GAN.train_step` with `--recipe dcgan`).

    python -m tinygan.gan.dcgan --steps 600 --out dcgan-demo     # about 4 minutes on 2 cores

Shapes are channels-last (NHWC). At 32 px:
    G: z (N, nz) -> (N, 1, 1, nz) -> ConvT 4/1/0 -> 4x4x4g -> ConvT 4/2/1 -> 8x8x2g
       -> ConvT 4/2/1 -> 16x16xg -> ConvT 4/2/1 -> 32x32x3, tanh      (g = ngf)
    D: (N, 32, 32, 3) -> Conv 4/2/1 -> 16x16xd -> Conv 4/2/1 -> 8x8x2d -> Conv 4/2/1
       -> 4x4x4d -> Conv 4/1/0 -> (N, 1) logits                        (d = ndf)
"""

import argparse
import os

import numpy as np

from ..data.demo import demo_faces
from ..data.images import grid, save_png, to_float, to_uint8
from ..nn.dcgan_init import dcgan_init
from ..nn.layers import (
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    Flatten,
    LeakyReLU,
    ReLU,
    Reshape,
    Sequential,
    Tanh,
)
from ..nn.losses import bce_with_logits
from ..nn.optim import Adam


# -- the networks ----------------------------------------------------------------------------
def generator(nz=100, ngf=32):
    """Noise (N, nz) -> faces (N, 32, 32, 3) in [-1, 1]: each transposed convolution doubles
    the side and halves the channels; BatchNorm and ReLU between, tanh at the end."""
    return Sequential(
        Reshape(1, 1, nz),
        ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False), BatchNorm2d(ngf * 4), ReLU(),
        ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), BatchNorm2d(ngf * 2), ReLU(),
        ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), BatchNorm2d(ngf), ReLU(),
        ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), Tanh())


def discriminator(ndf=32):
    """Faces (N, 32, 32, 3) -> logits (N, 1): G mirrored, with LeakyReLU(0.2), no BatchNorm
    on the first layer, and no sigmoid (the loss takes logits: docs 6)."""
    return Sequential(
        Conv2d(3, ndf, 4, 2, 1, bias=False), LeakyReLU(0.2),
        Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), BatchNorm2d(ndf * 2), LeakyReLU(0.2),
        Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), BatchNorm2d(ndf * 4), LeakyReLU(0.2),
        Conv2d(ndf * 4, 1, 4, 1, 0, bias=False), Flatten())


# -- one training step -----------------------------------------------------------------------
def train_step(G, D, opt_G, opt_D, real, z):
    """One D step, then one G step (docs 8). Returns (D's loss, G's loss)."""
    ones, zeros = np.ones((len(real), 1), real.dtype), np.zeros((len(real), 1), real.dtype)

    # D on real faces: push their logits towards "real" (label 1)
    loss_real, dlogits = bce_with_logits(D.forward(real), ones)
    D.backward(dlogits)
    grad_real = D.flat_gradients()   # a new array: the next backward overwrites D's grads

    # D on generated faces: push their logits towards "fake" (label 0)
    fake = G.forward(z)
    loss_fake, dlogits = bce_with_logits(D.forward(fake), zeros)
    D.backward(dlogits)
    opt_D.step(D.flat_gradients() + grad_real)   # D's loss is the sum of the two terms

    # G: make D call the same faces real (the non-saturating loss), through the updated D
    loss_g, dlogits = bce_with_logits(D.forward(fake), ones)
    dfake = D.backward(dlogits)   # D's own gradients here are computed, and never used
    G.backward(dfake)
    opt_G.step(G.flat_gradients())
    return float(loss_real + loss_fake), float(loss_g)


# -- the loop --------------------------------------------------------------------------------
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tinygan.gan.dcgan",
                                description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--steps", type=int, default=600, help="training steps (D then G)")
    p.add_argument("--batch", type=int, default=64, help="faces per step")
    p.add_argument("--faces", type=int, default=4096, help="demo faces to train on")
    p.add_argument("--nz", type=int, default=100, help="length of the noise vector")
    p.add_argument("--ngf", type=int, default=32, help="G's width")
    p.add_argument("--ndf", type=int, default=32, help="D's width")
    p.add_argument("--every", type=int, default=100, help="steps between progress grids")
    p.add_argument("--seed", type=int, default=0, help="seeds weights, batches and noise")
    p.add_argument("--out", default="dcgan-demo", help="folder for the progress grids")
    args = p.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    data = to_float(demo_faces(args.faces, size=32, seed=args.seed))   # (N, 32, 32, 3)
    G, D = generator(args.nz, args.ngf), discriminator(args.ndf)
    dcgan_init(G, rng)   # conv weights N(0, 0.02), BatchNorm gamma N(1, 0.02)
    dcgan_init(D, rng)
    opt_G = Adam(G, lr=2e-4, betas=(0.5, 0.999))
    opt_D = Adam(D, lr=2e-4, betas=(0.5, 0.999))
    fixed_z = rng.standard_normal((64, args.nz)).astype(np.float32)   # the same faces, watched
    os.makedirs(args.out, exist_ok=True)

    order, position = rng.permutation(len(data)), 0
    for step in range(1, args.steps + 1):
        if position + args.batch > len(data):   # a new epoch: a new order
            order, position = rng.permutation(len(data)), 0
        real = data[order[position:position + args.batch]]
        position += args.batch
        z = rng.standard_normal((args.batch, args.nz)).astype(np.float32)
        loss_d, loss_g = train_step(G, D, opt_G, opt_D, real, z)
        if step % 10 == 0:
            print(f"step {step:5d}  D loss {loss_d:.3f}  G loss {loss_g:.3f}", flush=True)
        if step % args.every == 0 or step == args.steps:
            faces = to_uint8(G.forward(fixed_z, train=False))   # BatchNorm's running stats
            save_png(grid(faces, 8), os.path.join(args.out, f"step_{step:05d}.png"))
    print(f"progress grids in {args.out}/")


if __name__ == "__main__":
    main()
