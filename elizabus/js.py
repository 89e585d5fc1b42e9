"""JavaScript's readings and spellings, where the reference's wire depends on them: dates as
``Date.toISOString()`` writes them and as epoch milliseconds, numbers as ``Number()`` and
``parseInt()`` read them and as ``JSON.stringify`` writes them.

Nothing here imports Django or the app: every layer may use it.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

# JavaScript's latest ``Date``, in epoch ms.
EPOCH_MS_MAX = 8_640_000_000_000_000

_DECIMAL = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_HEX = re.compile(r"^0[xX][0-9a-fA-F]+$")
_LEADING_INT = re.compile(r"^\s*([+-]?\d+)")


def iso(moment: dt.datetime) -> str:
    """As ``Date.toISOString()``: UTC, milliseconds and a ``Z``."""
    if moment.utcoffset() != dt.timedelta(0):
        moment = moment.astimezone(dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms(moment: dt.datetime) -> int:
    """As ``Date.getTime()``."""
    return int(moment.timestamp() * 1000)


def to_number(value: Any) -> float:
    """``Number(value)`` for the numbers and strings a client may send a number as: ``"90"`` is
    90, ``"0x10"`` 16, ``""`` 0, anything else that is not a number NaN."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    if not text:
        return 0.0
    if _HEX.match(text):
        return float(int(text, 16))
    if text in {"Infinity", "+Infinity", "-Infinity"}:
        return -math.inf if text.startswith("-") else math.inf
    return float(text) if _DECIMAL.match(text) else math.nan


def parse_int(text: str) -> int | None:
    """``parseInt(text, 10)``: the leading integer (``"12abc"`` is 12), or None for NaN."""
    match = _LEADING_INT.match(text)
    return int(match.group(1)) if match else None


def wire_number(value: float) -> float | int:
    """A number as ``JSON.stringify`` writes it: an integral float without its ``.0``."""
    value = float(value)
    return int(value) if value.is_integer() else value
