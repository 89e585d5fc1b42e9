"""Live servers for the tests that need a real one (the npm Socket.IO client, the browser, agent
workers): ``manage.py serve``, the server ``make run`` runs, on a free loopback port, that can be
stopped and started again."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_listening(
    process: subprocess.Popen[bytes], port: int, log_path: Path, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the server did not start:\n{log_path.read_text(errors='replace')}")


class LiveServer:
    """``manage.py serve`` with the environment ``env`` on top of this process's."""

    def __init__(self, log_dir: Path, env: dict[str, str], args: tuple[str, ...] = ()) -> None:
        self.args = args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"server-{self.port}.log"
        self.env = {**os.environ, "PYTHONPATH": str(REPO), **env}
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "manage.py", "serve", "--port", str(self.port), *self.args]
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                command,
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=log,
            )
        wait_until_listening(self._process, self.port, self.log_path)

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None
