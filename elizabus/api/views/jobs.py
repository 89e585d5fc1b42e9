"""The jobs router: ``/jobs...``, one-off questions to an agent, polled (docs/compatibility.md,
"Sessions and jobs").

Answers carry no ``{success, data}`` envelope, as the reference's. A job is read from the
database by any process; whichever process committed the agent's answer completed it
(:mod:`elizabus.job_receivers`). Reads first record the timeouts that are due.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from elizabus import access, selectors, services
from elizabus.api.envelope import validated
from elizabus.api.fields import parse_uuid
from elizabus.api.representations.jobs import job_created_data, job_data
from elizabus.api.serializers.jobs import JobCreateIn, job_list_query
from elizabus.api.throttling import MAKES
from elizabus.api.views.base import OWN, PUBLIC, ApiView, actor_of, with_actor_default
from elizabus.conf import app_settings
from elizabus.exceptions import JobNotFound
from elizabus.js import epoch_ms
from elizabus.models import JobStatus
from elizabus.services.jobs import DEFAULT_TIMEOUT_MS

JOB = OpenApiResponse(description="`JobDetailsResponse`")


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 2) if whole else 0


class JobsApi(ApiView):
    """``POST /jobs`` asks; ``GET /jobs?limit&status`` lists the newest."""

    throttle_classes = MAKES

    access = {"POST": OWN, "GET": OWN}

    @extend_schema(
        request=JobCreateIn, responses={201: OpenApiResponse(description="`CreateJobResponse`")}
    )
    def post(self, request: Request) -> Response:
        data = validated(JobCreateIn, with_actor_default(request, request.data, "userId"))
        access.act_as(actor_of(request), data["userId"])
        job = services.job_create(
            user_id=data["userId"],
            content=data["content"],
            agent_id=data.get("agentId"),
            metadata=data.get("metadata") or {},
            timeout_ms=data.get("timeoutMs", DEFAULT_TIMEOUT_MS),
        )
        return Response(job_created_data(job), status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[
            OpenApiParameter("limit", int, description="default 50, at most 500"),
            OpenApiParameter("status", str, enum=JobStatus.values),
        ],
        responses={200: OpenApiResponse(description="`JobListResponse`")},
    )
    def get(self, request: Request) -> Response:
        query = job_list_query(request.query_params.dict())
        services.jobs_time_out_overdue()
        user_id = actor_of(request).entity_id
        jobs = [job_data(job) for job in selectors.job_list(**query, user_id=user_id)]
        if user_id is None:
            total = sum(selectors.job_status_counts().values())
        else:
            total = selectors.job_list(limit=2**31, user_id=user_id).count()
        return Response({"jobs": jobs, "total": total, "filtered": len(jobs)})


class JobsHealthApi(ApiView):
    """``GET /jobs/health``: counts by status and rates, over the jobs kept."""

    access = {"GET": PUBLIC}

    @extend_schema(responses={200: OpenApiResponse(description="`JobHealthResponse`")})
    def get(self, request: Request) -> Response:
        services.jobs_time_out_overdue()
        counts = selectors.job_status_counts()
        settled = counts["completed"] + counts["failed"] + counts["timeout"]
        return Response(
            {
                "healthy": True,
                "timestamp": epoch_ms(timezone.now()),
                "totalJobs": sum(counts.values()),
                "statusCounts": counts,
                "metrics": {
                    "averageProcessingTimeMs": round(selectors.job_average_processing_ms()),
                    "successRate": _rate(counts["completed"], settled),
                    "failureRate": _rate(counts["failed"], settled),
                    "timeoutRate": _rate(counts["timeout"], settled),
                },
                # No cap on the count: jobs are kept by age instead.
                "maxJobs": None,
                "retentionHours": app_settings.JOB_RETENTION_HOURS,
            }
        )


class JobApi(ApiView):
    """``GET /jobs/:id``."""

    access = {"GET": OWN}

    @extend_schema(responses={200: JOB})
    def get(self, request: Request, job_id: str) -> Response:
        job_uuid = parse_uuid(job_id, "jobId")
        access.require_job_owner(actor_of(request), job_uuid)
        services.jobs_time_out_overdue()
        job = selectors.job_get(job_uuid)
        if job is None:
            raise JobNotFound()
        return Response(job_data(job))
