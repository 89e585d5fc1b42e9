"""The hierarchical entity model of elizaOS (docs/architecture.md, "The entity model").

World → message server, Room → channel, Participant → (channel, entity), Entity → user or agent,
Message → a central message, Memory → an agent's own record of a message. Models hold data and the
invariants the database can enforce; every write goes through :mod:`elizabus.services`.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

DEFAULT_SERVER_ID = uuid.UUID(int=0)
CENTRAL_CHANNEL_ID = uuid.UUID(int=0)


class ChannelType(models.TextChoices):
    """The elizaOS ``ChannelType`` values (``packages/core/src/types/environment.ts``)."""

    SELF = "SELF"
    DM = "DM"
    GROUP = "GROUP"
    VOICE_DM = "VOICE_DM"
    VOICE_GROUP = "VOICE_GROUP"
    FEED = "FEED"
    THREAD = "THREAD"
    WORLD = "WORLD"
    FORUM = "FORUM"
    API = "API"


class EntityKind(models.TextChoices):
    USER = "user"
    AGENT = "agent"


class TimestampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class MessageServer(TimestampedModel):
    """A world: the platform-level server that owns channels (elizaOS ``message_servers``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)
    source_type = models.CharField(max_length=100)
    source_id = models.CharField(max_length=255, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name = "message server"

    def __str__(self) -> str:
        return self.name


class Entity(models.Model):
    """A user or an agent. Users are created on first sight of their client-chosen UUID."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    kind = models.CharField(max_length=10, choices=EntityKind.choices, default=EntityKind.USER)
    names = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "entities"
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.names[0] if self.names else f"User-{str(self.id)[:8]}"


class Channel(TimestampedModel):
    """A room: a conversation on a message server (elizaOS ``channels``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    server = models.ForeignKey(MessageServer, on_delete=models.CASCADE, related_name="channels")
    name = models.CharField(max_length=255)
    type = models.CharField(max_length=20, choices=ChannelType.choices, default=ChannelType.GROUP)
    source_type = models.CharField(max_length=100, blank=True, default="")
    source_id = models.CharField(max_length=255, blank=True, default="")
    topic = models.TextField(blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    # The seq of the channel's newest message, deleted or not: the next message takes the one
    # after it (docs/realtime.md, "Offsets"). Never goes back, not even when the channel is cleared.
    last_seq = models.BigIntegerField(default=0, db_default=0)
    participants = models.ManyToManyField(
        Entity, through="Participant", related_name="channels", blank=True
    )
    # The entity that created the channel through the API (a plain id, as an author may be
    # seen later); with data isolation it may manage the channel (docs/security.md, "Access").
    creator_id = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["server", "type", "name"], name="channel_server_type_name")]

    def __str__(self) -> str:
        return self.name


class Participant(models.Model):
    """An entity's membership of a channel; unique per pair, as elizaOS' ON CONFLICT DO NOTHING."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="memberships")
    entity = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "entity"], name="participant_unique_pair")
        ]

    def __str__(self) -> str:
        return f"{self.entity_id} in {self.channel_id}"


class Message(TimestampedModel):
    """A central message of a channel (elizaOS ``central_messages``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="messages")
    content = models.TextField()
    raw_message = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # A plain id, not a foreign key: a reply keeps pointing at what it answered after that
    # message is deleted (as elizaOS clients expect), and clearing a channel stays one DELETE.
    in_reply_to_id = models.UUIDField(null=True, blank=True)
    source_type = models.CharField(max_length=100, blank=True, default="")
    source_id = models.CharField(max_length=255, blank=True, default="")
    # Set by message_create, a millisecond after the channel's previous message at the least:
    # clients page with an epoch-ms ``before``, so two messages of a channel never share one.
    created_at = models.DateTimeField(default=timezone.now)
    # The message's place in its channel, 1, 2, 3… in commit order (``Channel.last_seq``).
    seq = models.BigIntegerField()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Also the index of a resume: the messages of a channel after a seq.
            models.UniqueConstraint(fields=["channel", "seq"], name="message_channel_seq"),
        ]
        indexes = [
            # Newest-first listing per channel, and the resume query for a reconnecting client.
            models.Index(fields=["channel", "-created_at", "-id"], name="message_channel_newest"),
        ]

    def __str__(self) -> str:
        return self.content[:60]


class Agent(models.Model):
    """An agent's configuration. Its identity is an Entity of kind agent with the same id."""

    entity = models.OneToOneField(
        Entity, primary_key=True, on_delete=models.CASCADE, related_name="agent"
    )
    name = models.CharField(max_length=255)
    bio = models.TextField(blank=True, default="")
    system_prompt = models.TextField(blank=True, default="")
    responder = models.CharField(
        max_length=255, default="elizabus.agents.responders.eliza.ElizaResponder"
    )
    responder_options = models.JSONField(default=dict, blank=True)
    character = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    # Run by a process of its own (an elizaOS host) that attaches over the agent wire
    # (docs/agents.md); this process's runtime never starts a responder for it.
    hosted_outside = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.name


class ServerAgent(models.Model):
    """An agent's subscription to a message server (elizaOS ``message_server_agents``)."""

    server = models.ForeignKey(MessageServer, on_delete=models.CASCADE, related_name="agent_links")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="server_links")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "server subscription"
        constraints = [
            models.UniqueConstraint(fields=["server", "agent"], name="server_agent_unique_pair")
        ]

    def __str__(self) -> str:
        return f"{self.agent_id} on {self.server_id}"


class Memory(models.Model):
    """An agent's own record of a message it saw or wrote.

    It refers to the message and channel by id, not by foreign key: the memory belongs to the
    agent, which forgets it when the bus says the message was deleted or the channel cleared.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="memories")
    message_id = models.UUIDField()
    channel_id = models.UUIDField()
    server_id = models.UUIDField()
    author_id = models.UUIDField()
    content = models.JSONField(default=dict)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "memories"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "message_id"], name="memory_unique_per_agent")
        ]
        indexes = [
            models.Index(fields=["agent", "channel_id", "-created_at"], name="memory_agent_room"),
            models.Index(fields=["message_id"], name="memory_message"),
        ]

    def __str__(self) -> str:
        return str(self.content.get("text", ""))[:60]


class Session(models.Model):
    """A conversation of one user with one agent in a DM channel of its own
    (docs/compatibility.md, "Sessions and jobs").

    Persisted, unlike the reference's per-process map, so any process serves any request of it.
    Expiry slides with activity when ``auto_renew`` is on, bounded by ``max_duration_minutes``
    from creation; an expired session is deleted when it is next touched or by
    ``manage.py sessions_prune``. Its channel stays when it goes (as in the reference).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="sessions")
    # The client's own id for its user; an Entity appears once the user speaks.
    user_id = models.UUIDField()
    channel = models.OneToOneField(Channel, on_delete=models.CASCADE, related_name="session")
    metadata = models.JSONField(default=dict, blank=True)
    # The timeout configuration in force (request, then agent settings, then defaults).
    timeout_minutes = models.FloatField()
    auto_renew = models.BooleanField(default=True)
    max_duration_minutes = models.FloatField()
    warning_threshold_minutes = models.FloatField()
    renewal_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    last_activity = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # Pruning and the health counts read by expiry.
            models.Index(fields=["expires_at"], name="session_expires"),
            models.Index(fields=["user_id"], name="session_user"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(timeout_minutes__gt=0)
                & models.Q(max_duration_minutes__gt=0)
                & models.Q(warning_threshold_minutes__gt=0),
                name="session_positive_durations",
            ),
            models.CheckConstraint(
                condition=models.Q(expires_at__gte=models.F("created_at")),
                name="session_expires_after_creation",
            ),
        ]

    def __str__(self) -> str:
        return f"session {self.id}"


class JobStatus(models.TextChoices):
    """The elizaOS ``JobStatus`` values (``packages/server/src/types/jobs.ts``)."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMEOUT = "timeout"


class Job(models.Model):
    """A one-off question to an agent, answered in a DM channel of its own
    (docs/compatibility.md, "Sessions and jobs").

    It is history once settled: the agent, channel and messages are referred to by id, not by
    foreign key, so deleting any of them leaves the job's record (and its result) as it was.
    Jobs are kept for ``JOB_RETENTION_HOURS`` after creation (``manage.py jobs_prune``).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    agent_id = models.UUIDField()
    user_id = models.UUIDField()
    channel_id = models.UUIDField(unique=True)
    # The user's message that asked the question.
    request_message_id = models.UUIDField(unique=True)
    prompt = models.TextField()
    metadata = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.PROCESSING
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # The agent's answer as the reference reports it: {id, content, authorId, createdAt, metadata}.
    result_message = models.JSONField(null=True, blank=True)
    processing_time_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # Timing out the overdue ones, and listing by status.
            models.Index(fields=["status", "expires_at"], name="job_status_expires"),
            # Newest-first listing and retention.
            models.Index(fields=["-created_at"], name="job_newest"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="completed")
                | (
                    models.Q(result_message__isnull=False)
                    & models.Q(processing_time_ms__isnull=False)
                ),
                name="job_completed_has_result",
            ),
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("created_at")),
                name="job_expires_after_creation",
            ),
        ]

    def __str__(self) -> str:
        return f"job {self.id} ({self.status})"


class RunOutcome(models.TextChoices):
    """What came of a message an agent handled."""

    REPLIED = "replied"
    SKIPPED = "skipped"
    FAILED = "failed"


class RunSkip(models.TextChoices):
    """Why an agent did not answer a message it handled."""

    # Its responder chose silence (elizaOS's IGNORE).
    SILENT = "silent"
    # The conversation between agents reached AGENT_HOP_LIMIT: the responder was not asked.
    HOP_LIMIT = "hop_limit"


class AgentRun(models.Model):
    """One message an agent handled (``/api/agents/:id/runs``): when the handling started and
    ended, and what came of it, a reply, a decision not to reply and why, or a failure.

    Written with the outcome, in its transaction (``agent_message_settle``), so it exists once
    per agent and message however often the message is handled, and only for messages that
    passed the agent's filters. Messages and channels are referred to by id: the record stays
    when they are deleted; it goes with its agent.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="runs")
    message_id = models.UUIDField()
    channel_id = models.UUIDField()
    server_id = models.UUIDField()
    author_id = models.UUIDField()
    source_type = models.CharField(max_length=100, blank=True, default="")
    outcome = models.CharField(max_length=16, choices=RunOutcome.choices)
    skip_reason = models.CharField(max_length=16, choices=RunSkip.choices, blank=True, default="")
    error = models.TextField(blank=True, default="")
    reply_id = models.UUIDField(null=True, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    duration_ms = models.PositiveBigIntegerField()

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "message_id"], name="run_unique_per_agent"),
            models.CheckConstraint(
                condition=models.Q(ended_at__gte=models.F("started_at")),
                name="run_ends_after_it_starts",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(outcome="replied", reply_id__isnull=False, skip_reason="")
                    | (
                        models.Q(outcome="skipped", reply_id__isnull=True)
                        & ~models.Q(skip_reason="")
                    )
                    | models.Q(outcome="failed", reply_id__isnull=True, skip_reason="")
                ),
                name="run_outcome_consistent",
            ),
        ]
        indexes = [
            # Newest-first listing per agent, and per agent and room.
            models.Index(fields=["agent", "-started_at"], name="run_agent_newest"),
            models.Index(fields=["agent", "channel_id", "-started_at"], name="run_agent_room"),
        ]

    def __str__(self) -> str:
        return f"run of {self.agent_id} on {self.message_id} ({self.outcome})"


class Account(models.Model):
    """A Django auth user bound to the one Entity it acts as (docs/security.md, "Identity").

    ``subject`` is the ``sub`` of the access tokens the server issues it (``eliza:<username>``
    at registration, as the reference's), and the entity's id is derived from it as the
    reference derives it (``stringToUuid(sub)``), so renaming the user later moves neither.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account"
    )
    entity = models.OneToOneField(Entity, on_delete=models.CASCADE, related_name="account")
    subject = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.subject


class RefreshToken(models.Model):
    """One refresh token of an account, stored as the SHA-256 of its secret, never the secret.

    Tokens rotate: each use spends the token and issues the next one of the same ``family``
    (one log-in). A spent token presented again revokes its family, since only a thief or a
    replay would present it. ``auth_hash`` is the account's password fingerprint at issue: a
    token issued before a password change no longer refreshes, however the password changed.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="refresh_tokens")
    family = models.UUIDField(db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    auth_hash = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"refresh token of {self.account_id} ({self.family})"


__all__ = [
    "CENTRAL_CHANNEL_ID",
    "DEFAULT_SERVER_ID",
    "Account",
    "Agent",
    "AgentRun",
    "Channel",
    "ChannelType",
    "Entity",
    "EntityKind",
    "Job",
    "JobStatus",
    "Memory",
    "Message",
    "MessageServer",
    "Participant",
    "RefreshToken",
    "RunOutcome",
    "RunSkip",
    "ServerAgent",
    "Session",
]
