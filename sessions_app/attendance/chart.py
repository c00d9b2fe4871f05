"""The weekly hours chart, drawn with matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

import io
from typing import Any

BELOW = "#c0392b"
MET = "#2e86c1"


def weekly_hours_png(report: dict[str, Any]) -> bytes:
    """Bars of each patient's hours this week, a line at the cohort's weekly minimum."""
    # Imported here: matplotlib takes seconds to import, and the URLconf is loaded on the
    # first request of a daphne process, where it would stall every open socket.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    patients = report["patients"]
    minimum = report["cohort"]["weekly_minimum_minutes"] / 60
    names = [p["patient"]["display_name"] for p in patients]
    hours = [p["total_hours"] for p in patients]
    colours = [BELOW if p["below_weekly_minimum"] else MET for p in patients]
    # A Figure without pyplot keeps no global state between requests.
    figure = Figure(figsize=(8, 1.5 + 0.4 * max(len(patients), 1)), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(patients)))
    axes.barh(positions, hours, color=colours)
    axes.set_yticks(positions, names)
    axes.invert_yaxis()
    axes.axvline(minimum, color="black", linestyle="--", linewidth=1)
    axes.set_xlim(0, max([minimum, *hours]) * 1.15 or 1)
    axes.set_xlabel(f"Hours attended (minimum {minimum:g} h)")
    axes.set_title(f"{report['cohort']['name']} — week {report['week']}")
    if not patients:
        axes.text(0.5, 0.5, "No patients enrolled this week", ha="center", transform=axes.transAxes)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
