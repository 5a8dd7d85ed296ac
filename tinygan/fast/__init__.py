"""The fast variants: faster versions of the textbook layers, kept apart so those still read
as plain math.

Each class here subclasses its textbook layer (same parameters, same results to float
round-off; tests/test_fast.py checks forward and backward in float64) and changes only how
the work is done: reused buffers instead of fresh big arrays (buffers.py), im2col as one
strided copy and col2im in fewer additions (im2col.py), a channels-first layout for the RGB
layer on the CPU (conv.py), BatchNorm and the activations in fewer passes (batchnorm.py,
activations.py), Adam in cache-sized blocks (optim.py); and, on the CPU, most copies and
element-wise passes cut along the batch and run on all cores (threads.py). The networks
(tinygan/gan/networks.py) and the GAN's optimizers use these by default; `fast=False` (and
`tinygan train --textbook`) builds the textbook ones.

Two rules come with the speed. A fast layer's output may live in a buffer that the next call
of any fast convolution reuses (the shared im2col and col2im buffers), so it must be consumed
before that, as Sequential does. And the fast activations work in place, overwriting
their input, so they belong after a layer that does not keep its output (as in the models).
"""

from .activations import FastLeakyReLU, FastReLU
from .batchnorm import FastBatchNorm2d
from .buffers import held_bytes, release
from .conv import FastConv2d, FastConvTranspose2d
from .optim import FastAdam

__all__ = ["FastAdam", "FastBatchNorm2d", "FastConv2d", "FastConvTranspose2d", "FastLeakyReLU",
           "FastReLU", "held_bytes", "release"]
