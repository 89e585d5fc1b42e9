"""Jobs: a one-off question to an agent, polled for its answer (docs/compatibility.md,
"Sessions and jobs").

A job asks in a DM channel of its own; it completes when the agent's answer reaches the bus.
elizabus puts agents' replies on the bus, and the job receivers of
:mod:`elizabus.job_receivers` run in the process that committed the reply, whichever it is (a
server, or a ``runagents`` worker), and call :func:`job_complete` there. A job still open past
its ``expiresAt`` has timed out: :func:`jobs_time_out_overdue` records that whenever jobs are
read, and jobs are deleted by age (``manage.py jobs_prune``) instead of the reference's cap of
10,000 in memory.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from elizabus import selectors
from elizabus.bus.events import NewMessage
from elizabus.exceptions import AgentNotFound, NoAgentsAvailable
from elizabus.models import DEFAULT_SERVER_ID, ChannelType, Job, JobStatus

from .channels import channel_create
from .messages import message_create

# The reference's JobValidation.
MIN_TIMEOUT_MS = 1_000
MAX_TIMEOUT_MS = 300_000
DEFAULT_TIMEOUT_MS = 30_000
# An agent's progress report, not its answer (the reference's jobs router skips these).
INTERMEDIATE_PREFIX = "Executing action:"
OPEN_STATUSES = (JobStatus.PENDING, JobStatus.PROCESSING)
TIMEOUT_ERROR = "Job timed out waiting for agent response"


def _elapsed_ms(start: dt.datetime, end: dt.datetime) -> int:
    return max(0, round((end - start).total_seconds() * 1000))


@transaction.atomic
def job_create(
    *,
    user_id: uuid.UUID,
    content: str,
    agent_id: uuid.UUID | None = None,
    metadata: dict[str, Any] | None = None,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
) -> Job:
    """Asks ``content`` of the agent (the first enabled one when ``agent_id`` is None) in a new
    DM channel ``job-<id>`` on the default server, and returns the job, ``processing``.

    The question goes through ``message_create`` (``sourceType`` ``job_request``), so the agent
    hears it on the bus like any message. The user is a participant beside the agent (the
    reference seats only the agent), so a socket of the user's may watch the channel.
    """
    if agent_id is None:
        agent = selectors.agent_first_enabled()
        if agent is None:
            raise NoAgentsAvailable()
    else:
        agent = selectors.agent_get(agent_id)
        if agent is None or not agent.enabled:
            raise AgentNotFound(f"Agent {agent_id} not found")
    metadata = metadata or {}
    job_id = uuid.uuid4()
    channel = channel_create(
        server_id=DEFAULT_SERVER_ID,
        name=f"job-{job_id}",
        type=ChannelType.DM,
        participant_ids=[agent.entity_id, user_id],
        metadata={
            "jobId": str(job_id),
            "agentId": str(agent.entity_id),
            "userId": str(user_id),
            "isJobChannel": True,
            **metadata,
        },
    )
    now = timezone.now()
    message_id = uuid.uuid4()
    job = Job.objects.create(
        id=job_id,
        agent_id=agent.entity_id,
        user_id=user_id,
        channel_id=channel.id,
        request_message_id=message_id,
        prompt=content,
        metadata=metadata,
        status=JobStatus.PROCESSING,
        created_at=now,
        expires_at=now + dt.timedelta(milliseconds=timeout_ms),
    )
    message_create(
        channel_id=channel.id,
        author_id=user_id,
        content=content,
        message_id=message_id,
        raw_message={"content": content},
        metadata={"jobId": str(job_id), "isJobMessage": True, **metadata},
        source_type="job_request",
    )
    return job


def _open_job(job_id: uuid.UUID) -> Job | None:
    return Job.objects.select_for_update().filter(id=job_id, status__in=OPEN_STATUSES).first()


def _time_out(job: Job, now: dt.datetime) -> None:
    job.status = JobStatus.TIMEOUT
    job.error = TIMEOUT_ERROR
    job.finished_at = now
    job.save(update_fields=["status", "error", "finished_at"])


@transaction.atomic
def job_complete(*, job_id: uuid.UUID, reply: NewMessage) -> bool:
    """Completes the open job with ``reply``, its agent's message in its channel, unless that
    is an ``Executing action:`` progress text, or came after the job's ``expiresAt`` (the job
    then times out). Returns whether the job completed; a job already settled is left as it is
    (events may come twice)."""
    if reply.content.startswith(INTERMEDIATE_PREFIX):
        return False
    job = _open_job(job_id)
    if job is None or reply.author_id != str(job.agent_id):
        return False
    now = timezone.now()
    if now >= job.expires_at:
        _time_out(job, now)
        return False
    job.status = JobStatus.COMPLETED
    job.finished_at = now
    job.processing_time_ms = _elapsed_ms(job.created_at, now)
    job.result_message = {
        "id": reply.id,
        "content": reply.content,
        "authorId": reply.author_id,
        "createdAt": reply.created_at,
        "metadata": reply.metadata or {},
    }
    job.save(update_fields=["status", "finished_at", "processing_time_ms", "result_message"])
    return True


@transaction.atomic
def job_fail(*, job_id: uuid.UUID, error: str) -> bool:
    """Fails the open job with ``error`` (its agent failed on the question, or finished without
    answering). Returns whether it was open."""
    job = _open_job(job_id)
    if job is None:
        return False
    job.status = JobStatus.FAILED
    job.error = error[:2000]
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "error", "finished_at"])
    return True


def jobs_time_out_overdue(*, now: dt.datetime | None = None) -> int:
    """Records ``timeout`` for the open jobs past their ``expiresAt``; returns how many.

    Not atomic as a whole on purpose: every read of jobs calls this, and the check that nothing
    is overdue (the usual answer) is a plain read, where a transaction would take SQLite's
    write lock for each poll.
    """
    now = now or timezone.now()
    overdue = Job.objects.filter(status__in=OPEN_STATUSES, expires_at__lte=now)
    if not overdue.exists():
        return 0
    with transaction.atomic():
        return overdue.update(status=JobStatus.TIMEOUT, error=TIMEOUT_ERROR, finished_at=now)


@transaction.atomic
def jobs_prune(*, older_than: dt.timedelta) -> int:
    """Deletes the jobs created more than ``older_than`` ago, whatever their status (their
    channels and messages stay); returns how many."""
    deleted, _ = Job.objects.filter(created_at__lt=timezone.now() - older_than).delete()
    return deleted
