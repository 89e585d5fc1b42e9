"""The elizaOS web UI: fetched from a registry and checked against its integrity, unpacked only
from the package's dist/, served at / with its client-side routes, its files cached by name, and
the built-in chat page at /lite/ (and at / while the UI is missing or not chosen)."""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from elizabus.web import ui
from elizabus.web.views import start_notes
from tests.live import free_port

pytestmark = pytest.mark.django_db

INDEX = b'<!doctype html><script type="module" src="/assets/main-abc123.js"></script>'


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


GOOD = {
    "package/package.json": b"{}",
    "package/src/main.tsx": b"source, not kept",
    "package/dist/index.html": INDEX,
    "package/dist/assets/main-abc123.js": b"console.log('ui')",
    "package/dist/favicon.ico": b"icon",
}


class Registry:
    """An npm registry on loopback serving one version of the UI package."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.serve(tarball(GOOD))

    def serve(self, data: bytes, integrity: str | None = None) -> None:
        self.tarball = data
        self.manifest = {
            "name": ui.PACKAGE,
            "version": "1.7.2",
            "dist": {"tarball": f"{self.url}/client.tgz", "integrity": integrity or sri(data)},
        }


@pytest.fixture
def registry() -> Iterator[Registry]:
    served = Registry()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == f"/{ui.PACKAGE}/1.7.2":
                body = json.dumps(served.manifest).encode()
            elif self.path == "/client.tgz":
                body = served.tarball
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", served.port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path: Path) -> Path:
    settings.VAR_DIR = tmp_path
    return tmp_path


@pytest.fixture
def installed(registry: Registry) -> Path:
    return ui.fetch_ui("1.7.2", registry=registry.url)


# --- fetching ------------------------------------------------------------------------------


def test_the_ui_is_fetched_checked_and_only_its_dist_kept(installed: Path) -> None:
    assert installed == ui.ui_dist()
    assert sorted(p.relative_to(installed).as_posix() for p in installed.rglob("*")) == [
        "assets",
        "assets/main-abc123.js",
        "favicon.ico",
        "index.html",
    ]


def test_a_tarball_that_does_not_match_the_registry_s_integrity_is_refused(
    registry: Registry,
) -> None:
    registry.serve(tarball(GOOD), integrity=sri(b"something else"))
    with pytest.raises(ui.UiFetchError, match="the registry says"):
        ui.fetch_ui("1.7.2", registry=registry.url)
    assert ui.ui_dist() is None


@pytest.mark.parametrize(
    "entry", ["package/dist/../../escaped.txt", "package/dist/assets/../../../escaped"]
)
def test_a_tarball_entry_that_would_land_outside_is_refused(
    registry: Registry, var_dir: Path, entry: str
) -> None:
    registry.serve(tarball({**GOOD, entry: b"hostile"}))
    with pytest.raises(ui.UiFetchError, match="unsafe"):
        ui.fetch_ui("1.7.2", registry=registry.url)
    assert ui.ui_dist() is None
    assert not list(var_dir.rglob("escaped*"))


def test_a_package_without_a_built_app_is_refused(registry: Registry) -> None:
    registry.serve(tarball({"package/package.json": b"{}"}))
    with pytest.raises(ui.UiFetchError, match=r"no dist/index\.html"):
        ui.fetch_ui("1.7.2", registry=registry.url)


def test_without_the_registry_the_command_says_how_to_fetch_the_ui_later(settings) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "UI_REGISTRY": f"http://127.0.0.1:{free_port()}"}
    with pytest.raises(CommandError, match="run `make ui` to fetch the UI"):
        call_command("fetch_ui")
    assert "The elizaOS UI is not installed: `make ui` fetches it." in start_notes()


def test_the_command_fetches_once(registry: Registry, settings) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "UI_REGISTRY": registry.url}
    out = io.StringIO()
    call_command("fetch_ui", stdout=out)
    assert "The elizaOS UI 1.7.2 is in" in out.getvalue()
    registry.serve(b"broken")  # a second fetch would fail now
    call_command("fetch_ui", "--if-missing", stdout=io.StringIO())
    assert ui.ui_dist() is not None


# --- serving -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/chat/e11a0000-0000-4000-8000-000000000001",
        "/settings/x",
        "/agents/new",
        "/create",
        "/group/new",
        "/logs",
    ],
)
def test_the_ui_answers_at_home_and_at_each_of_its_routes(installed: Path, path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 200
    assert response.content == INDEX
    assert response["Cache-Control"] == "no-cache"
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "*" not in policy


def test_the_ui_s_hashed_assets_are_cached_for_good_and_its_icons_for_an_hour(
    installed: Path,
) -> None:
    asset = Client().get("/assets/main-abc123.js")
    assert asset.status_code == 200
    assert b"".join(asset.streaming_content) == b"console.log('ui')"
    assert asset["Cache-Control"] == "public, max-age=31536000, immutable"
    assert asset["X-Content-Type-Options"] == "nosniff"
    assert Client().get("/favicon.ico")["Cache-Control"] == "public, max-age=3600"
    assert Client().get("/assets/missing.js").status_code == 404
    assert Client().get("/assets/../../etc/passwd").status_code in {400, 404}


def test_the_built_in_chat_page_is_at_lite_beside_the_ui(installed: Path) -> None:
    response = Client().get("/lite/")
    assert response.status_code == 200
    assert b"elizabus chat" in response.content


def test_a_setting_chooses_the_built_in_page_for_home(installed: Path, settings) -> None:
    settings.ELIZABUS = {**settings.ELIZABUS, "HOME_PAGE": "chat"}
    assert b"elizabus chat" in Client().get("/").content
    assert start_notes()[0] == "/ serves the built-in chat page."


def test_without_the_ui_home_is_the_built_in_page_and_the_ui_s_routes_are_not_found() -> None:
    assert b"elizabus chat" in Client().get("/").content
    assert Client().get("/chat/anything").status_code == 404
    assert Client().get("/assets/main-abc123.js").status_code == 404


def test_posting_to_a_page_is_refused(installed: Path) -> None:
    assert Client().post("/chat/x").status_code == 405
