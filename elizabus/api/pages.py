"""Pages of messages as the API answers them, from a cache of each message's wire form.

Every client that opens a channel reads its newest page, and turning 50 rows into wire dicts
(UUIDs and timestamps parsed, then formatted again) was most of a read's cost. A message's wire
form depends on its row alone, so it is kept by the message's version: its id and
``updated_at`` as the database holds them (:data:`elizabus.db.rows.MessageVersion`). A page is
then one query for the versions, in order, and a lookup each; what is not cached is read and
converted once. Nothing needs invalidating: an edited message has a new version, a deleted one
is no longer in the page, and every process reads the same database, so this holds with any
number of server processes.

The cache keeps ``MESSAGE_WIRE_CACHE_SIZE`` messages (least recently used go first; 0 turns it
off). Its dicts are shared between responses and must not be changed.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections import OrderedDict
from typing import Any

from elizabus.api.representations.channels import message_data
from elizabus.conf import app_settings
from elizabus.db import rows


class MessageWireCache:
    def __init__(self) -> None:
        self._items: OrderedDict[rows.MessageVersion, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def page(
        self, channel_id: uuid.UUID, *, limit: int, before: dt.datetime | None = None
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` messages of a channel (``before`` exclusive), newest first, on
        the wire (``message_data``)."""
        versions = rows.message_page_versions(channel_id, limit=limit, before=before)
        found: dict[Any, dict[str, Any]] = {}
        with self._lock:
            for version in versions:
                data = self._items.get(version)
                if data is not None:
                    self._items.move_to_end(version)
                    found[version[0]] = data
        missing = [version[0] for version in versions if version[0] not in found]
        for message_id, (version, row) in rows.messages_by_id(missing).items():
            found[message_id] = self._keep(version, message_data(row))
        return [found[version[0]] for version in versions if version[0] in found]

    def _keep(self, version: rows.MessageVersion, data: dict[str, Any]) -> dict[str, Any]:
        size = app_settings.MESSAGE_WIRE_CACHE_SIZE
        if size <= 0:
            return data
        with self._lock:
            self._items[version] = data
            while len(self._items) > size:
                self._items.popitem(last=False)
        return data

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


message_wire_cache = MessageWireCache()
