"""The chat page in a real browser (headless Chromium) against a live server running ELIZA.

The tests act only as a user would: typing, clicking, reading the page. Whatever they check on the
server side goes through the REST API, or the ORM in a worker thread (``sync_to_async``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from elizabus.models import CENTRAL_CHANNEL_ID, DEFAULT_SERVER_ID, Message
from tests.fake_model import FakeModel, Script

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 15_000
# Records whether "thinking…" was ever shown: ELIZA can answer before a poll would see it.
WATCH_THINKING = """() => {
  const thinking = document.getElementById("thinking");
  window.thinkingSeen = false;
  new MutationObserver(() => { if (!thinking.hidden) window.thinkingSeen = true; })
    .observe(thinking, {attributes: true, attributeFilter: ["hidden"]});
}"""


def expect(locator: Any) -> Any:
    from playwright.async_api import expect as playwright_expect

    playwright_expect.set_options(timeout=TIMEOUT_MS)
    return playwright_expect(locator)


async def open_chat(page: Any, url: str) -> None:
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(f"{url}/lite/")
    await expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    await expect(page.locator("#channel-title")).to_have_text("Central")


async def say(page: Any, text: str) -> None:
    await page.fill("#message-input", text)
    await page.click("#send-button")


async def screenshot(page: Any, name: str) -> None:
    """Saves a screenshot when ``ELIZABUS_SCREENSHOTS`` names a folder (to look at by hand)."""
    folder = os.environ.get("ELIZABUS_SCREENSHOTS")
    if folder:
        await page.screenshot(path=str(Path(folder) / f"{name}.png"))


def page_errors(console_log: list[str]) -> list[str]:
    return [line for line in console_log if line.startswith(("error", "pageerror"))]


async def test_talk_to_eliza_in_the_central_channel(page, chat_server, console_log):
    await open_chat(page, chat_server.url)
    await page.evaluate(WATCH_THINKING)

    await say(page, "Men are all alike.")

    reply = page.locator("#messages li.agent", has_text="In what way?")
    await expect(reply).to_have_count(1)
    await expect(reply.locator(".author")).to_have_text("Eliza")
    await expect(page.locator("#thinking")).to_be_hidden()
    assert await page.evaluate("window.thinkingSeen") is True
    mine = page.locator("#messages li.mine")
    await expect(mine).to_have_count(1)
    await expect(mine).not_to_have_class(re.compile(r"\bpending\b"))
    await expect(mine.locator(".text")).to_have_text("Men are all alike.")

    await say(page, "They're always bugging us about something or other.")
    await expect(page.locator("#messages li.agent")).to_have_count(2)
    await expect(page.locator("#thinking")).to_be_hidden()
    await screenshot(page, "chat-central")

    # A reload draws the same conversation from the history, oldest at the top, still ours.
    await page.reload()
    await expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    texts = page.locator("#messages li .text")
    await expect(texts).to_have_count(4)
    assert (await texts.all_text_contents())[:2] == ["Men are all alike.", "In what way?"]
    await expect(page.locator("#messages li.mine")).to_have_count(2)
    assert page_errors(console_log) == []


async def test_direct_message_with_an_agent(page, chat_server, eliza, console_log):
    await open_chat(page, chat_server.url)

    await page.locator("#agent-list button", has_text="Eliza").click()
    await expect(page.locator("#channel-title")).to_have_text("Eliza")
    await expect(page.locator("#channel-kind")).to_have_text("dm")
    await say(page, "I need some help, that much seems certain.")

    await expect(page.locator("#messages li.agent")).to_have_count(1)
    await expect(page.locator("#thinking")).to_be_hidden()
    await screenshot(page, "chat-dm")
    entity_id = await page.evaluate("localStorage.getItem('elizabus-entity-id')")
    answer = await page.request.get(
        f"{chat_server.url}/api/messaging/dm-channel",
        params={"currentUserId": entity_id, "targetUserId": eliza},
    )
    channel_id = (await answer.json())["data"]["id"]
    answer = await page.request.get(
        f"{chat_server.url}/api/messaging/channels/{channel_id}/participants"
    )
    assert set((await answer.json())["data"]) == {entity_id, eliza}
    # The DM is listed with the agent's name, and the central channel is one click away.
    await expect(page.locator("#channel-list button", has_text="@ Eliza")).to_have_count(1)
    await page.locator("#channel-list button", has_text="# Central").click()
    await expect(page.locator("#channel-title")).to_have_text("Central")
    assert page_errors(console_log) == []


def _store_message(text: str) -> str:
    from django.db import connection

    from elizabus import services

    try:
        message = services.message_create(
            channel_id=CENTRAL_CHANNEL_ID,
            server_id=DEFAULT_SERVER_ID,
            author_id=uuid.uuid4(),
            content=text,
            metadata={"user_display_name": "Someone"},
            source_type="test",
            author_display_name="Someone",
        )
    finally:
        # This worker thread's connection would keep PostgreSQL from dropping the test database.
        connection.close()
    return str(message.id)


def sent_joins(page: Any) -> list[dict[str, Any]]:
    """Records the join payloads the page sends on any of its WebSockets."""
    joins: list[dict[str, Any]] = []

    def on_frame(frame: str | bytes) -> None:
        if isinstance(frame, str) and frame.startswith("42"):
            event, *args = json.loads(frame[2:])
            if event == "message" and args and args[0].get("type") == 1:
                joins.append(args[0]["payload"])

    page.on("websocket", lambda socket: socket.on("framesent", on_frame))
    return joins


async def test_a_reconnect_resumes_where_the_page_left_off(page, chat_server):
    joins = sent_joins(page)
    await open_chat(page, chat_server.url)
    await say(page, "Men are all alike.")
    reply = page.locator("#messages li.agent")
    await expect(reply).to_have_count(1)
    last_seen = await reply.get_attribute("data-id")

    await asyncio.to_thread(chat_server.stop)
    await expect(page.locator("#connection")).not_to_have_attribute("data-state", "connected")
    # Stored while the page cannot hear it: only the resume (lastSeq) can bring it.
    await sync_to_async(_store_message)(text="Said while you were away.")
    await asyncio.to_thread(chat_server.start)

    await expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    missed = page.locator("#messages li", has_text="Said while you were away.")
    await expect(missed).to_have_count(1)
    await expect(missed.locator(".author")).to_have_text("Someone")
    central = str(CENTRAL_CHANNEL_ID)
    assert joins[0] == {"channelId": central, "roomId": central, "entityId": joins[0]["entityId"]}
    # The seq up to which it had everything: the reply's, the newest it saw.
    seen_seq = await sync_to_async(lambda: Message.objects.get(id=last_seen).seq)()
    assert joins[-1] == {**joins[0], "lastSeq": seen_seq}
    # Still live after the resume, and nothing drawn twice.
    await say(page, "Well, my boyfriend made me come here.")
    await expect(page.locator("#messages li.agent")).to_have_count(2)
    await expect(page.locator("#messages li")).to_have_count(5)


API_KEY = "browser-test-key"


@pytest.mark.parametrize("live_server_env", [{"ELIZA_SERVER_AUTH_TOKEN": API_KEY}])
async def test_the_page_asks_for_the_api_key_and_keeps_it(page, chat_server, console_log):
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(f"{chat_server.url}/lite/")
    dialog = page.locator("#api-key-dialog")
    await expect(dialog).to_be_visible()
    await expect(page.locator("#connection")).to_have_text("API key needed")

    await page.fill("#api-key-input", "wrong")
    await page.click("#api-key-save")
    # Refused over REST (401) or the socket (connect_error): asked again.
    await expect(dialog).to_be_visible()
    await page.fill("#api-key-input", API_KEY)
    await page.click("#api-key-save")

    await expect(dialog).to_be_hidden()
    await expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    await expect(page.locator("#channel-title")).to_have_text("Central")
    stored = await page.evaluate("localStorage.getItem(`eliza-api-key-${location.origin}`)")
    assert stored == API_KEY
    await say(page, "Men are all alike.")
    await expect(page.locator("#messages li.agent", has_text="In what way?")).to_have_count(1)

    # The next visit uses the stored key without asking.
    await page.reload()
    await expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#messages li")).to_have_count(2)


STORY = ["Once ", "upon ", "a ", "time ", "there ", "was ", "a ", "stream."]
# Records the most agent bubbles the list ever held at once.
WATCH_AGENT_BUBBLES = """() => {
  const list = document.getElementById("messages");
  window.mostAgentBubbles = 0;
  new MutationObserver(() => {
    const count = list.querySelectorAll("li.agent").length;
    window.mostAgentBubbles = Math.max(window.mostAgentBubbles, count);
  }).observe(list, {childList: true, subtree: true});
}"""


async def test_a_streamed_reply_grows_then_becomes_one_message(page, chat_server, console_log):
    with FakeModel(Script(pieces=STORY, gap=0.05, pause_after=3)) as model:
        created = await page.request.post(
            f"{chat_server.url}/api/agents",
            data={
                "characterJson": {"name": "Teller", "bio": "Tells stories."},
                "responder": "elizabus.agents.responders.openai.OpenAIChatResponder",
                "responderOptions": {"base_url": model.base_url},
            },
        )
        assert created.status == 201, await created.text()
        agent = (await created.json())["data"]["id"]
        await open_chat(page, chat_server.url)
        await page.locator("#agent-list button", has_text="Teller").click()
        await expect(page.locator("#channel-title")).to_have_text("Teller")
        await page.evaluate(WATCH_AGENT_BUBBLES)
        await say(page, "Tell me a story")

        # The model has written three pieces and waits: they are on screen, nothing is stored.
        growing = page.locator("#messages li.agent.streaming")
        await expect(growing).to_have_count(1)
        await expect(growing.locator(".text")).to_have_text("Once upon a ")
        await expect(growing.locator(".author")).to_have_text("Teller")
        stored = await sync_to_async(Message.objects.filter(author_id=agent).count)()
        assert stored == 0
        await screenshot(page, "chat-streaming")
        model.resume()

        reply = page.locator("#messages li.agent")
        await expect(reply.locator(".text")).to_have_text("".join(STORY))
        await expect(reply).not_to_have_class(re.compile(r"\bstreaming\b"))
        stored_reply = await sync_to_async(Message.objects.get)(author_id=agent)
        await expect(reply).to_have_attribute("data-id", str(stored_reply.id))
    await asyncio.sleep(0.5)  # a late chunk or a second broadcast would show by now
    await expect(reply).to_have_count(1)
    assert await page.evaluate("window.mostAgentBubbles") == 1
    await expect(page.locator("#thinking")).to_be_hidden()
    assert page_errors(console_log) == []
