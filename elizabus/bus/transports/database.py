"""The embedded default: the outbox table is the transport.

The writer's receivers get the event at commit, like the reference's in-memory EventEmitter;
every other process that runs a relay (servers, workers) reads the events the others commit
from the table, a tenth of a second later at most, so a change made by ``manage.py`` or a
second server reaches the running server. Every process runs every agent it runs on every
event: the database keeps their effects once (docs/bus.md).
"""

from __future__ import annotations

from .inprocess import InProcessTransport


class DatabaseTransport(InProcessTransport):
    follows_outbox = True
