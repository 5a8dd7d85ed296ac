"""Shuffled training batches from a uint8 image set, prepared one step ahead in a thread."""

import mmap
import queue
import threading

import numpy as np

from .cache import mapping_of
from .sources import DataError


class Batches:
    """Shuffled batches of a uint8 data set, as [-1, 1] floats, prepared in a background thread.

    The batch of a given step depends only on (seed, step): the permutation of epoch e is drawn
    from rng([seed, e]) and the flips of step t from rng([seed, t, 1]). That makes a resumed run
    see exactly the batches an uninterrupted one would. The last partial batch of each epoch is
    dropped, as in the usual DCGAN recipe.

    With `share=(rank, ranks)` (data-parallel training, tinygan/run/mpi.py) the batch is
    still drawn whole, and this process gets its slice `rank` of `ranks` equal slices.

    When the images are a memory map of the decode cache, the pages a batch touched are handed
    back to the operating system once the batch is copied out: otherwise every page read would
    stay resident, and after one epoch the process would hold the whole set in memory.
    """

    def __init__(self, images, batch_size, seed=0, flip=False, dtype=np.float32, share=(0, 1)):
        if len(images) < batch_size:
            raise DataError(f"the data has {len(images)} images, fewer than one batch of "
                            f"{batch_size}; use a smaller --batch")
        self.images, self.batch_size, self.seed, self.flip, self.dtype = \
            images, batch_size, seed, flip, dtype
        self.steps_per_epoch = len(images) // batch_size
        self._perm_epoch, self._perm = None, None
        self._mapping = mapping_of(images)
        rank, ranks = share
        part = batch_size // ranks
        self.part = slice(rank * part, (rank + 1) * part)

    def indices(self, step):
        epoch, i = divmod(step, self.steps_per_epoch)
        if self._perm_epoch != epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(len(self.images))
            self._perm_epoch = epoch
        return self._perm[i * self.batch_size:(i + 1) * self.batch_size]

    def batch(self, step):
        """(batch, size, size, 3) floats in [-1, 1] for training step `step` (this process's
        slice of them)."""
        x = self.images[self.indices(step)[self.part]]   # a copy: fancy indexing
        self.release_pages()
        if self.flip:
            coins = np.random.default_rng([self.seed, step, 1]).random(self.batch_size)
            flips = coins[self.part] < 0.5
            x = np.where(flips[:, None, None, None], x[:, :, ::-1], x)
        return x.astype(self.dtype) * self.dtype(2 / 255) - self.dtype(1)

    def release_pages(self):
        """Drop the memory-mapped pages read so far from this process (they stay in the page
        cache, so reading them again is cheap); a no-op for images in memory."""
        if self._mapping is not None and hasattr(mmap, "MADV_DONTNEED"):   # not on Windows
            self._mapping.madvise(mmap.MADV_DONTNEED)

    def iterate(self, start_step, prefetch=2):
        """Yield batches for start_step, start_step + 1, ... prepared one step ahead."""
        q = queue.Queue(maxsize=prefetch)
        stop = threading.Event()

        def work():
            step = start_step
            while not stop.is_set():
                item = self.batch(step)
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                step += 1

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        try:
            while True:
                yield q.get()
        finally:
            stop.set()
