"""Every fixture order and refund still makes the very same UBL document, byte for byte (tests/fixtures/ubl/golden,
written before the mapper was split into taxes, totals, lines, parties and writer)."""

from __future__ import annotations

import pytest

from tests import ubl_golden


@pytest.fixture(scope="module")
def documents() -> dict[str, bytes]:
    monkeypatch = pytest.MonkeyPatch()
    for name, value in ubl_golden._SECRETS.items():
        monkeypatch.setenv(name, value)
    try:
        return ubl_golden.documents()
    finally:
        monkeypatch.undo()


def test_every_golden_document_has_a_fixture_that_makes_it(documents: dict[str, bytes]) -> None:
    assert sorted(path.name for path in ubl_golden.GOLDEN.glob("*.xml")) == sorted(documents)


@pytest.mark.parametrize("file_name", sorted(path.name for path in ubl_golden.GOLDEN.glob("*.xml")))
def test_the_fixture_makes_the_same_document_byte_for_byte(documents: dict[str, bytes], file_name: str) -> None:
    assert documents[file_name] == (ubl_golden.GOLDEN / file_name).read_bytes()
