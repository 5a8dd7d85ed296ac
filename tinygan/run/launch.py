"""What an MPI launcher tells a process before it starts: how many ranks there are, which one
this is, and so how many BLAS threads each should use.

`mpiexec -n N tinygan train ...` starts N copies of tinygan; each learns its place from
environment variables that the launcher sets (MPICH and Intel MPI: PMI_RANK and PMI_SIZE; Open
MPI: OMPI_COMM_WORLD_RANK and OMPI_COMM_WORLD_SIZE). Reading them needs no MPI library, so a
plain `tinygan train` never imports mpi4py, and the BLAS thread count can be set before NumPy
is first imported (OpenBLAS reads it once, when it loads). This module must therefore not
import NumPy: the `tinygan` command (tinygan/__main__.py) calls `prepare_process()` before
anything else.

It also lets rank 0 speak for all: the other ranks hold their output back (`hold_output`).
"""

import collections
import io
import os
import sys

SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK")
LOCAL_SIZE_VARIABLES = ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE")
LOCAL_RANK_VARIABLES = ("MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK")
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _first_int(names, default):
    for name in names:
        value = os.environ.get(name, "")
        if value.strip().isdigit():
            return int(value)
    return default


def launched_ranks():
    """How many ranks the launcher started (1 when there is no launcher)."""
    return _first_int(SIZE_VARIABLES, 1)


def launched_rank():
    """This process's rank, 0 .. launched_ranks() - 1 (0 when there is no launcher)."""
    return _first_int(RANK_VARIABLES, 0)


def local_ranks():
    """Ranks on this machine (all of them unless the launcher says otherwise)."""
    return _first_int(LOCAL_SIZE_VARIABLES, launched_ranks())


def local_rank():
    """This process's place among the ranks of its machine (it picks the GPU)."""
    return _first_int(LOCAL_RANK_VARIABLES, launched_rank())


def prepare_process():
    """What must be set before NumPy loads: each rank's BLAS threads, and short polling."""
    set_blas_threads()
    shorten_blas_polling()


def set_blas_threads():
    """Under a launcher, give each rank its share of this machine's cores as BLAS threads:
    N ranks with all cores each would fight over them. A thread count the user set wins."""
    ranks = local_ranks()
    if launched_ranks() <= 1 or any(name in os.environ for name in THREAD_VARIABLES):
        return
    threads = str(max(1, (os.cpu_count() or 1) // ranks))
    for name in THREAD_VARIABLES:
        os.environ[name] = threads


def shorten_blas_polling():
    """After each matrix product, OpenBLAS's threads poll for the next one for about 2**28
    cycles (0.1 s) before they sleep, which keeps every core busy between products, the very
    cores that tinygan/fast/threads.py gives NumPy's copies and element-wise passes to; those
    then run no faster on two threads than on one. 2**4 cycles puts them to sleep at once
    (waking them costs microseconds per product). Set before NumPy loads; a value the user set
    wins."""
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")


class HeldOutput(io.TextIOBase):
    """Stands in for stdout and stderr on ranks other than 0. Every rank meets the same config
    and data errors, and rank 0 reports them; the last lines are kept all the same, to be shown
    should this rank fail alone (see MPIWorld.leave in tinygan/run/mpi.py)."""

    def __init__(self, keep=20):
        self.lines = collections.deque(maxlen=keep)
        self._partial = ""

    def writable(self):
        return True

    def write(self, text):
        if isinstance(text, bytes):   # click writes bytes to a stream it does not recognise
            text = text.decode(errors="replace")
        *complete, self._partial = (self._partial + text).split("\n")
        self.lines.extend(line for line in complete if line.strip())
        self._partial = self._partial[-1000:]
        return len(text)


held_output = None   # the HeldOutput of this rank, once hold_output() ran


def hold_output():
    """Under a launcher, let rank 0 alone speak: the others' output is held back (and their
    progress bars are off: tqdm reads TQDM_DISABLE when it is first imported)."""
    global held_output
    if launched_ranks() <= 1 or launched_rank() == 0 or held_output is not None:
        return
    os.environ["TQDM_DISABLE"] = "1"
    held_output = HeldOutput()
    sys.stdout = sys.stderr = held_output
