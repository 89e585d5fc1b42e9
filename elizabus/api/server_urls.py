"""Routes of ``/api/server/`` (the reference's runtime router) and ``/api/system/``."""

from __future__ import annotations

from django.urls import path

from .views import logs, runtime, system

server_patterns = [
    path("ping", runtime.PingApi.as_view()),
    path("hello", runtime.HelloApi.as_view()),
    path("status", runtime.StatusApi.as_view()),
    path("health", runtime.ServerHealthApi.as_view()),
    path("debug/servers", runtime.DebugServersApi.as_view()),
    path("logs", logs.ServerLogsApi.as_view()),
]

system_patterns = [
    path("version", system.VersionApi.as_view()),
    path("config", system.ConfigApi.as_view()),
    path("env/local", system.LocalEnvironmentApi.as_view()),
]
