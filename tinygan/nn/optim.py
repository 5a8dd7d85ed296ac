"""Optimizers: Adam and SGD. They update a network's parameters in place, all at once.

A network keeps its parameters in one flat array (`model.flat_parameters()`, see
layers/base.py) and can gather its gradients into another (`model.flat_gradients()`), so each
update below is a handful of whole-array operations, whatever the number of layers. The state
(Adam's moments, SGD's velocity) is flat too; `state_dict` names its pieces after the
parameters ('m/3.W'), so a checkpoint can save and restore it exactly.
"""

from .backend import array_module, to_host


class Optimizer:
    def __init__(self, model, lr):
        self.model = model
        self.lr = lr

    def step(self, grad=None):
        """One update of the model's parameters with the flat gradient `grad` (by default the
        gradients its layers hold now)."""
        p = self.model.flat_parameters()
        self.update(p, self.model.flat_gradients() if grad is None else grad)

    def update(self, p, g):
        raise NotImplementedError

    # state, flat on the device, as named host arrays per parameter and back
    def _split(self, flat, prefix):
        out, offset = {}, 0
        for name, layer, key in self.model.parameters():
            size = layer.params[key].size
            out[f"{prefix}/{name}"] = to_host(flat[offset:offset + size].reshape(
                layer.params[key].shape))
            offset += size
        return out

    def _join(self, state, prefix):
        """The flat array for the `prefix/<name>` entries of `state`, or None without them.
        Some but not all of them is a KeyError: a missing piece must not be taken for zeros."""
        p = self.model.flat_parameters()
        if not any(k.startswith(prefix + "/") for k in state):
            return None
        missing = [f"{prefix}/{name}" for name, _, _ in self.model.parameters()
                   if f"{prefix}/{name}" not in state]
        if missing:
            raise KeyError(f"optimizer state without {', '.join(missing)}")
        xp = array_module(p)
        flat, offset = xp.zeros_like(p), 0
        for name, layer, key in self.model.parameters():
            size = layer.params[key].size
            flat[offset:offset + size] = xp.asarray(state[f"{prefix}/{name}"],
                                                    dtype=p.dtype).reshape(-1)
            offset += size
        return flat

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


class SGD(Optimizer):
    """p <- p - lr * g  (with optional momentum: v <- mu v + g; p <- p - lr v)"""

    def __init__(self, model, lr=0.01, momentum=0.0):
        super().__init__(model, lr)
        self.momentum = momentum
        self.velocity = None

    def update(self, p, g):
        if self.momentum:
            if self.velocity is None:
                self.velocity = g.copy()
            else:
                self.velocity *= self.momentum
                self.velocity += g
            g = self.velocity
        p -= self.lr * g

    def state_dict(self):
        return {} if self.velocity is None else self._split(self.velocity, "velocity")

    def load_state_dict(self, state):
        self.velocity = self._join(state, "velocity")


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015), as PyTorch implements it:

        m <- b1 m + (1 - b1) g          v <- b2 v + (1 - b2) g^2
        p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

    `update` makes thirteen whole-array passes, one per NumPy operation on an array: three
    for m, four for v, six for p (tinygan/fast/optim.py runs the same thirteen in blocks).
    """

    def __init__(self, model, lr=2e-4, betas=(0.5, 0.999), eps=1e-8):
        super().__init__(model, lr)
        self.b1, self.b2 = betas
        self.eps = eps
        self.t = 0
        self.m = self.v = None

    def update(self, p, g):
        xp = array_module(p)
        if self.m is None:
            self.m, self.v = xp.zeros_like(p), xp.zeros_like(p)
        self.t += 1
        bias1 = 1 - self.b1 ** self.t
        bias2_sqrt = (1 - self.b2 ** self.t) ** 0.5
        m, v = self.m, self.v
        m *= self.b1
        m += (1 - self.b1) * g
        v *= self.b2
        v += (1 - self.b2) * (g * g)
        p -= (self.lr / bias1) * m / (xp.sqrt(v) / bias2_sqrt + self.eps)

    def state_dict(self):
        state = {"t": self.t}
        if self.m is not None:
            state.update(self._split(self.m, "m"))
            state.update(self._split(self.v, "v"))
        return state

    def load_state_dict(self, state):
        """Restore from `state_dict()` output; arrays go to the parameters' device and dtype."""
        t = int(state["t"])
        m, v = self._join(state, "m"), self._join(state, "v")
        if (m is None) != (v is None):
            raise KeyError("Adam state has first or second moments, not both")
        if t > 0 and m is None:
            raise KeyError(f"Adam state at step {t} has no moments")
        self.t, self.m, self.v = t, m, v
