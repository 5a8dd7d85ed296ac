"""Fast Adam: the textbook update (tinygan/nn/optim.py) in blocks that stay in cache.

The textbook update is thirteen whole-array passes over the flat parameters, moments and
gradient (one per NumPy operation on an array in Adam.update: three for m, four for v, six for
p), each streaming millions of numbers through memory. Here the arrays are cut into
blocks of BLOCK numbers, and all thirteen passes run on one block while it sits in the core's
cache before the next block; the blocks are shared among the cores (threads.py). The result
equals the textbook one to float round-off (tests/test_fast.py). On a GPU the textbook update
runs.
"""

import numpy as np

from ..nn.optim import Adam
from .threads import over_batch

BLOCK = 1 << 15   # 128 kB of float32 per array: five arrays' blocks fit in a core's L2 cache


class FastAdam(Adam):
    def update(self, p, g):
        if not isinstance(p, np.ndarray):
            return super().update(p, g)
        if self.m is None:
            self.m, self.v = np.zeros_like(p), np.zeros_like(p)
        self.t += 1
        bias1 = 1 - self.b1 ** self.t
        bias2_sqrt = (1 - self.b2 ** self.t) ** 0.5
        over_batch(_update_blocks, p, g, self.m, self.v,
                   args=(self.b1, self.b2, self.lr / bias1, 1 / bias2_sqrt, self.eps))


def _update_blocks(p, g, m, v, b1, b2, step, inv_bias2_sqrt, eps):
    """p -= step * m / (sqrt(v) * inv_bias2_sqrt + eps), after the moments' updates, one
    block at a time (see the module's docstring)."""
    scratch = np.empty(min(BLOCK, len(p)), dtype=p.dtype)
    for start in range(0, len(p), BLOCK):
        block = slice(start, start + BLOCK)
        pb, gb, mb, vb = p[block], g[block], m[block], v[block]
        tmp = scratch[:len(pb)]
        mb *= b1
        np.multiply(gb, 1 - b1, out=tmp)
        mb += tmp
        vb *= b2
        np.multiply(gb, gb, out=tmp)
        tmp *= 1 - b2
        vb += tmp
        np.sqrt(vb, out=tmp)
        tmp *= inv_bias2_sqrt
        tmp += eps
        np.divide(mb, tmp, out=tmp)
        tmp *= step
        pb -= tmp
