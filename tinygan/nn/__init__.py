"""The textbook: everything a GAN is built from, each piece written to be read.

backend.py (the NumPy/CuPy shim, the one place that imports CuPy), im2col.py (how a
convolution becomes a matrix product), layers/ (every layer's forward and backward side by
side), losses.py, optim.py (Adam, SGD), dcgan_init.py (the DCGAN initialisation) and
gradcheck.py (the finite-difference checker that proves each backward pass). Nothing here
knows about GANs, runs or files; the faster variants of these layers are in tinygan/fast/.
"""
