"""The container's files, tested without Docker: the entrypoint runs under ``sh`` against a
temporary SQLite database, and the Dockerfile and compose file are read as text.

May import the standard library, PyYAML and pytest; the database is inspected with ``sqlite3``
because it is the subprocess's, not the test database.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from elizabus.models import CENTRAL_CHANNEL_ID, DEFAULT_SERVER_ID

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
# The command the entrypoint hands over to: it prints its arguments.
ECHO_ARGS = [sys.executable, "-c", "import sys; print('started', sys.argv[1:])", "one", "two"]


def run_entrypoint(
    var_dir: Path, *command: str, path_prefix: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Runs the entrypoint as the container would, on the embedded SQLite under ``var_dir``.

    The test's virtualenv comes first on PATH, as /opt/venv/bin does in the image; the working
    directory is elsewhere, to show that the script finds manage.py on its own.
    """
    bin_dirs = [str(path_prefix)] if path_prefix else []
    bin_dirs += [str(Path(sys.executable).parent), os.environ["PATH"]]
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_MIGRATE"}
    }
    environment.update(ELIZABUS_VAR_DIR=str(var_dir), PATH=os.pathsep.join(bin_dirs), **env)
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *command],
        cwd=var_dir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def default_rows(var_dir: Path) -> list[tuple[str, str, str]]:
    """The default server and central channel in the SQLite database under ``var_dir``."""
    database = var_dir / "elizabus.sqlite3"
    if not database.exists():
        return []
    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        if "elizabus_channel" not in tables:
            return []
        # Django stores UUIDs in SQLite as 32 hex digits.
        return connection.execute(
            "SELECT server.name, channel.type, channel.name FROM elizabus_channel AS channel"
            " JOIN elizabus_messageserver AS server ON server.id = channel.server_id"
            " WHERE channel.id = ? AND server.id = ?",
            (CENTRAL_CHANNEL_ID.hex, DEFAULT_SERVER_ID.hex),
        ).fetchall()


def test_the_entrypoint_migrates_collects_static_and_runs_the_command(tmp_path: Path) -> None:
    result = run_entrypoint(tmp_path, *ECHO_ARGS)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("started ['one', 'two']")
    assert default_rows(tmp_path) == [("Default Server", "WORLD", "Central")]
    assert (tmp_path / "static" / "admin").is_dir()


def test_migrate_zero_skips_migrating(tmp_path: Path) -> None:
    result = run_entrypoint(tmp_path, *ECHO_ARGS, DJANGO_MIGRATE="0")

    assert result.returncode == 0, result.stderr
    assert "started ['one', 'two']" in result.stdout
    assert default_rows(tmp_path) == []


def test_a_failed_migration_stops_before_the_command(tmp_path: Path) -> None:
    # Nothing listens on port 9: migrate fails, and set -e must keep the server from starting.
    result = run_entrypoint(tmp_path, *ECHO_ARGS, DATABASE_URL="postgres://nobody@127.0.0.1:9/none")

    assert result.returncode != 0
    assert "started" not in result.stdout


def test_without_a_command_it_serves_on_all_interfaces(tmp_path: Path) -> None:
    # A stand-in python on PATH records how it was called instead of running anything.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_python = bin_dir / "python"
    fake_python.write_text('#!/bin/sh\necho "python $*"\n')
    fake_python.chmod(0o755)

    result = run_entrypoint(tmp_path, path_prefix=bin_dir, DJANGO_MIGRATE="0")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == (
        f"python {ROOT}/manage.py serve --host 0.0.0.0 --port 8000"
    )


def test_the_entrypoint_is_strict_posix_sh() -> None:
    text = ENTRYPOINT.read_text()

    assert text.startswith("#!/bin/sh\n")
    assert re.search(r"^set -eu$", text, re.MULTILINE)
    assert re.search(r'^exec "\$@"$', text, re.MULTILINE)
    # dash (Debian's sh) parses it: no bashisms that would only fail at run time.
    subprocess.run(["sh", "-n", str(ENTRYPOINT)], check=True)


# --- The Dockerfile -----------------------------------------------------------------------------


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile as stages of (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction.upper(), arguments.strip()))
    return stages


def instructions(stage: list[tuple[str, str]], name: str) -> list[str]:
    return [arguments for instruction, arguments in stage if instruction == name]


def test_the_dockerfile_builds_in_a_separate_stage() -> None:
    builder, _, runtime = dockerfile_stages()

    assert " AS builder" in instructions(builder, "FROM")[0]
    assert any("--from=builder" in copy for copy in instructions(runtime, "COPY"))
    assert "-slim" in instructions(runtime, "FROM")[0]


def test_the_image_ships_the_ui_fetched_as_make_ui_fetches_it() -> None:
    _, ui, runtime = dockerfile_stages()

    assert instructions(ui, "FROM") == ["builder AS ui"]
    assert any("manage.py fetch_ui" in run for run in instructions(ui, "RUN"))
    assert "--from=ui /opt/elizabus-ui /opt/elizabus-ui" in instructions(runtime, "COPY")
    assert "ELIZABUS_UI_DIR=/opt/elizabus-ui" in " ".join(instructions(runtime, "ENV"))


def test_the_runtime_stage_runs_the_entrypoint_as_a_non_root_user() -> None:
    runtime = dockerfile_stages()[-1]

    user = instructions(runtime, "USER")[-1]
    assert user not in {"root", "0"} and not user.startswith(("root:", "0:"))
    assert instructions(runtime, "EXPOSE") == ["8000"]
    assert "docker/entrypoint.sh" in instructions(runtime, "ENTRYPOINT")[-1]
    # The user switch comes after the last step that needs root.
    names = [instruction for instruction, _ in runtime]
    assert names.index("USER") > max(i for i, name in enumerate(names) if name == "RUN")


# --- docker-compose.yml -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


SERVERS = ("server-1", "server-2")


def test_compose_runs_postgres_15_and_redis_7_with_aof_and_healthchecks(compose: dict) -> None:
    services = compose["services"]

    assert services["postgres"]["image"] == "postgres:15"
    assert services["redis"]["image"] == "redis:7"
    assert "--appendonly" in services["redis"]["command"]
    # The worker answers no request: a process that runs or has exited is all there is to see.
    assert all("healthcheck" in service for name, service in services.items() if name != "worker")
    assert services["server-1"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }


def test_compose_runs_two_servers_a_worker_and_the_tested_proxy(compose: dict) -> None:
    services = compose["services"]
    for name in SERVERS:
        environment = services[name]["environment"]
        assert environment["ELIZABUS_BUS_TRANSPORT"].endswith("RedisStreamTransport")
        assert environment["ELIZABUS_RUN_AGENTS"] == "0"
    # One migrates; the other waits for it.
    assert "DJANGO_MIGRATE" not in services["server-1"]["environment"]
    assert services["server-2"]["environment"]["DJANGO_MIGRATE"] == "0"
    assert services["worker"]["command"][-1] == "runagents"
    assert services["worker"]["environment"]["ELIZABUS_BUS_TRANSPORT"].endswith(
        "RedisStreamTransport"
    )
    # The same configuration file as tests/deploy/test_proxy.py runs.
    assert any("docker/haproxy.cfg" in volume for volume in services["haproxy"]["volumes"])


@pytest.mark.parametrize("name", SERVERS)
def test_compose_configures_the_servers_through_the_environment(compose: dict, name: str) -> None:
    environment = compose["services"][name]["environment"]

    assert {
        "DATABASE_URL",
        "REDIS_URL",
        "DJANGO_SECRET_KEY",
        "ALLOWED_HOSTS",
        "ELIZA_SERVER_AUTH_TOKEN",
    } <= environment.keys()
    assert environment["DATABASE_URL"].startswith("postgres://")
    assert "@postgres:5432/" in environment["DATABASE_URL"]
    assert environment["REDIS_URL"] == "redis://redis:6379/0"


@pytest.mark.parametrize("name", SERVERS)
def test_the_servers_healthcheck_asks_healthz(compose: dict, name: str) -> None:
    assert "/healthz" in " ".join(compose["services"][name]["healthcheck"]["test"])
