"""Request parsers that answer hostile bodies with a 400, never a 500."""

from __future__ import annotations

import re
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# No body of this API nests deeper than a few levels (a progress note's sections are
# three). Deeper is refused whatever Python's recursion limit happens to be.
MAX_JSON_DEPTH = 32

# Half of a UTF-16 pair on its own: JSON's "\ud800" escape decodes to it, but it is not a
# character, and any later encoding (the database, encryption, a response echoing the
# value in a field error) fails on it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def json_problem(data: Any, *, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """What makes parsed JSON unacceptable (too deep, or a string or key holding a lone
    surrogate), or None. Iterative: the data may nest as deep as the parser recursed."""
    pending: list[tuple[Any, int]] = [(data, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return "the body is not valid Unicode text"
        elif isinstance(item, (dict, list)):
            if depth >= max_depth:
                return "the body is nested too deeply"
            if isinstance(item, dict):
                pending.extend((key, depth) for key in item)
                pending.extend((value, depth + 1) for value in item.values())
            else:
                pending.extend((value, depth + 1) for value in item)
    return None


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, but a body nested more than ``MAX_JSON_DEPTH`` levels (or past
    Python's recursion limit: a few kilobytes of ``[[[[…``), or holding a lone surrogate
    (``"\\ud800"``), is a parse error instead of a RecursionError or a UnicodeEncodeError
    further on."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        problem = json_problem(data)
        if problem is not None:
            raise ParseError(f"JSON parse error - {problem}.")
        return data
