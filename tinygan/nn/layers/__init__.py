"""The layer library: each layer in its own file, forward and backward side by side."""

from .activations import LeakyReLU, ReLU, Sigmoid, Tanh
from .attention import SelfAttention
from .base import Flatten, Layer, Reshape, Sequential
from .batchnorm import BatchNorm2d
from .conv import Conv2d
from .conv_transpose import ConvTranspose2d
from .linear import Linear
from .minibatch_std import MinibatchStd
from .pixel_norm import PixelNorm
from .spectral_norm import SpectralNorm

__all__ = ["BatchNorm2d", "Conv2d", "ConvTranspose2d", "Flatten", "Layer", "LeakyReLU", "Linear",
           "MinibatchStd", "PixelNorm", "ReLU", "Reshape", "SelfAttention", "Sequential", "Sigmoid",
           "SpectralNorm", "Tanh"]
