"""Checks on the JSON values clients send, shared by the API and the sockets: how deep they
nest, and whether their text can be stored.

A value nested thousands deep exhausts Python's recursion in every later step (the size checks,
the database's encoder, the renderer), and orjson writes no more than 255 levels: such a value,
once stored, could never be read back. A NUL cannot be stored in PostgreSQL's text or ``jsonb``,
and a lone surrogate cannot be encoded as UTF-8 at all.

Nothing here imports Django or the app but the error catalogue: every layer may use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from elizabus.exceptions import InvalidText, JsonTooDeep

# Ruby's JSON parser's default nesting limit; deep enough for any character file or metadata
# a client sends, shallow enough to leave the renderer's 255 levels room for the envelope.
MAX_JSON_DEPTH = 100

NUL_REFUSED = "Null characters are not allowed."
SURROGATE_REFUSED = "Unpaired surrogates are not allowed."


def may_nest_deeper_than(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether a JSON text could nest deeper than ``max_depth``: never with fewer opening
    brackets than that, a count that costs far less than walking the decoded value."""
    return body.count(b"[") + body.count(b"{") > max_depth


def json_value_check(
    value: Any, *, max_depth: int = MAX_JSON_DEPTH, text: bool = True, nul: bool = False
) -> None:
    """Raises :class:`JsonTooDeep` for a value nested deeper than ``max_depth`` (an object or
    an array is one level), and :class:`InvalidText` for a string or key holding a lone
    surrogate (``text``) or a NUL (``nul``). Walks without recursion."""
    strings = text or nul
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if strings:
                _check_text(item, surrogates=text, nul=nul)
            continue
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
            if strings:
                for key in item:
                    if isinstance(key, str):
                        _check_text(key, surrogates=text, nul=nul)
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            raise JsonTooDeep(f"JSON is nested deeper than {max_depth} levels")
        pending.extend(
            (child, depth + 1) for child in children if isinstance(child, str | dict | list)
        )


def _check_text(text: str, *, surrogates: bool, nul: bool) -> None:
    if nul and "\x00" in text:
        raise InvalidText(NUL_REFUSED)
    if surrogates and not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            raise InvalidText(SURROGATE_REFUSED) from None
