"""Webhook signatures: the vectors WooCommerce and Shopify publish, and what must not verify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.channels import channel_of, shopify, woocommerce
from shared.channels.common import sign
from shared.errors import BadRequest
from tests.support import http_status

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_woocommerce_signature_matches_published_vector() -> None:
    # HMAC-SHA256 with an empty key over b"secret", as in WooCommerce's own webhook test.
    headers = {"x-wc-webhook-signature": "GBDo00G55h6IiV+6CxqivQPLbI//KzaOZm747971tPs="}
    assert woocommerce.verify(b"secret", headers, "")


def test_shopify_signature_matches_published_vector() -> None:
    headers = {"x-shopify-hmac-sha256": "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g="}
    assert shopify.verify(b'{"foo": "bar"}', headers, "test_secret_key")


@pytest.mark.parametrize("name", ["woocommerce", "shopify"])
def test_signature_over_reserialised_json_fails(name: str) -> None:
    raw = (FIXTURES / "shopify" / "orders_create.json").read_bytes()
    channel = channel_of(name)
    headers = {channel.SIGNATURE_HEADER: sign(raw, "shpss_9f3c2a")}
    assert channel.verify(raw, headers, "shpss_9f3c2a")
    # Same JSON, different bytes (compact separators): a proxy that re-encodes the body breaks the HMAC.
    reserialised = json.dumps(json.loads(raw), separators=(",", ":"), ensure_ascii=False).encode()
    assert reserialised != raw
    assert not channel.verify(reserialised, headers, "shpss_9f3c2a")


@pytest.mark.parametrize("name", ["woocommerce", "shopify"])
def test_missing_signature_header_fails(name: str) -> None:
    channel = channel_of(name)
    assert not channel.verify(b'{"id": 5123}', {}, "wc-secret")
    assert not channel.verify(b'{"id": 5123}', {channel.SIGNATURE_HEADER: ""}, "wc-secret")


@pytest.mark.parametrize("name", ["woocommerce", "shopify"])
def test_wrong_secret_or_garbage_signature_fails(name: str) -> None:
    channel = channel_of(name)
    body = b'{"id": 5123}'
    assert not channel.verify(body, {channel.SIGNATURE_HEADER: sign(body, "other-secret")}, "wc-secret")
    assert not channel.verify(body, {channel.SIGNATURE_HEADER: "not base64 ✓"}, "wc-secret")


def test_signature_header_lookup_ignores_case() -> None:
    body = b'{"id": 5123}'
    assert woocommerce.verify(body, {"X-WC-Webhook-Signature": sign(body, "s3cret")}, "s3cret")


def test_signature_header_names_are_lower_case() -> None:
    assert woocommerce.SIGNATURE_HEADER == "x-wc-webhook-signature"
    assert shopify.SIGNATURE_HEADER == "x-shopify-hmac-sha256"


@pytest.mark.parametrize("name", ["woocommerce", "shopify"])
def test_event_headers_never_keep_the_signature(name: str) -> None:
    channel = channel_of(name)
    headers = {
        channel.SIGNATURE_HEADER: "GBDo00G55h6IiV+6CxqivQPLbI//KzaOZm747971tPs=",
        "x-wc-webhook-topic": "order.created",
        "x-wc-webhook-delivery-id": "b1e4a0c6",
        "x-shopify-topic": "orders/create",
        "x-shopify-event-id": "98880550-7158-44d4-b7cd-2c97c8a091b5",
        "x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "x-shopify-shop-domain": "tienda-turia.myshopify.com",
        "cookie": "session=abc",
    }
    kept = channel.event_headers(headers)
    assert channel.SIGNATURE_HEADER not in kept
    assert "cookie" not in kept
    if name == "woocommerce":
        assert kept == {"x-wc-webhook-topic": "order.created", "x-wc-webhook-delivery-id": "b1e4a0c6"}
    else:
        assert kept["x-shopify-event-id"] == "98880550-7158-44d4-b7cd-2c97c8a091b5"
        assert kept["x-shopify-shop-domain"] == "tienda-turia.myshopify.com"


def test_unknown_channel_is_refused_as_not_found() -> None:
    with pytest.raises(BadRequest) as refused:
        channel_of("magento")
    assert http_status(refused.value) == 404
