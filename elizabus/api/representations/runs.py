"""An agent's runs on the wire, as the reference's run summaries."""

from __future__ import annotations

from typing import Any

from elizabus.js import epoch_ms
from elizabus.models import (
    AgentRun,
    RunOutcome,
    RunSkip,
)

# An outcome in the reference's run statuses: a message handled without failing "completed".
RUN_STATUS: dict[str, str] = {
    RunOutcome.REPLIED: "completed",
    RunOutcome.SKIPPED: "completed",
    RunOutcome.FAILED: "error",
}


def run_summary(run: AgentRun) -> dict[str, Any]:
    """A run as the reference's ``RunSummary``; ``metadata`` says what came of it."""
    asked = run.skip_reason != RunSkip.HOP_LIMIT
    failed = run.outcome == RunOutcome.FAILED
    metadata: dict[str, Any] = {
        "outcome": run.outcome,
        "messageServerId": str(run.server_id),
        "source": run.source_type,
    }
    if run.skip_reason:
        metadata["skipReason"] = run.skip_reason
    if run.reply_id is not None:
        metadata["replyId"] = str(run.reply_id)
    if run.error:
        metadata["error"] = run.error
    return {
        "runId": str(run.id),
        "status": RUN_STATUS[run.outcome],
        "startedAt": epoch_ms(run.started_at),
        "endedAt": epoch_ms(run.ended_at),
        "durationMs": run.duration_ms,
        "messageId": str(run.message_id),
        "roomId": str(run.channel_id),
        "entityId": str(run.author_id),
        # A responder's answer is the model call of an elizaOS run.
        "counts": {
            "actions": 0,
            "modelCalls": 1 if asked else 0,
            "errors": 1 if failed else 0,
            "evaluators": 0,
        },
        "metadata": metadata,
    }


def run_detail(run: AgentRun) -> dict[str, Any]:
    """A run as the reference's ``RunDetail``: its summary and its start and end events."""
    summary = run_summary(run)
    events = [
        {
            "type": "RUN_STARTED",
            "timestamp": summary["startedAt"],
            "data": {"source": run.source_type, "messageId": summary["messageId"]},
        },
        {
            "type": "RUN_ENDED",
            "timestamp": summary["endedAt"],
            "data": {
                "status": summary["status"],
                "error": run.error or None,
                "durationMs": run.duration_ms,
            },
        },
    ]
    return {"summary": summary, "events": events}
