"""The chat page view: the template, its configuration, and a Content-Security-Policy.

The page carries no inline script or style, so it can be served under a strict policy: scripts,
styles and connections from this origin only (``connect-src`` names the WebSocket origins, which
``'self'`` does not cover in every browser). Configuration goes to the script through a
``json_script`` data block, which a CSP does not treat as script.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from elizabus.conf import app_settings
from elizabus.models import CENTRAL_CHANNEL_ID, DEFAULT_SERVER_ID

# How much longer than an agent's own reply timeout the page shows "thinking…" when no
# messageComplete comes: the queue before the agent and the trip back.
THINKING_GRACE_SECONDS = 15


def chat_config(request: HttpRequest) -> dict[str, Any]:
    """What ``chat.js`` needs to know about this server, and nothing secret."""
    return {
        "apiBase": "/api",
        "socketPath": "/socket.io/",
        "defaultServerId": str(DEFAULT_SERVER_ID),
        "centralChannelId": str(CENTRAL_CHANNEL_ID),
        # Only whether a key is needed, never the key: the user types it in.
        "authRequired": bool(settings.ELIZA_SERVER_AUTH_TOKEN),
        "thinkingTimeoutMs": int(
            (app_settings.AGENT_REPLY_TIMEOUT_SECONDS + THINKING_GRACE_SECONDS) * 1000
        ),
    }


def content_security_policy(request: HttpRequest) -> str:
    """A policy that allows this page's own static files, API and socket, and nothing else."""
    host = request.get_host()
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src 'self' ws://{host} wss://{host}",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


@require_safe
def chat_page(request: HttpRequest) -> HttpResponse:
    """``GET /``: the web chat."""
    response = render(request, "chat.html", {"chat_config": chat_config(request)})
    response["Content-Security-Policy"] = content_security_policy(request)
    response["Referrer-Policy"] = "same-origin"
    return response
