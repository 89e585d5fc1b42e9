"""Private PostgreSQL and Redis servers: each one process of its own on a free loopback port,
its data in a temporary directory, that can be paused, killed and restarted. The fault run
(tests/faults) breaks them and the benchmarks (bench/servers.py) measure them.

Nothing here imports Django or pytest: the benchmark client runs it outside the server's
process and outside pytest. A missing program raises ``ServiceUnavailable``.

Signals go to the server's pid and its descendants, found from /proc: PostgreSQL puts each
backend in a process group of its own, so a signal to the postmaster's group would miss them.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Self


class ServiceUnavailable(RuntimeError):
    """A program the service needs is not installed."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_listening(
    process: subprocess.Popen[bytes], port: int, log_path: Path, timeout: float = 30
) -> None:
    """Waits until something accepts TCP connections on loopback ``port``, or ``process``
    ends (then raises, with its log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the server did not start:\n{log_path.read_text(errors='replace')}")


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, parents first."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop(0)
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie nobody reaped has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _program(name: str, *directories: str) -> str:
    """``name`` from ``directories`` first, then from PATH."""
    path = shutil.which(name, path=os.pathsep.join([*directories, os.environ.get("PATH", "")]))
    if path is None:
        raise ServiceUnavailable(f"{name} is not installed")
    return path


class PrivateService:
    """One server process: ``start`` it, then ``pause``/``resume``, ``kill``, ``stop`` or
    ``restart`` it on the same port and data; ``cleanup`` ends it and removes its data.

    Its log is ``<log_dir>/<name>.log`` (``log_dir`` defaults to its data directory).
    ``preexec_fn`` runs in the child before the program (the benchmarks' niceness)."""

    name: ClassVar[str]
    stop_signal: ClassVar[int] = signal.SIGTERM
    user: str | None = None

    def __init__(
        self,
        *,
        log_dir: Path | None = None,
        port: int | None = None,
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.directory = Path(tempfile.mkdtemp(prefix=f"elizabus-{self.name}-"))
        self.log_path = (log_dir or self.directory) / f"{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._preexec_fn = preexec_fn

    @property
    def url(self) -> str:
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 60) -> None:
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError(f"{self.name} is already running")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                user=self.user,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=self._preexec_fn,
            )
        wait_until_listening(self.process, self.port, self.log_path, timeout)

    def _signal(self, sig: int, *, children: bool = True) -> list[int]:
        """``sig`` to the server, then (``children``) to its descendants: those it had before
        (a server killed leaves them to init, out of its tree) and those it has by then (a
        stopped one forks no more). Returns the pids signalled."""
        if self.process is None or self.process.poll() is not None:
            return []
        root = self.process.pid
        before = process_tree(root)[1:] if children else []
        os.kill(root, sig)
        after = process_tree(root)[1:] if children else []
        descendants = list(dict.fromkeys([*before, *after]))
        for pid in descendants:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        return [root, *descendants]

    def pause(self) -> None:
        """Unreachable: it keeps its connections open and answers nothing until ``resume``."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def stop(self, timeout: float = 30) -> None:
        """Its own shutdown (``stop_signal``), killed after ``timeout`` s; a no-op if stopped."""
        if self.process is None:
            return
        self._signal(self.stop_signal, children=False)  # the server stops its children
        self.resume()  # a paused server would never see the signal
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self.process = None

    def kill(self) -> None:
        """SIGKILL, it and its children: a crash, nothing written on the way out."""
        if self.process is None:
            return
        killed = self._signal(signal.SIGKILL)
        self.process.wait(10)
        self.process = None
        # A SIGKILL is delivered, not done, when kill() returns: wait for the children too.
        deadline = time.monotonic() + 10
        while any(map(process_alive, killed)) and time.monotonic() < deadline:
            time.sleep(0.02)

    def restart(self, timeout: float = 60) -> None:
        self.stop()
        self.start(timeout)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()


class PrivatePostgres(PrivateService):
    """The newest PostgreSQL in /usr/lib/postgresql (else on PATH), its defaults (fsync,
    synchronous commit) with ``settings`` on top, and an empty database ``elizabus``: ``url``
    is its DATABASE_URL. It runs as the ``postgres`` user when this runs as root (PostgreSQL
    refuses root, and its user must own the data directory). ``stop`` is a fast shutdown:
    every connection dropped, every commit kept."""

    name = "postgres"
    stop_signal = signal.SIGINT

    def __init__(self, *, settings: dict[str, str] | None = None, **options: Any) -> None:
        versions = glob.glob("/usr/lib/postgresql/*/bin")
        newest_first = sorted(versions, key=lambda path: int(path.split("/")[-2]), reverse=True)
        self.initdb, self.postgres, self.psql = (
            _program(tool, *newest_first) for tool in ("initdb", "postgres", "psql")
        )
        super().__init__(**options)
        self.data = self.directory / "data"
        self.settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.directory),
            "max_connections": "300",
            **(settings or {}),
        }
        if os.geteuid() == 0:
            self.user = "postgres"
            account = pwd.getpwnam(self.user)
            os.chown(self.directory, account.pw_uid, account.pw_gid)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/elizabus"

    def command(self) -> list[str]:
        command = [self.postgres, "-D", str(self.data), "-p", str(self.port)]
        return command + [f"-c{key}={value}" for key, value in self.settings.items()]

    def start(self, timeout: float = 60) -> None:
        first = not (self.data / "PG_VERSION").exists()
        if first:
            subprocess.run(
                [self.initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust"],
                user=self.user,
                check=True,
                capture_output=True,
                timeout=120,
            )
        super().start(timeout)
        # Waits for connections too: it listens before it accepts them (and before it has
        # recovered from a crash).
        self._psql("CREATE DATABASE elizabus" if first else "SELECT 1", database="postgres")

    def _psql(self, sql: str, database: str = "elizabus", timeout: float = 30) -> str:
        """Runs ``sql`` with psql and returns its output, retrying while it cannot connect."""
        command = [self.psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        command += ["-d", database, "-Atc", sql]
        deadline = time.monotonic() + timeout
        while True:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
            if done.returncode == 0:
                return done.stdout
            # psql exits with 2 when it could not connect (or the server is starting up).
            if done.returncode != 2 or time.monotonic() > deadline:
                raise RuntimeError(f"psql {sql!r} failed: {done.stderr}")
            time.sleep(0.2)


class PrivateRedis(PrivateService):
    """redis-server without snapshots; with ``aof`` (``"always"`` or ``"everysec"``, its
    ``appendfsync``) it keeps an append-only file, so that a restart keeps its data, as the
    compose deployment runs it. ``url`` is its REDIS_URL (database 0)."""

    name = "redis"

    def __init__(self, *, aof: str | None = None, **options: Any) -> None:
        self.redis_server = _program("redis-server")
        super().__init__(**options)
        self.aof = aof

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        command = [self.redis_server, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--dir", str(self.directory)]
        if self.aof is None:
            return [*command, "--appendonly", "no"]
        return [*command, "--appendonly", "yes", "--appendfsync", self.aof]
