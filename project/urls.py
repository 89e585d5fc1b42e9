"""URL configuration: the API (every route of it listed in ``elizabus/api/urls.py``), the admin
and the pages."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    # First: the hot route is the API's first pattern.
    path("", include("elizabus.api.urls")),
    path("admin/", admin.site.urls),
    path("", include("elizabus.web.urls")),
]
