"""Runs written by real bus agents: one per message an agent handled, with its outcome
(replied, skipped and why, failed), its times, and none for a message the filters dropped or a
redelivery."""

from __future__ import annotations

from typing import Any

import pytest

from elizabus.bus.dispatch import dispatch_local
from elizabus.models import AgentRun, Message
from tests.agents.conftest import AGENT_DB, Stage
from tests.agents.helpers import FAILING, SILENT

pytestmark = AGENT_DB


def _run(agent_id: Any, message_id: str) -> AgentRun:
    return AgentRun.objects.get(agent_id=agent_id, message_id=message_id)


def test_a_reply_is_a_replied_run_that_names_the_reply(stage: Stage) -> None:
    agent = stage.agent()
    home = stage.channel(agent)
    message_id = stage.say(home, "hi")
    reply = stage.wait_reply(message_id, agent)
    stage.wait_done(message_id, agent)

    run = _run(agent, message_id)
    assert (run.outcome, run.skip_reason, run.error) == ("replied", "", "")
    assert str(run.reply_id) == reply.id
    assert (run.channel_id, run.author_id) == (home, stage.human)
    assert run.started_at <= run.ended_at
    assert run.duration_ms == int((run.ended_at - run.started_at).total_seconds() * 1000)
    # The reply's message is stored in the same transaction as the run.
    assert Message.objects.filter(id=run.reply_id).exists()


def test_silence_is_a_skipped_run(stage: Stage) -> None:
    agent = stage.agent(responder=SILENT)
    message_id = stage.say(stage.channel(agent))
    stage.wait_done(message_id, agent)
    run = _run(agent, message_id)
    assert (run.outcome, run.skip_reason, run.reply_id) == ("skipped", "silent", None)


def test_a_failure_is_a_failed_run_with_its_error(stage: Stage) -> None:
    agent = stage.agent(responder=FAILING)
    message_id = stage.say(stage.channel(agent), "boom")
    stage.wait_done(message_id, agent)
    run = _run(agent, message_id)
    assert (run.outcome, run.skip_reason, run.reply_id) == ("failed", "", None)
    assert "cannot answer 'boom'" in run.error


def test_the_hop_limit_is_a_skipped_run(stage: Stage, settings: Any) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "AGENT_HOP_LIMIT": 1}
    first, second = stage.agent("First"), stage.agent("Second")
    room = stage.channel(first, second)
    start = stage.say(room, "hi both")
    first_reply = stage.wait_reply(start, first)
    stage.wait_done(first_reply.id, second)
    run = _run(second, first_reply.id)
    assert (run.outcome, run.skip_reason) == ("skipped", "hop_limit")


@pytest.mark.parametrize("case", ["not a participant", "own message", "redelivered"])
def test_only_handled_messages_have_runs_and_each_one_run(stage: Stage, case: str) -> None:
    agent = stage.agent()
    home = stage.channel(agent)
    if case == "not a participant":
        message_id = stage.say(stage.channel())
        expected = 0
    elif case == "own message":
        message_id = stage.say(home, author=agent)
        expected = 0
    else:
        message_id = stage.say(home)
        stage.wait_done(message_id, agent)
        (event,) = [event for event in stage.messages() if event.id == message_id]
        dispatch_local(event)
        expected = 1
    stage.settle(agent, home)
    assert AgentRun.objects.filter(agent_id=agent, message_id=message_id).count() == expected
