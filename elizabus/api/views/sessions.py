"""The sessions router: ``/sessions...``, persisted, served by any process
(docs/compatibility.md, "Sessions and jobs").

Answers carry no ``{success, data}`` envelope, as the reference's; the two that carry
``success`` (a sent message, a deletion) repeat their body under ``data``, which is what the
official SDK returns of such a body. Errors are the one error shape with the reference's codes
(``SESSION_NOT_FOUND`` 404, ``SESSION_EXPIRED`` 410, ``AGENT_NOT_FOUND`` 404, ...).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from elizabus import access, selectors, services
from elizabus.api.envelope import validated
from elizabus.api.exchange import AgentExchange, agent_answer_waiter, parse_transport
from elizabus.api.fields import parse_uuid
from elizabus.api.representations.sessions import (
    session_created_data,
    session_data,
    session_message_data,
    session_status_data,
    session_user_message_data,
)
from elizabus.api.serializers.sessions import (
    SessionCreateIn,
    SessionMessageIn,
    SessionTimeoutIn,
    session_messages_query,
)
from elizabus.api.throttling import MAKES
from elizabus.api.views.base import OWN, PUBLIC, ApiView, actor_of, with_actor_default
from elizabus.exceptions import InvalidInput
from elizabus.js import iso
from elizabus.models import DEFAULT_SERVER_ID, Session

# The health answer's ``uptime``: seconds since this process loaded the API.
LOADED_AT = time.monotonic()

SESSION = OpenApiResponse(description="`SessionInfoResponse`")


def _own_session_id(request: Request, session_id: str) -> uuid.UUID:
    """The session id of the path: 400 malformed; with data isolation, 404 unless the
    session is the token's entity's."""
    session_uuid = parse_uuid(session_id, "sessionId")
    access.require_session_owner(actor_of(request), session_uuid)
    return session_uuid


def _active_session(request: Request, session_id: str) -> Session:
    """The session named in the path; 400 for a malformed id, 404 unknown (or another
    user's), 410 expired (and then deleted)."""
    return services.session_require_active(session_id=_own_session_id(request, session_id))


class SessionsHealthApi(ApiView):
    """``GET /sessions/health``."""

    access = {"GET": PUBLIC}

    @extend_schema(responses={200: OpenApiResponse(description="`SessionsHealthResponse`")})
    def get(self, request: Request) -> Response:
        now = timezone.now()
        counts = selectors.session_counts(now=now)
        return Response(
            {
                "status": "healthy",
                "activeSessions": counts["active"],
                "timestamp": iso(now),
                "expiringSoon": counts["expiring_soon"],
                "uptime": round(time.monotonic() - LOADED_AT, 3),
            }
        )


class SessionsApi(ApiView):
    """``POST /sessions`` creates one; ``GET /sessions`` lists the active ones."""

    throttle_classes = MAKES

    access = {"POST": OWN, "GET": OWN}

    @extend_schema(
        request=SessionCreateIn,
        responses={201: OpenApiResponse(description="`CreateSessionResponse`")},
    )
    def post(self, request: Request) -> Response:
        data = validated(SessionCreateIn, with_actor_default(request, request.data, "userId"))
        access.act_as(actor_of(request), data["userId"])
        session = services.session_create(
            agent_id=data["agentId"],
            user_id=data["userId"],
            metadata=data.get("metadata") or {},
            timeout=data.get("timeoutConfig"),
        )
        return Response(session_created_data(session), status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: OpenApiResponse(description="`ListSessionsResponse`")})
    def get(self, request: Request) -> Response:
        now = timezone.now()
        actor = actor_of(request)
        active = selectors.session_list_active(now=now, user_id=actor.entity_id)
        sessions = [session_data(s, now) for s in active]
        counts = selectors.session_counts(now=now)
        return Response(
            {
                "sessions": sessions,
                "total": len(sessions),
                "stats": {
                    "totalSessions": counts["total"],
                    "activeSessions": counts["active"],
                    "expiredSessions": counts["total"] - counts["active"],
                },
            }
        )


class SessionApi(ApiView):
    """``GET /sessions/:id`` and ``DELETE /sessions/:id`` (the channel stays)."""

    access = {"GET": OWN, "DELETE": OWN}

    @extend_schema(responses={200: SESSION})
    def get(self, request: Request, session_id: str) -> Response:
        return Response(session_data(_active_session(request, session_id), timezone.now()))

    @extend_schema(responses={200: OpenApiResponse(description="`{success, message, data}`")})
    def delete(self, request: Request, session_id: str) -> Response:
        session_uuid = _own_session_id(request, session_id)
        services.session_delete(session_id=session_uuid)
        body = {"success": True, "message": f"Session {session_uuid} deleted successfully"}
        return Response({**body, "data": dict(body)})


class SessionMessagesApi(ApiView):
    """``POST /sessions/:id/messages`` sends (``transport`` ``websocket``, ``http`` or ``sse``);
    ``GET`` lists, newest first, with ``limit``, ``before`` and ``after`` (epoch ms)."""

    access = {"POST": OWN, "GET": OWN}

    @extend_schema(
        request=SessionMessageIn,
        responses={201: OpenApiResponse(description="`MessageResponse`; `sse`: an event stream")},
    )
    def post(self, request: Request, session_id: str) -> Response:
        body = request.data
        # The reference checks the transport before anything else (a body that is no object
        # is refused by the validation next).
        transport = parse_transport(body, error=InvalidInput) if isinstance(body, dict) else ""
        data = validated(SessionMessageIn, body)
        session = _active_session(request, session_id)
        message_id = uuid.uuid4()
        # Opened before the message is stored, so the agent's answer cannot slip past.
        waiter = agent_answer_waiter(message_id=message_id) if transport != "websocket" else None
        try:
            message, session_status = services.session_message_send(
                session_id=session.id,
                content=data["content"],
                attachments=data.get("attachments"),
                metadata=data.get("metadata") or {},
                message_id=message_id,
            )
        except Exception:
            if waiter is not None:
                waiter.close()
            raise
        wire = services.message_event(message, server_id=DEFAULT_SERVER_ID).payload()
        user_message = session_user_message_data(wire, message)
        extra = {"sessionStatus": session_status_data(session_status)}
        if waiter is None:
            answer = {"success": True, "userMessage": user_message, **extra}
            return Response({**answer, "data": dict(answer)}, status=status.HTTP_201_CREATED)
        response = Response(status=status.HTTP_201_CREATED)
        # An attribute of the response, read by the exchange (api/exchange.py).
        response.agent_exchange = AgentExchange(  # type: ignore[attr-defined]
            waiter=waiter,
            transport=transport,
            user_message=user_message,
            agent_id=session.agent_id,
            extra=extra,
            mirror_in_data=True,
        )
        return response

    @extend_schema(
        parameters=[
            OpenApiParameter("limit", int, description="1-100, default 50"),
            OpenApiParameter("before", int, description="epoch ms, exclusive"),
            OpenApiParameter("after", int, description="epoch ms, exclusive"),
        ],
        responses={200: OpenApiResponse(description="`GetMessagesResponse`")},
    )
    def get(self, request: Request, session_id: str) -> Response:
        session = _active_session(request, session_id)
        query = session_messages_query(request.query_params.dict())
        messages, has_more = selectors.session_messages(channel_id=session.channel_id, **query)
        listed = [session_message_data(message) for message in messages]
        answer: dict[str, Any] = {"messages": listed, "hasMore": has_more}
        if messages:
            answer["cursors"] = {
                "before": int(messages[-1].created_at.timestamp() * 1000),
                "after": int(messages[0].created_at.timestamp() * 1000),
            }
        return Response(answer)


class SessionRenewApi(ApiView):
    """``POST /sessions/:id/renew``: renews now, up to the maximum duration."""

    access = {"POST": OWN}

    @extend_schema(request=None, responses={200: SESSION})
    def post(self, request: Request, session_id: str) -> Response:
        session = services.session_renew(session_id=_active_session(request, session_id).id)
        return Response(session_data(session, timezone.now()))


class SessionTimeoutApi(ApiView):
    """``PATCH /sessions/:id/timeout``: ``timeoutMinutes`` within the bounds, ``autoRenew``,
    ``maxDurationMinutes``, ``warningThresholdMinutes``."""

    access = {"PATCH": OWN}

    @extend_schema(request=SessionTimeoutIn, responses={200: SESSION})
    def patch(self, request: Request, session_id: str) -> Response:
        session = _active_session(request, session_id)
        timeout = validated(SessionTimeoutIn, request.data)["timeout"]
        session = services.session_timeout_update(session_id=session.id, timeout=timeout)
        return Response(session_data(session, timezone.now()))


class SessionHeartbeatApi(ApiView):
    """``POST /sessions/:id/heartbeat``: the client is still there."""

    access = {"POST": OWN}

    @extend_schema(request=None, responses={200: SESSION})
    def post(self, request: Request, session_id: str) -> Response:
        session = services.session_heartbeat(session_id=_active_session(request, session_id).id)
        return Response(session_data(session, timezone.now()))
