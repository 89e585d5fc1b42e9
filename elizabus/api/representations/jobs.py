"""Jobs on the wire: the reference's shapes, with no envelope, dates in epoch ms."""

from __future__ import annotations

from typing import Any

from elizabus.js import epoch_ms
from elizabus.models import (
    Job,
)


def job_data(job: Job) -> dict[str, Any]:
    """``JobDetailsResponse``; ``result`` and ``error`` only when there is one, as there."""
    data: dict[str, Any] = {
        "jobId": str(job.id),
        "status": job.status,
        "agentId": str(job.agent_id),
        "userId": str(job.user_id),
        "prompt": job.prompt,
        "createdAt": epoch_ms(job.created_at),
        "expiresAt": epoch_ms(job.expires_at),
    }
    if job.result_message is not None:
        data["result"] = {
            "message": job.result_message,
            "processingTimeMs": job.processing_time_ms,
        }
    if job.error:
        data["error"] = job.error
    data["metadata"] = job.metadata
    return data


def job_created_data(job: Job) -> dict[str, Any]:
    return {
        "jobId": str(job.id),
        "status": job.status,
        "createdAt": epoch_ms(job.created_at),
        "expiresAt": epoch_ms(job.expires_at),
    }
