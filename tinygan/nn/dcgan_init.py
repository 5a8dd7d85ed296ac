"""DCGAN initialisation (Radford et al. 2015): conv weights N(0, 0.02), BatchNorm gamma
N(1, 0.02) and beta 0 (a spectrally normalised conv's raw weight is drawn the same way, and
a self-attention layer's four projections; its gamma starts at 0, so it starts as the
identity, as in SAGAN).
Drawn on the host from a seeded generator, so a seed gives the same
weights on any device; written into the existing arrays, which may be views of the network's
flat parameter array."""

from .backend import array_module
from .layers import BatchNorm2d, Conv2d, ConvTranspose2d, Linear, SelfAttention, SpectralNorm


def _draw(array, rng, mean, std):
    """Fill `array` in place with N(mean, std) drawn on the host."""
    array[...] = array_module(array).asarray(rng.normal(mean, std, array.shape), dtype=array.dtype)


def dcgan_init(model, rng, std=0.02):
    for layer in model.layers:
        if isinstance(layer, (Conv2d, ConvTranspose2d, Linear, SpectralNorm)):
            _draw(layer.params["W"], rng, 0.0, std)
            if "b" in layer.params:
                layer.params["b"][...] = 0
        elif isinstance(layer, BatchNorm2d):
            _draw(layer.params["gamma"], rng, 1.0, std)
            layer.params["beta"][...] = 0
        elif isinstance(layer, SelfAttention):
            for key in ("W_query", "W_key", "W_value", "W_out"):
                _draw(layer.params[key], rng, 0.0, std)
            layer.params["gamma"][...] = 0
    return model
