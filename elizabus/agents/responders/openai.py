"""A responder that asks an OpenAI-compatible ``/chat/completions`` endpoint what to say.

Works with OpenAI itself and with local servers that speak the same protocol (llama.cpp,
vLLM, Ollama, LM Studio).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from django.conf import settings

from .base import (
    ChatTurn,
    ReplyStream,
    Responder,
    ResponderError,
    ResponderReply,
    ResponderRequest,
)

_ENV_VARS = {"base_url": "OPENAI_BASE_URL", "api_key": "OPENAI_API_KEY", "model": "OPENAI_MODEL"}
_EXCERPT_CHARS = 200
# The end of a long conversation is what a title should reflect; the start is cut.
_TITLE_TRANSCRIPT_CHARS = 8000
# Models like to quote their titles, in straight or typographic quotes.
_TITLE_QUOTES = "\"' \u201c\u201d\u2018\u2019"

_Number = TypeVar("_Number", int, float)


def _configured_defaults() -> Mapping[str, Any]:
    """``settings.ELIZABUS["OPENAI"]``, or nothing when Django is not set up (scripts, tests)."""
    if not settings.configured:
        return {}
    return getattr(settings, "ELIZABUS", {}).get("OPENAI", {})


def _first_set(*candidates: Any) -> Any:
    # An empty string means "unset" so that `OPENAI_API_KEY=` does not send `Bearer `.
    return next((value for value in candidates if value not in (None, "")), None)


def _server_value(key: str, configured: Mapping[str, Any]) -> Any:
    """``key`` as the operator configured it: Django setting, then environment."""
    return _first_set(configured.get(key), os.environ.get(_ENV_VARS.get(key, ""), None))


def _lookup(key: str, options: Mapping[str, Any], configured: Mapping[str, Any]) -> Any:
    """The first non-empty value of ``key``: responder option, Django setting, environment."""
    return _first_set(options.get(key), _server_value(key, configured))


def _endpoint(base_url: Any) -> tuple[str, str, int | None, str]:
    """``base_url`` compared as a server would route it: scheme, host, port, path."""
    url = httpx.URL(str(base_url).rstrip("/"))
    default_port = {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host.lower(), url.port or default_port, url.path.rstrip("/"))


def _server_key_allowed(base_url: Any, configured: Mapping[str, Any]) -> bool:
    """Whether the server's own API key may be sent to ``base_url`` (docs/security.md,
    "Credentials"): only to the configured base URL or one the operator listed, never to a
    URL an agent's registration chose, which could be its author's own listener."""
    trusted = [_server_value("base_url", configured), *configured.get("trusted_base_urls", ())]
    try:
        wanted = _endpoint(base_url)
        return any(wanted == _endpoint(url) for url in trusted if url)
    except httpx.InvalidURL:
        return False


def _number(key: str, value: Any, kind: Callable[[Any], _Number]) -> _Number:
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ResponderError(f"OpenAIChatResponder option {key!r} must be a number") from None


def _said(author_name: str, text: str, named: bool) -> str:
    return f"{author_name}: {text}" if named else text


@dataclass(repr=False, eq=False)
class OpenAIChatResponder(Responder):
    """Sends the channel's recent history to a chat-completions endpoint and relays the answer.

    Options (each falls back to ``settings.ELIZABUS["OPENAI"][name]``, then, for the first
    three, to ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` / ``OPENAI_MODEL``): ``base_url``
    (required), ``api_key``, ``model``, ``temperature``, ``max_tokens``, ``timeout`` (seconds),
    ``history_limit``, ``system_prompt``, ``stream`` (ask the model to stream, default true),
    ``first_byte_timeout`` and ``chunk_timeout`` (seconds a streamed answer may take to begin,
    and to go on between two pieces; both default to ``timeout``). The server's ``api_key`` is
    the one exception: it falls back only for the configured ``base_url`` or one of
    ``ELIZABUS["OPENAI"]["trusted_base_urls"]``. Configuration errors raise ResponderError at
    construction, so ``load_responder`` reports them before the first message arrives.
    """

    def __post_init__(self) -> None:
        configured = _configured_defaults()

        def option(key: str, default: Any = None) -> Any:
            value = _lookup(key, self.options, configured)
            return default if value is None else value

        base_url = option("base_url")
        if not base_url:
            raise ResponderError(
                "OpenAIChatResponder needs a base_url: set the option, "
                "ELIZABUS['OPENAI']['base_url'] or the OPENAI_BASE_URL environment variable"
            )
        self._url = f"{str(base_url).rstrip('/')}/chat/completions"
        try:
            parsed = httpx.URL(self._url)
        except httpx.InvalidURL as exc:
            raise ResponderError(f"OpenAIChatResponder base_url is not a URL: {exc}") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ResponderError("OpenAIChatResponder base_url must be an http(s) URL")

        # The agent's own key goes wherever the agent says; the server's only where it may.
        own_key = _first_set(self.options.get("api_key"))
        server_key = _server_value("api_key", configured)
        if own_key is None and server_key and _server_key_allowed(base_url, configured):
            own_key = server_key
        self._api_key = str(own_key or "")
        self._model = str(option("model", "gpt-4o-mini"))
        self._system_prompt = str(option("system_prompt", ""))
        self._temperature = _number("temperature", option("temperature", 0.7), float)
        self._max_tokens = _number("max_tokens", option("max_tokens", 512), int)
        self._timeout = _number("timeout", option("timeout", 30), float)
        self._history_limit = _number("history_limit", option("history_limit", 20), int)
        self._first_byte_timeout = _number(
            "first_byte_timeout", option("first_byte_timeout", self._timeout), float
        )
        self._chunk_timeout = _number(
            "chunk_timeout", option("chunk_timeout", self._timeout), float
        )
        streams = option("stream", True)
        if not isinstance(streams, bool):
            raise ResponderError("OpenAIChatResponder option 'stream' must be true or false")
        self._streams = streams
        if (
            self._max_tokens < 1
            or min(self._timeout, self._first_byte_timeout, self._chunk_timeout) <= 0
            or self._history_limit < 0
        ):
            raise ResponderError(
                "OpenAIChatResponder needs max_tokens >= 1, timeout > 0, first_byte_timeout > 0, "
                "chunk_timeout > 0 and history_limit >= 0"
            )

        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        # httpx.Client is thread-safe and pools keep-alive connections, so every channel's
        # thread shares this one instead of paying a TCP (and TLS) handshake per message.
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(self._timeout, connect=min(5.0, self._timeout)),
        )
        # The sockets of the streams in progress, by the message they answer, for cancel().
        self._streaming: dict[str, socket.socket] = {}
        self._streaming_lock = threading.Lock()

    def __repr__(self) -> str:
        # The inherited dataclass repr would print ``options``, API key included.
        return f"{type(self).__name__}(url={self._url!r}, model={self._model!r})"

    @property
    def history_limit(self) -> int:
        return self._history_limit

    def close(self) -> None:
        """Close the pooled connections; the responder must not be used afterwards."""
        self._client.close()

    def cancel(self, message_id: str) -> None:
        """Shuts the socket of the stream answering ``message_id`` down: the read waiting for
        the model's next piece returns at once, from any thread (closing it would not wake
        the read)."""
        with self._streaming_lock:
            sock = self._streaming.get(message_id)
        if sock is not None:
            with contextlib.suppress(OSError):  # already gone
                sock.shutdown(socket.SHUT_RDWR)

    def respond(self, request: ResponderRequest) -> ResponderReply | None:
        text = self._complete(self._messages(request), self._temperature, self._max_tokens)
        if text is None:
            return None
        return ResponderReply(text=text, thought=f"model {self._model}", actions=("REPLY",))

    def stream(self, request: ResponderRequest) -> ReplyStream:
        """Asks with ``stream: true`` and yields each ``delta.content`` as it arrives."""
        if not self._streams:
            return (yield from super().stream(request))
        payload = {
            "model": self._model,
            "messages": self._messages(request),
            "temperature": self._temperature,
            "max_tokens": self._max_tokens,
            "stream": True,
        }
        timeout = httpx.Timeout(
            self._timeout, connect=min(5.0, self._timeout), read=self._first_byte_timeout
        )
        said: list[str] = []
        try:
            with self._client.stream("POST", self._url, json=payload, timeout=timeout) as response:
                if not response.is_success:
                    response.read()
                    raise ResponderError(
                        f"{self._url} answered HTTP {response.status_code}: "
                        f"{self._excerpt(response)}"
                    )
                # From the headers on, each read may wait chunk_timeout. httpcore reads the
                # request's timeouts when the body is first read, which is after this line.
                response.request.extensions["timeout"] = {
                    **response.request.extensions.get("timeout", {}),
                    "read": self._chunk_timeout,
                }
                self._track(request.message_id, response)
                try:
                    for piece in self._pieces(response):
                        # Blank pieces before the first word are not worth a chunk: the reply
                        # is stripped, and an answer of blanks is silence.
                        if said or piece.strip():
                            said.append(piece.lstrip() if not said else piece)
                            yield said[-1]
                finally:
                    with self._streaming_lock:
                        self._streaming.pop(request.message_id, None)
        except httpx.TimeoutException as exc:
            waited = self._chunk_timeout if said else self._first_byte_timeout
            raise ResponderError(f"{self._url} stopped answering for {waited:g}s") from exc
        except httpx.HTTPError as exc:
            raise ResponderError(
                f"request to {self._url} failed: {self._redact(str(exc))}"
            ) from exc
        text = "".join(said).strip()
        if not text:
            return None
        return ResponderReply(text=text, thought=f"model {self._model}", actions=("REPLY",))

    def _track(self, message_id: str, response: httpx.Response) -> None:
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            with self._streaming_lock:
                self._streaming[message_id] = sock

    def _pieces(self, response: httpx.Response) -> Iterator[str]:
        """The ``delta.content`` of each server-sent event, until ``[DONE]`` or the end."""
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue  # blank separators, comments (": keep-alive"), event names
            data = line[5:].strip()
            if data == "[DONE]":
                return
            try:
                choices = json.loads(data)["choices"]
            except (ValueError, KeyError, TypeError) as exc:
                raise ResponderError(
                    f"{self._url} streamed an event without choices: {self._redact(data)[:200]}"
                ) from exc
            if not choices:
                continue  # a usage-only event
            try:
                content = choices[0].get("delta", {}).get("content")
            except AttributeError as exc:
                raise ResponderError(f"{self._url} streamed a malformed choice") from exc
            if content is None:
                continue  # the role announcement, or the finish_reason event
            if not isinstance(content, str):
                raise ResponderError(f"{self._url} streamed a non-text delta content")
            yield content

    def title(self, conversation: Sequence[ChatTurn]) -> str | None:
        """Asks the model for a title, as the reference does (temperature 0.3, 50 tokens)."""
        transcript = "\n".join(f"{turn.author_name}: {turn.text}" for turn in conversation)
        messages = [
            {
                "role": "system",
                "content": "Write a short title (at most six words) for this conversation. "
                "Answer with the title only.",
            },
            {"role": "user", "content": transcript[-_TITLE_TRANSCRIPT_CHARS:]},
        ]
        text = self._complete(messages, 0.3, 50)
        if text is None:
            return None
        return text.strip(_TITLE_QUOTES) or None

    def _complete(
        self, messages: list[dict[str, str]], temperature: float, max_tokens: int
    ) -> str | None:
        """The model's answer to ``messages``, stripped; None for an empty or null one."""
        payload = {
            "model": self._model,
            "messages": messages,
            "temperature": temperature,
            "max_tokens": max_tokens,
        }
        try:
            response = self._client.post(self._url, json=payload)
        except httpx.TimeoutException as exc:
            raise ResponderError(f"{self._url} timed out after {self._timeout:g}s") from exc
        except httpx.HTTPError as exc:
            raise ResponderError(
                f"request to {self._url} failed: {self._redact(str(exc))}"
            ) from exc

        if not response.is_success:
            raise ResponderError(
                f"{self._url} answered HTTP {response.status_code}: {self._excerpt(response)}"
            )
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except ValueError as exc:
            raise ResponderError(
                f"{self._url} answered with invalid JSON: {self._excerpt(response)}"
            ) from exc
        except (KeyError, IndexError, TypeError) as exc:
            raise ResponderError(
                f"{self._url} answered without choices[0].message.content: "
                f"{self._excerpt(response)}"
            ) from exc

        # A null content (e.g. a refusal) is silence, like an empty one.
        if content is None:
            return None
        if not isinstance(content, str):
            raise ResponderError(f"{self._url} answered a non-text message content")
        return content.strip() or None

    def _messages(self, request: ResponderRequest) -> list[dict[str, str]]:
        system = self._system_prompt or request.system_prompt or f"You are {request.agent_name}."
        # `history[-0:]` would be the whole tuple, hence the explicit zero case.
        recent = request.history[-self._history_limit :] if self._history_limit else ()
        humans = {turn.author_id for turn in request.history if not turn.from_agent}
        # Names only help the model tell speakers apart; with a single human they are noise.
        named = len(humans | {request.author_id}) > 1

        messages = [{"role": "system", "content": system}]
        for turn in recent:
            if turn.from_agent and turn.author_id == request.agent_id:
                messages.append({"role": "assistant", "content": turn.text})
            else:
                messages.append(
                    {"role": "user", "content": _said(turn.author_name, turn.text, named)}
                )
        messages.append(
            {"role": "user", "content": _said(request.author_name, request.text, named)}
        )
        return messages

    def _excerpt(self, response: httpx.Response) -> str:
        # Redact before truncating: a cut through the key would leave a prefix of it behind.
        return " ".join(self._redact(response.text).split())[:_EXCERPT_CHARS]

    def _redact(self, text: str) -> str:
        # Some servers echo the rejected key back in their error body.
        return text.replace(self._api_key, "***") if self._api_key else text
