"""SpectralNorm: a Conv2d or Linear whose weight is divided by its largest singular value.

Miyato et al. (2018) keep the discriminator 1-Lipschitz-ish, layer by layer, by using
W / sigma(W) instead of W, where sigma(W) is the spectral norm (largest singular value) of the
weight seen as a matrix. sigma is estimated by power iteration, one step per training forward
pass, continuing from the previous pass's vectors: as the weights change slowly, one step keeps
the estimate accurate. This is `torch.nn.utils.spectral_norm`, in the same order of operations.
"""

import numpy as np

from ..backend import array_module
from .base import Layer
from .conv import Conv2d
from .linear import Linear


def normalize(v, eps):
    """v / max(|v|, eps): a unit vector, and no division by zero for v = 0."""
    xp = array_module(v)
    return v / xp.maximum(xp.sqrt((v * v).sum()), eps)


class SpectralNorm(Layer):
    """The wrapped layer, run with W_sn = W / sigma(W) in place of its weight W.

    Shapes (the wrapped layer's; C_out = W.shape[-1], its output channels):
        Conv2d W : (k, k, C_in, C_out)    Linear W : (n_in, n_out)
        M = W.reshape(-1, C_out).T : (C_out, R), R = W.size / C_out   (PyTorch's matrix, dim 0)
        buffers u : (C_out,)  v : (R,)    unit vectors, the power iteration's state

    Forward. In train mode, n_power_iterations steps of
        v <- normalize(M.T u)      u <- normalize(M v)
    then, in both modes, sigma = u . M v and the layer runs with W_sn = W / sigma.
    Eval mode skips the power iteration: sigma = u . M v with the stored u and v and the
    current W (as in PyTorch).

    Backward. u and v are constants (PyTorch computes them outside autograd), so
    sigma = u^T M v is linear in W, with d sigma / dM = u v^T. The wrapped layer's backward
    gives G = dL/dW_sn; by the quotient rule, for each element,
        dL/dW = G / sigma - sum(G * W) / sigma^2 * u v^T = (G - <G, W_sn> u v^T) / sigma
    (u v^T taken back to W's shape). The bias, if any, is not normalised: db and dx are the
    wrapped layer's own.

    Parameters: `params` is the wrapped layer's own dict (W raw, b), listed once, by this
    layer; the optimizer updates the raw W. The wrapped layer itself is handed, at each call,
    a fresh dict holding W_sn and the same b, so the stored W is never replaced (it may be a
    view of a network's flat parameter array).

    Arguments: `layer` a Conv2d or Linear (its W already initialised or not); `n_power_iterations`
    per training pass (1, as in the paper); `eps` guards the normalisations; `seed` of the
    random starting u and v.
    """

    def __init__(self, layer, n_power_iterations=1, eps=1e-12, seed=0):
        super().__init__()
        if not isinstance(layer, (Conv2d, Linear)):
            raise TypeError(f"SpectralNorm wraps a Conv2d or a Linear, not {type(layer).__name__}"
                            ": its matrix groups W by the last axis, their output channels")
        self.layer, self.n_power_iterations, self.eps = layer, n_power_iterations, eps
        self.params = layer.params
        layer.params = {}
        W = self.params["W"]
        c_out, rest = W.shape[-1], W.size // W.shape[-1]
        # random unit vectors to start from, drawn on the host as all randomness is
        rng = np.random.default_rng(seed)
        xp = array_module(W)
        for name, size in (("u", c_out), ("v", rest)):
            start = normalize(rng.standard_normal(size), eps)
            self.buffers[name] = xp.asarray(start, dtype=W.dtype)

    def matrix(self):
        """The weight as the (C_out, R) matrix whose largest singular value is sigma."""
        W = self.params["W"]
        return W.reshape(-1, W.shape[-1]).T

    def power_iteration(self):
        """Move u and v towards the top singular vectors of M; the buffers get the new vectors."""
        M, u = self.matrix(), self.buffers["u"]
        for _ in range(self.n_power_iterations):
            v = normalize(M.T @ u, self.eps)
            u = normalize(M @ v, self.eps)
            self.buffers["v"] = v
        self.buffers["u"] = u

    def sigma(self):
        """The spectral norm estimate u . M v from the stored vectors (a 0-d array)."""
        return self.buffers["u"] @ (self.matrix() @ self.buffers["v"])

    def forward(self, x, train=True):
        if train:
            self.power_iteration()
        self.sigma_used = self.sigma()
        self.W_sn = self.params["W"] / self.sigma_used
        self.layer.params = dict(self.params, W=self.W_sn)
        return self.layer.forward(x, train)

    def backward(self, dy):
        self.layer.requires_grad = self.requires_grad
        dx = self.layer.backward(dy)
        self._weight_gradients()
        return dx

    def backward_params(self, dy):
        """The parameter gradients alone (the first layer of a network: no dx needed)."""
        self.layer.requires_grad = self.requires_grad
        getattr(self.layer, "backward_params", self.layer.backward)(dy)
        self._weight_gradients()

    def _weight_gradients(self):
        """dL/dW from the wrapped layer's dL/dW_sn; the bias gradient passes through."""
        if not self.requires_grad:
            return
        G, u, v = self.layer.grads["W"], self.buffers["u"], self.buffers["v"]
        uv_t = (v[:, None] * u[None, :]).reshape(G.shape)   # u v^T laid out like W
        self.grads["W"] = (G - (G * self.W_sn).sum() * uv_t) / self.sigma_used
        if "b" in self.params:
            self.grads["b"] = self.layer.grads["b"]

    def __repr__(self):
        shapes = ", ".join(f"{k}{tuple(v.shape)}" for k, v in self.params.items())
        return f"SpectralNorm({type(self.layer).__name__}({shapes}))"
