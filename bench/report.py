"""Write a run's results: results.json, RESULTS.md (ratios to the floor and the Channels chat,
targets met or the distance to them) and latency.png (p99 against offered load)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

STACKS = ("floor", "channels-core", "channels-pubsub", "vioip")
P99_LIMIT_MS = 100.0


def step_at(outcome: dict[str, Any], fps: int) -> dict[str, Any] | None:
    for step in outcome.get("steps", []):
        if step["offered_fps"] == fps:
            return step
    return None


def saturation(outcome: dict[str, Any]) -> dict[str, Any] | None:
    """The step with the highest delivered rate that kept p99 ≤ 100 ms and lost nothing."""
    good = [
        s
        for s in outcome.get("steps", [])
        if s["p99_ms"] is not None and s["p99_ms"] <= P99_LIMIT_MS and s["lost_deliveries"] == 0
    ]
    return max(good, key=lambda s: s["delivered_fps"], default=None)


def summary(outcome: dict[str, Any], probe_fps: int = 2000) -> dict[str, Any]:
    if "failed" in outcome or not outcome.get("steps"):
        return {}
    at = step_at(outcome, probe_fps) or {}
    sat = saturation(outcome) or {}
    storm = outcome.get("storm") or {}
    rest = next((s["rest"] for s in outcome["steps"] if "rest" in s), {})
    below = [s for s in outcome["steps"] if s is not outcome["steps"][-1]] or outcome["steps"]
    return {
        "sockets held": outcome.get("sockets_held"),
        "RSS per socket (KiB)": outcome.get("rss_per_socket_kib"),
        "connects/s (with presence)": (outcome.get("connect") or {}).get("per_second"),
        "reconnect storm (s)": storm.get("seconds"),
        "storm failures": storm.get("failed"),
        f"p50 at {probe_fps} fps (ms)": at.get("p50_ms"),
        f"p99 at {probe_fps} fps (ms)": at.get("p99_ms"),
        f"CPU µs/frame at {probe_fps} fps": at.get("server_cpu_us_per_frame"),
        "saturation fps (p99 ≤ 100 ms)": sat.get("delivered_fps"),
        "CPU µs/frame at saturation": sat.get("server_cpu_us_per_frame"),
        "lost deliveries below saturation": sum(s["lost_deliveries"] for s in below),
        "seq gaps": outcome.get("seq_gaps_total"),
        "error frames/closes": sum((outcome.get("errors_total") or {}).values())
        + sum(v for k, v in (outcome.get("closes_total") or {}).items() if k != "None"),
        "server log errors": sum((outcome.get("server_log_errors") or {}).values()),
        "REST p99 (ms)": rest.get("p99_ms"),
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _ratio(a: Any, b: Any) -> str:
    if not isinstance(a, int | float) or not isinstance(b, int | float) or not b:
        return "-"
    return f"{a / b:.2f}x"


def size_table(size: dict[str, Any]) -> list[str]:
    stacks = [s for s in STACKS if s in size["stacks"]]
    sums = {s: summary(size["stacks"][s]) for s in stacks}
    keys = next((list(v) for v in sums.values() if v), [])
    header = ["figure", *stacks]
    if "vioip" in stacks:
        header += ["vioip ÷ floor", "vioip ÷ channels-core"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key in keys:
        row = [key, *(_fmt(sums[s].get(key)) for s in stacks)]
        if "vioip" in stacks:
            v = sums["vioip"].get(key)
            row += [
                _ratio(v, sums.get("floor", {}).get(key)),
                _ratio(v, sums.get("channels-core", {}).get(key)),
            ]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def steps_table(size: dict[str, Any]) -> list[str]:
    lines = [
        "| stack | offered fps | delivered fps | p50 ms | p99 ms | max ms | late s | "
        "server CPU % | µs/frame | Redis CPU % | generator CPU % | lost | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for stack in STACKS:
        outcome = size["stacks"].get(stack)
        if not outcome:
            continue
        if "failed" in outcome:
            lines.append(f"| {stack} | failed: {outcome['failed']} |" + " |" * 11)
            continue
        for s in outcome["steps"]:
            errors = {**s["errors"], **{f"close {k}": v for k, v in s["closes"].items()}}
            lines.append(
                "| "
                + " | ".join(
                    [
                        stack,
                        _fmt(s["offered_fps"]),
                        _fmt(s["delivered_fps"]),
                        _fmt(s["p50_ms"]),
                        _fmt(s["p99_ms"]),
                        _fmt(s["max_ms"]),
                        _fmt((s.get("late_seconds") or {}).get("count")),
                        _fmt(s["server_cpu_pct"]),
                        _fmt(s["server_cpu_us_per_frame"]),
                        _fmt(s["redis_cpu_pct"]),
                        _fmt(s["generator_cpu_pct"]),
                        _fmt(s["lost_deliveries"]),
                        ", ".join(f"{k}: {v}" for k, v in errors.items()) or "0",
                    ]
                )
                + " |"
            )
    return lines


def targets(results: dict[str, Any]) -> list[str]:
    """Each target of the rooms-under-load work for vioip, as a ratio to the Channels
    tutorial chat (core layer) measured in the same run where it is one: met, or the
    distance to it. The steady-latency target is a median of three runs (bench/NOTES.md)."""
    sizes = results["sizes"]
    if not sizes or not any("vioip" in s["stacks"] for s in sizes):
        return ["vioip was not measured in this run."]
    measured = [s for s in sizes if summary(s["stacks"].get("vioip", {}))] or sizes
    small = min(measured, key=lambda s: s["rooms"] * s["participants"])
    large = max(measured, key=lambda s: s["rooms"] * s["participants"])
    checks: list[tuple[str, Any, str, bool | None]] = []

    def check(name: str, value: Any, goal: str, ok: bool | None) -> None:
        checks.append((name, value, goal, ok))

    def ratio(a: Any, b: Any) -> float | None:
        return None if not a or not b else a / b

    def at_most(value: float | None, limit: float) -> bool | None:
        return None if value is None else value <= limit

    def at_least(value: float | None, limit: float) -> bool | None:
        return None if value is None else value >= limit

    v = summary(small["stacks"].get("vioip", {}))
    core = summary(small["stacks"].get("channels-core", {}))
    n_small = small["rooms"] * small["participants"]
    entry = ratio(v.get("connects/s (with presence)"), core.get("connects/s (with presence)"))
    check(
        "entry: connects/s ÷ Channels core",
        None if entry is None else f"{entry:.2f}x ({_fmt(v.get('connects/s (with presence)'))}/s)",
        "≥ 0.5x",
        at_least(entry, 0.5),
    )
    for size, limit in ((small, 2), (large, 3)) if small is not large else ((small, 2),):
        n = size["rooms"] * size["participants"]
        vs = summary(size["stacks"].get("vioip", {}))
        cs = summary(size["stacks"].get("channels-core", {}))
        storm = ratio(vs.get("reconnect storm (s)"), cs.get("reconnect storm (s)"))
        failures = vs.get("storm failures")
        check(
            f"storm of {n:,}: time ÷ Channels core, failures",
            None
            if storm is None
            else f"{storm:.2f}x ({_fmt(vs.get('reconnect storm (s)'))} s), {failures} failed",
            f"≤ {limit}x, 0 failed",
            None if storm is None else storm <= limit and not failures,
        )
    outcome = small["stacks"].get("vioip", {})
    mixed = next((s for s in outcome.get("steps", []) if "rest" in s), None)
    if mixed is not None:
        rest = mixed["rest"]
        check(
            f"{mixed['offered_fps']:,} fps + {rest['rate']:g} REST/s: room p99, REST p99, lost",
            f"{_fmt(mixed['p99_ms'])} ms, {_fmt(rest['p99_ms'])} ms, {mixed['lost_deliveries']}",
            "≤ 50 ms, ≤ 150 ms, 0",
            mixed["p99_ms"] is not None
            and mixed["p99_ms"] <= 50
            and rest["p99_ms"] is not None
            and rest["p99_ms"] <= 150
            and mixed["lost_deliveries"] == 0,
        )
    p99 = v.get("p99 at 2000 fps (ms)")
    check(
        f"p99 at 2,000 fps, {n_small:,} sockets (this run; with the REST probe if it ran then)",
        p99,
        "≤ 20 ms (median of 3 runs: NOTES)",
        at_most(p99, 20),
    )
    sat = ratio(v.get("saturation fps (p99 ≤ 100 ms)"), core.get("saturation fps (p99 ≤ 100 ms)"))
    check(
        "saturation ÷ Channels core",
        None if sat is None else f"{sat:.2f}x",
        "≥ 4x",
        at_least(sat, 4),
    )
    both = [v] if small is large else [v, summary(large["stacks"].get("vioip", {}))]
    lost = sum(x.get("lost deliveries below saturation") or 0 for x in both)
    gaps = sum(x.get("seq gaps") or 0 for x in both)
    check("lost / seq gaps below saturation", f"{lost} / {gaps}", "0 / 0", lost == 0 and gaps == 0)
    v_large = summary(large["stacks"].get("vioip", {}))
    c_large = summary(large["stacks"].get("channels-core", {}))
    rss = ratio(v_large.get("RSS per socket (KiB)"), c_large.get("RSS per socket (KiB)"))
    check(
        "RSS per socket ÷ Channels core",
        None if rss is None else f"{rss:.2f}x ({_fmt(v_large.get('RSS per socket (KiB)'))} KiB)",
        "≤ 1x",
        at_most(rss, 1),
    )
    log_errors = sum(x.get("server log errors") or 0 for x in both)
    check("error lines in the server logs (see NOTES)", log_errors, "0", log_errors == 0)
    lines = ["| target | measured | goal | met |", "|---|---|---|---|"]
    for name, value, goal, ok in checks:
        mark = "-" if ok is None else ("yes" if ok else "**no**")
        lines.append(f"| {name} | {_fmt(value)} | {goal} | {mark} |")
    return lines


def chart(results: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    sizes = results["sizes"]
    fig, axes = plt.subplots(1, max(1, len(sizes)), figsize=(6 * max(1, len(sizes)), 4.5))
    axes = axes if hasattr(axes, "__len__") else [axes]
    for ax, size in zip(axes, sizes, strict=False):
        for stack in STACKS:
            outcome = size["stacks"].get(stack) or {}
            steps = [s for s in outcome.get("steps", []) if s["p99_ms"] is not None]
            if steps:
                ax.plot(
                    [s["offered_fps"] for s in steps],
                    [s["p99_ms"] for s in steps],
                    marker="o",
                    label=stack,
                )
        ax.axhline(P99_LIMIT_MS, color="grey", linestyle="--", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("offered delivered frames/s")
        ax.set_ylabel("p99 send → last receiver (ms)")
        ax.set_title(f"{size['rooms']} rooms x {size['participants']}")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write(results: dict[str, Any], out_dir: Path) -> None:
    (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    drew = chart(results, out_dir / "latency.png")
    m = results["machine"]
    lines = [
        "# Room benchmark results",
        "",
        "Generated by `python -m bench.rooms` (see `bench/README.md`); do not edit by hand — "
        "the analysis lives in `bench/NOTES.md` and is copied in below.",
        "",
        f"- Date: {m['date']}; machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; "
        f"Python {m['python']}; load average at start {m['load_average']}",
        f"- Versions: {', '.join(f'{k} {v}' for k, v in m['versions'].items())}",
        "- Server and Redis pinned to core 0, generator to core 1: "
        f"{results['settings']['pinned']};"
        f" steps of {results['settings']['step_seconds']} s;"
        + (
            " every vioip connect a first entry (`--first-entries`)"
            if results["settings"].get("first_entries")
            else " vioip's connects re-enter places earlier runs made, where there are any"
        )
        + (
            " (**smoke run: sizes too small to mean anything**)"
            if results["settings"]["smoke"]
            else ""
        ),
        "",
    ]
    for stack, why in results.get("skipped", {}).items():
        lines.append(f"- {stack} skipped: {why}")
    lines += ["", "## Targets (vioip)", "", *targets(results), ""]
    for size in results["sizes"]:
        lines += [
            f"## {size['rooms']} rooms x {size['participants']} participants "
            f"({size['rooms'] * size['participants']:,} sockets)",
            "",
            *size_table(size),
            "",
            "### Steps",
            "",
            *steps_table(size),
            "",
        ]
    if drew:
        lines += ["## Latency against offered load", "", "![p99 latency](latency.png)", ""]
    notes = out_dir / "NOTES.md"
    if notes.exists():
        lines += ["## Profile and analysis", "", notes.read_text().strip(), ""]
    (out_dir / "RESULTS.md").write_text("\n".join(lines))


if __name__ == "__main__":
    # python -m bench.report [DIR]: rewrite DIR's RESULTS.md and chart from its results.json,
    # e.g. after editing NOTES.md, without measuring again.
    import sys

    folder = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)
    write(json.loads((folder / "results.json").read_text()), folder)
