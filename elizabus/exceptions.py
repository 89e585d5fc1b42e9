"""The catalogue of errors: one class per error code, with its HTTP status and default message.

Services and the edges raise them; the API's exception handler maps each to its status and the
``{success: false, error: {code, message}}`` shape, and the socket router to ``messageError``.
A raise site passes a message only where the reference words that case its own way (``Agent
with ID '…' not found``). :func:`catalogue` lists every code; ``docs/errors.md`` is its table,
and a test keeps the two the same.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """A request that cannot be done as asked."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "BAD_REQUEST"
    default_message: ClassVar[str] = "Bad request"

    def __init__(self, message: str | None = None, *, details: Any = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)
        self.details = details


def catalogue() -> list[type[DomainError]]:
    """Every error class, by code."""
    found: list[type[DomainError]] = []
    pending: list[type[DomainError]] = [DomainError]
    while pending:
        kind = pending.pop()
        found.append(kind)
        pending.extend(kind.__subclasses__())
    return sorted(found, key=lambda kind: kind.code)


# --- 400 ----------------------------------------------------------------------------------------
class InvalidInput(DomainError):
    """A body, query or path value fails validation; ``details`` names the fields."""

    code = "VALIDATION_ERROR"
    default_message = "Invalid request"


class InvalidJson(InvalidInput):
    """The body is not JSON."""

    code = "INVALID_JSON"
    default_message = "Malformed JSON in request body"


class InvalidContentType(InvalidInput):
    """The body is not of a type the route reads (the reference answers 400, not 415)."""

    code = "INVALID_CONTENT_TYPE"
    default_message = "Invalid or missing Content-Type header"


class JsonTooDeep(InvalidInput):
    """A JSON body, or a socket message, nests deeper than elizabus reads (docs/errors.md,
    "Limits")."""

    code = "JSON_TOO_DEEP"
    default_message = "JSON is nested too deeply"


class InvalidText(InvalidInput):
    """A socket message holds text that cannot be stored: a NUL character, or a lone
    surrogate (a REST body with one is refused as invalid or malformed)."""

    code = "INVALID_TEXT"
    default_message = "Text holds a character that cannot be stored"


class InvalidBody(InvalidInput):
    """The body is JSON but not an object."""

    code = "INVALID_BODY"
    default_message = "Request body must be a JSON object"


class InvalidId(InvalidInput):
    """A path id is not a canonical UUID."""

    code = "INVALID_ID"
    default_message = "Invalid id"


class InvalidTransport(InvalidInput):
    """A message post asks for a transport that does not exist."""

    code = "INVALID_TRANSPORT"
    default_message = "Invalid transport"


class InvalidResponder(InvalidInput):
    """An agent names a responder that cannot be built."""

    code = "INVALID_RESPONDER"
    default_message = "Invalid responder"


class AgentExists(InvalidInput):
    """An agent is registered under the id of an entity that is not an agent."""

    code = "AGENT_EXISTS"
    default_message = "The entity already exists"


class ChannelExists(InvalidInput):
    """A channel is created under an id that is taken."""

    code = "CHANNEL_EXISTS"
    default_message = "The channel already exists"


class ServerMismatch(InvalidInput):
    """A message names another message server than its channel's."""

    code = "SERVER_MISMATCH"
    default_message = "The channel does not belong to that message server"


class DmWithSelf(InvalidInput):
    """A DM is asked for between an entity and itself."""

    code = "DM_WITH_SELF"
    default_message = "Cannot create DM channel with oneself"


class NoAgent(InvalidInput):
    """A post waits for an agent's answer (``http``, ``sse``) in a channel without an agent."""

    code = "NO_AGENT"
    default_message = "No agent found in channel participants"


class NoFile(InvalidInput):
    """An upload carries no file."""

    code = "NO_FILE"
    default_message = "No media file provided"


class EmptyFile(InvalidInput):
    """An upload's file is empty."""

    code = "EMPTY_FILE"
    default_message = "The file is empty"


class InvalidFileType(InvalidInput):
    """An upload's type is not one media may be."""

    code = "INVALID_FILE_TYPE"
    default_message = "File type is not allowed"


class SessionRenewalFailed(InvalidInput):
    """A session cannot be renewed past its maximum duration."""

    code = "SESSION_RENEWAL_FAILED"
    default_message = "Maximum duration reached"


class InvalidEmail(InvalidInput):
    """A registration's email address is not one."""

    code = "INVALID_EMAIL"
    default_message = "Invalid email address"


class InvalidUsername(InvalidInput):
    """A registration's username is not 3 to 50 letters, digits or ``@.+-_``."""

    code = "INVALID_USERNAME"
    default_message = "Username must be between 3 and 50 characters"


class InvalidPassword(InvalidInput):
    """A new password fails the password validators; ``details`` says why."""

    code = "INVALID_PASSWORD"
    default_message = "Password must be at least 8 characters"


class MissingCredentials(InvalidInput):
    """A log-in names no email or no password."""

    code = "MISSING_CREDENTIALS"
    default_message = "Email and password required"


# --- 401, 403, 405, 429: what DRF decides, in the API's words -------------------------------------
class Unauthorized(DomainError):
    """The API key (or another credential) is missing or wrong."""

    status = 401
    code = "UNAUTHORIZED"
    default_message = "Unauthorized"


class Forbidden(DomainError):
    """The request is understood and not allowed."""

    status = 403
    code = "FORBIDDEN"
    default_message = "Forbidden"


class NotParticipant(Forbidden):
    """With data isolation, an entity reads or writes a channel it does not participate in."""

    code = "NOT_A_PARTICIPANT"
    default_message = "You are not a participant of this channel"


class NotYourself(Forbidden):
    """With data isolation, a request names another entity than its token's as its author,
    user or sender."""

    code = "NOT_YOURSELF"
    default_message = "You may act only as yourself"


class NotChannelManager(Forbidden):
    """With data isolation, a channel is changed, cleared or deleted (or a message of another
    author deleted) by an entity that is neither its creator nor, for a DM, one of its two."""

    code = "NOT_CHANNEL_MANAGER"
    default_message = "Only the channel's creator, a DM's participants or the operator may do this"


class OperatorOnly(Forbidden):
    """With data isolation, a user's token asks for what only the API key may do (agents,
    servers, logs, metrics, the environment)."""

    code = "OPERATOR_ONLY"
    default_message = "Only the operator (the API key) may do this"


class OriginNotAllowed(Forbidden):
    """A request any page could make a browser send without a preflight (a ``POST`` of a
    form or text) comes from an origin that is neither the server's own nor allowed
    (docs/security.md, "Requests from other sites")."""

    code = "ORIGIN_NOT_ALLOWED"
    default_message = "Requests from this origin are not allowed"


class CentralChannel(Forbidden):
    """The central channel is deleted: it always exists."""

    code = "CENTRAL_CHANNEL"
    default_message = "The central channel cannot be deleted"


class InvalidCredentials(Unauthorized):
    """A log-in's email and password match no active account (which of the two is not said)."""

    code = "INVALID_CREDENTIALS"
    default_message = "Invalid credentials"


class MissingToken(Unauthorized):
    """A route that needs a token got none (``Authorization: Bearer``, or a refresh token)."""

    code = "MISSING_TOKEN"
    default_message = "No token provided"


class InvalidToken(Unauthorized):
    """A token is malformed, forged, expired, revoked or spent; ``details`` says which."""

    code = "INVALID_TOKEN"
    default_message = "Invalid or expired token"


class MethodNotAllowed(DomainError):
    """The route exists, the method does not."""

    status = 405
    code = "METHOD_NOT_ALLOWED"
    default_message = "Method not allowed"


class RateLimited(DomainError):
    """The client sent more requests than its allowance; ``Retry-After`` says when to come back."""

    status = 429
    code = "RATE_LIMIT_EXCEEDED"
    default_message = "Too many requests"


# --- 404 ----------------------------------------------------------------------------------------
class NotFound(DomainError):
    """No route, or no row, answers to the request."""

    status = 404
    code = "NOT_FOUND"
    default_message = "Not found"


class AgentNotFound(NotFound):
    code = "AGENT_NOT_FOUND"
    default_message = "Agent not found"


class ChannelNotFound(NotFound):
    code = "CHANNEL_NOT_FOUND"
    default_message = "Channel not found"


class ServerNotFound(NotFound):
    code = "SERVER_NOT_FOUND"
    default_message = "Message server not found"


class MessageNotFound(NotFound):
    code = "MESSAGE_NOT_FOUND"
    default_message = "Message not found"


class MemoryNotFound(NotFound):
    code = "MEMORY_NOT_FOUND"
    default_message = "Memory not found"


class RoomNotFound(NotFound):
    code = "ROOM_NOT_FOUND"
    default_message = "Room not found"


class RunNotFound(NotFound):
    code = "RUN_NOT_FOUND"
    default_message = "Run not found"


class SessionNotFound(NotFound):
    code = "SESSION_NOT_FOUND"
    default_message = "Session not found"


class JobNotFound(NotFound):
    code = "JOB_NOT_FOUND"
    default_message = "Job not found"


class ParticipantNotFound(NotFound):
    """An agent is removed from a channel it is not in."""

    code = "PARTICIPANT_NOT_FOUND"
    default_message = "Agent is not a participant in this channel"


class NotSubscribed(NotFound):
    """An agent's subscription to a message server is asked for, and there is none."""

    code = "NOT_SUBSCRIBED"
    default_message = "Agent is not subscribed to this message server"


class NoAgentsAvailable(NotFound):
    """A job names no agent, and none is running on the server."""

    code = "NO_AGENTS_AVAILABLE"
    default_message = "No agents available on server"


# --- 409, 410 -----------------------------------------------------------------------------------
class Conflict(DomainError):
    status = 409
    code = "CONFLICT"
    default_message = "Conflict"


class DuplicateMessageId(Conflict):
    """A message is posted under the id of another message."""

    code = "DUPLICATE_MESSAGE_ID"
    default_message = "The message already exists"


class EmailExists(Conflict):
    """An account is registered with an email address another one has."""

    code = "EMAIL_EXISTS"
    default_message = "Email already registered"


class UsernameExists(Conflict):
    """An account is registered under a username that is taken."""

    code = "USERNAME_EXISTS"
    default_message = "Username already taken"


class NotHostedOutside(Conflict):
    """A process attaches over the agent wire for an agent that elizabus answers itself."""

    code = "NOT_HOSTED_OUTSIDE"
    default_message = "The agent is not hosted outside"


class AlreadyAnswered(Conflict):
    """An agent hosted outside submits a second reply to a message it has settled (another
    instance of it answered first, or its delivery was acknowledged)."""

    code = "ALREADY_ANSWERED"
    default_message = "The agent has already answered this message"


class Gone(DomainError):
    """What was asked for existed and has expired."""

    status = 410
    code = "GONE"
    default_message = "Gone"


class SessionExpired(Gone):
    code = "SESSION_EXPIRED"
    default_message = "Session expired"


# --- 408 ----------------------------------------------------------------------------------------
class RequestTimeout(DomainError):
    """A request's body stopped arriving for ``BODY_READ_TIMEOUT_SECONDS`` (docs/errors.md,
    "Limits")."""

    status = 408
    code = "REQUEST_TIMEOUT"
    default_message = "The request body did not arrive in time"


# --- 413 ----------------------------------------------------------------------------------------
class PayloadTooLarge(DomainError):
    """A body, or a part of it, is over its limit (docs/errors.md, "Limits", lists them)."""

    status = 413
    code = "PAYLOAD_TOO_LARGE"
    default_message = "Payload too large"


class ContentTooLarge(PayloadTooLarge):
    code = "CONTENT_TOO_LARGE"
    default_message = "Message content is too large"


class MetadataTooLarge(PayloadTooLarge):
    code = "METADATA_TOO_LARGE"
    default_message = "metadata is too large"


class RawMessageTooLarge(PayloadTooLarge):
    code = "RAW_MESSAGE_TOO_LARGE"
    default_message = "raw_message is too large"


class CharacterTooLarge(PayloadTooLarge):
    code = "CHARACTER_TOO_LARGE"
    default_message = "The character is too large"


class AttachmentsTooLarge(PayloadTooLarge):
    code = "ATTACHMENTS_TOO_LARGE"
    default_message = "attachments are too large"


class FileTooLarge(PayloadTooLarge):
    code = "FILE_TOO_LARGE"
    default_message = "The file is too large"


# --- 502 ----------------------------------------------------------------------------------------
class UpstreamFailure(DomainError):
    """A service elizabus depends on (an agent's model endpoint) failed."""

    status = 502
    code = "UPSTREAM_FAILURE"
    default_message = "An upstream service failed"


class TitleFailed(UpstreamFailure):
    """The agent's model could not title a conversation."""

    code = "TITLE_FAILED"
    default_message = "The agent could not generate a title"


# --- 503 ----------------------------------------------------------------------------------------
class ServiceUnavailable(DomainError):
    """A dependency the request needs (the database) is down or did not answer in time; the
    answer carries ``Retry-After``. A write refused after its deadline may still be stored once
    the database answers (docs/deployment.md, "When a dependency is down")."""

    status = 503
    code = "SERVICE_UNAVAILABLE"
    default_message = "The service is unavailable; try again shortly"
    retry_after = 1
