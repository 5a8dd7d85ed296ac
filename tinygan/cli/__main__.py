"""`python -m tinygan.cli`: the same command line as `tinygan`."""

from . import main

main(prog_name="tinygan")
