#!/usr/bin/env python
"""Compare tinygan's training speed with the reference PyTorch DCGAN.

For every requested (size, batch) pair this runs ``scripts/benchmarks/bench.py``
(tinygan) and then ``scripts/benchmarks/bench_torch.py`` (PyTorch) as subprocesses, one
after the other and never at the same time, so they do not compete for cores.
Each benchmark prints one JSON line; the results are gathered into a Markdown
table on stdout:

    | size | batch | tinygan ms/step | torch ms/step | ratio | ... |

where ratio = tinygan ms/step / torch ms/step (above 1 means tinygan is
slower).  Progress and any benchmark errors go to stderr.

Device names differ between the two scripts: tinygan says ``cpu``/``gpu``,
PyTorch says ``cpu``/``cuda``.  ``--device`` accepts any of the three and
passes each script its own spelling.

The command used for tinygan can be replaced with ``--tinygan-cmd`` (or the
TINYGAN_BENCH_CMD environment variable), e.g. to test this script with a
stand-in or to run an installed copy; the shared flags (--size --batch
--device --threads --steps --warmup) are appended to it.

Exit status: 0 when every run succeeded, 1 when some run failed, 2 when
PyTorch cannot be imported.

Examples::

    python scripts/benchmarks/bench_compare.py --sizes 32,64,96 --batches 64
    python scripts/benchmarks/bench_compare.py --sizes 64 --batches 32,64 --json runs/bench.jsonl
    python scripts/benchmarks/bench_compare.py --device gpu --sizes 64,128 --steps 50
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

TINYGAN_DEVICE = {"cpu": "cpu", "gpu": "gpu", "cuda": "gpu"}
TORCH_DEVICE = {"cpu": "cpu", "gpu": "cuda", "cuda": "cuda"}


def int_list(text: str) -> list[int]:
    """Parse a comma-separated list of positive integers, e.g. ``32,64,96``."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Run tinygan's and PyTorch's DCGAN benchmarks one after the other "
        "and print a Markdown comparison table.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--sizes", type=int_list, default="32,64,96", help="comma-separated image sizes")
    p.add_argument("--batches", type=int_list, default="64", help="comma-separated batch sizes")
    p.add_argument(
        "--device", choices=sorted(TINYGAN_DEVICE), default="cpu", help="gpu and cuda are synonyms"
    )
    p.add_argument("--threads", type=int, default=2, help="CPU threads for both benchmarks")
    p.add_argument("--steps", type=int, default=20, help="timed training steps per run")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before timing")
    p.add_argument(
        "--json",
        metavar="FILE",
        type=Path,
        help="also save every raw result line (JSON Lines) to FILE",
    )
    p.add_argument(
        "--tinygan-cmd",
        default=os.environ.get(
            "TINYGAN_BENCH_CMD", f"{shlex.quote(sys.executable)} scripts/benchmarks/bench.py"
        ),
        help="command that runs tinygan's benchmark (run from the repository "
        "root; default taken from $TINYGAN_BENCH_CMD if set)",
    )
    p.add_argument(
        "--torch-cmd",
        default=f"{shlex.quote(sys.executable)} scripts/benchmarks/bench_torch.py",
        help="command that runs the PyTorch benchmark (run from the repository root)",
    )
    p.add_argument(
        "--torch-args",
        default="",
        help="extra arguments for the PyTorch benchmark only, e.g. --torch-args=--channels-last",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=3600.0,
        help="seconds allowed for each single benchmark run",
    )
    args = p.parse_args(argv)
    if args.threads < 1 or args.steps < 1 or args.warmup < 0:
        p.error("--threads and --steps must be at least 1, --warmup non-negative")
    return args


def torch_importable(python: str) -> tuple[bool, str]:
    """Check in a child interpreter whether ``import torch`` works."""
    proc = subprocess.run(
        [python, "-c", "import torch; print(torch.__version__)"],
        check=False,
        capture_output=True,
        text=True,
    )
    if proc.returncode == 0:
        return True, proc.stdout.strip()
    lines = (proc.stderr or "").strip().splitlines()
    return False, lines[-1] if lines else f"exit status {proc.returncode}"


def last_json_line(text: str) -> tuple[dict, str] | None:
    """Return the last stdout line that parses as a JSON object, and the raw line."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj, line
    return None


def run_one(impl: str, cmd: list[str], timeout: float) -> tuple[dict, str]:
    """Run one benchmark; return (result, raw_line).  Failures give an 'error' result."""
    print(f"[bench_compare] {impl}: {shlex.join(cmd)}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, check=False, cwd=REPO, capture_output=True, text=True, timeout=timeout
        )
    except (FileNotFoundError, PermissionError) as exc:
        msg = f"cannot start: {exc}"
    except subprocess.TimeoutExpired:
        msg = f"timed out after {timeout:g} s"
    else:
        msg = None
    if msg is not None:
        print(f"[bench_compare] {impl} failed ({msg})", file=sys.stderr, flush=True)
        return {"impl": impl, "error": msg}, ""
    elapsed = time.perf_counter() - t0
    found = last_json_line(proc.stdout)
    if proc.returncode != 0 or found is None:
        tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-5:])
        msg = f"exit status {proc.returncode}" if proc.returncode else "no JSON line on stdout"
        print(f"[bench_compare] {impl} failed ({msg}):\n{tail}", file=sys.stderr, flush=True)
        return {"impl": impl, "error": msg}, ""
    print(f"[bench_compare] {impl}: done in {elapsed:.1f} s", file=sys.stderr, flush=True)
    return found


def fmt(value, digits: int = 1) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.{digits}f}"
    return "n/a"


def markdown_table(rows: list[tuple[int, int, dict, dict]]) -> str:
    header = [
        "size",
        "batch",
        "tinygan ms/step",
        "torch ms/step",
        "ratio (tinygan/torch)",
        "tinygan sample64 ms",
        "torch sample64 ms",
        "tinygan peak RSS MB",
        "torch peak RSS MB",
    ]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" for _ in header) + "|",
    ]
    for size, batch, tg, th in rows:
        tg_ms, th_ms = tg.get("step_ms_median"), th.get("step_ms_median")
        ratio = tg_ms / th_ms if isinstance(tg_ms, (int, float)) and th_ms else None
        cells = [
            str(size),
            str(batch),
            fmt(tg_ms) if "error" not in tg else "failed",
            fmt(th_ms) if "error" not in th else "failed",
            fmt(ratio, 2),
            fmt(tg.get("sample64_ms")),
            fmt(th.get("sample64_ms")),
            fmt(tg.get("peak_rss_mb"), 0),
            fmt(th.get("peak_rss_mb"), 0),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)

    ok, detail = torch_importable(sys.executable)
    if not ok:
        print(
            f"bench_compare: PyTorch is not importable ({detail}); "
            "install torch to run the comparison.",
            file=sys.stderr,
        )
        return 2

    tinygan_cmd = shlex.split(args.tinygan_cmd)
    torch_cmd = shlex.split(args.torch_cmd) + shlex.split(args.torch_args)
    common = [
        "--threads",
        str(args.threads),
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
    ]

    rows = []
    raw_lines = []
    failures = 0
    for size in args.sizes:
        for batch in args.batches:
            shape = ["--size", str(size), "--batch", str(batch)]
            results = {}
            for impl, base, device in (
                ("tinygan", tinygan_cmd, TINYGAN_DEVICE[args.device]),
                ("torch", torch_cmd, TORCH_DEVICE[args.device]),
            ):
                result, raw = run_one(
                    impl, base + shape + ["--device", device] + common, args.timeout
                )
                if "error" in result:
                    failures += 1
                    result.update(size=size, batch=batch)
                    raw = json.dumps(result)
                results[impl] = result
                raw_lines.append(raw)
            rows.append((size, batch, results["tinygan"], results["torch"]))

    print(markdown_table(rows))
    note = [
        f"device={args.device}",
        f"threads={args.threads}",
        f"steps={args.steps}",
        f"warmup={args.warmup}",
    ]
    th_version = next(
        (r[3].get("torch_version") for r in rows if r[3].get("torch_version")), detail
    )
    note.append(f"torch {th_version}")
    print(f"\n{', '.join(note)}; ms/step is the median over the timed steps.")

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text("".join(line + "\n" for line in raw_lines))
        print(f"[bench_compare] raw results written to {args.json}", file=sys.stderr)

    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
