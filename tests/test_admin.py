"""The operators' admin, driven through HTTP as a superuser.

Every registered elizabus model is covered by iterating over the admin site's registry, so a new
model admin is tested as soon as it exists (the ``populated`` fixture must then make one of its
rows). Writes are checked by the bus events they publish, which only services emit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import connection, models
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from elizabus import services
from elizabus.admin.base import MESSAGE_HISTORY_LIMIT
from elizabus.bus import dispatch
from elizabus.bus.events import (
    EVENT_TYPES,
    AgentUpdated,
    BusEvent,
    ChannelCleared,
    ChannelDeleted,
    ChannelUpdated,
    MessageDeleted,
    ParticipantUpdate,
    ServerAgentUpdate,
)
from elizabus.bus.models import OutboxEvent
from elizabus.models import (
    DEFAULT_SERVER_ID,
    Agent,
    AgentRun,
    Channel,
    Entity,
    Memory,
    Message,
    MessageServer,
    Participant,
    ServerAgent,
)
from tests.factories import (
    make_agent,
    make_channel,
    make_message,
    make_server,
    make_user,
)

pytestmark = pytest.mark.django_db

ELIZABUS_MODELS = [model for model in admin.site._registry if model._meta.app_label == "elizabus"]


def model_id(model: type[models.Model]) -> str:
    return model._meta.label


def admin_url(model: type[models.Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def populate() -> dict[str, Any]:
    """One row of every elizabus model, linked as in a real deployment."""
    server = make_server(name="Ops Server")
    user = make_user(name="Ada")
    agent = make_agent(name="Eliza", server_ids=[server.id])
    channel = make_channel(server_id=server.id, name="ops", participant_ids=[user.id, agent.pk])
    message = make_message(channel_id=channel.id, author_id=user.id, content="hello operators")
    # The agent handled the message and stayed silent: its memory of it, and its run.
    services.agent_message_settle(
        agent_id=agent.pk,
        agent_name=agent.name,
        message=services.message_event(message, server_id=server.id),
    )
    memory = Memory.objects.get(agent=agent, message_id=message.id)
    session = services.session_create(agent_id=agent.pk, user_id=user.id)
    job = services.job_create(agent_id=agent.pk, user_id=user.id, content="Who are you?")
    login = f"operator{uuid.uuid4().int % 10**8}"
    services.account_register(
        username=login, email=f"{login}@example.com", password="a long passphrase"
    )
    return {
        "session": session,
        "job": job,
        "server": server,
        "user": user,
        "agent": agent,
        "channel": channel,
        "message": message,
        "memory": memory,
        "run": AgentRun.objects.get(agent=agent, message_id=message.id),
    }


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    # admin_client's superuser is made with a password; PBKDF2 would cost ~0.5 s per test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def populated() -> dict[str, Any]:
    return populate()


@pytest.fixture
def published() -> Iterator[list[BusEvent]]:
    """Every bus event delivered while the test runs, in order."""
    events: list[BusEvent] = []

    def record(sender: type[BusEvent], event: BusEvent, **kwargs: Any) -> None:
        events.append(event)

    for event_type in EVENT_TYPES.values():
        dispatch.connect(event_type, record, dispatch_uid=f"test_admin:{event_type.name}")
    yield events
    for event_type in EVENT_TYPES.values():
        dispatch.disconnect(event_type, dispatch_uid=f"test_admin:{event_type.name}")


def form_data(response: Any) -> dict[str, Any]:
    """The POST body a browser would send back for a rendered admin change or add form."""
    data: dict[str, Any] = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms.append(inline.formset.management_form)
        forms.extend(inline.formset.forms)
    for form in forms:
        for field in form:
            value = field.value()
            if value is True:
                data[field.html_name] = "on"
            elif value is not None and value is not False:
                data[field.html_name] = value
            if field.field.show_hidden_initial and value is not None:
                # Fields with a callable default send their initial value back, hidden.
                data[field.html_initial_name] = value
    return data


def add_inline_row(data: dict[str, Any], prefix: str, **fields: Any) -> None:
    index = int(data[f"{prefix}-TOTAL_FORMS"])
    data[f"{prefix}-TOTAL_FORMS"] = index + 1
    data.update({f"{prefix}-{index}-{name}": value for name, value in fields.items()})


# --- Every admin renders ------------------------------------------------------------------------


def test_every_elizabus_model_is_registered() -> None:
    assert set(apps.get_app_config("elizabus").get_models()) == set(ELIZABUS_MODELS)


@pytest.mark.parametrize("model", ELIZABUS_MODELS, ids=model_id)
def test_the_changelist_renders(admin_client: Client, populated: dict, model: type) -> None:
    response = admin_client.get(admin_url(model, "changelist"))

    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1


@pytest.mark.parametrize("model", ELIZABUS_MODELS, ids=model_id)
def test_the_change_form_renders(admin_client: Client, populated: dict, model: type) -> None:
    row = model._default_manager.first()
    assert row is not None, f"populate() must make a {model.__name__}"

    response = admin_client.get(admin_url(model, "change", row.pk))

    assert response.status_code == 200


@pytest.mark.parametrize("model", ELIZABUS_MODELS, ids=model_id)
def test_the_add_form_renders_only_where_a_service_adds(admin_client: Client, model: type) -> None:
    response = admin_client.get(admin_url(model, "add"))

    offered = "add" in admin.site._registry[model].operations
    assert response.status_code == (200 if offered else 403)


@pytest.mark.parametrize("model", ELIZABUS_MODELS, ids=model_id)
def test_the_changelist_query_count_does_not_grow_with_rows(
    admin_client: Client, model: type
) -> None:
    populate()
    url = admin_url(model, "changelist")
    admin_client.get(url)  # The first request also loads the session and the user.

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(url).status_code == 200
        return len(captured)

    once = queries()
    populate()
    populate()

    assert queries() == once


@pytest.mark.parametrize("model", ELIZABUS_MODELS, ids=model_id)
def test_every_filter_choice_and_date_level_renders(
    admin_client: Client, populated: dict, model: type
) -> None:
    url = admin_url(model, "changelist")
    changelist = admin_client.get(url).context["cl"]
    query_strings = [
        choice["query_string"]
        for spec in changelist.filter_specs
        for choice in spec.choices(changelist)
    ]
    date_field = admin.site._registry[model].date_hierarchy
    if date_field:
        query_strings.append(f"?{date_field}__year={populated['message'].created_at.year}")

    for query_string in query_strings:
        response = admin_client.get(url + query_string)
        assert response.status_code == 200, query_string


@pytest.mark.parametrize("model", ELIZABUS_MODELS, ids=model_id)
def test_search_renders(admin_client: Client, populated: dict, model: type) -> None:
    response = admin_client.get(admin_url(model, "changelist"), {"q": "ops"})

    assert response.status_code == 200


def search(client: Client, model: type[models.Model], term: str) -> set[Any]:
    response = client.get(admin_url(model, "changelist"), {"q": term})
    return {row.pk for row in response.context["cl"].result_list}


def test_search_finds_channels_by_name_and_by_full_id(
    admin_client: Client, populated: dict
) -> None:
    channel = populated["channel"]
    make_channel(name="unrelated")

    assert search(admin_client, Channel, "ops") == {channel.id}
    assert search(admin_client, Channel, str(channel.id)) == {channel.id}


def test_search_finds_messages_by_content(admin_client: Client, populated: dict) -> None:
    make_message(channel_id=populated["channel"].id, content="something else")

    assert search(admin_client, Message, "operators") == {populated["message"].id}


def test_search_finds_entities_by_name(admin_client: Client, populated: dict) -> None:
    assert search(admin_client, Entity, "ada") == {populated["user"].id}


def test_filters_narrow_the_list(admin_client: Client, populated: dict) -> None:
    dm = make_channel(name="a dm", type="DM")
    response = admin_client.get(admin_url(Channel, "changelist"), {"type__exact": "DM"})

    # The session's and the job's channels are DMs of their own too.
    dms = {dm.id, populated["session"].channel_id, populated["job"].channel_id}
    assert {row.pk for row in response.context["cl"].result_list} == dms


# --- Writes go through services, as their events show -------------------------------------------


def test_clear_channel_action_clears_through_channel_clear(
    admin_client: Client,
    populated: dict,
    published: list[BusEvent],
    django_capture_on_commit_callbacks: Any,
) -> None:
    channel = populated["channel"]
    make_message(channel_id=channel.id)
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            admin_url(Channel, "changelist"),
            {"action": "clear_channel", admin.helpers.ACTION_CHECKBOX_NAME: [str(channel.id)]},
        )

    assert response.status_code == 302
    assert not Message.objects.filter(channel=channel).exists()
    assert published == [ChannelCleared(channel_id=str(channel.id), message_count=2)]


def test_delete_selected_channels_deletes_through_channel_delete(
    admin_client: Client,
    populated: dict,
    published: list[BusEvent],
    django_capture_on_commit_callbacks: Any,
) -> None:
    channel = populated["channel"]
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            admin_url(Channel, "changelist"),
            {
                "action": "delete_selected",
                "post": "yes",
                admin.helpers.ACTION_CHECKBOX_NAME: [str(channel.id)],
            },
        )

    assert not Channel.objects.filter(id=channel.id).exists()
    assert published == [
        ChannelCleared(channel_id=str(channel.id), message_count=1, channel_deleted=True),
        ChannelDeleted(channel_id=str(channel.id)),
    ]


def test_deleting_a_message_publishes_message_deleted(
    admin_client: Client,
    populated: dict,
    published: list[BusEvent],
    django_capture_on_commit_callbacks: Any,
) -> None:
    message = populated["message"]
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(admin_url(Message, "delete", message.id), {"post": "yes"})

    assert response.status_code == 302
    assert not Message.objects.filter(id=message.id).exists()
    assert published == [
        MessageDeleted(
            message_id=str(message.id), channel_id=str(message.channel_id), seq=message.seq
        )
    ]


def test_messages_cannot_be_edited(admin_client: Client, populated: dict) -> None:
    message = populated["message"]

    response = admin_client.post(admin_url(Message, "change", message.id), {"content": "rewritten"})

    assert response.status_code == 403
    message.refresh_from_db()
    assert message.content == "hello operators"


def test_adding_a_server_goes_through_server_create(admin_client: Client) -> None:
    data = form_data(admin_client.get(admin_url(MessageServer, "add")))
    data.update(name="Discord bridge", source_type="discord", metadata="{}")

    response = admin_client.post(admin_url(MessageServer, "add"), data)

    assert response.status_code == 302
    assert MessageServer.objects.filter(name="Discord bridge", source_type="discord").exists()


def test_adding_a_channel_with_participants(
    admin_client: Client, published: list[BusEvent], django_capture_on_commit_callbacks: Any
) -> None:
    user = make_user(name="Grace")
    data = form_data(admin_client.get(admin_url(Channel, "add")))
    data.update(server=str(make_server().id), name="new room", type="GROUP", metadata="{}")
    add_inline_row(data, "memberships", entity=str(user.id))

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(admin_url(Channel, "add"), data)

    assert response.status_code == 302, response.context and response.context["errors"]
    channel = Channel.objects.get(name="new room")
    assert list(channel.participants.all()) == [user]
    assert published == [
        ParticipantUpdate(type="added", channel_id=str(channel.id), entity_id=str(user.id))
    ]


def test_changing_a_channel_publishes_only_what_changed(
    admin_client: Client,
    populated: dict,
    published: list[BusEvent],
    django_capture_on_commit_callbacks: Any,
) -> None:
    channel = populated["channel"]
    url = admin_url(Channel, "change", channel.id)
    data = form_data(admin_client.get(url))
    data["name"] = "renamed"
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, data)

    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.name == "renamed"
    assert published == [ChannelUpdated(channel_id=str(channel.id), updates={"name": "renamed"})]


def test_removing_a_participant_in_the_channel_inline(
    admin_client: Client,
    populated: dict,
    published: list[BusEvent],
    django_capture_on_commit_callbacks: Any,
) -> None:
    channel, user = populated["channel"], populated["user"]
    url = admin_url(Channel, "change", channel.id)
    response = admin_client.get(url)
    data = form_data(response)
    index = next(
        i
        for i, form in enumerate(response.context["inline_admin_formsets"][0].formset.forms)
        if form.instance.entity_id == user.id
    )
    data[f"memberships-{index}-DELETE"] = "on"
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, data)

    assert response.status_code == 302
    assert not Participant.objects.filter(channel=channel, entity=user).exists()
    assert published == [
        ParticipantUpdate(type="removed", channel_id=str(channel.id), entity_id=str(user.id))
    ]


def test_subscribing_an_agent_in_the_agent_inline(
    admin_client: Client,
    populated: dict,
    published: list[BusEvent],
    django_capture_on_commit_callbacks: Any,
) -> None:
    agent, server = populated["agent"], make_server(name="Second")
    url = admin_url(type(agent), "change", agent.pk)
    data = form_data(admin_client.get(url))
    add_inline_row(data, "server_links", server=str(server.id))
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, data)

    assert response.status_code == 302
    assert ServerAgent.objects.filter(agent=agent, server=server).exists()
    assert published == [
        ServerAgentUpdate(
            type="agent_added_to_server", message_server_id=str(server.id), agent_id=str(agent.pk)
        )
    ]


def test_adding_an_agent_registers_it(
    admin_client: Client, published: list[BusEvent], django_capture_on_commit_callbacks: Any
) -> None:
    data = form_data(admin_client.get(admin_url(Agent, "add")))
    data.update(name="Ada", bio="A helpful assistant.")

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(admin_url(Agent, "add"), data)

    assert response.status_code == 302
    agent = Agent.objects.get(name="Ada")
    assert ServerAgent.objects.filter(agent=agent, server_id=DEFAULT_SERVER_ID).exists()
    assert AgentUpdated(type="registered", agent_id=str(agent.pk)) in published


def test_changing_an_agent_updates_and_stops_it(
    admin_client: Client,
    populated: dict,
    published: list[BusEvent],
    django_capture_on_commit_callbacks: Any,
) -> None:
    agent = populated["agent"]
    url = admin_url(Agent, "change", agent.pk)
    data = form_data(admin_client.get(url))
    data["system_prompt"] = "Be brief."
    del data["enabled"]  # An unticked checkbox is not sent.
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, data)

    assert response.status_code == 302
    agent.refresh_from_db()
    assert (agent.system_prompt, agent.enabled) == ("Be brief.", False)
    assert published == [
        AgentUpdated(type="updated", agent_id=str(agent.pk)),
        AgentUpdated(type="stopped", agent_id=str(agent.pk)),
    ]


def test_start_and_stop_actions(
    admin_client: Client,
    populated: dict,
    published: list[BusEvent],
    django_capture_on_commit_callbacks: Any,
) -> None:
    agent = populated["agent"]
    published.clear()

    for action in ("stop_agents", "start_agents"):
        with django_capture_on_commit_callbacks(execute=True):
            admin_client.post(
                admin_url(Agent, "changelist"),
                {"action": action, admin.helpers.ACTION_CHECKBOX_NAME: [str(agent.pk)]},
            )

    assert published == [
        AgentUpdated(type="stopped", agent_id=str(agent.pk)),
        AgentUpdated(type="started", agent_id=str(agent.pk)),
    ]


def test_deleting_an_agent_goes_through_agent_delete(
    admin_client: Client,
    populated: dict,
    published: list[BusEvent],
    django_capture_on_commit_callbacks: Any,
) -> None:
    agent = populated["agent"]
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(admin_url(Agent, "delete", agent.pk), {"post": "yes"})

    assert not Agent.objects.filter(pk=agent.pk).exists()
    assert published[-1] == AgentUpdated(type="deleted", agent_id=str(agent.pk))


def test_unsubscribing_on_the_subscription_page(
    admin_client: Client,
    populated: dict,
    published: list[BusEvent],
    django_capture_on_commit_callbacks: Any,
) -> None:
    link = ServerAgent.objects.get(agent=populated["agent"], server=populated["server"])
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(admin_url(ServerAgent, "delete", link.pk), {"post": "yes"})

    assert not ServerAgent.objects.filter(pk=link.pk).exists()
    assert published == [
        ServerAgentUpdate(
            type="agent_removed_from_server",
            message_server_id=str(link.server_id),
            agent_id=str(link.agent_id),
        )
    ]


def test_the_channel_page_shows_the_newest_messages_only(
    admin_client: Client, populated: dict
) -> None:
    channel = populated["channel"]
    for n in range(MESSAGE_HISTORY_LIMIT):
        make_message(channel_id=channel.id, content=f"message {n}")

    response = admin_client.get(admin_url(Channel, "change", channel.id))

    history = next(
        inline.formset
        for inline in response.context["inline_admin_formsets"]
        if inline.formset.model is Message
    )
    shown = [form.instance.content for form in history.forms]
    assert len(shown) == MESSAGE_HISTORY_LIMIT
    assert shown[0] == f"message {MESSAGE_HISTORY_LIMIT - 1}"
    assert "hello operators" not in shown


# --- The bus's event log ------------------------------------------------------------------------


def test_the_event_log_lists_and_filters_every_event(admin_client: Client) -> None:
    populated = populate()
    url = admin_url(OutboxEvent, "changelist")
    response = admin_client.get(url)
    assert response.status_code == 200
    assert response.context["cl"].result_count == OutboxEvent.objects.count() > 0

    new_messages = admin_client.get(url, {"name": "new_message"}).context["cl"].result_list
    assert {row.name for row in new_messages} == {"new_message"}
    in_channel = admin_client.get(url, {"q": str(populated["channel"].id)}).context["cl"]
    assert {row.channel_id for row in in_channel.result_list} == {str(populated["channel"].id)}
    by_agent = admin_client.get(url, {"q": str(populated["agent"].pk)}).context["cl"]
    assert (
        by_agent.result_count == OutboxEvent.objects.filter(agent_id=populated["agent"].pk).count()
    )
    unsent = admin_client.get(url, {"sent": "no"}).context["cl"]
    assert unsent.result_count == OutboxEvent.objects.filter(sent_at__isnull=True).count()


@pytest.mark.parametrize("model", [OutboxEvent, AgentRun], ids=model_id)
def test_history_is_read_only(admin_client: Client, model: type[models.Model]) -> None:
    """The event log and agents' runs record what happened: shown, never changed."""
    populate()
    row = model._default_manager.order_by("pk").last()
    assert admin_client.get(admin_url(model, "add")).status_code == 403
    change = admin_client.get(admin_url(model, "change", row.pk))
    assert change.status_code == 200
    assert b'name="_save"' not in change.content
    response = admin_client.post(admin_url(model, "delete", row.pk), {"post": "yes"})
    assert response.status_code == 403
    assert model._default_manager.filter(pk=row.pk).exists()


def test_runs_are_listed_and_filtered_by_agent_and_outcome(admin_client: Client) -> None:
    populated = populate()
    other = make_agent(name="Ada")
    message = make_message(channel_id=populated["channel"].id, content="and you?")
    services.agent_message_settle(
        agent_id=other.pk,
        agent_name=other.name,
        message=services.message_event(message, server_id=populated["server"].id),
        error="ResponderError: down",
    )
    url = admin_url(AgentRun, "changelist")
    assert admin_client.get(url).context["cl"].result_count == 2

    def listed(**query: str) -> set[tuple[Any, str]]:
        rows = admin_client.get(url, query).context["cl"].result_list
        return {(row.agent_id, row.outcome) for row in rows}

    assert listed(agent__entity__exact=str(other.pk)) == {(other.pk, "failed")}
    assert listed(outcome__exact="skipped") == {(populated["agent"].pk, "skipped")}
    assert listed(outcome__exact="replied") == set()
    assert listed(q=str(message.id)) == {(other.pk, "failed")}
