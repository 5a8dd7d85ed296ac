"""tinygan: a small, from-scratch GAN in NumPy/CuPy that draws anime-style and human faces.

The package, folder by folder, in reading order:
    nn/       the textbook: the NumPy/CuPy shim, im2col, layers, losses, Adam, the gradient
              checker; every backward pass written out by hand
    gan/      the GAN built from it: networks, one training step, recipes, augmentation, R1
    fast/     faster variants of the textbook layers, each tested against its original
    data/     images in and out: zips, folders, the decode cache, batches, PNG grids
    metrics/  how good faces are: the sliced Wasserstein distance, sharpness
    run/      a training run: the loop, its folder and checkpoints, MPI
    draw/     using a trained generator: load it, draw faces, walk between them
    cli/      the `tinygan` command

Importing tinygan changes nothing in the process: the settings that must precede NumPy
(BLAS threads under mpiexec) are made by the `tinygan` command (tinygan/__main__.py), or by
calling tinygan.run.launch.prepare_process() before NumPy is imported.
"""

__version__ = "0.1.0"
