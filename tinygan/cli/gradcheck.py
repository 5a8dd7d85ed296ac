"""`tinygan gradcheck`: every backward pass against finite differences."""

import sys

import click

from . import main


@main.command(short_help="Check every backward pass against finite differences.")
@click.option("--tol", type=float, default=1e-6, show_default=True,
              help="Largest relative error between a backward pass and finite differences "
              "that counts as a pass.")
def gradcheck(tol):
    """Check every layer's backward pass against finite differences (float64)."""
    from ..gan.checks import augmentation_cases
    from ..nn.gradcheck import run_all
    worst = 0.0
    for name, errors in run_all(augmentation_cases()):
        line = "  ".join(f"d{k} {v:.1e}" for k, v in errors.items())
        status = "ok" if max(errors.values()) < tol else "FAIL"
        worst = max(worst, max(errors.values()))
        click.echo(f"{name:<32} {status:<4}  max rel. error {max(errors.values()):.1e}  ({line})")
    click.echo(f"worst relative error {worst:.1e} (tolerance {tol:g})")
    if worst >= tol:
        sys.exit(1)
