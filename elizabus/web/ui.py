"""The elizaOS web UI, npm ``@elizaos/client`` at a pinned version: fetched once from the npm
registry (``manage.py fetch_ui``, ``make ui``), checked against the registry's ``dist.integrity``,
and kept under ``var/ui/``; no Node is needed to serve it.

Only the package's ``dist/`` (the built app: ``index.html``, ``assets/`` and images) is kept. It
is unpacked beside its final place and moved there in one step, so a server never sees half an
install.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from django.conf import settings

from elizabus.conf import app_settings

PACKAGE = "@elizaos/client"
MAX_TARBALL_BYTES = 64 * 1024 * 1024


class UiFetchError(Exception):
    """The UI could not be fetched or did not check out; the message says why."""


def ui_root(version: str | None = None, ui_dir: Path | None = None) -> Path:
    """Where the UI of ``version`` (default: the pinned one) is kept, in ``ui_dir`` (default:
    ``UI_DIR``, else ``var/ui``)."""
    base = ui_dir or Path(app_settings.UI_DIR or Path(settings.VAR_DIR) / "ui")
    return base / f"client-{version or app_settings.UI_VERSION}"


def ui_dist() -> Path | None:
    """The installed UI's ``dist/`` folder, or None when it was never fetched."""
    dist = ui_root() / "dist"
    return dist if (dist / "index.html").is_file() else None


def _get(url: str, timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read(MAX_TARBALL_BYTES + 1)
    except OSError as exc:
        raise UiFetchError(f"{url}: {exc}") from exc
    if len(body) > MAX_TARBALL_BYTES:
        raise UiFetchError(f"{url}: larger than {MAX_TARBALL_BYTES} bytes")
    return body


def check_integrity(data: bytes, integrity: str) -> None:
    """Raises unless ``data`` matches the Subresource Integrity string ``integrity``
    (``sha512-<base64>``, as npm publishes it)."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm not in {"sha512", "sha384", "sha256"} or not expected:
        raise UiFetchError(f"unsupported integrity {integrity!r}")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise UiFetchError(f"the tarball's {algorithm} is {actual}, the registry says {expected}")


def _unpack_dist(data: bytes, into: Path) -> None:
    """Unpacks the tarball's ``package/dist/`` into ``into``, refusing what would land outside
    it (links, devices, absolute or ``..`` paths: tarfile's ``data`` filter)."""
    prefix = "package/dist/"
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        members = []
        for member in archive.getmembers():
            if not member.name.startswith(prefix) or member.name == prefix:
                continue
            member.name = member.name[len(prefix) :]
            members.append(member)
        try:
            archive.extractall(into, members=members, filter="data")
        except tarfile.FilterError as exc:
            raise UiFetchError(f"the tarball holds an unsafe entry: {exc}") from exc
    if not (into / "index.html").is_file():
        raise UiFetchError("the package has no dist/index.html")


def fetch_ui(
    version: str | None = None,
    *,
    registry: str | None = None,
    ui_dir: Path | None = None,
    timeout: float = 60,
) -> Path:
    """Fetches, checks and installs the UI of ``version`` (into ``ui_dir``, see
    :func:`ui_root`); returns its ``dist/`` folder."""
    version = version or app_settings.UI_VERSION
    registry = (registry or app_settings.UI_REGISTRY).rstrip("/")
    try:
        manifest = json.loads(_get(f"{registry}/{PACKAGE}/{version}", timeout))
        tarball_url, integrity = manifest["dist"]["tarball"], manifest["dist"]["integrity"]
    except (ValueError, KeyError, TypeError) as exc:
        raise UiFetchError(f"the registry's manifest of {PACKAGE}@{version} is unusable") from exc
    data = _get(tarball_url, timeout)
    check_integrity(data, integrity)
    root = ui_root(version, ui_dir)
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        _unpack_dist(data, staging / "dist")
        (staging / "integrity").write_text(integrity + "\n")
        if root.exists():
            shutil.rmtree(root)
        staging.rename(root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root / "dist"
