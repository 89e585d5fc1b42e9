"""This process only: the writer's receivers get every event at commit, and nobody else does.
For tests and single-purpose tools; servers use :mod:`.database` or :mod:`.redis`."""

from __future__ import annotations

from collections.abc import Sequence

from elizabus.bus.outbox import OutboxRecord

from .base import Taken, Transport


class InProcessTransport(Transport):
    def send(self, records: Sequence[OutboxRecord], taken: Taken) -> None:
        taken([record.id for record in records])
