"""Request parsers that answer hostile bodies with a 400, never a 500."""

from __future__ import annotations

import re
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# Half of a UTF-16 pair on its own: JSON's "\ud800" escape decodes to it, but it is not a
# character, and any later encoding (the database, encryption, a response echoing the
# value in a field error) fails on it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(data: Any) -> bool:
    """Whether any string or key in parsed JSON holds a surrogate. Iterative: the data may
    nest nearly as deep as the parser recursed."""
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, but a body nested deeper than Python's recursion limit (a few
    kilobytes of ``[[[[…``) or holding a lone surrogate (``"\\ud800"``) is a parse error
    instead of a RecursionError or a UnicodeEncodeError further on."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        if has_lone_surrogate(data):
            raise ParseError("JSON parse error - the body is not valid Unicode text.")
        return data
