"""Routes of the chat page, mounted at the site root by ``project/urls.py``."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "web"

urlpatterns = [path("", views.chat_page, name="chat")]
