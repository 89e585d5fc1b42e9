"""The contract every responder follows, and how one is loaded from its dotted path.

A responder sees only the dataclasses below, never a Django model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils.module_loading import import_string

from elizabus.conf import app_settings

# The responders elizabus ships; DEFAULT_RESPONDER and ELIZABUS["RESPONDERS"] add to them.
BUILT_IN_RESPONDERS = frozenset(
    {
        "elizabus.agents.responders.eliza.ElizaResponder",
        "elizabus.agents.responders.openai.OpenAIChatResponder",
        "elizabus.agents.responders.echo.EchoResponder",
    }
)
TITLE_WORDS = 6
TITLE_CHARS = 60


@dataclass(frozen=True)
class ChatTurn:
    """One earlier message of the channel, oldest first in :attr:`ResponderRequest.history`."""

    author_id: str
    author_name: str
    text: str
    from_agent: bool


@dataclass(frozen=True)
class ResponderRequest:
    """What an agent is asked to answer."""

    agent_id: str
    agent_name: str
    system_prompt: str
    channel_id: str
    message_id: str
    author_id: str
    author_name: str
    text: str
    history: tuple[ChatTurn, ...] = ()


@dataclass(frozen=True)
class ResponderReply:
    """What the agent says. ``text`` is never empty; a responder that has nothing to say
    returns ``None`` instead (the elizaOS ``IGNORE`` action)."""

    text: str
    thought: str = ""
    actions: tuple[str, ...] = ("REPLY",)


class ResponderError(Exception):
    """A responder could not produce an answer; the agent reports it as ``message:error``."""


# What :meth:`Responder.stream` is: it yields the reply's text piece by piece and returns the
# whole reply (or None for silence) when it is done.
ReplyStream = Generator[str, None, ResponderReply | None]


@dataclass
class Responder(ABC):
    """Base class. Subclasses take their configuration as keyword options.

    ``respond`` may be called from several threads at once for different channels, so a
    responder keeps per-conversation state keyed by ``channel_id`` and guards it itself.
    """

    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def history_limit(self) -> int:
        """How many earlier messages of the channel ``request.history`` should carry; the agent
        service reads them only for a responder that wants some."""
        return 0

    def close(self) -> None:  # noqa: B027 - optional hook
        """Releases what the responder holds (connections); called when its agent stops."""

    def cancel(self, message_id: str) -> None:  # noqa: B027 - optional hook
        """Called from another thread when the stream answering ``message_id`` is cancelled:
        a responder that waits on something slow (a model's next piece) stops waiting, so its
        :meth:`stream` ends soon (in any error, or early). One whose pieces come at once needs
        nothing."""

    def title(self, conversation: Sequence[ChatTurn]) -> str | None:
        """A short title for a conversation, oldest turn first (``generate-title``), or None.

        The default needs no model: the first words of the first thing a person said.
        """
        said = next((turn.text for turn in conversation if not turn.from_agent), "")
        words = said.split()[:TITLE_WORDS]
        if not words:
            return None
        title = " ".join(words).strip(".,;:!?")
        return title[:1].upper() + title[1:TITLE_CHARS] if title else None

    @abstractmethod
    def respond(self, request: ResponderRequest) -> ResponderReply | None:
        """Answers ``request``, or returns ``None`` to stay silent; raises ResponderError."""

    def stream(self, request: ResponderRequest) -> ReplyStream:
        """Answers ``request`` as it is produced: yields the text's pieces in order, then
        returns the reply, whose ``text`` is what the pieces add up to (stripped), or None.

        The default yields the whole of :meth:`respond`'s text as one piece. A responder that
        can do better (a model that streams) overrides it. The agent may close the generator
        between two pieces (its stream was cancelled); it must then release what it holds.
        """
        reply = self.respond(request)
        if reply is not None:
            yield reply.text
        return reply


def stream_reply(pieces: ReplyStream, on_piece: Callable[[str], None]) -> ResponderReply | None:
    """Runs ``pieces`` to its end, handing each non-empty piece to ``on_piece``; returns the
    reply. An exception from ``on_piece`` closes the stream and is raised."""
    try:
        while True:
            piece = next(pieces)
            if piece:
                on_piece(piece)
    except StopIteration as done:
        return done.value
    finally:
        pieces.close()


def registered_responders() -> frozenset[str]:
    """The dotted paths an agent may name: the built-in responders, the default one and those
    an operator added in ``ELIZABUS["RESPONDERS"]`` (docs/security.md, "Responders")."""
    return BUILT_IN_RESPONDERS | {app_settings.DEFAULT_RESPONDER, *app_settings.RESPONDERS}


def load_responder(dotted_path: str, options: Mapping[str, Any] | None = None) -> Responder:
    """Build the responder class named by ``dotted_path`` with ``options``.

    The path is checked against :func:`registered_responders` before anything is imported:
    an agent's registration names it, and importing an arbitrary module runs its code.
    """
    if dotted_path not in registered_responders():
        raise ResponderError(
            f"Unknown responder {dotted_path!r}: not a registered responder "
            "(ELIZABUS['RESPONDERS'] adds one)"
        )
    try:
        responder_class = import_string(dotted_path)
    except ImportError as exc:
        raise ResponderError(f"Unknown responder {dotted_path!r}: {exc}") from exc
    if not (isinstance(responder_class, type) and issubclass(responder_class, Responder)):
        raise ResponderError(f"{dotted_path!r} is not a Responder")
    return responder_class(options=dict(options or {}))
