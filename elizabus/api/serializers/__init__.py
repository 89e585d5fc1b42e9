"""Input serializers, one module per resource (named as its views): they validate request
bodies and queries and nothing else. Each carries the message the reference answers when
validation fails (``error_message``), with field details beside it. The message post's body is a
msgspec struct (``channels.ChannelMessageIn``): that route skips DRF's request machinery.
"""
