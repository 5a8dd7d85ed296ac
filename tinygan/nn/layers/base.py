"""What every layer shares: the Layer contract, and Sequential, which chains layers.

The contract (read it once; every layer follows it):
    y  = layer.forward(x, train=True)   caches what backward needs
    dx = layer.backward(dy)             writes layer.grads[name] for every layer.params[name]
                                        (overwritten, not accumulated) and returns dL/dx
`backward` never changes a weight: the optimizer does that, so gradients can be checked.
`layer.buffers` holds state that is not trained (BatchNorm running statistics).
Setting `layer.requires_grad = False` skips the parameter gradients (dx is still computed),
as when the generator's step backpropagates through a discriminator it does not update.

A Sequential keeps all its layers' parameters in one flat array (`flat_parameters()`), each
layer's `params[name]` being a view into it. The math is unchanged; the optimizer, the moving
average and a sum of gradients over processes then each touch one array instead of dozens.
"""

import copy

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
        self._flat, self._views = None, []

    def __deepcopy__(self, memo):
        # the copy gets its own flat array: copied views would no longer share one
        return Sequential(*copy.deepcopy(self.layers, memo))

    def forward(self, x, train=True):
        for layer in self.layers:
            x = layer.forward(x, train)
        return x

    def backward(self, dy, input_grad=True):
        """Backpropagate dy; with input_grad=False the gradient with respect to the input is
        not needed (the input is data, or noise), so the backward pass stops at the first layer
        with parameters, which computes its weight gradients only, and None is returned. (A
        layer without backward_params, such as Linear, runs its full backward instead, and
        the input gradient it returns can be ignored.)"""
        first = 0
        if not input_grad:   # layers before the first trained one need no backward pass
            while first < len(self.layers) - 1 and not self.layers[first].params:
                first += 1
        for layer in reversed(self.layers[first + 1:]):
            dy = layer.backward(dy)
        if not input_grad and hasattr(self.layers[first], "backward_params"):
            self.layers[first].backward_params(dy)
            return None
        return self.layers[first].backward(dy)

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

    def flat_parameters(self):
        """Every trained array of the network, concatenated in `parameters()` order, as one
        1-D array that the layers' `params` are views of. Built on first use, and again if a
        layer's array was replaced (by `to`, `astype` or an assignment)."""
        entries = self.parameters()
        current = self._flat is not None and len(self._views) == len(entries) and all(
            layer.params[key] is view for (_, layer, key), view in zip(entries, self._views))
        if not current:
            self._flatten(entries)
        return self._flat

    def _flatten(self, entries):
        arrays = [layer.params[key] for _, layer, key in entries]
        xp = array_module(arrays[0])
        flat = xp.empty(sum(a.size for a in arrays), dtype=arrays[0].dtype)
        offset, self._views = 0, []
        for (_, layer, key), a in zip(entries, arrays):
            view = flat[offset:offset + a.size].reshape(a.shape)
            view[...] = a
            layer.params[key] = view
            self._views.append(view)
            offset += a.size
        self._flat = flat

    def flat_gradients(self):
        """The layers' current gradients, gathered in the order of `flat_parameters()` into one
        new 1-D array (every layer must have run backward with requires_grad)."""
        grads = [layer.grads[key].reshape(-1) for _, layer, key in self.parameters()]
        return array_module(grads[0]).concatenate(grads)

    def state_dict(self):
        """Every parameter and buffer as a host array, keyed '3.W', '4.running_mean', ..."""
        state = {}
        for prefix, layer in self.named_layers():
            for store in (layer.params, layer.buffers):
                for key, value in store.items():
                    state[f"{prefix}.{key}"] = to_host(value)
        return state

    def load_state_dict(self, state):
        """Copy arrays in, in place (onto this model's device and dtype); shapes must match."""
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
                    value[...] = array_module(value).asarray(new, dtype=value.dtype)

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


def section(arrays, prefix):
    """The entries under 'prefix/', with the prefix removed."""
    start = prefix + "/"
    return {k[len(start):]: v for k, v in arrays.items() if k.startswith(start)}
