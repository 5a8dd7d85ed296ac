"""Exercise 5: binary cross-entropy on logits, as a layer: forward gives the mean loss of
the logits z (N, 1) against fixed targets t, backward its gradient.

    loss_i = -t log s(z) - (1 - t) log(1 - s(z)),   s(z) = 1 / (1 + e^-z)
    L = mean over i of loss_i

Written this way it overflows: e^-z is inf in float32 for z < -88.7, and log(0) is -inf for
large z. Rewrite loss_i so that nothing large is ever exponentiated (docs/06-bce-on-logits.md
shows the identity), then derive dL/dz_i = (s(z_i) - t_i) / N. backward(dy) gets dy = dL_out/dL
(a number, the loss being a single value) and returns dy * dL/dz.

Grade your copy:  tinygan gradcheck --layer bce_on_logits.py:BCEWithLogits \\
                     --like BCEWithLogits
Solution:  bce_with_logits in tinygan/nn/losses.py.
"""

import numpy as np


class BCEWithLogits:
    def __init__(self, targets):
        self.targets = np.asarray(targets, dtype=np.float64)
        self.params, self.grads = {}, {}

    def forward(self, z, train=True):
        # TODO: the mean loss as a 0-d array (np.mean gives one); keep what backward needs
        raise NotImplementedError

    def backward(self, dy):
        # TODO: dy times dL/dz, shape of z
        raise NotImplementedError
