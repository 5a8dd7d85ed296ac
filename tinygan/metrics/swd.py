"""Multi-scale sliced Wasserstein distance (SWD) between two sets of images.

This is the image-quality metric of Karras et al. 2018, "Progressive Growing of GANs for
Improved Quality, Stability, and Variation" (section 5). It compares the *local patch
statistics* of two image sets at several scales:

1. Every image is split into a Laplacian pyramid, one level per resolution from the full size
   down to the coarsest at least 16 px (16 for 64 px images, 24 for 96 px), so that each
   level holds the detail that lives at that scale.
2. From every level, random 7x7 neighbourhoods are cut out; each one is a 7*7*3 = 147-dim
   descriptor. Each set's descriptors are normalised per colour channel.
3. The two descriptor clouds are compared with the sliced Wasserstein distance: project both on
   random unit directions, where the 1-D Wasserstein-1 distance between equal-sized samples is
   just the mean absolute difference of the sorted projections.

Lower is better; the numbers are reported multiplied by 1e3, as in the paper. A small value at
the finest level means the fine texture (edges, noise) matches; at the coarsest it means the
coarse layout and the variation of colours match (each set's global per-channel mean and
spread are normalised out, step 2).

Everything here is NumPy on the CPU. Images are processed in chunks so that 2048 vs 2048
images at 64x64 fit comfortably in memory.
"""

import itertools

import numpy as np

NHOOD_SIZE = 7  # side of the square neighbourhoods used as descriptors
_CHUNK = 256  # images per chunk while building pyramids (bounds temporaries)
_DIR_BLOCK = 32  # directions projected at once (bounds the (dirs, descriptors) array)
_STAT_ROWS = 1 << 20  # rows (pixels) per block when taking channel statistics

# 1-D binomial kernel; its outer product with itself is the 5x5 filter of the reference code.
_BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0], dtype=np.float32) / 16.0


# --------------------------------------------------------------------------------------------
# Laplacian pyramid
# --------------------------------------------------------------------------------------------


def _filter_axis(x, axis, kernel):
    """Correlate `x` with a 5-tap `kernel` along `axis`, mirror ("reflect") borders.

    Mirror means d c b | a b c d | c b a (the edge sample is not repeated), the same as
    `scipy.ndimage.convolve(mode="mirror")` in the reference implementation.
    The kernel is symmetric, so correlation and convolution coincide.

    x: (..., L, ...) float32  ->  same shape.
    """
    pad = [(0, 0)] * x.ndim
    pad[axis] = (2, 2)
    xp = np.pad(x, pad, mode="reflect")
    length = x.shape[axis]
    out = None
    for tap, weight in enumerate(kernel):
        index = [slice(None)] * x.ndim
        index[axis] = slice(tap, tap + length)
        term = weight * xp[tuple(index)]
        out = term if out is None else out + term
    return out


def _pyr_down(x):
    """Blur with the 5x5 binomial filter and keep every second pixel.

    x: (n, H, W, C) -> (n, H/2, W/2, C).
    The filter is separable, so we filter rows, drop odd rows, then filter columns and drop odd
    columns: identical output to "2-D filter then subsample", and dropping rows before the
    second pass saves a quarter of a separable filter's work.
    """
    x = _filter_axis(x, 1, _BINOMIAL)[:, ::2]
    return _filter_axis(x, 2, _BINOMIAL)[:, :, ::2]


def _pyr_up(x):
    """Double the size: insert zeros between pixels, then blur with 4x the 5x5 filter.

    x: (n, h, w, C) -> (n, 2h, 2w, C).
    Zero insertion keeps only 1 in 4 samples non-zero, so the filter gain of 4 (2 per axis)
    restores the original brightness.
    """
    n, h, w, c = x.shape
    up = np.zeros((n, 2 * h, 2 * w, c), dtype=x.dtype)
    up[:, ::2, ::2] = x
    up = _filter_axis(up, 1, 2.0 * _BINOMIAL)
    return _filter_axis(up, 2, 2.0 * _BINOMIAL)


def pyramid_resolutions(resolution, min_resolution=16):
    """Resolutions of the pyramid levels, finest first, e.g. 64 -> [64, 32, 16].

    Halving continues while the next level is still at least `min_resolution` px. A level that
    has to be halved must have an even size, otherwise the up-sampled coarse level would not
    line up with it.
    """
    if resolution < min_resolution:
        raise ValueError(
            f"images are {resolution} px but the coarsest pyramid level is {min_resolution} px"
        )
    levels = [resolution]
    while levels[-1] // 2 >= min_resolution:
        if levels[-1] % 2:
            raise ValueError(
                f"cannot halve a {levels[-1]} px pyramid level: the image size must stay even "
                f"down to {min_resolution} px"
            )
        levels.append(levels[-1] // 2)
    return levels


def laplacian_pyramid(images_float, min_resolution=16):
    """Laplacian pyramid of a batch of images.

    images_float: (n, S, S, C) float array (float32 recommended).
    Returns a list of arrays, finest first, level k of shape (n, S / 2**k, S / 2**k, C):

        G_0 = images,    G_{k+1} = down(G_k)
        L_k = G_k - up(G_{k+1})       for every level but the last
        L_last = G_last               (the coarsest level keeps the low-pass image itself)

    Each L_k holds the detail of its own scale, so the descriptors cut from it do not see the
    coarser structure again.
    """
    resolutions = pyramid_resolutions(images_float.shape[1], min_resolution)
    gaussian = [images_float]
    for _ in resolutions[1:]:
        gaussian.append(_pyr_down(gaussian[-1]))
    laplacian = [g - _pyr_up(g_next) for g, g_next in itertools.pairwise(gaussian)]
    laplacian.append(gaussian[-1])
    return laplacian


def _pyramids_in_chunks(images, min_resolution):
    """Laplacian pyramid of a whole uint8 set, built `_CHUNK` images at a time.

    images: (N, S, S, 3) uint8 -> list of float32 arrays (N, S / 2**k, S / 2**k, 3).
    Pixel values are used as 0..255 floats, as in the reference code; the per-channel
    normalisation of the descriptors removes any affine rescaling anyway.
    """
    n, size = images.shape[0], images.shape[1]
    levels = [
        np.empty((n, r, r, images.shape[3]), dtype=np.float32)
        for r in pyramid_resolutions(size, min_resolution)
    ]
    for start in range(0, n, _CHUNK):
        chunk = images[start : start + _CHUNK].astype(np.float32)
        for out, level in zip(levels, laplacian_pyramid(chunk, min_resolution)):
            out[start : start + len(chunk)] = level
    return levels


# --------------------------------------------------------------------------------------------
# Descriptors and the sliced Wasserstein distance
# --------------------------------------------------------------------------------------------


def _channel_mean_std(values):
    """Per-channel mean and standard deviation of `values`, shape (K, C), over all K rows.

    Accumulated in float64 over row blocks: two passes (mean, then squared deviations) keep the
    variance accurate even for a nearly constant channel, and the blocks keep the float64
    temporaries small. Returns two float64 arrays of shape (C,).
    """
    blocks = [values[start : start + _STAT_ROWS] for start in range(0, len(values), _STAT_ROWS)]
    mean = sum(block.sum(axis=0, dtype=np.float64) for block in blocks) / len(values)
    squares = sum(np.square(block - mean).sum(axis=0) for block in blocks)
    return mean, np.sqrt(squares / len(values))


def _descriptors(level, corners):
    """Cut 7x7 neighbourhoods out of one pyramid level and normalise them per channel.

    level:   (N, S, S, C) float32.
    corners: (N, P, 2) int, top-left (y, x) of each neighbourhood, in [0, S - 7].
    Returns (N * P, 7 * 7 * C) float32; descriptor j of image i is row i * P + j.

    Each channel c is standardised, d[..., c] <- (d[..., c] - mean_c) / std_c, with mean and std
    over all descriptors and all 49 positions of that channel. This makes the metric ignore
    global brightness/contrast per channel and weighs the three channels equally.
    """
    n, p, _ = corners.shape
    # windows[i, y, x] is the (C, 7, 7) neighbourhood with top-left corner (y, x); a view, no copy
    windows = np.lib.stride_tricks.sliding_window_view(level, (NHOOD_SIZE, NHOOD_SIZE), axis=(1, 2))
    image_index = np.repeat(np.arange(n), p)
    desc = windows[image_index, corners[..., 0].ravel(), corners[..., 1].ravel()]
    # The gather keeps the source's memory order, which is (row, col, channel); transposing to
    # that order makes the reshape below a free view instead of a 150 MB copy.
    desc = desc.transpose(0, 2, 3, 1).reshape(n * p, NHOOD_SIZE * NHOOD_SIZE, level.shape[3])
    mean, std = _channel_mean_std(desc.reshape(-1, level.shape[3]))
    # a constant channel has std 0; dividing by 1 instead keeps it at 0 rather than NaN
    std[std == 0] = 1.0
    desc -= mean.astype(np.float32)
    desc /= std.astype(np.float32)
    return desc.reshape(n * p, -1)


def sliced_wasserstein(desc_a, desc_b, rng, n_directions=128, n_repeats=4):
    """Sliced Wasserstein-1 distance between two equal-sized descriptor sets.

    desc_a, desc_b: (M, D) float32.
    For each repeat draw `n_directions` unit vectors u (uniform on the sphere: normalised
    Gaussians), shared by both sets, and compute

        W1(u) = mean_m | sort(A u)_m - sort(B u)_m |

    which is the exact 1-D Wasserstein-1 distance between the two projected samples (optimal
    transport on a line matches the k-th smallest to the k-th smallest). Returns W1 averaged over
    all directions and repeats; every repeat has the same number of directions, so this equals
    the mean of the per-repeat means of the reference code.
    """
    if desc_a.shape != desc_b.shape:
        raise ValueError(f"descriptor sets differ in shape: {desc_a.shape} vs {desc_b.shape}")
    total = 0.0
    for _ in range(n_repeats):
        dirs = rng.standard_normal((n_directions, desc_a.shape[1]))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        dirs = dirs.astype(np.float32)
        for start in range(0, n_directions, _DIR_BLOCK):
            block = dirs[start : start + _DIR_BLOCK]
            # (dirs, M): one projection per row, so each sort runs over contiguous memory
            proj_a = block @ desc_a.T
            proj_b = block @ desc_b.T
            proj_a.sort(axis=1)
            proj_b.sort(axis=1)
            np.subtract(proj_a, proj_b, out=proj_a)
            np.abs(proj_a, out=proj_a)
            # sum of per-direction means; float64 so that millions of terms add up accurately
            total += proj_a.mean(axis=1, dtype=np.float64).sum()
    return total / (n_directions * n_repeats)


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


def _check_images(images_a, images_b):
    """Raise ValueError unless both are (N, S, S, 3) uint8 of equal shape; return them as arrays."""
    images_a, images_b = np.asarray(images_a), np.asarray(images_b)
    for name, images in (("images_a", images_a), ("images_b", images_b)):
        if images.dtype != np.uint8:
            raise ValueError(f"{name} must be uint8, got {images.dtype}")
        if images.ndim != 4 or images.shape[3] != 3:
            raise ValueError(f"{name} must have shape (N, H, W, 3), got {images.shape}")
        if images.shape[1] != images.shape[2]:
            raise ValueError(f"{name} must hold square images, got {images.shape[1:3]}")
        if images.shape[0] == 0:
            raise ValueError(f"{name} is empty")
    if images_a.shape != images_b.shape:
        raise ValueError(
            f"both sets need the same number and size of images: {images_a.shape} vs "
            f"{images_b.shape}"
        )
    return images_a, images_b


def swd(
    images_a,
    images_b,
    *,
    descriptors_per_image=128,
    n_directions=128,
    n_repeats=4,
    min_resolution=16,
    seed=0,
):
    """Multi-scale sliced Wasserstein distance between two image sets, x1e3.

    images_a, images_b: (N, S, S, 3) uint8, same N and S, S even down to `min_resolution`.
    Returns {S: d, S/2: d, ..., coarsest: d, "avg": mean over levels}, each d a float, the
    coarsest level being the smallest at least `min_resolution` (pyramid_resolutions)
    (the paper's numbers: SWD x 1e3, lower is closer).

    At each level the same random neighbourhood corners are used for image i of both sets.
    The sets are unordered samples, so this adds no bias, and it makes the distance between a set
    and itself exactly 0 instead of a small sampling noise. Directions are drawn per repeat and
    shared by both sets. The result is a deterministic function of `seed`.
    """
    images_a, images_b = _check_images(images_a, images_b)
    if min(descriptors_per_image, n_directions, n_repeats) < 1:
        raise ValueError("descriptors_per_image, n_directions and n_repeats must be positive")
    if min_resolution < NHOOD_SIZE:
        raise ValueError(f"min_resolution must be at least the {NHOOD_SIZE} px neighbourhood")

    rng = np.random.default_rng(seed)
    resolutions = pyramid_resolutions(images_a.shape[1], min_resolution)
    pyramid_a = _pyramids_in_chunks(images_a, min_resolution)
    pyramid_b = _pyramids_in_chunks(images_b, min_resolution)

    result = {}
    n = images_a.shape[0]
    for resolution in resolutions:
        # pop each level as it is used so that its memory is returned as soon as possible
        level_a, level_b = pyramid_a.pop(0), pyramid_b.pop(0)
        # corners in [0, S - 7] keep the whole 7x7 window inside the image
        corners = rng.integers(0, resolution - NHOOD_SIZE + 1, size=(n, descriptors_per_image, 2))
        desc_a = _descriptors(level_a, corners)
        desc_b = _descriptors(level_b, corners)
        dist = sliced_wasserstein(desc_a, desc_b, rng, n_directions, n_repeats)
        result[resolution] = float(dist * 1e3)
        del level_a, level_b, desc_a, desc_b  # free them before the next level's are cut
    result["avg"] = float(np.mean([result[r] for r in resolutions]))
    return result
