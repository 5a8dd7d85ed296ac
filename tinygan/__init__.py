"""tinygan: a small, from-scratch DCGAN in NumPy/CuPy that draws anime-style faces.

Every layer has a hand-written forward and backward pass (tinygan.layers); the README gives a
reading order from the array-module shim (tinygan.backend) to the training loop.
"""

from .launch import set_blas_threads

__version__ = "0.1.0"

# under mpiexec, each rank takes its share of the cores; this must happen before NumPy loads
set_blas_threads()
