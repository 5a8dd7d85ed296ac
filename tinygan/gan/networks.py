"""The DCGAN generator and discriminator (Radford et al. 2015) for 32, 64, 96 and 128 px.

G: z (N, nz) -> (N, 1, 1, nz) -> ConvT k=s0/1/0 to an s0 x s0 map, BN, ReLU
   -> [ConvT 4/2/1, BN, ReLU] x (n - 1) -> ConvT 4/2/1, Tanh -> image (N, S, S, 3)
   (with g_norm "pixel", PixelNorm in BN's place and biases in the ConvTs)
D: image (N, S, S, 3) -> Conv 4/2/1, LeakyReLU -> [Conv 4/2/1, BN, LeakyReLU] x (n - 1)
   -> Conv k=s0/1/0 -> logit (N, 1)
   (with d_norm "spectral", every Conv spectrally normalised and with a bias, and no BN;
   with mbstd, a minibatch-standard-deviation channel before the last Conv: two options,
   independent of each other)
With attention, each network has one SelfAttention layer on its 16 x 16 maps (12 x 12 at
96 px): in G after the block that makes them, in D after the block that makes them.
Every upsampling step doubles the size and halves the channels (G); D mirrors it. The start
size s0 is 4 (6 for 96 px) and n = num_doublings(S), so 64 px has n = 4 doublings,
4 -> 8 -> 16 -> 32 -> 64.

The networks are built from the fast layers of tinygan/fast/ (same math, fewer passes);
`fast=False` builds them from the textbook layers instead.
"""

import math

from ..fast import FastBatchNorm2d, FastConv2d, FastConvTranspose2d, FastLeakyReLU, FastReLU
from ..nn import layers
from ..nn.dcgan_init import dcgan_init
from ..nn.layers import (
    Conv2d,
    ConvTranspose2d,
    Flatten,
    MinibatchStd,
    PixelNorm,
    Reshape,
    SelfAttention,
    Sequential,
    SpectralNorm,
    Tanh,
)
from .recipes import complete

SIZES = (32, 64, 96, 128)
# the config settings each network's layers depend on (a checkpoint's arrays fit only these)
GENERATOR_KEYS = ("size", "nz", "ngf", "g_norm", "attention")
DISCRIMINATOR_KEYS = ("size", "ndf", "d_norm", "mbstd", "attention")


def start_size(size):
    if size not in SIZES:
        raise ValueError(f"image size must be one of {', '.join(map(str, SIZES))}, not {size}")
    return 6 if size == 96 else 4


def num_doublings(size):
    return int(round(math.log2(size // start_size(size))))


# SAGAN attends on larger maps (half the image's side), but A holds (H*W)^2 numbers per image:
# on 32 x 32 maps a 64 px step took four times as long on the CPU, on 16 x 16 half as long again
ATTENTION_SIDE = 16


def attention_side(size):
    """The side of the maps a network of this image size attends on: its largest hidden map
    of at most ATTENTION_SIDE (G's maps are s0, 2 s0, ..., size / 2; D's the same)."""
    s0 = start_size(size)
    return max(s0 * 2 ** i for i in range(num_doublings(size)) if s0 * 2 ** i <= ATTENTION_SIDE)


def attending(attention, size, side, channels):
    """[a SelfAttention layer] if the network attends and this map is the one, else []."""
    return [SelfAttention(channels)] if attention and side == attention_side(size) else []


def layer_kinds(fast=True):
    """The classes a network is built from: the fast ones (tinygan/fast/), or the textbook ones."""
    if fast:
        return FastConv2d, FastConvTranspose2d, FastBatchNorm2d, FastReLU, FastLeakyReLU
    return (layers.Conv2d, layers.ConvTranspose2d, layers.BatchNorm2d, layers.ReLU,
            layers.LeakyReLU)


def generator(size=64, nz=100, ngf=64, fast=True, norm="batchnorm", attention=False):
    """(N, nz) noise -> (N, size, size, 3) images in [-1, 1].
    norm "batchnorm" (DCGAN) or "pixel": PixelNorm in BatchNorm's place and a bias in every
    ConvT, so no face depends on the others of its batch and there are no statistics to keep.
    attention adds a SelfAttention layer on the maps of side attention_side(size)."""
    _, ConvTranspose2d, BatchNorm2d, ReLU, _ = layer_kinds(fast)
    s0, n = start_size(size), num_doublings(size)
    pixel = norm == "pixel"

    def up(c_in, c_out, k, stride, padding):
        conv = ConvTranspose2d(c_in, c_out, k, stride, padding, bias=pixel)
        if pixel:   # the textbook ReLU: the fast one works in place, and PixelNorm keeps its
            return [conv, PixelNorm(), layers.ReLU()]   # output for its backward
        return [conv, BatchNorm2d(c_out), ReLU()]

    channels, side = ngf * 2 ** (n - 1), s0
    stack = [Reshape(1, 1, nz)] + up(nz, channels, s0, 1, 0)
    for _ in range(n - 1):
        stack += attending(attention, size, side, channels)
        stack += up(channels, channels // 2, 4, 2, 1)
        channels, side = channels // 2, side * 2
    stack += attending(attention, size, side, channels)
    stack += [ConvTranspose2d(channels, 3, 4, 2, 1, bias=pixel), Tanh()]
    return Sequential(*stack)


def generator_for(config, fast=True):
    """The generator a run's config describes (its recipe's, see tinygan/gan/recipes.py)."""
    c = complete(config)
    return generator(c["size"], c["nz"], c["ngf"], fast, norm=c["g_norm"],
                     attention=c["attention"])


def discriminator(size=64, ndf=64, fast=True, norm="batchnorm", mbstd=False, attention=False):
    """(N, size, size, 3) images -> (N, 1) logits (no sigmoid: the loss takes logits).
    norm "batchnorm" (DCGAN) or "spectral" (each conv divided by its spectral norm, no BN);
    mbstd adds a minibatch-standard-deviation channel before the last conv, attention a
    SelfAttention layer on the maps of side attention_side(size)."""
    Conv2d, _, BatchNorm2d, _, LeakyReLU = layer_kinds(fast)
    s0, n = start_size(size), num_doublings(size)
    spectral = norm == "spectral"

    def conv(c_in, c_out, k, stride, padding):
        layer = Conv2d(c_in, c_out, k, stride, padding, bias=spectral)
        # each layer its own starting vectors for the power iteration
        return SpectralNorm(layer, seed=len(stack)) if spectral else layer

    stack = []
    channels = ndf
    stack += [conv(3, channels, 4, 2, 1), LeakyReLU(0.2)]
    side = size // 2
    for _ in range(n - 1):
        stack += attending(attention, size, side, channels)
        stack.append(conv(channels, channels * 2, 4, 2, 1))
        if not spectral:
            stack.append(BatchNorm2d(channels * 2))
        stack.append(LeakyReLU(0.2))
        channels, side = channels * 2, side // 2
    stack += attending(attention, size, side, channels)
    if mbstd:
        stack.append(MinibatchStd(group_size=4))
    stack += [conv(channels + mbstd, 1, s0, 1, 0), Flatten()]
    return Sequential(*stack)


def discriminator_for(config, fast=True):
    """The discriminator a run's config describes (its recipe's, see tinygan/gan/recipes.py)."""
    c = complete(config)
    return discriminator(c["size"], c["ndf"], fast, norm=c["d_norm"], mbstd=c["mbstd"],
                         attention=c["attention"])


def build(config, rng=None, fast=True):
    """G and D for a config dict with keys size, nz, ngf, ndf (and the recipe's, see
    tinygan/gan/recipes.py); DCGAN-initialised from rng."""
    G = generator_for(config, fast)
    D = discriminator_for(config, fast)
    if rng is not None:
        dcgan_init(G, rng)
        dcgan_init(D, rng)
    return G, D


def forward_macs(model, x_shape):
    """Multiply-accumulates of the conv and attention layers in one forward pass (for GFLOP/s
    figures)."""
    total, shape = 0, x_shape
    for layer in model.layers:
        layer = getattr(layer, "layer", layer)   # a SpectralNorm's conv
        if isinstance(layer, Reshape):
            shape = (shape[0],) + tuple(layer.shape)
        if isinstance(layer, Conv2d):
            total += layer.macs(shape)
            shape = layer.output_shape(shape)
        elif isinstance(layer, ConvTranspose2d):
            total += layer.macs(shape)
            shape = layer.output_shape(shape)
        elif isinstance(layer, SelfAttention):
            total += layer.macs(shape)
    return total
