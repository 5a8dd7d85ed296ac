"""The `tinygan` command and `python -m tinygan`: prepare the process, then run the CLI.

Two settings take effect only if made before NumPy loads (OpenBLAS reads them once): under
mpiexec each rank takes its share of the cores as BLAS threads, and OpenBLAS's idle threads
sleep instead of polling (tinygan/run/launch.py). The command makes them first; a library
user who wants them calls tinygan.run.launch.prepare_process() before importing NumPy.
"""

from .run.launch import prepare_process


def main():
    prepare_process()
    from .cli import main as cli  # loads NumPy, so only now
    cli(prog_name="tinygan")


if __name__ == "__main__":
    main()
