"""An agent's runs (``/api/agents/:agentId/runs``, ``…/runs/:runId``): one per message it
handled, as the reference's run summaries and details (``RunSummary``, ``RunDetail`` of the
SDK). The reference assembles them from its runtime's event logs; elizabus keeps one row per
run (``AgentRun``), written with the outcome."""

from __future__ import annotations

import datetime as dt

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from elizabus import selectors
from elizabus.api.envelope import ok, validated
from elizabus.api.fields import parse_uuid
from elizabus.api.representations.runs import RUN_STATUS, run_detail, run_summary
from elizabus.api.serializers.runs import RunGetQuery, RunListQuery
from elizabus.api.views.base import AGENT, ApiView, agent_or_404
from elizabus.exceptions import RunNotFound

RUN_QUERY = [
    OpenApiParameter("roomId", str, description="only this channel's"),
    OpenApiParameter("status", str, description="started, completed, timeout, error or all"),
    OpenApiParameter("outcome", str, description="replied, skipped or failed"),
    OpenApiParameter("limit", int, description="1-100, default 20"),
    OpenApiParameter("from", int, description="started at or after, epoch ms"),
    OpenApiParameter("to", int, description="started at or before, epoch ms"),
]


def _moment(epoch_ms: int | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(epoch_ms / 1000, dt.UTC) if epoch_ms is not None else None


class AgentRunsApi(ApiView):
    """``GET /api/agents/:agentId/runs``: newest first, ``{runs, total, hasMore}``."""

    access = {"GET": AGENT}

    @extend_schema(
        parameters=RUN_QUERY,
        responses={200: OpenApiResponse(description="`{success, data: {runs, total, hasMore}}`")},
    )
    def get(self, request: Request, agent_id: str) -> Response:
        agent = agent_or_404(agent_id)
        query = validated(RunListQuery, request.query_params.dict())
        # A status stands for the outcomes shown as it; ``started`` and ``timeout`` for none.
        outcomes = [
            outcome
            for outcome, status in RUN_STATUS.items()
            if query["status"] in ("all", status) and query.get("outcome", outcome) == outcome
        ]
        runs = selectors.agent_run_list(
            agent_id=agent.entity_id,
            channel_id=query.get("roomId"),
            outcomes=outcomes,
            started_from=_moment(query.get("from")),
            started_to=_moment(query.get("to")),
        )
        limit = query["limit"]
        page = list(runs[: limit + 1])
        total = len(page) if len(page) <= limit else runs.count()
        return ok(
            {
                "runs": [run_summary(run) for run in page[:limit]],
                "total": total,
                "hasMore": len(page) > limit,
            }
        )


class AgentRunApi(ApiView):
    """``GET /api/agents/:agentId/runs/:runId[?roomId]``: ``{summary, events}``."""

    access = {"GET": AGENT}

    @extend_schema(
        parameters=[OpenApiParameter("roomId", str, description="the run's channel")],
        responses={200: OpenApiResponse(description="`{success, data: {summary, events}}`")},
    )
    def get(self, request: Request, agent_id: str, run_id: str) -> Response:
        run_uuid = parse_uuid(run_id, "runId")
        agent = agent_or_404(agent_id)
        query = validated(RunGetQuery, request.query_params.dict())
        run = selectors.agent_run_get(agent_id=agent.entity_id, run_id=run_uuid)
        if run is None or query.get("roomId") not in (None, run.channel_id):
            raise RunNotFound()
        return ok(run_detail(run))
