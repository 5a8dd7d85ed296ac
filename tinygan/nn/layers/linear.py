"""Linear: a fully connected layer on (N, n_in) rows."""

import numpy as np

from .base import Layer


class Linear(Layer):
    """y = x @ W + b

    Shapes:  x : (N, n_in)   W : (n_in, n_out)   b : (n_out,)   y : (N, n_out)
    Backward:  dW = x.T @ dy    db = sum of dy over N    dx = dy @ W.T
    """

    def __init__(self, n_in, n_out, bias=True):
        super().__init__()
        self.params["W"] = np.zeros((n_in, n_out), dtype=np.float32)
        if bias:
            self.params["b"] = np.zeros((n_out,), dtype=np.float32)

    def forward(self, x, train=True):
        self.x = x
        y = x @ self.params["W"]
        return y + self.params["b"] if "b" in self.params else y

    def backward(self, dy):
        if self.requires_grad:
            self.grads["W"] = self.x.T @ dy
            if "b" in self.params:
                self.grads["b"] = dy.sum(axis=0)
        return dy @ self.params["W"].T
