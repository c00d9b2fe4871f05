"""Summaries of py-spy's collapsed stacks (``--format raw``): where a worker's samples went.

python -m bench.profile /tmp/prof/vioip-10x20.txt
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

TOP = 40


def _frames(stack: str) -> list[str]:
    # "thread (tid);frame (file:line);frame ..." -> ["frame (file)", ...] without line numbers,
    # so a function counts once however many of its lines were sampled.
    out = []
    for part in stack.split(";")[1:]:
        name, _, where = part.partition(" (")
        path = where.rsplit(":", 1)[0].rstrip(")")
        out.append(f"{name} ({shorten(path)})")
    return out


def shorten(path: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def summary(raw: Path) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        threads[stack.split(";", 1)[0]] += count
        frames = _frames(stack)
        if frames:
            own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return "no samples\n"
    lines = [f"# {raw.name}: {total} samples", "", "## Threads", ""]
    lines += [f"- {100 * n / total:5.1f} % {name}" for name, n in threads.most_common()]
    lines += ["", "## Self time", ""]
    lines += [f"- {100 * n / total:5.1f} % {name}" for name, n in own.most_common(TOP)]
    lines += ["", "## Inclusive time", ""]
    lines += [f"- {100 * n / total:5.1f} % {name}" for name, n in inclusive.most_common(TOP)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(summary(Path(sys.argv[1])))
