"""``project.urls`` with ``/api/messaging/channels/<id>/messages`` answered by a constant view:
the cost of the stack under the message routes, without the database or the bus.

    BENCH_FLOOR=drf      a DRF view on the project's ApiView (parsers, throttle, renderer)
    BENCH_FLOOR=django   a plain async Django view returning bytes
"""

import json
import os

from django.http import HttpResponse
from django.urls import path
from rest_framework import status
from rest_framework.response import Response

from elizabus.api.views.base import ApiView
from project.urls import urlpatterns as project_urlpatterns

_MESSAGE = {"id": "x", "content": "x" * 200, "metadata": {}, "created_at": 1}
_POSTED = {"success": True, "userMessage": _MESSAGE, "data": _MESSAGE}
_PAGE = {"success": True, "data": {"messages": [_MESSAGE] * 50}}


class FloorApi(ApiView):
    def get(self, request, channel_id):
        return Response(_PAGE)

    def post(self, request, channel_id):
        request.data  # noqa: B018 - parse the body, as the real view does
        return Response(_POSTED, status=status.HTTP_201_CREATED)


async def floor_view(request, channel_id):
    if request.method == "POST":
        json.loads(request.body)
        return HttpResponse(json.dumps(_POSTED), status=201, content_type="application/json")
    return HttpResponse(json.dumps(_PAGE), content_type="application/json")


_view = FloorApi.as_view() if os.environ.get("BENCH_FLOOR") == "drf" else floor_view
urlpatterns = [
    path("api/messaging/channels/<str:channel_id>/messages", _view),
    *project_urlpatterns,
]
