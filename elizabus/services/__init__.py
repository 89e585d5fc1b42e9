"""The services layer: the only code that writes domain rows, and so the only code that publishes
bus events. Functions are ``<entity>_<verb>(*, ...)``, keyword-only, and atomic. On the hot path
(a message post) they share private helpers rather than call each other, since each nested
atomic block costs a savepoint: two more statements.

What it may import is checked by the ``layers`` contract in ``pyproject.toml``
(docs/architecture.md).
"""

from .accounts import (
    IssuedTokens,
    account_access_refresh,
    account_login,
    account_logout,
    account_password_change,
    account_refresh,
    account_register,
)
from .agents import (
    AgentReply,
    agent_channel_title,
    agent_delete,
    agent_message_settle,
    agent_register,
    agent_reply_submit,
    agent_set_enabled,
    agent_update,
    memory_forget_channel,
    memory_forget_message,
    memory_record,
    message_error_report,
)
from .channels import (
    channel_clear,
    channel_create,
    channel_delete,
    channel_participant_add,
    channel_participant_remove,
    channel_update,
    dm_channel_get_or_create,
    dm_channel_name,
)
from .entities import entity_ensure
from .jobs import job_complete, job_create, job_fail, jobs_prune, jobs_time_out_overdue
from .media import agent_media_path, agent_media_store, media_path, media_store
from .memories import memory_clear, memory_delete, memory_forget_server, memory_update
from .messages import (
    channel_message_post,
    message_complete_announce,
    message_create,
    message_delete,
    message_event,
    message_update,
)
from .servers import server_agent_add, server_agent_remove, server_create
from .sessions import (
    session_create,
    session_delete,
    session_heartbeat,
    session_message_send,
    session_renew,
    session_require_active,
    session_timeout_update,
    sessions_prune,
)

__all__ = [
    "AgentReply",
    "IssuedTokens",
    "account_access_refresh",
    "account_login",
    "account_logout",
    "account_password_change",
    "account_refresh",
    "account_register",
    "agent_channel_title",
    "agent_delete",
    "agent_media_path",
    "agent_media_store",
    "agent_message_settle",
    "agent_register",
    "agent_reply_submit",
    "agent_set_enabled",
    "agent_update",
    "channel_clear",
    "channel_create",
    "channel_delete",
    "channel_message_post",
    "channel_participant_add",
    "channel_participant_remove",
    "channel_update",
    "dm_channel_get_or_create",
    "dm_channel_name",
    "entity_ensure",
    "job_complete",
    "job_create",
    "job_fail",
    "jobs_prune",
    "jobs_time_out_overdue",
    "media_path",
    "media_store",
    "memory_clear",
    "memory_delete",
    "memory_forget_channel",
    "memory_forget_message",
    "memory_forget_server",
    "memory_record",
    "memory_update",
    "message_complete_announce",
    "message_create",
    "message_delete",
    "message_error_report",
    "message_event",
    "message_update",
    "server_agent_add",
    "server_agent_remove",
    "server_create",
    "session_create",
    "session_delete",
    "session_heartbeat",
    "session_message_send",
    "session_renew",
    "session_require_active",
    "session_timeout_update",
    "sessions_prune",
]
