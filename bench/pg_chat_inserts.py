"""Chat inserts per second on one PostgreSQL, in the shape vioip stores chat.

A chat message in vioip is one row in ``rooms_chatmessage`` with the room's next ``seq``,
taken under the room's row lock (``chat_send`` in ``sessions_app/rooms``). This script repeats
that write from several connections at once, each message for a random room of a fixed
set, so two writers sometimes queue on the same room's lock as two people typing at once
do, and reports messages stored per second, the latency of each write, and the CPU the
PostgreSQL backends spent per message.

    taskset -c 1 python -m bench.pg_chat_inserts \\
        --dsn postgresql://postgres@127.0.0.1:5432/postgres --rooms 20 --writers 20 --seconds 20

It creates a scratch database (``--database``, default ``vioip_hc_scratch``) with the three
tables the write touches, runs each mode for ``--seconds``, checks that every room's
``seq`` has no gap and no duplicate, drops the database and prints one JSON object.

Modes (``--mode``):

- ``one-statement``: vioip's path on PostgreSQL (``_CHAT_ONE_STATEMENT``): one statement in
  autocommit locks the room's and the sender's rows ``FOR UPDATE``, checks the sender may
  speak, increments ``last_seq`` and inserts the message. vioip's statement also carries
  the access check (token, enrollment or care team) as a subquery; that join is left out
  here, so this is an upper bound for the real statement.
- ``transaction``: ``BEGIN``; ``SELECT … FOR UPDATE`` on the room's row; the sender's
  flags; ``UPDATE`` the room's ``last_seq``; ``INSERT`` the message; ``COMMIT`` — six round
  trips, in the shape of vioip's general path (``_chat_store``), and with ``--rooms 1`` the
  shape of an audit append: every writer waits for one row lock held until commit.
- ``both`` (default): one after the other.

The message text is 235 characters, the size of vioip's stored ciphertext of a
100-character message (``fernet:`` and a Fernet token). Commits are durable as the
server is configured (``synchronous_commit`` and ``fsync`` are reported).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import string
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import psutil
import psycopg
from psycopg import sql

PARTICIPANTS_PER_ROOM = 15
TEXT_CHARS = 235

_SCHEMA = """
CREATE TABLE room (
    session_id bigint PRIMARY KEY,
    last_seq bigint NOT NULL DEFAULT 0,
    chat_enabled boolean NOT NULL DEFAULT true
);
CREATE TABLE participant (
    session_id bigint NOT NULL REFERENCES room,
    user_id bigint NOT NULL,
    state varchar(16) NOT NULL DEFAULT 'admitted',
    muted boolean NOT NULL DEFAULT false,
    removed boolean NOT NULL DEFAULT false,
    online boolean NOT NULL DEFAULT true,
    PRIMARY KEY (session_id, user_id)
);
CREATE TABLE chatmessage (
    id bigserial PRIMARY KEY,
    session_id bigint NOT NULL REFERENCES room,
    seq bigint NOT NULL CHECK (seq >= 1),
    sender_id bigint NOT NULL,
    client_id uuid NOT NULL,
    text text NOT NULL,
    sent_at timestamptz NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    UNIQUE (session_id, seq),
    UNIQUE (session_id, sender_id, client_id)
);
CREATE INDEX chatmessage_sender_sent ON chatmessage (session_id, sender_id, sent_at);
"""

_ONE_STATEMENT = """
WITH speaker AS (
    SELECT r.session_id
    FROM room r
    JOIN participant p ON p.session_id = r.session_id AND p.user_id = %(user)s
    WHERE r.session_id = %(room)s
      AND r.chat_enabled
      AND p.state = 'admitted' AND NOT p.muted AND NOT p.removed AND p.online
    FOR UPDATE OF r, p
), seq AS (
    UPDATE room r SET last_seq = r.last_seq + 1
    FROM speaker WHERE r.session_id = speaker.session_id
    RETURNING r.last_seq
)
INSERT INTO chatmessage (session_id, seq, sender_id, client_id, text, sent_at, deleted)
SELECT %(room)s, seq.last_seq, %(user)s, %(client)s, %(text)s, %(at)s, false
FROM seq
RETURNING id, seq
"""


@dataclass
class Writer:
    index: int
    latencies: list[float] = field(default_factory=list)
    refused: int = 0
    backend_cpu_seconds: float = 0.0


def _admin(dsn: str) -> psycopg.Connection[Any]:
    return psycopg.connect(dsn, autocommit=True)


def _with_database(dsn: str, database: str) -> str:
    return psycopg.conninfo.make_conninfo(dsn, dbname=database)


def _create(dsn: str, database: str, rooms: int) -> None:
    with _admin(dsn) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(database)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    with psycopg.connect(_with_database(dsn, database), autocommit=True) as conn:
        conn.execute(_SCHEMA)
        conn.execute(
            "INSERT INTO room (session_id) SELECT g FROM generate_series(1, %s) g", [rooms]
        )
        conn.execute(
            "INSERT INTO participant (session_id, user_id) "
            "SELECT r, r * 1000 + u FROM generate_series(1, %s) r, generate_series(1, %s) u",
            [rooms, PARTICIPANTS_PER_ROOM],
        )


def _drop(dsn: str, database: str) -> None:
    with _admin(dsn) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )


def _write_one(conn: psycopg.Connection[Any], mode: str, room: int, user: int) -> bool:
    params = {
        "room": room,
        "user": user,
        "client": uuid.uuid4(),
        "text": "fernet:" + "".join(random.choices(string.ascii_letters, k=TEXT_CHARS - 7)),
        "at": dt.datetime.now(dt.UTC),
    }
    if mode == "one-statement":
        return conn.execute(_ONE_STATEMENT, params).fetchone() is not None
    with conn.transaction():
        row = conn.execute(
            "SELECT last_seq, chat_enabled FROM room WHERE session_id = %(room)s FOR UPDATE",
            params,
        ).fetchone()
        if row is None or not row[1]:
            return False
        flags = conn.execute(
            "SELECT state, muted, removed, online FROM participant "
            "WHERE session_id = %(room)s AND user_id = %(user)s",
            params,
        ).fetchone()
        if flags is None or flags != ("admitted", False, False, True):
            return False
        conn.execute(
            "UPDATE room SET last_seq = %(seq)s WHERE session_id = %(room)s",
            {**params, "seq": row[0] + 1},
        )
        conn.execute(
            "INSERT INTO chatmessage (session_id, seq, sender_id, client_id, text, sent_at) "
            "VALUES (%(room)s, %(seq)s, %(user)s, %(client)s, %(text)s, %(at)s)",
            {**params, "seq": row[0] + 1},
        )
    return True


class Clock:
    """When the writers stop: set once all of them are connected."""

    end = float("inf")


def _run_writer(
    writer: Writer, conninfo: str, mode: str, rooms: int, ready: threading.Barrier, clock: Clock
) -> None:
    pick = random.Random(writer.index)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        backend = int(row[0]) if row else 0
        ready.wait()
        cpu_before = _backend_cpu(backend)
        while time.monotonic() < clock.end:
            room = pick.randint(1, rooms)
            user = room * 1000 + pick.randint(1, PARTICIPANTS_PER_ROOM)
            began = time.perf_counter()
            stored = _write_one(conn, mode, room, user)
            writer.latencies.append(time.perf_counter() - began)
            if not stored:
                writer.refused += 1
        # Read before the connection closes: its backend exits with it.
        writer.backend_cpu_seconds = _backend_cpu(backend) - cpu_before


def _backend_cpu(pid: int) -> float:
    """CPU seconds a PostgreSQL backend has used (0 when it cannot be read, e.g. a remote
    server)."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _measure(conninfo: str, mode: str, rooms: int, writers: int, seconds: float) -> dict[str, Any]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("TRUNCATE chatmessage")
        conn.execute("UPDATE room SET last_seq = 0")
    team = [Writer(i) for i in range(writers)]
    clock = Clock()
    # Every writer connects first; the clock starts when all of them are ready.
    ready = threading.Barrier(writers + 1)
    threads = [
        threading.Thread(target=_run_writer, args=(w, conninfo, mode, rooms, ready, clock))
        for w in team
    ]
    for thread in threads:
        thread.start()
    ready.wait()
    began = time.monotonic()
    clock.end = began + seconds
    own_before = time.process_time()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    cpu_spent = sum(w.backend_cpu_seconds for w in team)
    own_spent = time.process_time() - own_before

    latencies = [x for w in team for x in w.latencies]
    refused = sum(w.refused for w in team)
    stored = len(latencies) - refused
    with psycopg.connect(conninfo, autocommit=True) as conn:
        counts = conn.execute(
            "SELECT count(*), count(DISTINCT (session_id, seq)) FROM chatmessage"
        ).fetchone()
        # A room whose messages are not exactly 1..last_seq has a gap or a duplicate.
        broken = conn.execute(
            "SELECT count(*) FROM room r WHERE r.last_seq <> "
            "(SELECT count(*) FROM chatmessage c WHERE c.session_id = r.session_id) "
            "OR r.last_seq <> coalesce("
            "(SELECT max(seq) FROM chatmessage c WHERE c.session_id = r.session_id), 0)"
        ).fetchone()
    return {
        "mode": mode,
        "rooms": rooms,
        "writers": writers,
        "seconds": round(elapsed, 2),
        "stored": stored,
        "refused": refused,
        "stored_per_second": round(stored / elapsed, 1),
        "latency_ms": {
            "p50": round(statistics.median(latencies) * 1000, 2),
            "p99": round(_percentile(latencies, 0.99) * 1000, 2),
            "max": round(max(latencies) * 1000, 2),
        },
        "backend_cpu_us_per_message": round(cpu_spent / max(stored, 1) * 1e6, 1),
        "client_cpu_us_per_message": round(own_spent / max(stored, 1) * 1e6, 1),
        "rows": int(counts[0]) if counts else 0,
        "distinct_room_seq": int(counts[1]) if counts else 0,
        "rooms_with_gap_or_duplicate": int(broken[0]) if broken else -1,
    }


def _server_settings(conninfo: str) -> dict[str, str]:
    settings: dict[str, str] = {}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for name in ("server_version", "synchronous_commit", "fsync", "shared_buffers"):
            row = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
            settings[name] = str(row[0]) if row else ""
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--dsn",
        default=os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="a connection to an existing database, used to create and drop the scratch one",
    )
    parser.add_argument("--database", default="vioip_hc_scratch")
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--writers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--mode", choices=("one-statement", "transaction", "both"), default="both")
    args = parser.parse_args(argv)

    modes = ["one-statement", "transaction"] if args.mode == "both" else [args.mode]
    conninfo = _with_database(args.dsn, args.database)
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    _create(args.dsn, args.database, args.rooms)
    try:
        server = _server_settings(conninfo)
        results = [
            _measure(conninfo, mode, args.rooms, args.writers, args.seconds) for mode in modes
        ]
    finally:
        _drop(args.dsn, args.database)
    report = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average_start": load_at_start,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "client_cpu_affinity": sorted(psutil.Process().cpu_affinity() or []),
        "server": server,
        "results": results,
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
