"""Creates the default message server and the central channel, both 00000000-…-0000
(docs/architecture.md, "The entity model")."""

import uuid

from django.db import migrations

ZERO = uuid.UUID(int=0)


def create_defaults(apps, schema_editor):
    MessageServer = apps.get_model("elizabus", "MessageServer")
    Channel = apps.get_model("elizabus", "Channel")
    server, _ = MessageServer.objects.get_or_create(
        id=ZERO, defaults={"name": "Default Server", "source_type": "eliza_default"}
    )
    Channel.objects.get_or_create(
        id=ZERO,
        defaults={
            "server": server,
            "name": "Central",
            "type": "WORLD",
            "source_type": "eliza_default",
            "topic": "System-wide broadcasts and agent-to-agent coordination",
        },
    )


def remove_defaults(apps, schema_editor):
    apps.get_model("elizabus", "Channel").objects.filter(id=ZERO).delete()
    apps.get_model("elizabus", "MessageServer").objects.filter(id=ZERO).delete()


class Migration(migrations.Migration):
    dependencies = [("elizabus", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, remove_defaults)]
