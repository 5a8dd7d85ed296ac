"""DCGAN initialisation (Radford et al. 2015): conv weights N(0, 0.02), BatchNorm gamma
N(1, 0.02) and beta 0. Drawn on the host from a seeded generator, so a seed gives the same
weights on any device."""

from .backend import array_module
from .layers import BatchNorm2d, Conv2d, ConvTranspose2d, Linear


def dcgan_init(model, rng, std=0.02):
    for layer in model.layers:
        xp = array_module(next(iter(layer.params.values()))) if layer.params else None
        if isinstance(layer, (Conv2d, ConvTranspose2d, Linear)):
            W = layer.params["W"]
            layer.params["W"] = xp.asarray(rng.normal(0.0, std, W.shape), dtype=W.dtype)
            if "b" in layer.params:
                layer.params["b"][...] = 0
        elif isinstance(layer, BatchNorm2d):
            g = layer.params["gamma"]
            layer.params["gamma"] = xp.asarray(rng.normal(1.0, std, g.shape), dtype=g.dtype)
            layer.params["beta"][...] = 0
    return model
