"""Each channel package declares where its raw bodies carry personal data; privacy asks it through the registry
and scrubs a body of that channel of every declared key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.channels import CHANNEL_NAMES, PersonalData, channel_of
from shared.handlers.privacy import KIND_KEYS, MARKER, personal_data, redact_body

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def bodies(channel: str) -> list[Path]:
    return sorted((FIXTURES / channel).glob("*.json"))


def personal_strings(value: Any, personal: PersonalData, inside: bool = False, kind: str = "") -> Iterator[str]:
    """The strings a redaction must remove: under a declared key or object, except what names no one."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in personal.keys:
                yield from personal_strings(item, personal, True, personal.keys[key])
            elif key in personal.objects:
                yield from personal_strings(item, personal, True, kind or personal.objects[key])
            elif inside and (key in personal.keep_inside or (kind == "attributes" and key in personal.labels)):
                continue
            else:
                yield from personal_strings(item, personal, inside, kind)
    elif isinstance(value, list):
        for item in value:
            yield from personal_strings(item, personal, inside, kind)
    elif inside and isinstance(value, str) and value:
        yield value


@pytest.mark.parametrize("name", CHANNEL_NAMES)
def test_each_channel_declares_where_its_bodies_carry_personal_data(name: str) -> None:
    personal = channel_of(name).PERSONAL_DATA
    assert isinstance(personal, PersonalData)
    assert personal.objects and personal.keys, name
    kinds = {kind for kind in (*personal.objects.values(), *personal.keys.values()) if kind}
    assert {f"word.kind_{kind}" for kind in kinds} <= KIND_KEYS, name  # each kind has its words
    assert personal_data(name) is personal


@pytest.mark.parametrize("name", CHANNEL_NAMES)
def test_a_raw_body_of_each_channel_is_scrubbed_of_its_declared_personal_keys(name: str) -> None:
    personal = channel_of(name).PERSONAL_DATA
    seen = 0
    for path in bodies(name):
        raw = path.read_bytes()
        wanted = {s for s in personal_strings(json.loads(raw), personal) if s != MARKER}
        body, kinds = redact_body(raw, channel=name)
        redacted = json.loads(body)
        assert not {s for s in personal_strings(redacted, personal) if s != MARKER}, path.name
        assert bool(wanted) == bool(kinds), path.name
        # The channel's own declaration scrubs its bodies exactly as every channel's together did before.
        assert (body, kinds) == redact_body(raw), path.name
        seen += bool(wanted)
    assert seen, f"no {name} fixture carries personal data"


def test_a_body_of_an_unknown_channel_is_scrubbed_with_every_channels_declaration() -> None:
    every = personal_data("")
    for name in CHANNEL_NAMES:
        declared = channel_of(name).PERSONAL_DATA
        assert declared.keys.items() <= every.keys.items() and declared.objects.items() <= every.objects.items()
        assert declared.keep_inside <= every.keep_inside and declared.labels <= every.labels
