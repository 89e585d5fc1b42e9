"""Starting and stopping the servers a benchmark talks to, and reading their CPU time.

Every server is started in its own session (process group) so that ``stop`` ends exactly what
was started here and nothing else. Nothing in this module imports Django: the benchmark client
stays out of the server's process.
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
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _proc_stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def proc_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (server worker processes)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _proc_stat(int(entry))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def proc_cpu_seconds(pid: int | None, *, reaped: bool = False) -> float | None:
    """User + system CPU of process ``pid`` and its descendants (all threads), from /proc; None
    if unknown. ``reaped`` adds what their children that have exited used (a PostgreSQL
    backend that closed its connection)."""
    if pid is None:
        return None
    total, seen = 0, False
    for member in proc_tree(pid):
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
    for member in proc_tree(pid):
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
    stop_signal: int = signal.SIGTERM

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
        """Stops the process group this module started (no-op for a server given by URL)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, self.stop_signal)
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
    user: str | None = None,
    stop_signal: int = signal.SIGTERM,
) -> Server:
    """``command`` in a session of its own at the servers' niceness, logging to
    ``<workdir>/<name>.log``; not waited for (see ``wait_until_listening``)."""
    log_path = workdir / f"{name}.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            user=user,
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
        stop_signal=stop_signal,
    )


def wait_until_listening(server: Server, port: int, timeout: float = 60) -> None:
    """Waits until something accepts TCP connections on loopback ``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc is not None and server.proc.poll() is not None:
            break
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{server.name} did not come up:\n{server.log_tail()}")


def start_postgres(*, port: int | None = None, timeout: float = 60) -> Server:
    """A private PostgreSQL (the newest in /usr/lib/postgresql) on a free loopback port with an
    empty database ``elizabus``; ``url`` is its DATABASE_URL. It runs as the ``postgres`` user
    when this runs as root (PostgreSQL refuses root, and its user must own the data directory),
    with its defaults (fsync, synchronous commit) and WAL I/O timing on; stopped by a fast
    shutdown, its data removed."""
    bin_dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
    search = os.pathsep.join([*reversed(bin_dirs), os.environ.get("PATH", "")])
    initdb, postgres, psql = (
        shutil.which(tool, path=search) for tool in ("initdb", "postgres", "psql")
    )
    if not (initdb and postgres and psql):
        raise RuntimeError("PostgreSQL (initdb, postgres, psql) is not installed")
    port = port or free_port()
    workdir = Path(tempfile.mkdtemp(prefix="elizabus-bench-pg-"))
    user = "postgres" if os.geteuid() == 0 else None
    if user:
        account = pwd.getpwnam(user)
        os.chown(workdir, account.pw_uid, account.pw_gid)
    data = workdir / "data"
    try:
        subprocess.run(
            [initdb, "-D", str(data), "-U", "postgres", "--auth=trust"],
            user=user,
            check=True,
            capture_output=True,
            timeout=120,
        )
    except (OSError, subprocess.SubprocessError):
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    settings = {
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": str(workdir),
        "max_connections": "300",
        "track_wal_io_timing": "on",
    }
    command = [postgres, "-D", str(data), "-p", str(port)]
    command += [f"-c{key}={value}" for key, value in settings.items()]
    server = spawn(
        "postgres",
        command,
        url=f"postgres://postgres@127.0.0.1:{port}/elizabus",
        workdir=workdir,
        user=user,
        stop_signal=signal.SIGINT,
    )
    server.cleanup_dirs.append(workdir)
    wait_until_listening(server, port, timeout)
    create = [psql, "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-c"]
    for _ in range(50):  # it listens a moment before it accepts connections
        done = subprocess.run([*create, "CREATE DATABASE elizabus"], capture_output=True)
        if done.returncode == 0:
            return server
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"CREATE DATABASE failed: {done.stderr.decode()}")


def start_redis(*, port: int | None = None, timeout: float = 30) -> Server:
    """A private Redis on a free loopback port, no snapshots, append-only file on (as the
    compose deployment runs it); ``url`` is its REDIS_URL."""
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        raise RuntimeError("redis-server is not installed")
    port = port or free_port()
    workdir = Path(tempfile.mkdtemp(prefix="elizabus-bench-redis-"))
    command = [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "yes", "--dir", str(workdir)]
    server = spawn("redis", command, url=f"redis://127.0.0.1:{port}/0", workdir=workdir)
    server.cleanup_dirs.append(workdir)
    wait_until_listening(server, port, timeout)
    return server


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
