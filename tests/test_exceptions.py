"""The catalogue of errors: one class per code, and docs/errors.md its table."""

from __future__ import annotations

import re
from pathlib import Path

from elizabus.exceptions import AgentNotFound, DomainError, catalogue

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs" / "errors.md"


def table() -> str:
    """The catalogue as docs/errors.md lists it."""
    lines = ["| code | status | default message | raised when |", "|---|---:|---|---|"]
    for error in catalogue():
        when = " ".join((error.__dict__.get("__doc__") or "").split())
        lines.append(f"| `{error.code}` | {error.status} | {error.default_message} | {when} |")
    return "\n".join(lines)


def test_each_code_has_one_class() -> None:
    codes = [error.code for error in catalogue()]

    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"[A-Z][A-Z_]+", code) for code in codes)


def test_an_error_says_its_default_unless_told_otherwise() -> None:
    assert AgentNotFound().message == "Agent not found"
    assert AgentNotFound("Agent with ID 'x' not found").message == "Agent with ID 'x' not found"
    assert (AgentNotFound.status, AgentNotFound.code) == (404, "AGENT_NOT_FOUND")


def test_the_docs_list_the_catalogue() -> None:
    expected = table()

    assert expected in DOCS.read_text(), f"docs/errors.md should hold this table:\n{expected}"


def test_no_code_is_spelled_at_a_raise_site() -> None:
    """A code lives in its class only: none is passed as a string where an error is raised."""
    spelled = [
        f"{path.relative_to(REPO)}:{number}"
        for path in (REPO / "elizabus").rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bcode=\"[A-Z_]+\"", line)
    ]

    assert spelled == []
    assert issubclass(AgentNotFound, DomainError)
