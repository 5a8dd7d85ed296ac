"""A training run: the loop (trainer.py), the run folder and its files (folder.py,
records.py, checkpoint.py, progress.py for its pictures, listing.py for `tinygan runs`), and
training on several processes over MPI (launch.py, mpi.py, parallel_trainer.py).

launch.py must not import NumPy (the `tinygan` command calls it before NumPy loads), so this
file imports nothing.
"""
