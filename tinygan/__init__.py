"""tinygan: a small, from-scratch DCGAN in NumPy/CuPy that draws anime-style faces.

Every layer has a hand-written forward and backward pass (tinygan.layers); the README gives a
reading order from the array-module shim (tinygan.backend) to the training loop.
"""

from .launch import set_blas_threads, shorten_blas_polling

__version__ = "0.1.0"

# under mpiexec, each rank takes its share of the cores, and OpenBLAS's threads sleep between
# products instead of polling; both must happen before NumPy loads
set_blas_threads()
shorten_blas_polling()
