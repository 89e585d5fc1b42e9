"""The bus as its own app: it owns one table, the outbox of every event (``models.py``)."""

from django.apps import AppConfig


class BusConfig(AppConfig):
    name = "elizabus.bus"
    label = "bus"
    verbose_name = "bus"
    default_auto_field = "django.db.models.BigAutoField"
