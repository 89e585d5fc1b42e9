"""App configuration: connects the bus wiring once the app registry is ready."""

from django.apps import AppConfig


class ElizabusConfig(AppConfig):
    name = "elizabus"
    verbose_name = "elizabus"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from elizabus import wiring

        wiring.connect()
