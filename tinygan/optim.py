"""Optimizers: Adam and SGD. They read `layer.grads` and update `layer.params` in place.

Both keep their state as a flat dict of named arrays (`state_dict`), so a checkpoint can save
and restore it exactly.
"""

from .backend import array_module, to_host


class Optimizer:
    def __init__(self, model, lr):
        self.params = model.parameters()   # [(name, layer, key)]
        self.lr = lr

    def _pairs(self):
        for name, layer, key in self.params:
            yield name, layer.params[key], layer.grads[key]

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


class SGD(Optimizer):
    """p <- p - lr * g  (with optional momentum: v <- mu v + g; p <- p - lr v)"""

    def __init__(self, model, lr=0.01, momentum=0.0):
        super().__init__(model, lr)
        self.momentum = momentum
        self.velocity = {}

    def step(self):
        for name, p, g in self._pairs():
            if self.momentum:
                v = self.velocity.get(name)
                v = g.copy() if v is None else v * self.momentum + g
                self.velocity[name] = v
                g = v
            p -= self.lr * g

    def state_dict(self):
        return {f"velocity/{k}": to_host(v) for k, v in self.velocity.items()}

    def load_state_dict(self, state):
        self.velocity = {k.split("/", 1)[1]: v for k, v in state.items() if k.startswith("velocity/")}


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015), as PyTorch implements it:

        m <- b1 m + (1 - b1) g          v <- b2 v + (1 - b2) g^2
        p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
    """

    def __init__(self, model, lr=2e-4, betas=(0.5, 0.999), eps=1e-8):
        super().__init__(model, lr)
        self.b1, self.b2 = betas
        self.eps = eps
        self.t = 0
        self.m, self.v = {}, {}

    def step(self):
        self.t += 1
        bias1 = 1 - self.b1 ** self.t
        bias2_sqrt = (1 - self.b2 ** self.t) ** 0.5
        for name, p, g in self._pairs():
            xp = array_module(p)
            if name not in self.m:
                self.m[name], self.v[name] = xp.zeros_like(p), xp.zeros_like(p)
            m, v = self.m[name], self.v[name]
            m *= self.b1
            m += (1 - self.b1) * g
            v *= self.b2
            v += (1 - self.b2) * (g * g)
            p -= (self.lr / bias1) * m / (xp.sqrt(v) / bias2_sqrt + self.eps)

    def state_dict(self):
        state = {"t": self.t}
        for name in self.m:
            state[f"m/{name}"] = to_host(self.m[name])
            state[f"v/{name}"] = to_host(self.v[name])
        return state

    def load_state_dict(self, state):
        """Restore from `state_dict()` output; arrays go to the parameters' device and dtype."""
        self.t = int(state["t"])
        self.m, self.v = {}, {}
        for name, layer, key in self.params:
            p = layer.params[key]
            xp = array_module(p)
            if f"m/{name}" in state:
                self.m[name] = xp.asarray(state[f"m/{name}"], dtype=p.dtype)
                self.v[name] = xp.asarray(state[f"v/{name}"], dtype=p.dtype)
