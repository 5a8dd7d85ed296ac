"""`tinygan gradcheck`: every backward pass against finite differences."""

import sys

import click

from ..nn.grading import REFERENCES
from . import fail, main


@main.command(short_help="Check every backward pass against finite differences.")
@click.option("--tol", type=float, default=1e-6, show_default=True,
              help="Largest relative error between a backward pass and finite differences "
              "that counts as a pass.")
@click.option("--layer", "spec", metavar="FILE.py:CLASS", help="Grade a layer you wrote "
              "instead (an exercise of docs/exercises.md): a class with forward(x, train), "
              "backward(dy) and, if it has weights, params and grads dicts. Each gradient's "
              "relative error is printed.")
@click.option("--like", type=click.Choice(sorted(REFERENCES)), help="With --layer: build the "
              "class with this project layer's arguments and weights and compare its forward "
              "pass too (without it: CLASS() on a (2, 4, 4, 3) input, gradients only).")
def gradcheck(tol, spec, like):
    """Check every layer's backward pass against finite differences (float64), or grade a
    layer of your own (--layer FILE.py:CLASS [--like NAME]).

    \b
    Examples:
      tinygan gradcheck                                          # the project's layers
      tinygan gradcheck --layer my_leaky_relu.py:LeakyReLU --like LeakyReLU   # docs/exercises.md"""
    if like and not spec:
        fail("--like NAME says what --layer FILE.py:CLASS should match; give --layer too")
    if spec:
        return _grade(spec, like, tol)
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


def _grade(spec, like, tol):
    """Grade the class `spec` names; exit 1 when a check fails, 2 when it cannot be graded."""
    from ..nn.grading import GradingError, build, grade, load_class
    try:
        cls = load_class(spec)
        layer, reference, x, train = build(cls, like)
        click.echo(f"grading {cls.__name__} from {spec.rpartition(':')[0]}"
                   + (f" against the project's {like}" if like else "")
                   + f" on an input of shape {x.shape}, float64")
        results = grade(layer, reference, x, train)
    except GradingError as exc:
        fail(str(exc))
    failed = []
    for what, error in results:
        ok = error < tol
        label = f"{what} vs {like}" if what == "forward" else what
        click.echo(f"  {label:<24} relative error {error:.1e}  {'ok' if ok else 'FAIL'}")
        if not ok:
            failed.append((what, error))
    if failed:
        what, error = failed[0]
        part = "forward pass" if what == "forward" else f"gradient {what}"
        click.echo(f"FAIL: the {part} is wrong (relative error {error:.1e}, tolerance "
                   f"{tol:g})" + (f"; {len(failed) - 1} more failed" if len(failed) > 1
                                  else ""))
        sys.exit(1)
    click.echo(f"passed: every check within {tol:g}")
