"""Routes of the pages, mounted at the site root by ``project/urls.py``: the home page, the
built-in chat page, and the elizaOS UI's files and client-side routes."""

from __future__ import annotations

from django.urls import path, re_path

from . import views

app_name = "web"

# The UI's client-side routes (its React router's), and the files at the top of its dist/.
UI_ROUTES = r"^(?:chat|settings|agents|create|group|logs)(?:/.*)?$"
UI_FILES = r"^(?P<path>(?:assets|images)/.+|[\w-]+\.(?:ico|png|webp|svg))$"

urlpatterns = [
    path("", views.home, name="home"),
    path("lite/", views.chat_page, name="chat"),
    re_path(UI_ROUTES, views.ui_app),
    re_path(UI_FILES, views.ui_file),
]
