"""Live servers for the tests that need a real one (the npm Socket.IO client, the browser, agent
workers): ``manage.py serve``, the server ``make run`` runs, on a free loopback port, that can be
stopped and started again."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.fake_model import FakeModel, Script
from tests.private_services import (
    PrivateService,
    ServiceUnavailable,
    free_port,
    wait_until_listening,
)

REPO = Path(__file__).resolve().parents[1]


def skip_or_fail(reason: str) -> None:
    """Skips with ``reason``; under CI (``CI`` set), where every test must run, fails instead."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}, and CI must run every test")
    pytest.skip(reason)


def need_tool(tool: str) -> str:
    """The path of the command ``tool``; skips (fails under CI) when it is not installed."""
    path = shutil.which(tool)
    if path is None:
        skip_or_fail(f"{tool} is not installed")
    return path


def npm_package(prefix: Path, spec: str) -> Path:
    """The ``node_modules`` folder of ``prefix`` holding the npm package ``spec``
    (``name@version``), installed from npm the first time and found there after."""
    npm = need_tool("npm")
    need_tool("node")
    name, _, version = spec.rpartition("@")
    manifest = prefix / "node_modules" / name / "package.json"
    # A range (``~4.8.1``) is satisfied by whatever npm chose; an exact version must match.
    exact = version[:1].isdigit()
    if not manifest.exists() or (exact and json.loads(manifest.read_text())["version"] != version):
        prefix.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                npm,
                "install",
                "--no-audit",
                "--no-fund",
                "--save-exact",
                "--prefix",
                str(prefix),
                spec,
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return prefix / "node_modules"


ELIZAOS_HOST = REPO / "hosts" / "elizaos"


def elizaos_host() -> Path:
    """``hosts/elizaos/host.mjs``, its npm packages installed from its lockfile first when they
    are missing or older than it: what ``make elizaos-host`` does, once per run (a later call
    finds them). Skips (fails under CI) without node and npm."""
    npm = need_tool("npm")
    need_tool("node")
    lockfile = ELIZAOS_HOST / "package-lock.json"
    # npm ci writes node_modules/.package-lock.json last: the Makefile's stamp too.
    stamp = ELIZAOS_HOST / "node_modules" / ".package-lock.json"
    (REPO / "var").mkdir(exist_ok=True)
    with open(REPO / "var" / "elizaos-host.lock", "w") as lock:  # one npm ci at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists() or stamp.stat().st_mtime < lockfile.stat().st_mtime:
            installed = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=ELIZAOS_HOST,
                capture_output=True,
                timeout=480,
            )
            if installed.returncode != 0:
                pytest.fail(f"npm ci in hosts/elizaos failed:\n{installed.stderr.decode()[-4000:]}")
    return ELIZAOS_HOST / "host.mjs"


class LiveServer:
    """``manage.py serve`` with the environment ``env`` on top of this process's."""

    def __init__(self, log_dir: Path, env: dict[str, str], args: tuple[str, ...] = ()) -> None:
        self.args = args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.name = f"server-{self.port}"
        self.processes = Processes(log_dir, env)
        self.log_path = self.processes.log(self.name)

    def start(self) -> None:
        serve = ("serve", "--port", str(self.port), *self.args)
        process = self.processes.start_manage(self.name, *serve)
        wait_until_listening(process, self.port, self.log_path)

    def stop(self) -> None:
        if self.name in self.processes.running:
            self.processes.stop(self.name, timeout=10)


class Processes:
    """Named child processes run from the repository with ``env``, each logging to
    ``<root>/<name>.log``; stopped (or killed) by name, every one of them at the end."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = {**os.environ, "PYTHONPATH": str(REPO), **env}
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"

    def start(self, name: str, command: list[str], **options: Any) -> subprocess.Popen[bytes]:
        env = {**self.env, **options.pop("env", {})}
        log = open(self.log(name), "ab")  # noqa: SIM115 - the child holds it; closed below
        try:
            process = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=log, stderr=log, **options
            )
        finally:
            log.close()
        self.running[name] = process
        return process

    def start_manage(self, name: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        return self.start(name, [sys.executable, "manage.py", *args], env=env)

    def manage(self, *args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env={**self.env, **env},
            capture_output=True,
            timeout=120,
        )

    def wait_for_log(self, name: str, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log(name).read_text(errors="replace"):
            if time.monotonic() > deadline or self.running[name].poll() is not None:
                raise RuntimeError(self.log(name).read_text(errors="replace"))
            time.sleep(0.1)

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        """Sends ``sig`` and waits for the end (killing after ``timeout``)."""
        process = self.running.pop(name)
        if process.poll() is None:
            process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self, name: str) -> None:
        self.stop(name, signal.SIGKILL)

    def stop_all(self) -> None:
        for name in reversed(list(self.running)):
            self.stop(name)


def serve_agents_with_model(root: Path, script: Script) -> Iterator[tuple[str, FakeModel]]:
    """``manage.py serve`` with agents in its process, on a SQLite file of its own under
    ``root``, and a streaming fake model (``script``) its agents may talk to: the server's URL
    and the model, until the generator is closed."""
    env = {
        "DATABASE_URL": "",
        "REDIS_URL": "",
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "ELIZABUS_VAR_DIR": str(root),
        "ELIZABUS_RUN_AGENTS": "1",
        "ELIZABUS_API_RATE": "",
    }
    migrated = Processes(root, env).manage("migrate", "--noinput", "-v", "0")
    assert migrated.returncode == 0, migrated.stderr
    server = LiveServer(root, env)
    with FakeModel(script) as model:
        server.start()
        try:
            yield server.url, model
        finally:
            server.stop()


S = TypeVar("S", bound=PrivateService)


def serve_private(kind: type[S], **options: Any) -> Iterator[S]:
    """A private ``kind`` server (tests/private_services.py) started for a fixture and cleaned
    up after it; skipped with the reason when its program is missing (failed under CI)."""
    try:
        service = kind(**options)
    except ServiceUnavailable as missing:
        skip_or_fail(str(missing))
        raise
    try:
        service.start()
        yield service
    finally:
        service.cleanup()
