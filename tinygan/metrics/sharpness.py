"""Sharpness: a per-face score that ranks smeared faces last (`tinygan sample --sharpest`)."""

import numpy as np

from ..data.images import to_float


def sharpness(faces):
    """How sharp the middle of each face is: the mean magnitude of the Laplacian

        L = 4 x[i, j] - x[i-1, j] - x[i+1, j] - x[i, j-1] - x[i, j+1]

    over the central half of the picture (rows and columns H/4 to 3H/4, where eyes and mouth
    are), on [-1, 1] values, averaged over the colours. uint8 faces (N, H, W, 3) -> (N,).
    The Laplacian is zero wherever the picture is flat or changes linearly, and large at
    edges; a blurred eye has smaller second differences than a drawn one, so smeared faces
    score low (the classic focus measure of cameras and microscopes)."""
    x = to_float(np.asarray(faces))
    h, w = x.shape[1:3]
    top, bottom, left, right = h // 4, 3 * h // 4, w // 4, 3 * w // 4
    centre = x[:, top:bottom, left:right]
    laplacian = (4 * centre - x[:, top - 1:bottom - 1, left:right]
                 - x[:, top + 1:bottom + 1, left:right] - x[:, top:bottom, left - 1:right - 1]
                 - x[:, top:bottom, left + 1:right + 1])
    return np.abs(laplacian).mean(axis=(1, 2, 3))
