"""Bus receivers that settle the jobs API's jobs: each turns an event into one service call.

A job completes when its agent's answer is on the bus, fails when its agent fails on the
question or finishes without answering. These run in scope ``ONCE`` (``elizabus.wiring``): in
the process that committed the event, which for an agent's answer is the process running the
agent, a server or a ``runagents`` worker alike, so each answer settles its job once and no
process waits in memory for it. Every message costs one indexed read (is this an open job's
channel?); only a job's own events go on to a write.
"""

from __future__ import annotations

from typing import Any

from elizabus import selectors, services
from elizabus.bus.events import MessageComplete, MessageError, NewMessage

NO_ANSWER = "The agent finished without answering"


def on_new_message(*, event: NewMessage, **kwargs: Any) -> None:
    """A message of the job's agent in the job's channel completes it (unless it is progress)."""
    job_id = selectors.job_open_in_channel(channel_id=event.channel_id, agent_id=event.author_id)
    if job_id is not None:
        services.job_complete(job_id=job_id, reply=event)


def on_message_error(*, event: MessageError, **kwargs: Any) -> None:
    """The job's agent failed on the job's question: the job fails with its error."""
    if not (event.message_id and event.agent_id):
        return
    job_id = selectors.job_open_for_request(message_id=event.message_id, agent_id=event.agent_id)
    if job_id is not None:
        services.job_fail(job_id=job_id, error=event.error)


def on_message_complete(*, event: MessageComplete, **kwargs: Any) -> None:
    """The job's agent is done with the question and the job is still open: it chose not to
    answer (its answer would have come first, in the same commit), so the job fails now
    rather than at its timeout."""
    if not (event.message_id and event.agent_id):
        return
    job_id = selectors.job_open_for_request(message_id=event.message_id, agent_id=event.agent_id)
    if job_id is not None:
        services.job_fail(job_id=job_id, error=NO_ANSWER)
