"""Starting and stopping the servers a benchmark talks to, and reading their CPU time.

Every server is started in its own session (process group) so that ``stop`` ends exactly what
was started here and nothing else. Nothing in this module imports Django: the benchmark client
stays out of the server's process.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests/private_services.py: the same private PostgreSQL and Redis

from tests.private_services import (  # noqa: E402
    PrivatePostgres,
    PrivateRedis,
    PrivateService,
    free_port,
    process_tree,
)

VENV_BIN = ROOT / ".venv" / "bin"
BENCH_DIR = ROOT / "bench"
REFERENCE_SCRIPT = Path(
    os.environ.get("ELIZABUS_REFERENCE_SCRIPT", BENCH_DIR / "reference-server.sh")
)
API = "/api/messaging"
CLK_TCK = os.sysconf("SC_CLK_TCK")


NICE = 0  # niceness of the servers started here (negative: ahead of other load on the machine)


def set_nice(value: int) -> None:
    """Runs servers started from now on, and this process, at niceness ``value``. Negative
    values (root only) keep a shared machine's other load from skewing the figures."""
    global NICE
    NICE = value
    os.setpriority(os.PRIO_PROCESS, 0, value)


def _renice() -> None:
    os.setpriority(os.PRIO_PROCESS, 0, NICE)


def _proc_stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def proc_cpu_seconds(pid: int | None, *, reaped: bool = False) -> float | None:
    """User + system CPU of process ``pid`` and its descendants (all threads), from /proc; None
    if unknown. ``reaped`` adds what their children that have exited used (a PostgreSQL
    backend that closed its connection)."""
    if pid is None:
        return None
    total, seen = 0, False
    for member in process_tree(pid):
        if (fields := _proc_stat(member)) is not None:
            total += int(fields[11]) + int(fields[12])
            if reaped:
                total += int(fields[13]) + int(fields[14])
            seen = True
    return total / CLK_TCK if seen else None


def machine_busy() -> float | None:
    """CPU seconds the whole machine has spent busy (all cores) since boot, from /proc/stat."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def wait_for_quiet(max_other_cores: float, timeout: float) -> float | None:
    """Waits (up to ``timeout`` s) until the rest of the machine uses at most
    ``max_other_cores`` over one second; returns the last reading."""
    deadline = time.monotonic() + timeout
    reading = None
    while True:
        before, mine0 = machine_busy(), time.process_time()
        time.sleep(1)
        after, mine1 = machine_busy(), time.process_time()
        if before is None or after is None:
            return None
        reading = after - before - (mine1 - mine0)
        if reading <= max_other_cores or time.monotonic() >= deadline:
            return reading


def proc_rss_kib(pid: int | None) -> int | None:
    """Resident memory of ``pid`` and its descendants."""
    if pid is None:
        return None
    total = 0
    for member in process_tree(pid):
        try:
            with open(f"/proc/{member}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total or None


@dataclass
class Server:
    """A server under test: ``url`` is its origin (``http://127.0.0.1:PORT``)."""

    name: str
    url: str
    proc: subprocess.Popen[bytes] | None = None
    pid: int | None = None  # the process whose CPU is measured
    log_path: Path | None = None
    workdir: Path | None = None
    cleanup_dirs: list[Path] = field(default_factory=list)
    service: PrivateService | None = None  # stopped and removed by its own cleanup

    @property
    def api(self) -> str:
        return self.url + API

    def cpu_seconds(self) -> float | None:
        return proc_cpu_seconds(self.pid)

    def rss_kib(self) -> int | None:
        return proc_rss_kib(self.pid)

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Stops what this module started: its private service, or its process group (no-op
        for a server given by URL)."""
        if self.service is not None:
            self.service.cleanup()
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None
        for path in self.cleanup_dirs:
            shutil.rmtree(path, ignore_errors=True)
        self.cleanup_dirs = []


def wait_until_up(server: Server, path: str, timeout: float) -> None:
    """Polls ``path`` until the server answers anything over HTTP."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc is not None and server.proc.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with {server.proc.returncode}:\n{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(server.url + path, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # any status means the HTTP stack is up
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{server.name} did not come up within {timeout:.0f}s:\n{server.log_tail()}")


def snapshot(kind: str) -> Path:
    """A copy of the code to serve, so that concurrent edits do not change it mid-run:
    ``worktree`` copies the working tree as it is now, ``head`` exports the last commit
    (``git archive``, read-only). The caller removes the directory."""
    target = Path(tempfile.mkdtemp(prefix="elizabus-bench-src-"))
    if kind == "head":
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "HEAD"], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    else:
        shutil.copytree(
            ROOT,
            target,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns(
                ".venv", ".git", "var", "node_modules", "__pycache__", ".*_cache", "bench"
            ),
        )
    return target


@contextlib.contextmanager
def source_tree(kind: str | None, default: Path = ROOT) -> Iterator[Path]:
    """The tree to serve: ``default``, or a ``snapshot(kind)`` removed afterwards."""
    if kind is None:
        yield default
        return
    copy = snapshot(kind)
    try:
        yield copy
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def start_elizabus(
    *,
    src_dir: Path = ROOT,
    extra_env: dict[str, str] | None = None,
    daphne_args: list[str] | None = None,
    app: str = "project.asgi:application",
    asgi_server: str = "serve",
    server_args: list[str] | None = None,
    port: int | None = None,
    timeout: float = 60,
) -> Server:
    """``app`` (``project.asgi:application``) from the repository's venv, on a fresh database,
    served by ``asgi_server``: ``serve`` (``manage.py serve``, as ``make run``), or for
    comparison ``daphne``, ``uvicorn`` (its command line and defaults) or ``granian``.

    ``ELIZABUS_VAR_DIR`` is a new temporary directory (migrated first), ``DJANGO_DEBUG`` is
    unset, logging is at WARNING and no access log is written. ``extra_env`` values of ``""``
    remove a variable.
    """
    port = port or free_port()
    workdir = Path(tempfile.mkdtemp(prefix="elizabus-bench-"))
    env = {
        **os.environ,
        "ELIZABUS_VAR_DIR": str(workdir / "var"),
        "PYTHONPATH": f"{src_dir}:{BENCH_DIR}",
    }
    env.pop("DJANGO_DEBUG", None)
    env.setdefault("LOG_LEVEL", "WARNING")
    env.setdefault("ELIZABUS_LOG_LEVEL", "WARNING")
    env.setdefault("PYTHONUNBUFFERED", "1")
    # Every benchmark client connects from loopback, thousands of sockets at once.
    env.setdefault("ELIZABUS_SOCKET_MAX_CONNECTIONS_PER_CLIENT", "0")
    for key, value in (extra_env or {}).items():
        if value == "":
            env.pop(key, None)
        else:
            env[key] = value
    migrate = subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=src_dir,
        env=env,
        capture_output=True,
        text=True,
    )
    if migrate.returncode != 0:
        shutil.rmtree(workdir, ignore_errors=True)
        raise RuntimeError(f"migrate failed:\n{migrate.stdout}\n{migrate.stderr}")
    command = _server_command(
        asgi_server,
        app=app,
        port=port,
        server_args=server_args or [],
        daphne_args=daphne_args or [],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    server = spawn("elizabus", command, url=url, workdir=workdir, env=env, cwd=src_dir)
    server.cleanup_dirs.append(workdir)
    wait_until_up(server, API + "/message-server/current", timeout)
    return server


def _server_command(
    asgi_server: str,
    *,
    app: str,
    port: int,
    server_args: list[str],
    daphne_args: list[str],
    env: dict[str, str],
) -> list[str]:
    python = str(VENV_BIN / "python")
    if asgi_server == "serve":
        # The project's own server, as `make run` starts it.
        serve = [python, "manage.py", "serve", "--port", str(port), "--no-access-log"]
        return [*serve, "--app", app, *server_args]
    if asgi_server == "daphne":
        # The server elizabus ran on before `serve` (a dev dependency: channels.testing).
        daphne = [str(VENV_BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "-v", "0"]
        return [*daphne, *daphne_args, app]
    if asgi_server == "granian":
        # Not a project dependency: GRANIAN_PATH names a directory holding it
        # (pip install --target DIR granian).
        env["PYTHONPATH"] += ":" + os.environ.get("GRANIAN_PATH", "/tmp/bench-granian")
    # uvicorn's command line with its own defaults, or granian's.
    options = {"uvicorn": ["--no-access-log"], "granian": ["--interface", "asgi"]}[asgi_server]
    return [
        *(python, "-m", asgi_server, *options),
        *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
        *server_args,
        app,
    ]


def code_version(src_dir: Path = ROOT) -> str:
    """The commit served (read-only git commands), ``+dirty`` when the tree differs, and the
    copy's name when a snapshot of the tree is served."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "--no-optional-locks", "-C", str(ROOT), "status", "--porcelain", "-uno"],
            capture_output=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return (
        head
        + ("+dirty" if dirty.strip() else "")
        + ("" if src_dir == ROOT else f" (copy at {src_dir.name})")
    )


def start_reference(*, port: int | None = None, timeout: float = 900) -> Server:
    """``reference-server.sh PORT`` (npm @elizaos/server 1.7.2 on PGlite). The first start runs
    ``npm install``, which can take minutes. The script ``exec``s node, so the pid is node's."""
    port = port or free_port()
    workdir = Path(tempfile.mkdtemp(prefix="elizabus-bench-ref-"))
    env = {**os.environ, "TMPDIR": str(workdir), "LOG_LEVEL": os.environ.get("LOG_LEVEL", "warn")}
    env.pop("ELIZA_SERVER_AUTH_TOKEN", None)
    command = ["bash", str(REFERENCE_SCRIPT), str(port)]
    server = spawn("reference", command, url=f"http://127.0.0.1:{port}", workdir=workdir, env=env)
    server.cleanup_dirs.append(workdir)
    # /healthz is not rate limited from loopback; /api/* is (1000 requests / 15 min per IP).
    wait_until_up(server, "/healthz", timeout)
    return server


NULL_SERVER_CODE = r"""
import asyncio, sys
BODY = b'{"success":true,"data":{}}'
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)
async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            writer.write(RESPONSE)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]), backlog=512)
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""


def start_null_server(*, port: int | None = None, timeout: float = 15) -> Server:
    """A trivial keep-alive HTTP/1.1 server (one Python asyncio loop, fixed answer): what the
    client can reach when the server costs next to nothing."""
    port = port or free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", NULL_SERVER_CODE, str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_renice,
    )
    server = Server(name="null", url=f"http://127.0.0.1:{port}", proc=proc, pid=proc.pid)
    wait_until_up(server, "/", timeout)
    return server


def external(name: str, url: str) -> Server:
    """A server already running at ``url`` (not started, not stopped, CPU not measured)."""
    return Server(name=name, url=url.rstrip("/").removesuffix(API))


def spawn(
    name: str,
    command: list[str],
    *,
    url: str,
    workdir: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Server:
    """``command`` in a session of its own at the servers' niceness, logging to
    ``<workdir>/<name>.log``; not waited for."""
    log_path = workdir / f"{name}.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_renice,
        )
    return Server(
        name=name,
        url=url,
        proc=proc,
        pid=proc.pid,
        log_path=log_path,
        workdir=workdir,
    )


def start_postgres() -> Server:
    """A private PostgreSQL (tests/private_services.py) with an empty database ``elizabus``,
    its defaults (fsync, synchronous commit) and WAL I/O timing on; ``url`` is its
    DATABASE_URL. Stopped by a fast shutdown, its data removed."""
    return _serve(PrivatePostgres(settings={"track_wal_io_timing": "on"}, preexec_fn=_renice))


def start_redis() -> Server:
    """A private Redis, no snapshots, append-only file on (``appendfsync everysec``, as the
    compose deployment runs it); ``url`` is its REDIS_URL."""
    return _serve(PrivateRedis(aof="everysec", preexec_fn=_renice))


def _serve(service: PrivateService) -> Server:
    try:
        service.start()
    except BaseException:
        service.cleanup()
        raise
    return Server(
        name=service.name,
        url=service.url,
        proc=service.process,
        pid=service.pid,
        log_path=service.log_path,
        workdir=service.directory,
        service=service,
    )


class PySpy:
    """py-spy attached to a server for a timed phase, writing raw collapsed stacks to
    ``<out_dir>/<label>.txt`` (its own output beside it, ``.log``). Without ``out_dir`` or
    ``pid`` it records nothing."""

    def __init__(
        self, out_dir: Path | None, pid: int | None, rate: int = 250, extra: list[str] | None = None
    ) -> None:
        self.out_dir, self.pid, self.rate, self.extra = out_dir, pid, rate, list(extra or [])
        self.proc: subprocess.Popen[bytes] | None = None
        self.exe = shutil.which("py-spy") or str(VENV_BIN / "py-spy")

    def hooks(self, label: str) -> tuple[Callable[[], None] | None, Callable[[], None] | None]:
        """Start and stop callables for a phase, or (None, None) when not recording."""
        if self.out_dir is None or self.pid is None:
            return None, None
        return (lambda: self.start(label)), self.stop

    def start(self, label: str, extra: list[str] | None = None) -> None:
        if self.out_dir is None or self.pid is None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        base = self.out_dir / label
        self.proc = subprocess.Popen(
            [
                *(self.exe, "record", "-p", str(self.pid), "-r", str(self.rate)),
                *("--format", "raw", "-o", f"{base}.txt", "--nonblocking"),
                *self.extra,
                *(extra or []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(f"{base}.log", "wb"),  # noqa: SIM115 - open as long as py-spy runs
        )
        time.sleep(1.0)  # let it attach before the phase starts

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None
