"""What every representation shares."""

from __future__ import annotations

from typing import Any


def without_unset(data: dict[str, Any], *optional: str) -> dict[str, Any]:
    """Leaves out the ``optional`` keys that have no value, as the reference does (JSON has no
    ``undefined``): a client testing ``"sourceId" in channel`` sees the same answer from both."""
    for key in optional:
        if data.get(key, 0) is None:
            del data[key]
    return data
