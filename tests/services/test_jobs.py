"""Jobs (``elizabus.services.jobs``) and the receivers that settle them from the bus
(``elizabus.job_receivers``, wired in scope ONCE): the question a job asks, completion by its
agent's answer and nothing else, failure, timeouts recorded, pruning by age.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from elizabus import job_receivers, services, wiring
from elizabus.bus import dispatch
from elizabus.bus.events import MessageComplete, MessageError, NewMessage, ParticipantUpdate
from elizabus.exceptions import NotFound
from elizabus.models import DEFAULT_SERVER_ID, Channel, Job, JobStatus, Message
from tests import factories
from tests.conftest import Published

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent() -> uuid.UUID:
    return factories.make_agent(name="Eliza").pk


def ask(agent: uuid.UUID | None, content: str = "What is a bus?", **kwargs: object) -> Job:
    return services.job_create(agent_id=agent, user_id=uuid.uuid4(), content=content, **kwargs)


def answer(job: Job, text: str, author: uuid.UUID | None = None) -> Message:
    """The agent's reply in the job's channel, stored and published like any agent's."""
    return services.message_create(
        channel_id=job.channel_id,
        author_id=author or job.agent_id,
        content=text,
        in_reply_to_message_id=job.request_message_id,
        source_type="agent_response",
        metadata={"agentName": "Eliza"},
    )


def finish(job: Job) -> None:
    """The job's agent announces it is done with the question."""
    services.message_complete_announce(
        channel_id=job.channel_id,
        server_id=DEFAULT_SERVER_ID,
        agent_id=job.agent_id,
        message_id=job.request_message_id,
    )


def make_overdue(*jobs: Job) -> None:
    """The jobs as they are a second past their deadline: their timestamps moved back."""
    for job in jobs:
        shift = job.expires_at - job.created_at + dt.timedelta(seconds=1)
        Job.objects.filter(id=job.id).update(
            created_at=job.created_at - shift, expires_at=job.expires_at - shift
        )


def test_a_job_asks_in_a_dm_of_its_own(
    agent: uuid.UUID, published: Published, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        job = ask(agent, metadata={"source": "cli"}, timeout_ms=5000)
    channel = Channel.objects.get(id=job.channel_id)
    assert (channel.name, channel.type, channel.server_id) == (
        f"job-{job.id}",
        "DM",
        DEFAULT_SERVER_ID,
    )
    assert channel.metadata == {
        "jobId": str(job.id),
        "agentId": str(agent),
        "userId": str(job.user_id),
        "isJobChannel": True,
        "source": "cli",
    }
    question = Message.objects.get(id=job.request_message_id)
    assert (question.source_type, question.raw_message) == ("job_request", {"content": job.prompt})
    assert question.metadata == {"jobId": str(job.id), "isJobMessage": True, "source": "cli"}
    assert job.status == JobStatus.PROCESSING
    assert job.expires_at - job.created_at == dt.timedelta(milliseconds=5000)
    assert [type(event) for event in published.events] == [
        ParticipantUpdate,
        ParticipantUpdate,
        NewMessage,
    ]
    assert published.events[-1].id == str(question.id)


def test_the_first_enabled_agent_is_asked_when_none_is_named() -> None:
    first = factories.make_agent(name="First")
    factories.make_agent(name="Second")
    services.agent_set_enabled(agent_id=first.pk, enabled=False)
    job = ask(None)
    assert job.agent_id != first.pk
    assert Job.objects.get(id=job.id).agent_id == factories.Agent.objects.get(name="Second").pk


def test_no_agent_at_all_is_not_found() -> None:
    with pytest.raises(NotFound) as refused:
        ask(None)
    assert str(refused.value) == "No agents available on server"
    with pytest.raises(NotFound) as unknown:
        ask(uuid.uuid4())
    assert unknown.value.code == "AGENT_NOT_FOUND"
    assert not Job.objects.exists()


def test_the_agents_answer_on_the_bus_completes_the_job(
    agent: uuid.UUID, django_capture_on_commit_callbacks
) -> None:
    job = ask(agent)
    with django_capture_on_commit_callbacks(execute=True):
        reply = answer(job, "Buses carry messages.")
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    assert job.result_message == {
        "id": str(reply.id),
        "content": "Buses carry messages.",
        "authorId": str(agent),
        "createdAt": int(reply.created_at.timestamp() * 1000),
        "metadata": {"agentName": "Eliza"},
    }
    assert job.processing_time_ms is not None and 0 <= job.processing_time_ms < 5000
    assert job.finished_at is not None


def test_progress_and_other_authors_do_not_complete_it(
    agent: uuid.UUID, django_capture_on_commit_callbacks
) -> None:
    job = ask(agent)
    with django_capture_on_commit_callbacks(execute=True):
        answer(job, "Executing action: SEARCH")
        answer(job, "me too", author=job.user_id)
        answer(job, "an impostor", author=uuid.uuid4())
    job.refresh_from_db()
    assert job.status == JobStatus.PROCESSING
    with django_capture_on_commit_callbacks(execute=True):
        answer(job, "Found it.")
        answer(job, "And a second thought.")
    job.refresh_from_db()
    assert (job.status, job.result_message["content"]) == (JobStatus.COMPLETED, "Found it.")


def test_an_answer_after_the_deadline_times_the_job_out(agent: uuid.UUID) -> None:
    job = ask(agent, timeout_ms=1000)
    make_overdue(job)
    reply = services.message_event(answer(job, "Too late."), server_id=DEFAULT_SERVER_ID)
    assert services.job_complete(job_id=job.id, reply=reply) is False
    job.refresh_from_db()
    assert (job.status, job.error) == (
        JobStatus.TIMEOUT,
        "Job timed out waiting for agent response",
    )


def test_the_agents_error_fails_the_job(
    agent: uuid.UUID, django_capture_on_commit_callbacks
) -> None:
    job = ask(agent)
    with django_capture_on_commit_callbacks(execute=True):
        services.message_error_report(
            message_id=str(job.request_message_id),
            channel_id=str(job.channel_id),
            agent_id=agent,
            error="RuntimeError: no model",
        )
    job.refresh_from_db()
    assert (job.status, job.error) == (JobStatus.FAILED, "RuntimeError: no model")


def test_finishing_without_an_answer_fails_the_job(
    agent: uuid.UUID, django_capture_on_commit_callbacks
) -> None:
    job = ask(agent)
    with django_capture_on_commit_callbacks(execute=True):
        finish(job)
    job.refresh_from_db()
    assert (job.status, job.error) == (JobStatus.FAILED, job_receivers.NO_ANSWER)


def test_a_settled_job_stays_settled(agent: uuid.UUID, django_capture_on_commit_callbacks) -> None:
    job = ask(agent)
    with django_capture_on_commit_callbacks(execute=True):
        answer(job, "Done.")
        finish(job)
    assert services.job_fail(job_id=job.id, error="late") is False
    assert Job.objects.get(id=job.id).status == JobStatus.COMPLETED


def test_overdue_jobs_are_recorded_as_timed_out(agent: uuid.UUID) -> None:
    overdue, fresh, done = ask(agent), ask(agent), ask(agent)
    services.job_fail(job_id=done.id, error="x")
    make_overdue(overdue, done)
    assert services.jobs_time_out_overdue() == 1
    statuses = dict(Job.objects.values_list("id", "status"))
    assert statuses == {
        overdue.id: JobStatus.TIMEOUT,
        fresh.id: JobStatus.PROCESSING,
        done.id: JobStatus.FAILED,
    }
    assert services.jobs_time_out_overdue() == 0


def test_pruning_deletes_jobs_by_age_whatever_their_status(agent: uuid.UUID) -> None:
    old, new = ask(agent), ask(agent)
    Job.objects.filter(id=old.id).update(
        created_at=timezone.now() - dt.timedelta(hours=25),
        expires_at=timezone.now() - dt.timedelta(hours=24),
    )
    assert services.jobs_prune(older_than=dt.timedelta(hours=24)) == 1
    assert list(Job.objects.values_list("id", flat=True)) == [new.id]
    assert Channel.objects.filter(id=old.channel_id).exists()


def test_the_job_receivers_run_once_per_event() -> None:
    """They write: one process settles each answer, the one that committed it."""
    for receiver in (
        job_receivers.on_new_message,
        job_receivers.on_message_error,
        job_receivers.on_message_complete,
    ):
        assert wiring.scope_of(receiver) is dispatch.ONCE
    assert job_receivers.on_new_message in wiring.RECEIVERS[NewMessage]
    assert job_receivers.on_message_error in wiring.RECEIVERS[MessageError]
    assert job_receivers.on_message_complete in wiring.RECEIVERS[MessageComplete]


def test_a_message_outside_any_job_costs_one_read(
    agent: uuid.UUID, django_assert_num_queries
) -> None:
    event = services.message_event(
        factories.make_message(channel_id=factories.make_channel().id), server_id=DEFAULT_SERVER_ID
    )
    with django_assert_num_queries(1):
        job_receivers.on_new_message(event=event)
