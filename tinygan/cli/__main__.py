"""`python -m tinygan.cli`: the same command line as `tinygan`."""

from . import main

if __name__ == "__main__":   # not when a worker process imports the parent's main module
    main(prog_name="tinygan")
