"""The load generator: one asyncio process (uvloop, websockets, orjson) holding every socket.

Because one process holds every socket, one clock times each message from the moment it
was due to be sent to its last receiver. Rates are open-loop: messages are due on a fixed
schedule whatever the server does, and latency counts from the due time, so a server that
falls behind cannot hide it by slowing the generator down.

    python -m bench.loadgen --config run.json --out result.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psutil
import uvloop
import websockets
from websockets.asyncio.client import ClientConnection, connect

ID_WIDTH = 10


@dataclass
class Message:
    due: float
    room: int
    expected: int
    received: int = 0
    last: float = 0.0


@dataclass
class Client:
    room: int
    member: int
    tickets: list[str] | None
    ws: ClientConnection | None = None
    ready: asyncio.Future[float] | None = None
    reader: asyncio.Task[None] | None = None
    last_seq: int | None = None
    attempt: int = 0


@dataclass
class Counters:
    errors: Counter[str] = field(default_factory=Counter)
    closes: Counter[str] = field(default_factory=Counter)
    seq_gaps: int = 0
    seq_duplicates: int = 0
    unknown_frames: int = 0
    presence_frames: int = 0


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


# A second of a step is "late" when something due in it took longer than this.
LATE_MS = 50.0


def late_seconds(dues: list[float], latencies: list[float], origin: float) -> dict[str, Any]:
    """Where a step's tail comes from: the whole seconds (counted from ``origin``, the
    step's start, on this process's clock) in which something due took over ``LATE_MS``,
    and the three worst of them with their slowest latency. A p99 made by a few seconds of
    stall reads differently from one spread over the whole step. The REST probe's origin is
    taken as its task is created, just before the step's own (a ``gc.collect`` and the CPU
    readings apart), so the room's and REST's late seconds can be compared to the second."""
    worst: dict[int, float] = {}
    for due, latency in zip(dues, latencies, strict=True):
        if latency * 1000 > LATE_MS:
            second = int(due - origin)
            worst[second] = max(worst.get(second, 0.0), latency)
    top = sorted(worst.items(), key=lambda item: item[1], reverse=True)[:3]
    return {
        "count": len(worst),
        "worst": [[second, _ms(latency)] for second, latency in sorted(top)],
    }


class ProcessWatch:
    """CPU seconds and RSS of the server's processes (and Redis), read with psutil."""

    def __init__(self, pids: list[int]) -> None:
        self.procs = [psutil.Process(pid) for pid in pids]

    def cpu(self) -> float:
        total = 0.0
        for proc in self.procs:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
        return total

    def rss(self) -> int:
        total = 0
        for proc in self.procs:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total


class Generator:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.stack: str = config["stack"]
        self.vioip = self.stack == "vioip"
        self.base: str = config["url_base"]
        self.origin: str = config["origin"]
        self.participants: int = config["participants"]
        self.rooms: list[dict[str, Any]] = config["rooms"]
        self.clients: list[Client] = []
        for r, room in enumerate(self.rooms):
            for m in range(self.participants):
                tickets = room["tickets"][m] if room.get("tickets") else None
                self.clients.append(Client(room=r, member=m, tickets=tickets))
        self.messages: dict[int, Message] = {}
        self.latencies: list[float] = []
        # When each message in ``latencies`` was due (for ``late_seconds``).
        self.dues: list[float] = []
        self.counters = Counters()
        self.server = ProcessWatch(config.get("server_pids", []))
        self.aux = ProcessWatch(config.get("aux_pids", []))
        self.me = psutil.Process()
        self.next_id = itertools.count(1)
        self.padding = "x" * max(0, int(config.get("message_bytes", 100)) - ID_WIDTH - 1)
        self.deliveries = 0
        self.sending: set[asyncio.Task[None]] = set()

    # --- Sockets --------------------------------------------------------------------------

    def _url(self, client: Client) -> str:
        path = self.rooms[client.room]["path"]
        if client.tickets is not None:
            ticket = client.tickets[min(client.attempt, len(client.tickets) - 1)]
            return f"{self.base}{path}?ticket={ticket}"
        return f"{self.base}{path}"

    async def _open(self, client: Client, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        client.ready = loop.create_future()
        try:
            client.ws = await connect(
                self._url(client),
                origin=self.origin,  # type: ignore[arg-type]
                compression=None,
                ping_interval=None,
                open_timeout=timeout,
                close_timeout=2,
                max_size=2**22,
            )
        except (OSError, TimeoutError, websockets.WebSocketException) as exc:
            self.counters.errors[f"connect:{type(exc).__name__}"] += 1
            return False
        client.reader = loop.create_task(self._read(client))
        if not self.vioip:
            # The peers send nothing of their own on connect but a presence broadcast, which
            # the core layer may drop when over capacity: the handshake is the connect.
            return True
        try:
            # vioip is connected when its room state arrives (after the ticket, the entry
            # checks and the presence broadcast).
            await asyncio.wait_for(asyncio.shield(client.ready), timeout)
        except TimeoutError:
            self.counters.errors["connect:no_first_frame"] += 1
            return False
        return True

    async def _read(self, client: Client) -> None:
        ws = client.ws
        assert ws is not None
        loads, now = orjson.loads, time.perf_counter
        try:
            async for raw in ws:
                at = now()
                if client.ready is not None and not client.ready.done():
                    client.ready.set_result(at)
                frame = loads(raw)
                self._frame(client, frame, at)
        except websockets.ConnectionClosed:
            pass
        finally:
            code = ws.close_code
            if code not in (None, 1000, 1001) or not getattr(self, "closing", False):
                self.counters.closes[str(code)] += 1

    def _frame(self, client: Client, frame: dict[str, Any], at: float) -> None:
        if self.vioip:
            kind = frame.get("type")
            if kind == "chat.message":
                seq = frame["seq"]
                if client.last_seq is not None:
                    if seq > client.last_seq + 1:
                        self.counters.seq_gaps += seq - client.last_seq - 1
                    elif seq <= client.last_seq:
                        self.counters.seq_duplicates += 1
                if client.last_seq is None or seq > client.last_seq:
                    client.last_seq = seq
                self._delivered(frame["text"], at)
            elif kind == "error":
                self.counters.errors[f"frame:{frame.get('code')}"] += 1
            elif kind in ("presence.joined", "presence.left", "presence.updated"):
                self.counters.presence_frames += 1
            elif kind != "room.state":
                self.counters.unknown_frames += 1
        elif "message" in frame:
            self._delivered(frame["message"], at)
        elif frame.get("type") == "presence.joined":
            self.counters.presence_frames += 1
        else:
            self.counters.unknown_frames += 1

    def _delivered(self, text: str, at: float) -> None:
        try:
            message = self.messages[int(text[1 : ID_WIDTH + 1])]
        except (KeyError, ValueError):
            self.counters.unknown_frames += 1
            return
        self.deliveries += 1
        message.received += 1
        message.last = at
        if message.received == message.expected:
            self.latencies.append(at - message.due)
            self.dues.append(message.due)

    async def connect_all(self, attempt: int) -> dict[str, Any]:
        concurrency = asyncio.Semaphore(int(self.config.get("connect_concurrency", 100)))
        timeout = float(self.config.get("connect_timeout", 30))

        async def one(client: Client) -> bool:
            async with concurrency:
                client.attempt = attempt
                client.last_seq = None
                return await self._open(client, timeout)

        errors_before = sum(self.counters.errors.values())
        cpu_before, steal_before = self.server.cpu(), _steal()
        started = time.perf_counter()
        results = await asyncio.gather(*(one(c) for c in self.clients))
        elapsed = time.perf_counter() - started
        # The server's CPU per socket let in: steadier than connects/s on a shared machine,
        # where the wall clock also counts time the server was not given.
        cpu = self.server.cpu() - cpu_before
        return {
            "sockets": sum(results),
            "failed": len(results) - sum(results),
            "seconds": round(elapsed, 3),
            "per_second": round(sum(results) / elapsed, 1) if elapsed else None,
            "server_cpu_ms_per_socket": round(1000 * cpu / sum(results), 2)
            if any(results)
            else None,
            "server_cpu_pct": round(100 * cpu / elapsed, 1) if elapsed else None,
            "steal_pct": _steal_pct(steal_before, _steal()),
            "errors": sum(self.counters.errors.values()) - errors_before,
        }

    async def close_all(self) -> None:
        self.closing = True

        async def one(client: Client) -> None:
            if client.ws is not None:
                await client.ws.close()
            if client.reader is not None:
                await client.reader

        await asyncio.gather(*(one(c) for c in self.clients))
        self.closing = False

    # --- Chat load ------------------------------------------------------------------------

    def _frame_for(self, message_id: int, client: Client) -> bytes:
        text = f"m{message_id:0{ID_WIDTH}d}:{self.padding}"
        if self.vioip:
            return orjson.dumps({"type": "chat.send", "client_id": str(uuid.uuid4()), "text": text})
        return orjson.dumps({"message": text})

    async def offer(self, delivered_per_second: float, seconds: float) -> tuple[int, float]:
        """Send at the rate that delivers ``delivered_per_second`` frames; returns the
        number of messages sent and the generator's worst lag behind the schedule."""
        rate = delivered_per_second / self.participants
        total = max(1, int(rate * seconds))
        senders = itertools.cycle(self._sender_order())
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        worst_lag = 0.0
        sent = 0
        while sent < total:
            now = time.perf_counter()
            due_count = min(total, int((now - started) * rate) + 1)
            while sent < due_count:
                due = started + sent / rate
                worst_lag = max(worst_lag, now - due)
                client = next(senders)
                message_id = next(self.next_id)
                self.messages[message_id] = Message(
                    due=due, room=client.room, expected=self.participants
                )
                if client.ws is not None:
                    task = loop.create_task(
                        self._send(client.ws, self._frame_for(message_id, client))
                    )
                    self.sending.add(task)
                    task.add_done_callback(self.sending.discard)
                sent += 1
            next_due = started + sent / rate
            await asyncio.sleep(max(0.0, next_due - time.perf_counter()))
        return sent, worst_lag

    async def _send(self, ws: ClientConnection, frame: bytes) -> None:
        try:
            await ws.send(frame.decode())
        except websockets.ConnectionClosed:
            self.counters.errors["send:closed"] += 1

    def _sender_order(self) -> list[Client]:
        # Spread consecutive messages over rooms, then over members within a room.
        by_member = sorted(self.clients, key=lambda c: (c.member, c.room))
        return by_member

    async def drain(self, limit: float) -> None:
        deadline = time.perf_counter() + limit
        while time.perf_counter() < deadline:
            if all(m.received >= m.expected for m in self.messages.values()):
                return
            await asyncio.sleep(0.05)

    async def step(self, delivered_per_second: float, seconds: float, drain: float) -> dict:
        self.messages.clear()
        self.latencies = []
        self.dues = []
        self.deliveries = 0
        errors_before = Counter(self.counters.errors)
        closes_before = Counter(self.counters.closes)
        gaps_before = self.counters.seq_gaps
        gc.collect()
        cpu0, aux0, me0 = self.server.cpu(), self.aux.cpu(), self._my_cpu()
        steal0 = _steal()
        started = time.perf_counter()
        sent, lag = await self.offer(delivered_per_second, seconds)
        offered_for = time.perf_counter() - started
        await self.drain(drain)
        elapsed = time.perf_counter() - started
        cpu = self.server.cpu() - cpu0
        aux = self.aux.cpu() - aux0
        mine = self._my_cpu() - me0
        steal1 = _steal()
        expected = sum(m.expected for m in self.messages.values())
        incomplete = sum(1 for m in self.messages.values() if m.received < m.expected)
        to_ms = 1000.0
        p50, p99 = percentile(self.latencies, 0.50), percentile(self.latencies, 0.99)
        # A message never completed counts as infinitely late for the percentiles.
        if incomplete:
            padded = self.latencies + [float("inf")] * incomplete
            p50, p99 = percentile(padded, 0.50), percentile(padded, 0.99)
        return {
            "offered_fps": delivered_per_second,
            "messages_sent": sent,
            "send_seconds": round(offered_for, 3),
            "generator_lag_ms": round(lag * to_ms, 2),
            "deliveries": self.deliveries,
            "expected_deliveries": expected,
            "lost_deliveries": expected - self.deliveries,
            "incomplete_messages": incomplete,
            # Delivered frames per second over the time the load was offered.
            "delivered_fps": round(self.deliveries / offered_for, 1),
            "p50_ms": _ms(p50),
            "p99_ms": _ms(p99),
            "max_ms": None if incomplete else _ms(max(self.latencies, default=None)),
            "late_seconds": late_seconds(self.dues, self.latencies, started),
            "server_cpu_s": round(cpu, 3),
            "server_cpu_pct": round(100 * cpu / elapsed, 1),
            "server_cpu_us_per_frame": round(1e6 * cpu / self.deliveries, 1)
            if self.deliveries
            else None,
            "redis_cpu_pct": round(100 * aux / elapsed, 1),
            "generator_cpu_pct": round(100 * mine / elapsed, 1),
            "steal_pct": _steal_pct(steal0, steal1),
            "seq_gaps": self.counters.seq_gaps - gaps_before,
            "errors": dict(self.counters.errors - errors_before),
            "closes": dict(self.counters.closes - closes_before),
        }

    def _my_cpu(self) -> float:
        times = self.me.cpu_times()
        return times.user + times.system


def _ms(value: float | None) -> float | None:
    if value is None:
        return None
    if value == float("inf"):
        return None
    return round(value * 1000.0, 2)


def _steal() -> tuple[int, int] | None:
    """The machine's (stolen, total) CPU ticks so far: on a virtual machine the host can
    take CPU time from it, and a step that lost some measured a slower machine."""
    try:
        with open("/proc/stat") as stat:
            ticks = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (ticks[7] if len(ticks) > 7 else 0), sum(ticks[:8])


def _steal_pct(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """Stolen CPU time as a share of the machine's CPU time over a step."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return round(100 * (after[0] - before[0]) / (after[1] - before[1]), 1)


# --- REST probe ---------------------------------------------------------------------------


class RestProbe:
    """GET a URL at a fixed open-loop rate over keep-alive HTTP/1.1 connections."""

    def __init__(self, url: str, token: str, rate: float) -> None:
        rest = url.removeprefix("http://")
        hostport, _, path = rest.partition("/")
        self.host, _, port = hostport.partition(":")
        self.port = int(port or 80)
        self.request = (
            f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\n"
            f"Authorization: Bearer {token}\r\nAccept: application/json\r\n\r\n"
        ).encode()
        self.rate = rate
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.latencies: list[float] = []
        self.dues: list[float] = []
        self.statuses: Counter[str] = Counter()

    async def _one(self, due: float) -> None:
        try:
            if self.idle:
                reader, writer = self.idle.pop()
            else:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            writer.write(self.request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = head.split(b" ", 2)[1].decode()
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            self.latencies.append(time.perf_counter() - due)
            self.dues.append(due)
            self.statuses[status] += 1
            self.idle.append((reader, writer))
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            self.statuses[type(exc).__name__] += 1

    async def run(self, seconds: float, origin: float) -> dict[str, Any]:
        """Requests at the probe's rate for ``seconds``; ``origin`` is the step's start
        (for ``late_seconds``)."""
        tasks = []
        started = time.perf_counter()
        total = int(self.rate * seconds)
        for i in range(total):
            due = started + i / self.rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(self._one(due)))
        await asyncio.gather(*tasks)
        for _, writer in self.idle:
            writer.close()
        return {
            "requests": total,
            "rate": self.rate,
            "p50_ms": _ms(percentile(self.latencies, 0.5)),
            "p99_ms": _ms(percentile(self.latencies, 0.99)),
            "max_ms": _ms(max(self.latencies, default=None)),
            "late_seconds": late_seconds(self.dues, self.latencies, origin),
            "statuses": dict(self.statuses),
        }


# --- The run ------------------------------------------------------------------------------


async def run(config: dict[str, Any]) -> dict[str, Any]:
    gen = Generator(config)
    result: dict[str, Any] = {"stack": gen.stack, "sockets_planned": len(gen.clients)}
    settle = float(config.get("settle_seconds", 1.0))
    await asyncio.sleep(settle)
    rss0 = gen.server.rss()
    result["connect"] = await gen.connect_all(attempt=0)
    await asyncio.sleep(settle)
    rss1 = gen.server.rss()
    held = result["connect"]["sockets"]
    result["sockets_held"] = held
    result["rss_before_kib"] = rss0 // 1024
    result["rss_after_kib"] = rss1 // 1024
    result["rss_per_socket_kib"] = round((rss1 - rss0) / 1024 / held, 1) if held else None
    if config.get("storm", True):
        await gen.close_all()
        result["storm"] = await gen.connect_all(attempt=1)
        await asyncio.sleep(settle)
    # Cyclic GC in the generator would show up as latency: collect between steps only.
    gc.collect()
    gc.freeze()
    gc.disable()
    warmup = config.get("warmup_fps")
    if warmup:
        await gen.step(warmup, float(config.get("warmup_seconds", 2)), 2.0)
    steps = []
    rest_cfg = config.get("rest")
    stop_ms = float(config.get("p99_stop_ms", 100))
    for fps in config["rates"]:
        probe_task = None
        if rest_cfg and fps == rest_cfg.get("at_fps"):
            probe = RestProbe(rest_cfg["url"], rest_cfg["token"], float(rest_cfg["rate"]))
            probe_task = asyncio.create_task(
                probe.run(float(config["step_seconds"]) * 0.8, origin=time.perf_counter())
            )
        outcome = await gen.step(
            fps, float(config["step_seconds"]), float(config.get("drain_seconds", 3))
        )
        if probe_task is not None:
            outcome["rest"] = await probe_task
        steps.append(outcome)
        gc.collect()
        print(json.dumps({"stack": gen.stack, **{k: outcome[k] for k in _BRIEF}}), flush=True)
        if outcome["p99_ms"] is None or outcome["p99_ms"] > stop_ms:
            break
    gc.enable()
    result["steps"] = steps
    result["seq_gaps_total"] = gen.counters.seq_gaps
    result["seq_duplicates_total"] = gen.counters.seq_duplicates
    result["unknown_frames"] = gen.counters.unknown_frames
    result["presence_frames"] = gen.counters.presence_frames
    await gen.close_all()
    result["errors_total"] = dict(gen.counters.errors)
    result["closes_total"] = dict(gen.counters.closes)
    return result


_BRIEF = (
    "offered_fps",
    "delivered_fps",
    "p50_ms",
    "p99_ms",
    "server_cpu_pct",
    "lost_deliveries",
    "steal_pct",
)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    outcome = uvloop.run(run(json.loads(args.config.read_text())))
    args.out.write_text(json.dumps(outcome, indent=1))
