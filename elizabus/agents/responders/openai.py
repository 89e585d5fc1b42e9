"""A responder that asks an OpenAI-compatible ``/chat/completions`` endpoint what to say.

Works with OpenAI itself and with local servers that speak the same protocol (llama.cpp,
vLLM, Ollama, LM Studio). May import httpx, ``django.conf.settings`` and :mod:`.base`; never
the ORM.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from django.conf import settings

from .base import ChatTurn, Responder, ResponderError, ResponderReply, ResponderRequest

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
    ``history_limit`` and ``system_prompt``. The server's ``api_key`` is the one exception:
    it falls back only for the configured ``base_url`` or one of
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
        if self._max_tokens < 1 or self._timeout <= 0 or self._history_limit < 0:
            raise ResponderError(
                "OpenAIChatResponder needs max_tokens >= 1, timeout > 0 and history_limit >= 0"
            )

        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        # httpx.Client is thread-safe and pools keep-alive connections, so every channel's
        # thread shares this one instead of paying a TCP (and TLS) handshake per message.
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(self._timeout, connect=min(5.0, self._timeout)),
        )

    def __repr__(self) -> str:
        # The inherited dataclass repr would print ``options``, API key included.
        return f"{type(self).__name__}(url={self._url!r}, model={self._model!r})"

    @property
    def history_limit(self) -> int:
        return self._history_limit

    def close(self) -> None:
        """Close the pooled connections; the responder must not be used afterwards."""
        self._client.close()

    def respond(self, request: ResponderRequest) -> ResponderReply | None:
        text = self._complete(self._messages(request), self._temperature, self._max_tokens)
        if text is None:
            return None
        return ResponderReply(text=text, thought=f"model {self._model}", actions=("REPLY",))

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
