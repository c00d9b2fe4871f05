"""Room benchmark: vioip's rooms against the Python floor and the canonical Channels chat.

One command starts everything it measures — its own redis-server (or ``--redis-url``), the
floor server, the Channels tutorial chat on daphne (core and pub/sub layers), vioip's
daphne worker against ``DATABASE_URL`` — pins the servers and Redis to one core and the load
generator to the other, and writes ``results.json``, ``RESULTS.md`` and ``latency.png``.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/vioip_bench python -m bench.rooms
    python -m bench.rooms --smoke --out-dir /tmp/bench-smoke      # seconds, for CI

Benchmarks never run in the test suite; ``--smoke`` only keeps this code working.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench import report

ROOT = Path(__file__).resolve().parent.parent
ALL_STACKS = ("floor", "channels-core", "channels-pubsub", "vioip")
DEFAULT_RATES = (1000, 2000, 4000, 6000, 10000, 15000, 20000, 30000, 45000, 70000)


@dataclass
class Options:
    sizes: list[tuple[int, int]]
    rates: list[int]
    stacks: list[str]
    step_seconds: float
    drain_seconds: float
    out_dir: Path
    redis_url: str | None
    database_url: str | None
    pin: bool
    storm: bool
    rest_rate: float
    rest_at_fps: int | None
    smoke: bool
    keep: Path | None = None
    profile: Path | None = None
    # "split": an HTTP worker and a room worker (VIOIP_PROCESS_ROLE), as compose runs
    # vioip; "single": one process serving both (the embedded default's shape).
    topology: str = "split"
    # Every vioip connect a first entry (the rooms' places from earlier runs deleted).
    first_entries: bool = False
    # The HTTP worker's scheduling group at a quarter of the room worker's weight.
    http_weight: bool = True
    server_core: int = 0
    generator_core: int = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port} after {timeout} s")


def warm_up(port: int) -> None:
    """One request before measuring: Django imports the URLconf (and all it imports) on the
    first request, on the event loop's thread, and nothing else runs meanwhile."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30) as reply:
                reply.read()
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("the server never answered /healthz")


def rest_requests(conn: http.client.HTTPConnection, path: str, token: str, count: int) -> None:
    """``count`` authenticated GETs of ``path``, one at a time on ``conn``; any answer but
    200 stops the run."""
    for _ in range(count):
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        reply = conn.getresponse()
        body = reply.read()
        if reply.status != 200:
            raise RuntimeError(f"{path} answered {reply.status}: {body[:200]!r}")


def warm_rest(port: int, path: str, token: str, times: int = 20) -> None:
    """The REST probe's own request a few times before measuring, as the room gets its
    warm-up step. A worker's first request to a view opens its database connection and
    builds the view's serializer and compiled queries: about 50 ms of CPU here, once per
    process, which at the HTTP worker's weight became the whole first second's tail of the
    mixed step."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        rest_requests(conn, path, token, times)
    finally:
        conn.close()


# docker-compose.yml gives HTTP workers a quarter of the CPU weight of every other service
# (cpu_shares 256), so that on a shared host HTTP cannot starve a room, nor the Redis and
# PostgreSQL a room needs. The split topology does the same here with the scheduler's nice
# levels: +6 weighs 272 against nice 0's 1,024.
HTTP_NICE = 6


def weighted(command: list[str]) -> list[str]:
    """``command`` at the HTTP workers' CPU weight."""
    if shutil.which("nice"):
        return ["nice", "-n", str(HTTP_NICE), *command]
    return command


def weigh_group(pid: int) -> str | None:
    """Give ``pid``'s scheduling group the HTTP workers' weight, and say what it has.

    Each server runs in a session of its own, and with the kernel's autogroups
    (``kernel.sched_autogroup_enabled``, on here) a session is a group of its own, weighed
    against the other groups by the group's nice level, not its processes'. A nice on the
    process alone then weighs nothing against the room worker in its own group: the group
    is what a compose service's cgroup is, so it is the group that gets the weight."""
    path = Path(f"/proc/{pid}/autogroup")
    with contextlib.suppress(OSError):
        path.write_text(str(HTTP_NICE))
    with contextlib.suppress(OSError):
        return path.read_text().strip()
    return None


def pinned(command: list[str], core: int, pin: bool) -> list[str]:
    if pin and shutil.which("taskset") and (os.cpu_count() or 1) > core:
        return ["taskset", "-c", str(core), *command]
    return command


@contextlib.contextmanager
def process(
    command: list[str], *, env: dict[str, str] | None = None, log: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    out = log.open("ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                # Short: a daphne stuck in shutdown would otherwise hold the run up.
                proc.wait(3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if log:
            out.close()  # type: ignore[union-attr]


def server_pid(proc: subprocess.Popen[bytes]) -> int:
    # taskset execs the command, so the pid is the server's own.
    return proc.pid


@contextlib.contextmanager
def redis(opts: Options, work: Path) -> Iterator[tuple[str, list[int]]]:
    if opts.redis_url:
        yield opts.redis_url, []
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found: install it or pass --redis-url")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", str(work)]
    with process(pinned(command, opts.server_core, opts.pin), log=work / "redis.log") as proc:
        wait_for_port(port, proc)
        yield f"redis://127.0.0.1:{port}/0", [server_pid(proc)]


def vioip_env(opts: Options, redis_url: str, work: Path) -> dict[str, str]:
    keys_file = Path(os.environ.get("VIOIP_LOCAL_DIR") or ROOT / "var") / "bench-keys.json"
    if keys_file.exists():
        keys = json.loads(keys_file.read_text())
    else:
        import secrets

        from cryptography.fernet import Fernet

        keys = {
            "VIOIP_SECRET_KEY": secrets.token_urlsafe(50),
            "VIOIP_FIELD_KEYS": Fernet.generate_key().decode(),
            "VIOIP_AUDIT_KEY": secrets.token_urlsafe(50),
        }
        keys_file.parent.mkdir(parents=True, exist_ok=True)
        keys_file.write_text(json.dumps(keys))
        keys_file.chmod(0o600)
    env = {**os.environ, **keys}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "vioip.settings",
            # DEBUG would keep every SQL query in memory.
            "VIOIP_DEBUG": "0",
            "VIOIP_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "VIOIP_SSL_REDIRECT": "0",
            "VIOIP_LOG_LEVEL": "WARNING",
            "DATABASE_URL": opts.database_url or "",
            "REDIS_URL": redis_url,
            # Tickets are minted before the run; the storm uses a second set.
            "VIOIP_ROOM_TICKET_SECONDS": "3600",
            # The benchmark offers far more than a person types; the limiter still runs.
            "VIOIP_ROOM_CHAT_RATE_MESSAGES": "1000000",
        }
    )
    return env


def run_generator(opts: Options, config: dict[str, Any], work: Path, name: str) -> dict[str, Any]:
    config_path, out_path = work / f"{name}.config.json", work / f"{name}.result.json"
    config_path.write_text(json.dumps(config))
    command = [sys.executable, "-m", "bench.loadgen", "--config", str(config_path)]
    command += ["--out", str(out_path)]
    budget = 120 + len(config["rates"]) * (config["step_seconds"] + config["drain_seconds"] + 5)
    # Connecting and the reconnect storm, at no less than five sockets a second each.
    budget += 2 * len(config["rooms"]) * config["participants"] / 5
    subprocess.run(
        pinned(command, opts.generator_core, opts.pin), cwd=ROOT, check=True, timeout=budget
    )
    return json.loads(out_path.read_text())


def base_config(opts: Options, rooms: int, participants: int) -> dict[str, Any]:
    return {
        "participants": participants,
        "rates": opts.rates,
        "step_seconds": opts.step_seconds,
        "drain_seconds": opts.drain_seconds,
        "message_bytes": 100,
        "p99_stop_ms": 100,
        "storm": opts.storm,
        "warmup_fps": None if opts.smoke else min(opts.rates),
        "warmup_seconds": 3,
        "settle_seconds": 0.1 if opts.smoke else 1.0,
        # The smoke run connects one socket at a time, so each entry after a room's first
        # is announced to those already in (presence frames the smoke test counts): sockets
        # connecting at once may enter a room together, and a room.state is all they get.
        "connect_concurrency": 1 if opts.smoke else 100,
    }


def run_floor(opts: Options, rooms: int, participants: int, work: Path) -> dict[str, Any]:
    port = free_port()
    command = [sys.executable, "-m", "bench.floor", "--port", str(port)]
    with process(pinned(command, opts.server_core, opts.pin), log=work / "floor.log") as proc:
        wait_for_port(port, proc)
        config = base_config(opts, rooms, participants)
        config.update(
            stack="floor",
            url_base=f"ws://127.0.0.1:{port}",
            origin=f"http://127.0.0.1:{port}",
            rooms=[{"path": f"/room/r{r}/"} for r in range(rooms)],
            server_pids=[server_pid(proc)],
        )
        return run_generator(opts, config, work, "floor")


def daphne(port: int, app: str, server: str = "daphne") -> list[str]:
    """``server``: daphne for the Channels chat; vioip's workers run ``vioip.server``, as
    they are deployed (daphne with its timeout pass spread out)."""
    return [sys.executable, "-m", server, "-b", "127.0.0.1", "-p", str(port), "-v", "0", app]


def run_channels(
    opts: Options, layer: str, rooms: int, participants: int, work: Path
) -> dict[str, Any]:
    with redis(opts, work) as (redis_url, redis_pids):
        port = free_port()
        env = {**os.environ, "BENCH_REDIS_URL": redis_url, "BENCH_CHAT_LAYER": layer}
        command = pinned(daphne(port, "bench.chat:application"), opts.server_core, opts.pin)
        with process(command, env=env, log=work / f"channels-{layer}.log") as proc:
            wait_for_port(port, proc)
            config = base_config(opts, rooms, participants)
            config.update(
                stack=f"channels-{layer}",
                url_base=f"ws://127.0.0.1:{port}",
                origin=f"http://127.0.0.1:{port}",
                rooms=[{"path": f"/room/r{r}/"} for r in range(rooms)],
                server_pids=[server_pid(proc)],
                aux_pids=redis_pids,
            )
            return run_generator(opts, config, work, f"channels-{layer}")


def run_vioip(opts: Options, rooms: int, participants: int, work: Path) -> dict[str, Any]:
    with redis(opts, work) as (redis_url, redis_pids):
        env = vioip_env(opts, redis_url, work)
        plan_path = work / "vioip-plan.json"
        setup = [sys.executable, "-m", "bench.vioip_setup", "--rooms", str(rooms)]
        setup += ["--participants", str(participants), "--tickets", "3", "--out", str(plan_path)]
        if opts.first_entries:
            setup.append("--first-entries")
        subprocess.run(setup, cwd=ROOT, env=env, check=True, timeout=600)
        plan = json.loads(plan_path.read_text())
        port = free_port()
        command = pinned(
            daphne(port, "vioip.asgi:application", "vioip.server"), opts.server_core, opts.pin
        )
        split = opts.topology == "split"
        # Both workers share the server's core: the split is of processes, not of CPUs.
        http_port = free_port() if split else port
        http_command = pinned(
            daphne(http_port, "vioip.asgi:application", "vioip.server"), opts.server_core, opts.pin
        )
        if split:
            http_command = weighted(http_command)
        http_group = None
        with contextlib.ExitStack() as stack:
            proc = stack.enter_context(
                process(
                    command,
                    env={**env, "VIOIP_PROCESS_ROLE": "rooms" if split else "all"},
                    log=work / "vioip.log",
                )
            )
            pids = [server_pid(proc)]
            if split:
                http_proc = stack.enter_context(
                    process(
                        http_command,
                        env={**env, "VIOIP_PROCESS_ROLE": "http"},
                        log=work / "vioip-http.log",
                    )
                )
                pids.append(server_pid(http_proc))
                if opts.http_weight:
                    http_group = weigh_group(server_pid(http_proc))
            stack.enter_context(profiled(opts, server_pid(proc), f"vioip-{rooms}x{participants}"))
            if split:
                name = f"vioip-http-{rooms}x{participants}"
                stack.enter_context(profiled(opts, server_pid(http_proc), name))
            wait_for_port(port, proc)
            warm_up(port)
            if split:
                wait_for_port(http_port, http_proc)
                warm_up(http_port)
            config = base_config(opts, rooms, participants)
            config.update(
                stack="vioip",
                topology=opts.topology,
                url_base=f"ws://127.0.0.1:{port}",
                origin=f"http://127.0.0.1:{port}",
                rooms=plan["rooms"],
                server_pids=pids,
                aux_pids=redis_pids,
            )
            if opts.rest_rate:
                rest_path = "/api/me/sessions/"
                config["rest"] = {
                    "url": f"http://127.0.0.1:{http_port}{rest_path}",
                    "token": plan["rest_token"],
                    "rate": opts.rest_rate,
                    "at_fps": opts.rest_at_fps,
                }
                warm_rest(http_port, rest_path, plan["rest_token"])
            outcome = run_generator(opts, config, work, "vioip")
            # What the HTTP worker's scheduling group had ("/autogroup-N nice 6").
            outcome["http_group"] = http_group
            return outcome


@contextlib.contextmanager
def profiled(opts: Options, pid: int, name: str) -> Iterator[None]:
    """With ``--profile DIR``: sample ``pid`` with py-spy for the whole run and write
    collapsed stacks and a summary of where the time went (see bench/profile.py)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if opts.profile is None or not Path(spy).exists():
        yield
        return
    opts.profile.mkdir(parents=True, exist_ok=True)
    raw = opts.profile / f"{name}.txt"
    command = [spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "250"]
    command += ["--threads", "--nonblocking", "--output", str(raw)]
    spy_proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        spy_proc.send_signal(signal.SIGINT)
        try:
            spy_proc.wait(30)
        except subprocess.TimeoutExpired:
            spy_proc.kill()
        if raw.exists():
            from bench import profile

            (opts.profile / f"{name}.summary.md").write_text(profile.summary(raw))


def vioip_available(opts: Options) -> str | None:
    """Why vioip cannot be measured here, or None."""
    if not (opts.database_url or "").startswith(("postgres://", "postgresql://")):
        return "DATABASE_URL is not PostgreSQL"
    try:
        import importlib.util

        if importlib.util.find_spec("sessions_app.rooms.consumers") is None:
            return "the rooms consumer is not importable"
    except ImportError:
        return "the rooms consumer is not importable"
    return None


# Failures the channel layer, Redis client and daphne only log: count them, they lose
# messages or leave work undone (a socket's close handler that daphne kills after its
# ten seconds never releases the socket's presence).
LOG_PATTERNS = {
    "channel_full": "ChannelFull",
    "over_capacity": "over capacity",
    "too_many_connections": "Too many connections",
    "redis_timeout": "Timeout reading",
    "traceback": "Traceback",
    "killed_on_close": "took too long to shut down",
}


def log_errors(work: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for log in work.glob("*.log"):
        if log.name == "redis.log":
            continue
        text = log.read_text(errors="replace")
        for name, pattern in LOG_PATTERNS.items():
            if text.count(pattern):
                counts[name] = counts.get(name, 0) + text.count(pattern)
    return counts


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for name in ("django", "channels", "daphne", "channels_redis", "redis", "websockets"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[name] = version(name.replace("_", "-"))
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "versions": versions,
    }


def run(opts: Options) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine(), "sizes": [], "skipped": {}}
    results["settings"] = {
        "rates": opts.rates,
        "step_seconds": opts.step_seconds,
        "pinned": opts.pin,
        "smoke": opts.smoke,
        "first_entries": opts.first_entries,
    }
    for rooms, participants in opts.sizes:
        size: dict[str, Any] = {"rooms": rooms, "participants": participants, "stacks": {}}
        for stack in opts.stacks:
            print(f"== {rooms}x{participants} {stack}", flush=True)
            with tempfile.TemporaryDirectory(prefix=f"bench-{stack}-") as tmp:
                work = Path(tmp)
                try:
                    if stack == "floor":
                        outcome = run_floor(opts, rooms, participants, work)
                    elif stack.startswith("channels-"):
                        layer = stack.removeprefix("channels-")
                        outcome = run_channels(opts, layer, rooms, participants, work)
                    else:
                        why = vioip_available(opts)
                        if why:
                            results["skipped"][stack] = why
                            continue
                        outcome = run_vioip(opts, rooms, participants, work)
                except (subprocess.SubprocessError, RuntimeError, OSError) as exc:
                    logs = {p.name: p.read_text()[-2000:] for p in work.glob("*.log")}
                    outcome = {"stack": stack, "failed": f"{type(exc).__name__}: {exc}"}
                    outcome["logs"] = logs
                outcome["server_log_errors"] = log_errors(work)
                if opts.keep:
                    opts.keep.mkdir(parents=True, exist_ok=True)
                    for log in work.glob("*.*"):
                        shutil.copy(log, opts.keep / f"{rooms}x{participants}-{log.name}")
            size["stacks"][stack] = outcome
        results["sizes"].append(size)
    return results


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="100x20,250x20", help="rooms x participants, comma-separated"
    )
    parser.add_argument(
        "--rates",
        default=",".join(map(str, DEFAULT_RATES)),
        help="offered delivered frames/s per step; stops once p99 > 100 ms",
    )
    parser.add_argument("--stacks", default=",".join(ALL_STACKS))
    parser.add_argument("--step-seconds", type=float, default=None, help="default 10")
    parser.add_argument("--drain-seconds", type=float, default=None, help="default 5")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "bench")
    parser.add_argument("--redis-url", default=None, help="use this Redis instead of starting one")
    parser.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    parser.add_argument("--no-storm", action="store_true")
    parser.add_argument("--rest-rate", type=float, default=200)
    parser.add_argument("--rest-at-fps", type=int, default=2000)
    parser.add_argument(
        "--topology",
        choices=("split", "single"),
        default="split",
        help="vioip as compose runs it (an HTTP worker and a room worker) or in one process",
    )
    parser.add_argument(
        "--first-entries",
        action="store_true",
        help="delete vioip's places in the rooms first: every connect is a first entry",
    )
    parser.add_argument(
        "--no-http-weight",
        action="store_true",
        help="leave the HTTP worker's scheduling group at the room worker's weight",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")
    parser.add_argument("--keep", type=Path, default=None, help="copy server logs here")
    parser.add_argument(
        "--profile", type=Path, default=None, help="sample vioip's worker with py-spy into DIR"
    )
    args = parser.parse_args(argv)
    sizes = [tuple(int(x) for x in s.split("x")) for s in args.sizes.split(",") if s]
    rates = [int(x) for x in args.rates.split(",") if x]
    opts = Options(
        sizes=sizes,  # type: ignore[arg-type]
        rates=rates,
        stacks=[s for s in args.stacks.split(",") if s],
        step_seconds=args.step_seconds or 10,
        drain_seconds=args.drain_seconds or 5,
        out_dir=args.out_dir,
        redis_url=args.redis_url,
        database_url=os.environ.get("DATABASE_URL"),
        pin=not args.no_pin,
        storm=not args.no_storm,
        rest_rate=args.rest_rate,
        rest_at_fps=args.rest_at_fps,
        smoke=args.smoke,
        keep=args.keep,
        profile=args.profile,
        topology=args.topology,
        first_entries=args.first_entries,
        http_weight=not args.no_http_weight,
    )
    if args.smoke:
        # 10 messages/s: enough to exercise every path, little enough for a busy CI box.
        opts.sizes, opts.rates = [(2, 5)], [50]
        opts.step_seconds = args.step_seconds or 1.0
        opts.drain_seconds = args.drain_seconds or 8.0
        opts.rest_rate, opts.rest_at_fps = 5, 50
    return opts


def _stop(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    # Turn SIGTERM into an exit so every server started here is stopped on the way out.
    signal.signal(signal.SIGTERM, _stop)
    opts = parse(argv)
    opts.out_dir.mkdir(parents=True, exist_ok=True)
    results = run(opts)
    report.write(results, opts.out_dir)
    failed = [
        f"{size['rooms']}x{size['participants']} {name}"
        for size in results["sizes"]
        for name, outcome in size["stacks"].items()
        if "failed" in outcome
    ]
    for name in failed:
        print(f"FAILED: {name}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
