"""Dry run: a store order JSON in; the canonical order, its problems and the invoice that would be issued
out. Reads the store settings and SKU map; writes nothing anywhere."""

from __future__ import annotations

from typing import Any

from shared import texts
from shared.bootstrap import Services
from shared.channels import channel_of
from shared.channels.common import load_json_object
from shared.domain.rules import validate_order, with_default_buyer
from shared.errors import BadRequest, PermanentError, UnknownStore, Unreadable
from shared.handlers.common import problem_json
from shared.targets.ubl.mapper import document_totals, invoice_xml
from shared.targets.ubl.outbox import invoice_settings_for

PREVIEW_NUMBER = "SIMULATION"


def simulate_order(
    services: Services, store_id: str, raw_body: bytes, lang: str = texts.DEFAULT_LANGUAGE
) -> dict[str, Any]:
    """Raises UnknownStore, or Unreadable for a body that is not an order."""
    settings = services.store(store_id)
    if settings is None:
        raise UnknownStore("Unknown store", f"No store '{store_id}' is configured here.")
    data = load_json_object(raw_body)
    channel: Any = channel_of(settings.channel)
    try:
        order = channel.parse_order(data, store_id, settings.invoice.currency)
    except BadRequest:
        raise
    except Exception as error:  # a parser bug must not become a 500 for the person trying an order
        raise Unreadable("Not an order", f"The body could not be read as a {settings.channel} order.") from error
    sku_map = services.sku_map(store_id)
    problems = validate_order(order, settings, sku_map)
    result: dict[str, Any] = {
        "store_id": store_id,
        "order": order.model_dump(mode="json"),
        "problems": [problem_json(p, lang) for p in problems],
        "would_hold": bool(problems),
    }
    try:
        invoice = invoice_settings_for(order, settings)
        buyer_named = with_default_buyer(order, settings)
        xml = invoice_xml(buyer_named, settings.seller, invoice, PREVIEW_NUMBER, services.clock().date(), sku_map)
    except PermanentError as error:
        result["invoice"] = None
        result["invoice_problem"] = {
            "code": error.code,
            "message": error.text(lang),
            "message_en": error.text("en"),
            "message_es": error.text("es"),
        }
        return result
    payable, tax = document_totals(xml)
    result["invoice"] = {
        # Peppol only when both parties are on Peppol (the document's ProfileID says so); else plain EN 16931.
        "format": "UBL 2.1 / Peppol BIS Billing 3.0" if b"<cbc:ProfileID>" in xml else "UBL 2.1 / EN 16931",
        "number": PREVIEW_NUMBER,
        "payable": str(payable),
        "tax": str(tax),
        "xml": xml.decode("utf-8"),
    }
    return result
