"""CSV that opens in a spreadsheet: a header row, ISO dates, one row per record."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping
from typing import Any

from rest_framework.renderers import BaseRenderer

# A cell starting with one of these is run as a formula by spreadsheet programs.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


class CSVRenderer(BaseRenderer):
    """Renders ``{"columns": [...], "rows": [{...}]}``; an error body becomes a two-column
    ``code,detail`` sheet so a client asking for CSV still gets CSV."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        if isinstance(data, dict) and "columns" in data and "rows" in data:
            columns = data["columns"]
            writer.writerow(columns)
            for row in data["rows"]:
                writer.writerow([_cell(row.get(c)) for c in columns])
        elif isinstance(data, dict):
            writer.writerow(["code", "detail"])
            writer.writerow([_cell(data.get("code")), _cell(data.get("detail"))])
        return buffer.getvalue().encode(self.charset)
