"""The pages: ``/`` (the elizaOS web UI, or the built-in chat page), the UI's client-side
routes and files, and the built-in chat page at ``/lite/``.

The built-in chat page: the template, its configuration, and a Content-Security-Policy.

The page carries no inline script or style, so it can be served under a strict policy: scripts,
styles and connections from this origin only (``connect-src`` names the WebSocket origins, which
``'self'`` does not cover in every browser). Configuration goes to the script through a
``json_script`` data block, which a CSP does not treat as script.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_safe
from django.views.static import serve

from elizabus.conf import app_settings
from elizabus.models import CENTRAL_CHANNEL_ID, DEFAULT_SERVER_ID

from . import ui

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
    """``GET /lite/`` (and ``/`` without the UI): the built-in web chat."""
    response = render(request, "chat.html", {"chat_config": chat_config(request)})
    response["Content-Security-Policy"] = content_security_policy(request)
    response["Referrer-Policy"] = "same-origin"
    return response


# The UI's files under assets/ carry a hash of their content in their names: cached for good.
IMMUTABLE = "public, max-age=31536000, immutable"


def ui_content_security_policy(request: HttpRequest) -> str:
    """What the elizaOS UI needs, and nothing more: its own scripts, which compile code at run
    time (its logger's redaction, fast-redact, builds functions with ``new Function``: without
    ``'unsafe-eval'`` the app stops at start with "Invalid path"), the inline styles React
    sets, images and media from itself and from data or blob URLs, its API and socket, and
    GitHub."""
    host = request.get_host()
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' 'unsafe-eval'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "media-src 'self' blob:",
            "worker-src 'self' blob:",
            # The UI asks GitHub for elizaOS's latest release (to offer an update) and for the
            # plugin registry (its plugins list).
            f"connect-src 'self' ws://{host} wss://{host} https://api.github.com "
            "https://raw.githubusercontent.com",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _ui_dist() -> Path:
    dist = ui.ui_dist()
    if dist is None:
        raise Http404("The elizaOS UI is not installed here (make ui).")
    return dist


@require_safe
def ui_app(request: HttpRequest) -> HttpResponse:
    """The UI's ``index.html``, for ``/`` and each of its client-side routes (``/chat/...``,
    ``/settings/...``, ``/agents/new``, ...): the app reads the path and shows the page."""
    response = HttpResponse((_ui_dist() / "index.html").read_bytes(), content_type="text/html")
    response["Content-Security-Policy"] = ui_content_security_policy(request)
    response["Referrer-Policy"] = "same-origin"
    response["Cache-Control"] = "no-cache"  # names the assets of the UI installed now
    return response


@require_safe
def ui_file(request: HttpRequest, path: str) -> HttpResponseBase:
    """One of the UI's files (``assets/...``, icons, images)."""
    response = serve(request, path, document_root=str(_ui_dist()))
    response["Cache-Control"] = IMMUTABLE if path.startswith("assets/") else "public, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """``GET /``: the elizaOS UI when it is installed and chosen (``ELIZABUS_HOME_PAGE``), the
    built-in chat page otherwise."""
    if app_settings.HOME_PAGE == "ui" and ui.ui_dist() is not None:
        return ui_app(request)
    return chat_page(request)


def start_notes() -> list[str]:
    """What ``manage.py serve`` says at start about the pages: which one ``/`` serves, and what
    is missing for them to work."""
    notes = []
    dist = ui.ui_dist()
    if app_settings.HOME_PAGE == "ui" and dist is not None:
        version = app_settings.UI_VERSION
        notes.append(f"/ serves the elizaOS UI {version}; the built-in chat page is at /lite/.")
    else:
        notes.append("/ serves the built-in chat page.")
        if dist is None:
            notes.append("The elizaOS UI is not installed: `make ui` fetches it.")
    if not (Path(settings.STATIC_ROOT) / "elizabus" / "chat.js").is_file():
        notes.append(
            "Static files are not collected: the built-in chat page and the admin have no "
            "scripts or styles until `manage.py collectstatic` runs (`make run` runs it)."
        )
    return notes
