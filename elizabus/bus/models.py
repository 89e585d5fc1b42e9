"""The outbox: every bus event, written in the transaction of the rows it announces.

A row that exists was committed with its rows, and rows never commit without their events. The
process that wrote a row sends its event at once after the commit; ``sent_at`` is filled in
when that (or the relay's repair, :mod:`elizabus.bus.relay`) has handed the event to the
transport. Rows are kept for ``ELIZABUS["BUS_OUTBOX_RETENTION_HOURS"]`` and then pruned
(``manage.py bus_prune``).
"""

from __future__ import annotations

from django.db import models


class OutboxEvent(models.Model):
    # Ordered by id: the order of commits on SQLite (one writer at a time); on PostgreSQL ids are
    # taken before commit, and the outbox's readers allow for the gaps that leaves.
    id = models.BigAutoField(primary_key=True)
    name = models.CharField(max_length=64)
    data = models.JSONField()
    # Copied from the event for the admin's filters; empty when the event has none.
    channel_id = models.CharField(max_length=36, blank=True, default="")
    agent_id = models.CharField(max_length=36, blank=True, default="")
    # The process that wrote it (host:pid:nonce): its own events never come back to it.
    origin = models.CharField(max_length=128)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    # A relay repairing the row holds it until then, so two relays do not both send it.
    claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "bus event"
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["id"], condition=models.Q(sent_at__isnull=True), name="outbox_unsent"
            ),
            models.Index(fields=["created_at"], name="outbox_created"),
            models.Index(fields=["name", "-id"], name="outbox_name"),
            models.Index(fields=["channel_id", "-id"], name="outbox_channel"),
        ]

    def __str__(self) -> str:
        return f"{self.name} #{self.id}"
