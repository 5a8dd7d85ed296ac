"""Benchmark tinygan serve: how long a grid of faces takes, as the page asks for it.

    python scripts/benchmarks/bench_serve.py                      # 300 grids of 16 faces
    python scripts/benchmarks/bench_serve.py --requests 500 --n 16 --clients 2
    python scripts/benchmarks/bench_serve.py --model human --device gpu

It starts `tinygan serve --port 0` as a user would, waits for its address, sends a few
untimed requests, then the timed ones: each a grid of a new seed (nothing is cached), from
--clients clients at once. It prints p50 / p95 / max of three times per request: the server's
whole handling of it (its Server-Timing total: reading the query, drawing, PNG encoding,
JSON), its drawing alone (draw), and the round trip the client sees; then faces per second
over the whole run, and the CPU. The last line is the same as JSON.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import urllib.request


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--requests", type=int, default=300, help="timed grid requests")
    p.add_argument("--warmup", type=int, default=10, help="untimed requests before them")
    p.add_argument("--n", type=int, default=16, help="faces per grid")
    p.add_argument("--clients", type=int, default=1, help="clients asking at the same time")
    p.add_argument("--model", default="anime", choices=["anime", "human"],
                   help="shipped model to draw from")
    p.add_argument("--device", default="cpu", choices=["cpu", "gpu"], help="cpu or gpu")
    p.add_argument("--sharpest", action="store_true",
                   help="ask for the sharpest n of 4 x n faces instead")
    return p.parse_args()


def start_server(model, device):
    """(process, address) of a `tinygan serve` on a free port."""
    process = subprocess.Popen([sys.executable, "-m", "tinygan", "serve", "--port", "0",
                                "--model", model, "--device", device],
                               stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, PYTHONUNBUFFERED="1"))
    for line in process.stderr:
        if "open http" in line:
            return process, line.split("open ")[1].split()[0]
    raise SystemExit(f"tinygan serve did not start (exit code {process.wait()})")


def timed_get(url):
    """(round trip ms, {name: ms} of the Server-Timing header)."""
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as answer:
        answer.read()
        header = answer.headers["Server-Timing"]
    trip = 1000 * (time.perf_counter() - start)
    parts = (part.strip().split(";dur=") for part in header.split(","))
    return trip, {name: float(ms) for name, ms in parts}


def percentiles(values):
    ordered = sorted(values)
    return {"p50": statistics.median(ordered),
            "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
            "max": ordered[-1]}


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main():
    args = parse()
    process, base = start_server(args.model, args.device)
    try:
        listing = json.loads(urllib.request.urlopen(base + "api/models", timeout=60).read())
        query = f"api/grid?model={listing['first']}&n={args.n}&sharpest={int(args.sharpest)}"
        for seed in range(args.warmup):
            timed_get(f"{base}{query}&seed={10**6 + seed}")
        results, seeds, lock = [], iter(range(args.requests)), threading.Lock()

        def client():
            while True:
                with lock:
                    seed = next(seeds, None)
                if seed is None:
                    return
                result = timed_get(f"{base}{query}&seed={seed}")
                with lock:
                    results.append(result)
        start = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - start
    finally:
        process.terminate()   # SIGTERM: the server stops as on Ctrl-C
        process.wait(timeout=60)
    report = {"model": listing["first"], "device": args.device, "n": args.n,
              "sharpest": args.sharpest, "requests": len(results), "clients": args.clients,
              "server_ms": percentiles([t["total"] for _, t in results]),
              "draw_ms": percentiles([t["draw"] for _, t in results]),
              "round_trip_ms": percentiles([trip for trip, _ in results]),
              "faces_per_s": len(results) * args.n / wall, "cpu": cpu_model(),
              "cores": os.cpu_count(), "load_average": os.getloadavg()}
    print(f"{report['requests']} grids of {args.n} faces ({report['model']}, {args.device}, "
          f"{args.clients} client{'s' * (args.clients > 1)}), on {report['cpu']}, "
          f"{report['cores']} cores, load average {report['load_average'][0]:.2f}")
    print(f"{'ms':<12}{'p50':>8}{'p95':>8}{'max':>8}")
    for name in ("server_ms", "draw_ms", "round_trip_ms"):
        row = report[name]
        print(f"{name[:-3]:<12}{row['p50']:8.1f}{row['p95']:8.1f}{row['max']:8.1f}")
    print(f"faces per second: {report['faces_per_s']:.0f}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
