"""CPU an HTTP worker spends per REST request, against ``/healthz`` in the same run.

The rooms benchmark's mixed step puts the HTTP worker and the room worker on one core, so
every millisecond of CPU a request takes is a millisecond a room may wait. Latency on this
shared machine moves with its steal; the worker's own CPU time per request moves much
less, so this is what a change to the request path is judged by.

Starts one HTTP worker as compose runs it (``python -m vioip.server``,
``VIOIP_PROCESS_ROLE=http``) pinned to core 0, against ``DATABASE_URL`` and a Redis of its
own, and sends requests one at a time over one keep-alive connection from core 1. Each
path is measured in alternating rounds; the figure is the median round's CPU (user plus
system, from the kernel) divided by its requests.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/vioip_bench python -m bench.rest_cpu
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench import rooms

# The browser's schedule asks for the coming week from now (web/static/web/app.js).
_NOW = dt.datetime.now(dt.UTC)
WEEK = (
    f"/api/me/sessions/?from={_NOW:%Y-%m-%dT%H:%M:%S.000Z}"
    f"&to={_NOW + dt.timedelta(days=7):%Y-%m-%dT%H:%M:%S.000Z}"
)
PATHS = ("/healthz", "/api/me/sessions/", WEEK, "/api/sessions/")


def _cpu(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def measure(
    pid: int, port: int, token: str, requests: int, rounds: int, paths: list[str]
) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    per_path: dict[str, list[float]] = {path: [] for path in paths}
    wall: dict[str, list[float]] = {path: [] for path in paths}
    for path in paths:
        rooms.rest_requests(conn, path, token, max(requests // 4, 20))
    for _ in range(rounds):
        for path in paths:
            before, started = _cpu(pid), time.perf_counter()
            rooms.rest_requests(conn, path, token, requests)
            per_path[path].append(1000 * (_cpu(pid) - before) / requests)
            wall[path].append(1000 * (time.perf_counter() - started) / requests)
    conn.close()
    base = statistics.median(per_path.get("/healthz") or [0.0])
    out: dict[str, Any] = {}
    for path in paths:
        cpu_ms = statistics.median(per_path[path])
        out[path] = {
            "cpu_ms": round(cpu_ms, 3),
            "cpu_ms_rounds": [round(x, 3) for x in per_path[path]],
            "wall_ms": round(statistics.median(wall[path]), 3),
            "vs_healthz": round(cpu_ms / base, 2) if base else None,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="per path per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    parser.add_argument("--redis-url")
    parser.add_argument("--paths", default=",".join(PATHS), help="comma-separated")
    parser.add_argument("--profile", type=Path, help="sample the worker with py-spy into DIR")
    args = parser.parse_args(argv)
    opts = rooms.parse(["--sizes", "1x20", "--stacks", "vioip"])
    opts.redis_url, opts.profile = args.redis_url, args.profile
    paths = args.paths.split(",")
    why = rooms.vioip_available(opts)
    if why:
        print(f"skipped: {why}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-rest-") as tmp:
        work = Path(tmp)
        with rooms.redis(opts, work) as (redis_url, _):
            env = rooms.vioip_env(opts, redis_url, work)
            plan_path = work / "plan.json"
            setup = [sys.executable, "-m", "bench.vioip_setup", "--rooms", "1"]
            setup += ["--participants", "20", "--tickets", "1", "--out", str(plan_path)]
            subprocess.run(setup, cwd=rooms.ROOT, env=env, check=True, timeout=600)
            token = json.loads(plan_path.read_text())["rest_token"]
            port = rooms.free_port()
            command = rooms.pinned(
                rooms.daphne(port, "vioip.asgi:application", "vioip.server"),
                opts.server_core,
                opts.pin,
            )
            with rooms.process(
                command, env={**env, "VIOIP_PROCESS_ROLE": "http"}, log=work / "http.log"
            ) as proc:
                rooms.wait_for_port(port, proc)
                rooms.warm_up(port)
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(0, {opts.generator_core})
                with rooms.profiled(opts, proc.pid, "vioip-http-rest"):
                    figures = measure(proc.pid, port, token, args.requests, args.rounds, paths)
    result = {"machine": rooms.machine(), "requests": args.requests, "paths": figures}
    print("| path | CPU ms / request | ratio to /healthz | wall ms |")
    print("|---|---|---|---|")
    for path, row in figures.items():
        print(f"| `{path}` | {row['cpu_ms']} | {row['vs_healthz']} | {row['wall_ms']} |")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
