"""Message services: what they store and the exact event each publishes after commit."""

from __future__ import annotations

import contextlib
import threading
import uuid

import pytest
from django.db import connection

from elizabus import services
from elizabus.bus.events import MessageComplete, MessageDeleted, MessageUpdated, NewMessage
from elizabus.exceptions import Conflict, InvalidInput, NotFound
from elizabus.models import DEFAULT_SERVER_ID, Channel, Entity, EntityKind, Message
from tests import factories
from tests.conftest import Published, World

pytestmark = pytest.mark.django_db


def epoch_ms(message: Message) -> int:
    return int(message.created_at.timestamp() * 1000)


def test_message_create_publishes_new_message(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    message_id, reply_to = uuid.uuid4(), uuid.uuid4()
    with django_capture_on_commit_callbacks(execute=True):
        message = services.message_create(
            channel_id=world.channel.id,
            server_id=world.server.id,
            author_id=world.bob,
            content="Men are all alike.",
            message_id=message_id,
            raw_message={"text": "Men are all alike."},
            metadata={"attachments": []},
            in_reply_to_message_id=reply_to,
            source_type="eliza_gui",
            source_id="client-1",
            author_display_name="Bob",
        )
    stored = Message.objects.get(id=message_id)
    assert published.events == [
        NewMessage(
            id=str(message_id),
            channel_id=str(world.channel.id),
            message_server_id=str(world.server.id),
            author_id=str(world.bob),
            content="Men are all alike.",
            created_at=epoch_ms(stored),
            author_display_name="Bob",
            raw_message={"text": "Men are all alike."},
            source_id="client-1",
            source_type="eliza_gui",
            in_reply_to_message_id=str(reply_to),
            metadata={"attachments": []},
            seq=2,  # the channel's second: the world's message is its first
        )
    ]
    assert message == stored


def test_message_create_makes_an_unknown_author_a_user(world: World) -> None:
    stranger = uuid.uuid4()
    services.message_create(
        channel_id=world.channel.id, author_id=stranger, content="hi", author_display_name="Zed"
    )
    entity = Entity.objects.get(id=stranger)
    assert (entity.kind, entity.names) == (EntityKind.USER, ["Zed"])


def test_message_create_leaves_a_known_author_as_it_is(world: World) -> None:
    agent_id = world.agent.entity_id
    services.message_create(
        channel_id=world.channel.id, author_id=agent_id, content="hi", author_display_name="Other"
    )
    entity = Entity.objects.get(id=agent_id)
    assert (entity.kind, entity.names) == (EntityKind.AGENT, ["Eliza"])


def test_a_retried_message_id_is_answered_idempotently(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        again = services.message_create(
            channel_id=world.channel.id,
            author_id=world.alice,
            content="hello",
            message_id=world.message.id,
        )
    assert again == world.message
    assert published.events == []
    assert Message.objects.filter(id=world.message.id).count() == 1


@pytest.mark.parametrize(
    "change",
    [{"content": "something else"}, {"author_id": "bob"}, {"channel_id": "other"}],
    ids=["content", "author", "channel"],
)
def test_another_message_under_a_taken_id_is_a_conflict(
    change: dict[str, str],
    world: World,
    published: Published,
    django_capture_on_commit_callbacks,
) -> None:
    other_channel = factories.make_channel(server_id=world.server.id)
    fields = {"channel_id": world.channel.id, "author_id": world.alice, "content": "hello"}
    resolved = {"bob": world.bob, "other": other_channel.id}
    fields |= {key: resolved.get(value, value) for key, value in change.items()}
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Conflict) as raised:
        services.message_create(message_id=world.message.id, **fields)
    assert raised.value.code == "DUPLICATE_MESSAGE_ID"
    assert published.events == []
    assert Message.objects.get(id=world.message.id).content == "hello"


def test_a_channel_of_another_server_is_refused(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(InvalidInput) as raised:
        services.message_create(
            channel_id=world.channel.id,
            server_id=DEFAULT_SERVER_ID,
            author_id=world.bob,
            content="wrong server",
        )
    assert raised.value.code == "SERVER_MISMATCH"
    assert published.events == []
    assert not Message.objects.filter(content="wrong server").exists()


def test_an_unknown_channel_is_not_found(db: None) -> None:
    author = uuid.uuid4()
    with pytest.raises(NotFound) as raised:
        services.message_create(channel_id=uuid.uuid4(), author_id=author, content="x")
    assert raised.value.code == "CHANNEL_NOT_FOUND"
    assert not Entity.objects.filter(id=author).exists()


def test_message_update_publishes_message_updated(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    reply_to = uuid.uuid4()
    with django_capture_on_commit_callbacks(execute=True):
        services.message_update(
            message_id=world.message.id,
            content="edited",
            metadata={"actionStatus": "done"},
            source_type="agent_action",
            in_reply_to_message_id=reply_to,
            author_id=world.bob,
        )
    stored = Message.objects.get(id=world.message.id)
    assert published.events == [
        MessageUpdated(
            id=str(world.message.id),
            channel_id=str(world.channel.id),
            message_server_id=str(world.server.id),
            author_id=str(world.bob),
            content="edited",
            created_at=epoch_ms(stored),
            raw_message=None,
            source_id="",
            source_type="agent_action",
            in_reply_to_message_id=str(reply_to),
            metadata={"actionStatus": "done"},
            seq=1,  # an edit keeps the message's place
        )
    ]
    assert stored.created_at == world.message.created_at


def test_message_update_keeps_what_it_is_not_given(world: World) -> None:
    services.message_update(message_id=world.message.id, metadata={"k": "v"})
    stored = Message.objects.get(id=world.message.id)
    assert (stored.content, stored.author_id, stored.metadata) == ("hello", world.alice, {"k": "v"})


def test_message_update_of_an_unknown_message_is_not_found(db: None) -> None:
    with pytest.raises(NotFound):
        services.message_update(message_id=uuid.uuid4(), content="x")


def test_message_delete_publishes_message_deleted(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        services.message_delete(channel_id=world.channel.id, message_id=world.message.id)
    assert published.events == [
        MessageDeleted(message_id=str(world.message.id), channel_id=str(world.channel.id), seq=1)
    ]
    assert not Message.objects.filter(id=world.message.id).exists()


def test_message_delete_through_another_channel_is_not_found(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    other_channel = factories.make_channel(server_id=world.server.id)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(NotFound):
        services.message_delete(channel_id=other_channel.id, message_id=world.message.id)
    assert published.events == []
    assert Message.objects.filter(id=world.message.id).exists()


@pytest.mark.parametrize("with_ids", [True, False], ids=["agent and message", "bare"])
def test_message_complete_announce_publishes_message_complete(
    with_ids: bool, world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    agent_id = world.agent.entity_id if with_ids else None
    message_id = world.message.id if with_ids else None
    with django_capture_on_commit_callbacks(execute=True):
        services.message_complete_announce(
            channel_id=world.channel.id,
            server_id=world.server.id,
            agent_id=agent_id,
            message_id=message_id,
        )
    assert published.events == [
        MessageComplete(
            channel_id=str(world.channel.id),
            message_server_id=str(world.server.id),
            agent_id=str(agent_id) if with_ids else "",
            message_id=str(message_id) if with_ids else "",
        )
    ]


def test_channel_message_post_creates_the_channel_then_the_message(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    channel_id = uuid.uuid4()
    with django_capture_on_commit_callbacks(execute=True):
        posted, agent_id = services.channel_message_post(
            channel_id=channel_id,
            server_id=world.server.id,
            author_id=world.bob,
            content="first",
            metadata={},
            needs_agent=False,
        )
    assert agent_id is None
    assert posted.channel_id == str(channel_id)
    assert [event.name for event in published.events] == ["participant_update", "new_message"]
    stored = services.message_event(Message.objects.get(id=posted.id), server_id=world.server.id)
    assert published.events[-1] == posted == stored


def test_channel_message_post_names_the_agent_that_will_answer(world: World) -> None:
    services.channel_participant_add(channel_id=world.channel.id, entity_id=world.agent.entity_id)
    _, agent_id = services.channel_message_post(
        channel_id=world.channel.id,
        server_id=world.server.id,
        author_id=world.alice,
        content="anyone there?",
        metadata={},
        needs_agent=True,
    )
    assert agent_id == world.agent.entity_id


def test_channel_message_post_without_an_agent_stores_nothing(
    world: World, published: Published, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(InvalidInput) as raised:
        services.channel_message_post(
            channel_id=world.channel.id,
            server_id=world.server.id,
            author_id=world.alice,
            content="anyone there?",
            metadata={},
            needs_agent=True,
        )
    assert raised.value.code == "NO_AGENT"
    assert published.events == []
    assert not Message.objects.filter(content="anyone there?").exists()


# --- seq: each message's place in its channel --------------------------------------------------


def _seqs(channel_id: uuid.UUID) -> list[int]:
    return list(
        Message.objects.filter(channel_id=channel_id).order_by("seq").values_list("seq", flat=True)
    )


def test_each_message_takes_its_channels_next_seq_and_a_deletion_leaves_its_gap(
    world: World,
) -> None:
    other = factories.make_channel(server_id=world.server.id)
    made = [factories.make_message(channel_id=world.channel.id) for _ in range(3)]
    assert [m.seq for m in made] == [2, 3, 4]
    assert factories.make_message(channel_id=other.id).seq == 1  # per channel
    services.message_delete(channel_id=world.channel.id, message_id=made[1].id)
    assert factories.make_message(channel_id=world.channel.id).seq == 5
    services.channel_clear(channel_id=world.channel.id)
    # Never taken again, not even once the channel is empty.
    assert factories.make_message(channel_id=world.channel.id).seq == 6
    world.channel.refresh_from_db()
    assert world.channel.last_seq == 6


def test_a_retry_and_a_refused_post_take_no_seq(world: World) -> None:
    message_id = uuid.uuid4()
    first = factories.make_message(
        channel_id=world.channel.id, author_id=world.alice, message_id=message_id
    )
    again = factories.make_message(
        channel_id=world.channel.id, author_id=world.alice, message_id=message_id
    )
    assert again.seq == first.seq == 2
    with pytest.raises(Conflict):
        factories.make_message(channel_id=world.channel.id, message_id=message_id, content="other")
    with pytest.raises(InvalidInput):  # another server's
        factories.make_message(channel_id=world.channel.id, server_id=DEFAULT_SERVER_ID)
    with pytest.raises(InvalidInput):  # no agent in the channel to answer
        services.channel_message_post(
            channel_id=world.channel.id,
            server_id=world.server.id,
            author_id=world.alice,
            content="anyone?",
            metadata={},
            needs_agent=True,
        )
    assert factories.make_message(channel_id=world.channel.id).seq == 3
    assert _seqs(world.channel.id) == [1, 2, 3]


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_take_gapless_seqs_in_commit_order() -> None:
    """Writers on threads of their own (their own connections: PostgreSQL's row lock, or
    SQLite's write queue), some of their posts refused after the seq was taken."""
    server = factories.make_server()
    channel = factories.make_channel(server_id=server.id)
    writers, posts = 6, 15
    failures: list[BaseException] = []
    start = threading.Barrier(writers)

    def write(writer: int) -> None:
        author = uuid.uuid4()
        try:
            start.wait(timeout=10)
            for n in range(posts):
                if n % 5 == 4:  # refused once its seq is taken: rolled back with it
                    with contextlib.suppress(InvalidInput):
                        services.message_create(
                            channel_id=channel.id,
                            server_id=DEFAULT_SERVER_ID,
                            author_id=author,
                            content="wrong server",
                        )
                post = services.message_create if n % 2 else _socket_post
                post(channel_id=channel.id, author_id=author, content=f"{writer}-{n}")
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(writer,)) for writer in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures and not any(thread.is_alive() for thread in threads)
    stored = list(Message.objects.filter(channel_id=channel.id).order_by("seq"))
    assert [m.seq for m in stored] == list(range(1, writers * posts + 1))
    # In commit order: each took the channel's lock, and its time, after the one before.
    assert [m.created_at for m in stored] == sorted(m.created_at for m in stored)
    for writer in range(writers):
        mine = [m.content for m in stored if m.content.startswith(f"{writer}-")]
        assert mine == [f"{writer}-{n}" for n in range(posts)]
    channel.refresh_from_db()
    assert channel.last_seq == writers * posts


def _socket_post(*, channel_id: uuid.UUID, author_id: uuid.UUID, content: str) -> None:
    services.channel_message_post(
        channel_id=channel_id,
        server_id=Channel.objects.get(id=channel_id).server_id,
        author_id=author_id,
        content=content,
        metadata={},
        needs_agent=False,
    )
