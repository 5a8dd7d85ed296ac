"""What every layer shares: the Layer contract, and Sequential, which chains layers.

The contract (read it once; every layer follows it):
    y  = layer.forward(x, train=True)   caches what backward needs
    dx = layer.backward(dy)             writes layer.grads[name] for every layer.params[name]
                                        (overwritten, not accumulated) and returns dL/dx
`backward` never changes a weight: the optimizer does that, so gradients can be checked.
`layer.buffers` holds state that is not trained (BatchNorm running statistics).
Setting `layer.requires_grad = False` skips the parameter gradients (dx is still computed),
as when the generator's step backpropagates through a discriminator it does not update.
"""

import numpy as np

from ..backend import array_module, to_device, to_host


class Layer:
    def __init__(self):
        self.params = {}
        self.grads = {}
        self.buffers = {}
        self.requires_grad = True

    def forward(self, x, train=True):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    def __call__(self, x, train=True):
        return self.forward(x, train)

    def to(self, device):
        """Move parameters and buffers to 'cpu' or 'gpu' (in place); returns self."""
        for store in (self.params, self.buffers):
            for name, value in store.items():
                store[name] = to_device(value, device)
        self.grads = {}
        return self

    def astype(self, dtype):
        for store in (self.params, self.buffers):
            for name, value in store.items():
                store[name] = value.astype(dtype)
        return self

    def __repr__(self):
        shapes = ", ".join(f"{k}{tuple(v.shape)}" for k, v in self.params.items())
        return f"{self.__class__.__name__}({shapes})"


class Sequential(Layer):
    """Layers applied in order; backward walks them in reverse."""

    def __init__(self, *layers):
        super().__init__()
        self.layers = list(layers)

    def forward(self, x, train=True):
        for layer in self.layers:
            x = layer.forward(x, train)
        return x

    def backward(self, dy, input_grad=True):
        """Backpropagate dy; with input_grad=False the gradient with respect to the input is
        not needed (the input is data), so the first layer computes its weight gradients only
        and None is returned."""
        first, *rest = self.layers
        for layer in reversed(rest):
            dy = layer.backward(dy)
        if not input_grad and hasattr(first, "backward_params"):
            first.backward_params(dy)
            return None
        return first.backward(dy)

    def set_requires_grad(self, flag):
        for layer in self.layers:
            layer.requires_grad = flag

    def named_layers(self):
        """(prefix, layer) pairs; parameter `W` of layer 3 is called '3.W' everywhere."""
        return [(str(i), layer) for i, layer in enumerate(self.layers)]

    def parameters(self):
        """[(name, layer, key)] for every trained array, in a fixed order."""
        return [(f"{p}.{key}", layer, key)
                for p, layer in self.named_layers() for key in layer.params]

    def state_dict(self):
        """Every parameter and buffer as a host array, keyed '3.W', '4.running_mean', ..."""
        state = {}
        for prefix, layer in self.named_layers():
            for store in (layer.params, layer.buffers):
                for key, value in store.items():
                    state[f"{prefix}.{key}"] = to_host(value)
        return state

    def load_state_dict(self, state):
        """Copy arrays in (onto this model's device and dtype); shapes must match exactly."""
        expected = self.state_dict()
        missing = sorted(set(expected) - set(state))
        if missing:
            raise KeyError(f"missing arrays: {', '.join(missing[:5])}")
        for prefix, layer in self.named_layers():
            for store in (layer.params, layer.buffers):
                for key, value in store.items():
                    new = np.asarray(state[f"{prefix}.{key}"])
                    if new.shape != value.shape:
                        raise ValueError(f"{prefix}.{key}: shape {new.shape}, expected {value.shape}")
                    xp = array_module(value)
                    store[key] = xp.asarray(new, dtype=value.dtype)

    def to(self, device):
        for layer in self.layers:
            layer.to(device)
        return self

    def astype(self, dtype):
        for layer in self.layers:
            layer.astype(dtype)
        return self

    def num_parameters(self):
        return int(sum(layer.params[key].size for _, layer, key in self.parameters()))

    def __repr__(self):
        inner = "\n".join(f"  ({p}) {layer!r}" for p, layer in self.named_layers())
        return f"Sequential(\n{inner}\n)"


class Reshape(Layer):
    """(N, ...) -> (N, *shape); backward restores the input shape."""

    def __init__(self, *shape):
        super().__init__()
        self.shape = shape

    def forward(self, x, train=True):
        self.in_shape = x.shape
        return x.reshape((x.shape[0],) + self.shape)

    def backward(self, dy):
        return dy.reshape(self.in_shape)


class Flatten(Reshape):
    """(N, d1, d2, ...) -> (N, d1*d2*...)."""

    def __init__(self):
        super().__init__(-1)
