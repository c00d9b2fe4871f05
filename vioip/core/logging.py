"""Log lines an operator can use, without protected health information.

- Every line carries the request id of the HTTP request or room connection it belongs to
  (``current_request_id``, else the id on the request a Django log record names), so the
  ``ref`` of an error body finds its lines.
- ``VIOIP_LOG_FORMAT=json`` writes one JSON object per line (``time``, ``level``,
  ``logger``, ``message``, ``request_id``, and ``exception`` with a traceback);
  ``text`` writes the same as a plain line.
- A traceback names the frames (file, line, function, source line) and each exception's
  type, never local variables and never the exception's message: a message can quote the
  data that failed (a database error quotes the row, a ``KeyError`` its key). Nothing
  from the request (body, headers, query) is ever written: the record's ``request``
  attribute is read for its id only.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import traceback
from types import TracebackType
from typing import Any

from vioip.core.middleware import current_request_id

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class RequestIdFilter(logging.Filter):
    """Sets ``record.request_id`` (``"-"`` outside a request) on every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = current_request_id.get()
        if not request_id:
            # django.request logs a response after the middleware has left the context.
            request_id = getattr(getattr(record, "request", None), "request_id", "") or ""
        record.request_id = request_id if isinstance(request_id, str) and request_id else "-"
        return True


def format_traceback(exc_info: ExcInfo | Any) -> str:
    """A traceback with frames and exception types only (no locals, no messages)."""
    exc = exc_info[1] if isinstance(exc_info, tuple) else exc_info
    chain: list[BaseException] = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    lines: list[str] = []
    for position, exc in enumerate(reversed(chain)):
        if position:
            lines.append("\nDuring or because of the exception above, another occurred:\n\n")
        lines.append("Traceback (most recent call last):\n")
        stack = traceback.StackSummary.extract(
            traceback.walk_tb(exc.__traceback__), capture_locals=False
        )
        lines.extend(stack.format())
        kind = type(exc)
        name = (
            kind.__qualname__
            if kind.__module__ == "builtins"
            else f"{kind.__module__}.{kind.__qualname__}"
        )
        lines.append(f"{name} (message left out of the log)\n")
    return "".join(lines).rstrip("\n")


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        # Not logging.Formatter.format: it reuses a traceback another handler rendered
        # (record.exc_text), messages and all.
        if not hasattr(record, "request_id"):
            RequestIdFilter().filter(record)
        record.message = record.getMessage()
        record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        trace = format_traceback(record.exc_info) if record.exc_info else ""
        return f"{line}\n{trace}" if trace else line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            RequestIdFilter().filter(record)
        request_id = record.request_id  # type: ignore[attr-defined]
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": None if request_id == "-" else request_id,
        }
        trace = format_traceback(record.exc_info) if record.exc_info else ""
        if trace:
            entry["exception"] = trace
        return json.dumps(entry, ensure_ascii=False, default=str)
