"""The operators' admin: every model browsable, and every write that clients see done by a
service.

The admin is an edge like the API: it never calls ``.save()``, ``.create()`` or ``.delete()`` on
a domain model. Each admin declares the ``operations`` a service performs for it and overrides the
matching hook to call that service; everything else is view-only, and the base class refuses a
write that would fall through to Django's own hooks. Rows of the two link models (participants,
server subscriptions) are added and removed, never edited, both on their own pages and in the
inlines of their channel or agent. Its reads are the admin's own querysets, with their joins and
counts chosen here for the change lists.

Each module holds the admins of one resource, ``base.py`` what they share. The bus's table has
its admin beside it (``elizabus/bus/admin.py``), as Django's contrib apps keep theirs.
"""

from django.contrib import admin

from . import accounts, agents, channels, entities, messages, servers, sessions

admin.site.site_header = "elizabus administration"
admin.site.site_title = "elizabus admin"

__all__ = ["accounts", "agents", "channels", "entities", "messages", "servers", "sessions"]
