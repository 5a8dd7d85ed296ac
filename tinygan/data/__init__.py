"""Images in and out: finding them in a zip, tar or folder (sources.py), decoding each file
(decode.py), the on-disk decode cache (cache.py), loading a data set (load.py), shuffled
training batches (batches.py), the built-in demo faces (demo.py), and turning model outputs
back into pictures: grids, PNG and GIF files (images.py).
"""
