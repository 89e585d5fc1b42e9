"""elizabus.ids against the reference: ``stringToUuid``, ``createUniqueUuid`` and the v1.6+
memory id, byte for byte (docs/agents.md, "Memories, once per agent and message").

The expected values were computed with the reference itself, ``@elizaos/core`` 1.7.2 under
Node 20 (``stringToUuid(s)``, ``createUniqueUuid({agentId: AGENT}, s)``, and
``createUniqueUuid(rt, `${messageId}-${agentId}`)`` as ``MessageBusService`` names memories).
"""

from __future__ import annotations

import uuid

import pytest

from elizabus.ids import create_unique_uuid, is_uuid, memory_id, string_to_uuid

AGENT = uuid.UUID("0f2c1e7a-5b3d-4c8e-9a1f-2d4b6c8e0a13")
MESSAGE = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"

STRING_TO_UUID = [
    ("hello", "aaf4c61d-dcc5-08a2-9abe-de0f3b482cd9"),
    ("", "da39a3ee-5e6b-0b0d-b255-bfef95601890"),
    ("Hello, World!", "4f267867-befe-08c6-82fc-7567c12c7004"),
    ("ünïcödé ✓", "0dc031a9-8b29-00ef-aa98-d95affda3a60"),
    # encodeURIComponent leaves these alone; quote() must as well.
    ("a-b_c.d!e~f*g'h(i)j", "cd8893e0-2e9e-0c5c-80e3-e5d319e6fb2d"),
    ("space here/slash?q=1&x", "9af96128-f08c-0e9d-bd8d-af3cfdfd9a27"),
    ("not-a-uuid-1234", "bee028db-0a4c-0b25-92b2-d8786a56a9e5"),
]


@pytest.mark.parametrize(("text", "expected"), STRING_TO_UUID)
def test_string_to_uuid_matches_the_reference(text: str, expected: str) -> None:
    assert string_to_uuid(text) == uuid.UUID(expected)


@pytest.mark.parametrize("text", [text for text, _ in STRING_TO_UUID])
def test_derived_ids_have_version_nibble_0_and_the_rfc_variant(text: str) -> None:
    derived = str(string_to_uuid(text))
    assert is_uuid(derived)
    assert derived[14] == "0"  # not a v5 UUID: the reference clears the version nibble
    assert derived[19] in "89ab"


@pytest.mark.parametrize(
    "value",
    [
        "00000000-0000-0000-0000-000000000000",
        MESSAGE,
        MESSAGE.upper(),
        str(uuid.uuid4()),
        "ffffffff-ffff-0fff-cfff-ffffffffffff",  # any version and variant: validateUuid's regex
    ],
)
def test_a_valid_uuid_is_returned_unchanged(value: str) -> None:
    assert string_to_uuid(value) == uuid.UUID(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d}", "76c6bbb5-7269-0f9c-a6a7-63379387a2c2"),
        ("a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5d", "46dc1fd3-99d5-05e4-8fea-e1004d0bd480"),
        (" a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", "0a3bb091-843d-0e3f-ae7e-a6298786ef10"),
        ("urn:uuid:a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", "16fbf1b1-92cf-08f1-af97-9fadabfa07a7"),
    ],
)
def test_other_uuid_spellings_are_hashed_like_any_text(text: str, expected: str) -> None:
    # Python's uuid.UUID() would accept each of these; the reference's regex does not.
    assert string_to_uuid(text) == uuid.UUID(expected)


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        (MESSAGE, "0fc1bed6-22be-01a0-a014-c598acaf8512"),
        ("channel-x", "84a778b8-d01f-0e99-ab09-c897b7e4f249"),
        (str(AGENT), str(AGENT)),  # the agent's own id stays its own
    ],
)
def test_create_unique_uuid_matches_the_reference(base: str, expected: str) -> None:
    assert create_unique_uuid(AGENT, base) == uuid.UUID(expected)


@pytest.mark.parametrize("message_id", [MESSAGE, uuid.UUID(MESSAGE)], ids=["str", "UUID"])
def test_memory_id_matches_the_reference(message_id: str | uuid.UUID) -> None:
    assert memory_id(AGENT, message_id) == uuid.UUID("99c3b39c-1428-02a2-8450-2c9a4047ee32")


def test_memory_ids_differ_per_agent_and_message() -> None:
    other_agent, other_message = uuid.uuid4(), str(uuid.uuid4())
    ids = {
        memory_id(AGENT, MESSAGE),
        memory_id(other_agent, MESSAGE),
        memory_id(AGENT, other_message),
    }
    assert len(ids) == 3
