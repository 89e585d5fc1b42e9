"""OpenAIChatResponder against a real HTTP server speaking the chat-completions protocol.

The fake server is stdlib ``http.server`` on an ephemeral 127.0.0.1 port; no database, no
network beyond loopback. May import the responder package, the stdlib and pytest.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest

from elizabus.agents.responders import openai as openai_module
from elizabus.agents.responders.base import (
    ChatTurn,
    ResponderError,
    ResponderReply,
    ResponderRequest,
    load_responder,
    stream_reply,
)
from elizabus.agents.responders.openai import OpenAIChatResponder
from tests.fake_model import FakeModel, Script

API_KEY = "sk-test-0123456789abcdef"


def completion(content: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
    }


@dataclass
class Recorded:
    path: str
    headers: Message  # case-insensitive, as HTTP header names are
    body: Any
    client_port: int


@dataclass
class FakeChatServer:
    """What the next requests get back, and what they carried."""

    base_url: str = ""
    status: int = 200
    body: bytes = json.dumps(completion("Hello there.")).encode()
    delay: float = 0.0
    echo_authorization: bool = False
    requests: list[Recorded] = field(default_factory=list)
    # Set at teardown so a handler sleeping through `delay` wakes up at once.
    released: threading.Event = field(default_factory=threading.Event)

    def answer(self, payload: Any, status: int = 200) -> None:
        self.status = status
        self.body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def _handler_for(fake: FakeChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is observable

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw
            fake.requests.append(Recorded(self.path, self.headers, body, self.client_address[1]))
            if fake.delay:
                fake.released.wait(fake.delay)
            payload = fake.body
            if fake.echo_authorization:
                payload = f"bad credentials: {self.headers.get('Authorization')}".encode()
            try:
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and hung up; nothing left to answer

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest output clean

    return Handler


@pytest.fixture
def fake_server() -> Iterator[FakeChatServer]:
    fake = FakeChatServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(fake))
    # Join handler threads on close so none outlives the test.
    server.daemon_threads = False
    server.block_on_close = True
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield fake
    finally:
        fake.released.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def isolated_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither the developer's shell nor the project's ELIZABUS["OPENAI"] may leak in."""
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(openai_module, "settings", SimpleNamespace(configured=False))


@pytest.fixture
def make_responder(
    fake_server: FakeChatServer,
) -> Iterator[Callable[..., OpenAIChatResponder]]:
    """Builds responders pointed at the fake server; closes them before the server stops,
    since an idle keep-alive connection would otherwise hold a handler thread open."""
    built: list[OpenAIChatResponder] = []

    def build(**options: Any) -> OpenAIChatResponder:
        options.setdefault("base_url", fake_server.base_url)
        responder = OpenAIChatResponder(options=options)
        built.append(responder)
        return responder

    yield build
    for responder in built:
        responder.close()


def make_request(text: str = "What time is it?", **overrides: Any) -> ResponderRequest:
    fields: dict[str, Any] = {
        "agent_id": "agent-1",
        "agent_name": "Eliza",
        "system_prompt": "You are Eliza, a helpful assistant.",
        "channel_id": "channel-1",
        "message_id": "message-9",
        "author_id": "user-1",
        "author_name": "Alice",
        "text": text,
    }
    fields.update(overrides)
    return ResponderRequest(**fields)


def test_sends_the_expected_request_and_returns_the_reply(
    fake_server: FakeChatServer, make_responder: Callable[..., OpenAIChatResponder]
) -> None:
    fake_server.answer(completion("  It is noon.\n"))
    responder = make_responder(api_key=API_KEY, model="llama-3", temperature=0.2, max_tokens=64)
    history = (
        ChatTurn("user-1", "Alice", "Hi Eliza", from_agent=False),
        ChatTurn("agent-1", "Eliza", "Hello Alice!", from_agent=True),
    )

    reply = responder.respond(make_request(history=history))

    assert reply == ResponderReply(text="It is noon.", thought="model llama-3", actions=("REPLY",))
    [sent] = fake_server.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.body == {
        "model": "llama-3",
        "messages": [
            {"role": "system", "content": "You are Eliza, a helpful assistant."},
            {"role": "user", "content": "Hi Eliza"},
            {"role": "assistant", "content": "Hello Alice!"},
            {"role": "user", "content": "What time is it?"},
        ],
        "temperature": 0.2,
        "max_tokens": 64,
    }


def test_defaults_and_no_authorization_without_a_key(
    fake_server: FakeChatServer, make_responder: Callable[..., OpenAIChatResponder]
) -> None:
    make_responder().respond(make_request(system_prompt=""))

    [sent] = fake_server.requests
    assert "Authorization" not in sent.headers
    assert sent.body == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are Eliza."},
            {"role": "user", "content": "What time is it?"},
        ],
        "temperature": 0.7,
        "max_tokens": 512,
    }


def test_system_prompt_option_overrides_the_request(
    fake_server: FakeChatServer, make_responder: Callable[..., OpenAIChatResponder]
) -> None:
    make_responder(system_prompt="Answer in French.").respond(make_request())

    assert fake_server.requests[0].body["messages"][0] == {
        "role": "system",
        "content": "Answer in French.",
    }


def test_names_speakers_when_several_humans_share_the_channel(
    fake_server: FakeChatServer, make_responder: Callable[..., OpenAIChatResponder]
) -> None:
    history = (
        ChatTurn("user-1", "Alice", "Hi all", from_agent=False),
        ChatTurn("agent-2", "Bot", "Beep.", from_agent=True),
        ChatTurn("agent-1", "Eliza", "Hello!", from_agent=True),
    )
    make_responder().respond(make_request(author_id="user-2", author_name="Bob", history=history))

    assert fake_server.requests[0].body["messages"][1:] == [
        {"role": "user", "content": "Alice: Hi all"},
        {"role": "user", "content": "Bot: Beep."},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Bob: What time is it?"},
    ]


@pytest.mark.parametrize(("limit", "expected"), [(2, ["three", "four"]), (0, [])])
def test_history_limit_keeps_the_most_recent_turns(
    fake_server: FakeChatServer,
    make_responder: Callable[..., OpenAIChatResponder],
    limit: int,
    expected: list[str],
) -> None:
    history = tuple(
        ChatTurn("user-1", "Alice", text, from_agent=False)
        for text in ("one", "two", "three", "four")
    )
    make_responder(history_limit=limit).respond(make_request("five", history=history))

    contents = [m["content"] for m in fake_server.requests[0].body["messages"][1:]]
    assert contents == [*expected, "five"]


def test_reuses_one_connection_across_calls_and_threads(
    fake_server: FakeChatServer, make_responder: Callable[..., OpenAIChatResponder]
) -> None:
    responder = make_responder()
    responder.respond(make_request())
    responder.respond(make_request())
    assert fake_server.requests[0].client_port == fake_server.requests[1].client_port

    replies: list[ResponderReply | None] = []
    threads = [
        threading.Thread(target=lambda: replies.append(responder.respond(make_request())))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert [reply and reply.text for reply in replies] == ["Hello there."] * 8


def test_falls_back_to_environment_variables(
    fake_server: FakeChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", fake_server.base_url + "/")
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_MODEL", "env-model")
    responder = load_responder("elizabus.agents.responders.openai.OpenAIChatResponder")
    try:
        reply = responder.respond(make_request())
    finally:
        responder.close()

    assert reply is not None and reply.thought == "model env-model"
    [sent] = fake_server.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"


def test_options_beat_django_settings_which_beat_the_environment(
    fake_server: FakeChatServer,
    make_responder: Callable[..., OpenAIChatResponder],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configured = {
        "model": "settings-model",
        "max_tokens": 99,
        "api_key": "sk-from-settings",
        "base_url": fake_server.base_url,
    }
    monkeypatch.setattr(
        openai_module,
        "settings",
        SimpleNamespace(configured=True, ELIZABUS={"OPENAI": configured}),
    )
    monkeypatch.setenv("OPENAI_MODEL", "env-model")
    make_responder(max_tokens=7).respond(make_request())

    [sent] = fake_server.requests
    assert (sent.body["model"], sent.body["max_tokens"]) == ("settings-model", 7)
    assert sent.headers["Authorization"] == "Bearer sk-from-settings"


def configure(monkeypatch: pytest.MonkeyPatch, **configured: Any) -> None:
    monkeypatch.setattr(
        openai_module, "settings", SimpleNamespace(configured=True, ELIZABUS={"OPENAI": configured})
    )


@pytest.mark.parametrize("where", ["settings", "environment"])
def test_the_server_key_never_goes_to_a_base_url_an_agent_chose(
    fake_server: FakeChatServer,
    make_responder: Callable[..., OpenAIChatResponder],
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    # The operator's model host is elsewhere; the agent's registration aims at a listener.
    if where == "settings":
        configure(monkeypatch, base_url="https://api.openai.com/v1", api_key=API_KEY)
    else:
        monkeypatch.setenv("OPENAI_BASE_URL", "https://api.openai.com/v1")
        monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    make_responder().respond(make_request())

    [sent] = fake_server.requests
    assert "Authorization" not in sent.headers
    assert API_KEY not in str(sent.headers) + json.dumps(sent.body)


def test_the_server_key_goes_to_the_configured_base_url_however_spelt(
    fake_server: FakeChatServer,
    make_responder: Callable[..., OpenAIChatResponder],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure(monkeypatch, base_url=fake_server.base_url, api_key=API_KEY)
    spelt = fake_server.base_url.replace("http://", "HTTP://") + "/"
    make_responder(base_url=spelt).respond(make_request())

    [sent] = fake_server.requests
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"


def test_the_server_key_goes_to_a_trusted_base_url_and_no_further(
    fake_server: FakeChatServer,
    make_responder: Callable[..., OpenAIChatResponder],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure(
        monkeypatch,
        base_url="https://api.openai.com/v1",
        api_key=API_KEY,
        trusted_base_urls=[fake_server.base_url],
    )
    make_responder().respond(make_request())
    # Same host and port, another path: not the trusted endpoint.
    make_responder(base_url=fake_server.base_url + "/other").respond(make_request())

    trusted, other = fake_server.requests
    assert trusted.headers["Authorization"] == f"Bearer {API_KEY}"
    assert "Authorization" not in other.headers


def test_an_agents_own_key_goes_to_its_own_base_url(
    fake_server: FakeChatServer,
    make_responder: Callable[..., OpenAIChatResponder],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure(monkeypatch, base_url="https://api.openai.com/v1", api_key=API_KEY)
    make_responder(api_key="sk-agents-own").respond(make_request())

    [sent] = fake_server.requests
    assert sent.headers["Authorization"] == "Bearer sk-agents-own"


@pytest.mark.parametrize("content", ["", "  \n\t", None])
def test_empty_content_means_silence(
    fake_server: FakeChatServer,
    make_responder: Callable[..., OpenAIChatResponder],
    content: str | None,
) -> None:
    fake_server.answer(completion(content))

    assert make_responder().respond(make_request()) is None


@pytest.mark.parametrize(
    ("status", "payload", "expected"),
    [
        (500, {"error": {"message": "model crashed"}}, "HTTP 500"),
        (401, {"error": {"message": "no"}}, "HTTP 401"),
        (200, b"{not json", "invalid JSON"),
        (200, {"id": "x", "object": "chat.completion"}, "choices[0].message.content"),
        (200, {"choices": []}, "choices[0].message.content"),
        (200, {"choices": [{"message": {"content": ["a", "list"]}}]}, "non-text"),
    ],
)
def test_bad_answers_raise_responder_error(
    fake_server: FakeChatServer,
    make_responder: Callable[..., OpenAIChatResponder],
    status: int,
    payload: Any,
    expected: str,
) -> None:
    fake_server.answer(payload, status=status)

    with pytest.raises(ResponderError, match=expected.replace("[", r"\[")) as caught:
        make_responder(api_key=API_KEY).respond(make_request())
    assert API_KEY not in str(caught.value)


def test_error_excerpt_is_short_and_never_shows_the_key(
    fake_server: FakeChatServer, make_responder: Callable[..., OpenAIChatResponder]
) -> None:
    fake_server.echo_authorization = True
    fake_server.status = 401
    with pytest.raises(
        ResponderError, match="HTTP 401: bad credentials: Bearer \\*\\*\\*"
    ) as caught:
        make_responder(api_key=API_KEY).respond(make_request())
    assert API_KEY not in str(caught.value)

    fake_server.echo_authorization = False
    fake_server.answer(b"x" * 5000, status=502)
    with pytest.raises(ResponderError) as caught:
        make_responder().respond(make_request())
    assert str(caught.value).endswith(": " + "x" * 200)


def test_slow_server_times_out(
    fake_server: FakeChatServer, make_responder: Callable[..., OpenAIChatResponder]
) -> None:
    fake_server.delay = 2.0
    started = time.monotonic()

    with pytest.raises(ResponderError, match=r"timed out after 0\.3s") as caught:
        make_responder(api_key=API_KEY, timeout=0.3).respond(make_request())
    assert time.monotonic() - started < 1.5
    assert API_KEY not in str(caught.value)


def test_refused_connection_raises_responder_error() -> None:
    # A bound socket that never listens: connecting to it is refused, and no other test can
    # grab the port meanwhile.
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        responder = OpenAIChatResponder(
            options={"base_url": f"http://127.0.0.1:{port}/v1", "api_key": API_KEY}
        )
        try:
            with pytest.raises(ResponderError, match="failed") as caught:
                responder.respond(make_request())
        finally:
            responder.close()
    assert API_KEY not in str(caught.value)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, "needs a base_url"),
        ({"base_url": ""}, "needs a base_url"),
        ({"base_url": "localhost:8080/v1"}, "http"),
        ({"base_url": "http://127.0.0.1:1/v1", "temperature": "warm"}, "'temperature'"),
        ({"base_url": "http://127.0.0.1:1/v1", "timeout": 0}, "timeout > 0"),
    ],
)
def test_bad_configuration_raises_at_construction(options: dict[str, Any], expected: str) -> None:
    with pytest.raises(ResponderError, match=expected):
        OpenAIChatResponder(options=options)


def test_repr_hides_the_api_key() -> None:
    responder = OpenAIChatResponder(
        options={"base_url": "http://127.0.0.1:1/v1", "api_key": API_KEY}
    )
    try:
        assert API_KEY not in repr(responder)
    finally:
        responder.close()


def test_a_title_is_asked_of_the_model_and_unquoted(
    fake_server: FakeChatServer, make_responder: Callable[..., OpenAIChatResponder]
) -> None:
    fake_server.answer(completion('  "Garden Plans for Spring"\n'))
    conversation = [
        ChatTurn("user-1", "Alice", "What should I sow first?", from_agent=False),
        ChatTurn("agent-1", "Eliza", "Peas, in March.", from_agent=True),
    ]

    assert make_responder(model="llama-3").title(conversation) == "Garden Plans for Spring"
    [sent] = fake_server.requests
    assert sent.body["temperature"] == 0.3
    assert sent.body["max_tokens"] == 50
    assert sent.body["messages"][1] == {
        "role": "user",
        "content": "Alice: What should I sow first?\nEliza: Peas, in March.",
    }


def test_a_failing_model_fails_the_title(
    fake_server: FakeChatServer, make_responder: Callable[..., OpenAIChatResponder]
) -> None:
    fake_server.answer({"error": "overloaded"}, status=503)
    with pytest.raises(ResponderError, match="503"):
        make_responder().title([ChatTurn("u", "Alice", "hi", from_agent=False)])


# --- streaming: a real server that writes server-sent events with gaps between them ---------


@pytest.fixture
def fake_model() -> Iterator[FakeModel]:
    with FakeModel() as model:
        yield model


def streaming_responder(fake: FakeModel, **options: Any) -> OpenAIChatResponder:
    return OpenAIChatResponder(options={"base_url": fake.base_url, **options})


def test_a_streamed_answer_arrives_piece_by_piece_while_the_model_writes(
    fake_model: FakeModel,
) -> None:
    fake_model.script = Script(pieces=["It ", "is ", "noon", "."], gap=0.05, pause_after=2)
    responder = streaming_responder(fake_model, model="llama-3")
    try:
        pieces = responder.stream(make_request())
        first_two = [next(pieces), next(pieces)]
        # The model has not finished (it waits for resume), yet two pieces are here.
        assert first_two == ["It ", "is "]
        assert fake_model.streams_done == 0
        fake_model.resume()
        rest: list[str] = []
        reply = stream_reply(pieces, rest.append)
    finally:
        responder.close()

    assert rest == ["noon", "."]
    assert reply == ResponderReply(text="It is noon.", thought="model llama-3", actions=("REPLY",))
    [sent] = fake_model.requests
    assert sent["stream"] is True
    assert sent["model"] == "llama-3"


def test_leading_blanks_are_not_streamed_and_blanks_alone_are_silence(
    fake_model: FakeModel,
) -> None:
    fake_model.script = Script(pieces=["\n", "  ", "Hi", " there "])
    responder = streaming_responder(fake_model)
    try:
        got: list[str] = []
        reply = stream_reply(responder.stream(make_request()), got.append)
        assert got == ["Hi", " there "]
        assert reply is not None and reply.text == "Hi there"

        fake_model.script = Script(pieces=["\n", "  "])
        got.clear()
        assert stream_reply(responder.stream(make_request()), got.append) is None
        assert got == []
    finally:
        responder.close()


def test_no_first_byte_in_time_raises(fake_model: FakeModel) -> None:
    fake_model.script = Script(first_byte_delay=2.0)
    responder = streaming_responder(fake_model, first_byte_timeout=0.3, chunk_timeout=5)
    started = time.monotonic()
    try:
        with pytest.raises(ResponderError, match=r"stopped answering for 0\.3s"):
            stream_reply(responder.stream(make_request()), lambda piece: None)
    finally:
        responder.close()
    assert time.monotonic() - started < 1.5


def test_a_stream_that_stalls_between_pieces_raises_after_the_pieces_it_gave(
    fake_model: FakeModel,
) -> None:
    # The first byte may take long (timeout 5 s); a gap between pieces may not (0.3 s).
    fake_model.script = Script(pieces=["one ", "two ", "three"], pause_after=2)
    responder = streaming_responder(fake_model, first_byte_timeout=5, chunk_timeout=0.3)
    got: list[str] = []
    started = time.monotonic()
    try:
        with pytest.raises(ResponderError, match=r"stopped answering for 0\.3s"):
            stream_reply(responder.stream(make_request()), got.append)
    finally:
        responder.close()
    assert got == ["one ", "two "]
    assert time.monotonic() - started < 1.5


def test_a_failing_streamed_request_raises(fake_model: FakeModel) -> None:
    fake_model.script = Script(status=500)
    responder = streaming_responder(fake_model)
    try:
        with pytest.raises(ResponderError, match=r"answered HTTP 500: .*model failed"):
            stream_reply(responder.stream(make_request()), lambda piece: None)
    finally:
        responder.close()


def test_closing_the_stream_hangs_up_at_once(fake_model: FakeModel) -> None:
    # What the agent does when a stream is cancelled: the model is paused (it would never
    # finish), so a close that waited for the rest of the answer would hang here.
    fake_model.script = Script(pieces=["a", "b", "c"], pause_after=1)
    responder = streaming_responder(fake_model, chunk_timeout=10)
    try:
        pieces = responder.stream(make_request())
        assert next(pieces) == "a"
        started = time.monotonic()
        pieces.close()
        assert time.monotonic() - started < 1.0
        fake_model.script = Script(pieces=["again"])
        assert stream_reply(responder.stream(make_request()), lambda piece: None) == (
            ResponderReply(text="again", thought="model gpt-4o-mini")
        )
    finally:
        responder.close()


def test_stream_false_asks_once_and_gives_one_piece(fake_model: FakeModel) -> None:
    fake_model.script = Script(pieces=["Hello", " world"])
    responder = streaming_responder(fake_model, stream=False)
    try:
        got: list[str] = []
        reply = stream_reply(responder.stream(make_request()), got.append)
    finally:
        responder.close()
    assert got == ["Hello world"]
    assert reply is not None and reply.text == "Hello world"
    assert "stream" not in fake_model.requests[0]


def test_cancel_from_another_thread_ends_a_stream_waiting_for_the_model(
    fake_model: FakeModel,
) -> None:
    fake_model.script = Script(pieces=["a", "b"], pause_after=1)
    responder = streaming_responder(fake_model, chunk_timeout=30)
    request = make_request()
    got: list[str] = []

    def cancel_after_the_first_piece(piece: str) -> None:
        got.append(piece)
        threading.Timer(0.1, responder.cancel, args=(request.message_id,)).start()

    started = time.monotonic()
    try:
        # The cut connection ends the body: in an error (a chunked body), or early (this
        # server's body ends with its connection). The agent knows it cancelled either way.
        try:
            reply = stream_reply(responder.stream(request), cancel_after_the_first_piece)
        except ResponderError:
            reply = None
    finally:
        responder.close()
    assert got == ["a"]
    assert reply is None or reply.text == "a"
    assert time.monotonic() - started < 2
