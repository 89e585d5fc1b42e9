"""The app's own settings: ``settings.ELIZABUS`` over the defaults below, read in one place.

Usage: ``from elizabus.conf import app_settings; app_settings.MAX_CONTENT_BYTES``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

DEFAULTS: dict[str, Any] = {
    # Requests per client address to /api (DRF's rate format; empty: no limit).
    "API_RATE": "3000/min",
    # The proxies whose X-Forwarded-For names the client (addresses, networks, "*"); manage.py
    # serve --forwarded-allow-ips defaults to them (docs/security.md, "Client addresses").
    "FORWARDED_ALLOW_IPS": [],
    # Size limits (docs/errors.md, "Limits").
    "MAX_CONTENT_BYTES": 64 * 1024,
    "MAX_METADATA_BYTES": 16 * 1024,
    "MAX_CHARACTER_BYTES": 256 * 1024,
    "MAX_SOCKET_FRAME_BYTES": 1024 * 1024,
    # A request body must keep arriving: each part within this many seconds (0: no limit).
    "BODY_READ_TIMEOUT_SECONDS": 30.0,
    # The bus: how events travel between processes (a dotted path, like SESSION_ENGINE).
    "BUS_TRANSPORT": "elizabus.bus.transports.database.DatabaseTransport",
    # The Redis transport's stream.
    "BUS_STREAM": "elizabus:bus",
    # A group's member holds it for this long unless it renews (a third of it); a new member
    # claims the pending entries that have been idle this long (docs/bus.md).
    "BUS_LEASE_SECONDS": 5.0,
    # An event not sent this long after its commit is sent by a relay.
    "BUS_RELAY_GRACE_SECONDS": 5.0,
    # Sent events are kept this long in the outbox (manage.py bus_prune).
    "BUS_OUTBOX_RETENTION_HOURS": 24 * 7,
    # A group entry whose receivers failed this often is logged and acknowledged.
    "BUS_MAX_ATTEMPTS": 5,
    # Fault injection only: a process exits right after committing a message containing this.
    "BUS_FAULT_EXIT_AFTER_COMMIT": "",
    # Agents.
    "RUN_AGENTS_IN_PROCESS": True,
    "AGENT_HOP_LIMIT": 3,
    "AGENT_REPLY_TIMEOUT_SECONDS": 30.0,
    "DEFAULT_RESPONDER": "elizabus.agents.responders.eliza.ElizaResponder",
    # Responders an agent may name besides the built-in ones (dotted paths; docs/security.md).
    "RESPONDERS": [],
    # Agents hosted outside (docs/agents.md, "The agent wire"): a delivery not acknowledged
    # (nor extended) this long goes to another attached instance; with no instance attached a
    # delivery waits this long for one before it is left to the bus.
    "AGENT_DELIVERY_LEASE_SECONDS": 30.0,
    "AGENT_ATTACH_GRACE_SECONDS": 10.0,
    # The page at /: "ui", the elizaOS web UI when it was fetched (make ui; else the built-in
    # chat page), or "chat", the built-in chat page. The UI is npm @elizaos/client, pinned.
    "HOME_PAGE": "ui",
    "UI_VERSION": "1.7.2",
    "UI_REGISTRY": "https://registry.npmjs.org",
    # Where fetched UIs are kept; empty: var/ui.
    "UI_DIR": "",
    # Sessions (docs/compatibility.md, "Sessions and jobs"): timeouts in minutes, the
    # reference's defaults and bounds. A request's timeoutConfig comes first, then the agent's
    # settings, then these.
    "SESSION_DEFAULT_TIMEOUT_MINUTES": 30,
    "SESSION_MIN_TIMEOUT_MINUTES": 5,
    "SESSION_MAX_TIMEOUT_MINUTES": 1440,
    "SESSION_MAX_DURATION_MINUTES": 720,
    "SESSION_WARNING_THRESHOLD_MINUTES": 5,
    "SESSION_MAX_CONTENT_CHARS": 4000,
    "SESSION_MAX_METADATA_BYTES": 10 * 1024,
    # Jobs: kept this long after creation, whatever their status (manage.py jobs_prune); the
    # reference keeps at most 10,000 in memory instead.
    "JOB_RETENTION_HOURS": 24,
    "JOB_MAX_CONTENT_CHARS": 50_000,
    "JOB_MAX_METADATA_BYTES": 10_000,
    # Real time.
    "SOCKET_PING_INTERVAL_MS": 25000,
    "SOCKET_PING_TIMEOUT_MS": 20000,
    "SOCKET_MAX_EVENTS_PER_SECOND": 50,
    "SOCKET_MAX_CONNECTIONS_PER_ENTITY": 20,
    # Sockets per client address, whatever entities they declare (0: no limit).
    "SOCKET_MAX_CONNECTIONS_PER_CLIENT": 1000,
    "SOCKET_ALLOWED_ORIGINS": [],
    "SOCKET_RESUME_LIMIT": 500,
    # Messages whose wire form the API keeps for pages (api/pages.py); 0: none.
    "MESSAGE_WIRE_CACHE_SIZE": 5000,
    # subscribe_logs: sockets may stream this process's log (as the reference's may).
    "SOCKET_LOG_STREAM": True,
    # How many recent log entries each process keeps for GET /api/server/logs; 0: none.
    "LOG_RING_SIZE": 1000,
    # Identity (docs/security.md). ENABLE_DATA_ISOLATION: every request acts as the entity of
    # its token, and /api/auth/ answers.
    "DATA_ISOLATION": False,
    # The keys that sign the server's own access tokens (HS256): the first signs, every one
    # verifies, so a key is rotated by putting the new one first. Empty: a key derived from
    # SECRET_KEY.
    "JWT_SIGNING_KEYS": [],
    "JWT_ISSUER": "eliza-server",
    "ACCESS_TOKEN_SECONDS": 15 * 60,
    "REFRESH_TOKEN_SECONDS": 30 * 24 * 3600,
    # Tokens platforms issue (docs/security.md, "Platforms' tokens"): HMAC secrets shared with
    # them, the URL of their JWKS (RS256, ES256, ...), Ed25519 public keys (PEM); accepted
    # issuers (empty or "*": any) and audiences (empty: not checked).
    "JWT_SHARED_SECRETS": [],
    "JWT_JWKS_URI": "",
    "JWT_JWKS_CACHE_SECONDS": 300.0,
    "JWT_ED25519_PUBLIC_KEYS": [],
    "JWT_ISSUER_WHITELIST": [],
    "JWT_AUDIENCE": [],
    # Log-in attempts per client address (register, login, refresh, password change).
    "AUTH_RATE": "30/min",
    # Sessions, jobs and channels made, together, per client address (empty: no limit).
    "CREATE_RATE": "600/hour",
    # Requests refused for a missing or wrong API key, per client address (empty: no limit).
    "UNAUTHORIZED_RATE": "60/min",
}


class AppSettings:
    """Attribute access to ``settings.ELIZABUS`` with :data:`DEFAULTS` as fallback."""

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown elizabus setting {name!r}")
        user = getattr(settings, "ELIZABUS", {}) or {}
        value = user.get(name, DEFAULTS[name])
        self.__dict__[name] = value
        return value

    def reload(self) -> None:
        self.__dict__.clear()


app_settings = AppSettings()


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == "ELIZABUS":
        app_settings.reload()


setting_changed.connect(_reload, dispatch_uid="elizabus.conf.reload")
