"""The hot routes' DRF views, run in batches (:mod:`elizabus.db.batches`).

A message post and a page read are most of what a busy server answers. Run as Django runs a sync
view, each is a trip of its own to the shared sync thread and, for a post, a SQLite transaction
of its own. :func:`batched` wraps the same view, unchanged (its parsing, throttle, errors and
OpenAPI description are DRF's, as on every other route), in an async view that hands it to the
batches: concurrent posts take one trip and, on SQLite, one commit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from rest_framework.permissions import SAFE_METHODS

from elizabus.api.errors import error_response
from elizabus.db import batches
from elizabus.exceptions import ServiceUnavailable

View = Callable[..., HttpResponseBase]


def batched(view: View) -> Callable[..., Any]:
    """An async view that runs ``view`` (a DRF ``as_view()``) in the batches. A write whose
    answer is an error stores nothing, whatever the view did before it failed."""

    @functools.wraps(view)
    async def run_batched(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        write = request.method not in SAFE_METHODS

        def answer() -> HttpResponseBase:
            response = view(request, *args, **kwargs)
            if write and response.status_code >= 400:
                transaction.set_rollback(True)
            return response

        try:
            return await batches.run(answer, write=write, undo=_give_up_exchange)
        except ServiceUnavailable as exc:
            return error_response(exc)

    return run_batched


def _give_up_exchange(response: HttpResponseBase) -> None:
    """A post whose commit failed: nobody waits for the answer to a message never stored."""
    exchange = getattr(response, "agent_exchange", None)
    if exchange is not None:
        exchange.waiter.close()
