"""Each message's place in its channel (``Message.seq``) and each channel's newest
(``Channel.last_seq``): the offsets a socket resumes from (docs/realtime.md, "Offsets").

The messages already stored are numbered 1, 2, 3… per channel in the order the channel lists
them (``created_at``, then ``id``), and each channel's ``last_seq`` is its highest number.
"""

from django.db import migrations, models


def number_messages(apps, schema_editor) -> None:
    """Numbers every channel's messages in (created_at, id) order, from 1, and sets each
    channel's ``last_seq`` to its last number. One statement each, on SQLite and PostgreSQL."""
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    message = quote(apps.get_model("elizabus", "Message")._meta.db_table)
    channel = quote(apps.get_model("elizabus", "Channel")._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {message} SET seq = numbered.seq FROM ("
            f"SELECT id, ROW_NUMBER() OVER (PARTITION BY channel_id ORDER BY created_at, id) "
            f"AS seq FROM {message}) AS numbered WHERE {message}.id = numbered.id"
        )
        cursor.execute(
            f"UPDATE {channel} SET last_seq = COALESCE((SELECT MAX(seq) FROM {message} "
            f"WHERE {message}.channel_id = {channel}.id), 0)"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("elizabus", "0008_accounts"),
    ]

    operations = [
        migrations.AddField(
            model_name="channel",
            name="last_seq",
            field=models.BigIntegerField(default=0, db_default=0),
        ),
        migrations.AddField(
            model_name="message",
            name="seq",
            field=models.BigIntegerField(null=True),
        ),
        migrations.RunPython(number_messages, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="message",
            name="seq",
            field=models.BigIntegerField(),
        ),
        migrations.AddConstraint(
            model_name="message",
            constraint=models.UniqueConstraint(
                fields=("channel", "seq"), name="message_channel_seq"
            ),
        ),
    ]
