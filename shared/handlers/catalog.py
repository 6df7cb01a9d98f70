"""Product mapping per store: store SKU (or "SKU:variant id", "product:<id>", "product:<id>:<variant id>") → target
item code, imported and exported as CSV or JSON, and the SKUs and products held orders are waiting for. The CSV
export is safe to open in a spreadsheet and reads back unchanged; uploads obey the JSON depth and length limits
(docs/input-limits.md)."""

from __future__ import annotations

import json
from typing import Any

from shared.bootstrap import Services
from shared.channels.common import load_json
from shared.domain.order import OrderState
from shared.domain.rules.mapping import add_sku_map_row, parse_sku_map_csv, sku_map_to_csv, split_key
from shared.errors import TooLarge, UnknownStore, Unreadable

MAX_ROWS = 100_000


def _check_store(services: Services, store_id: str) -> None:
    if services.store(store_id) is None:
        raise UnknownStore("Unknown store", f"No store '{store_id}' is configured here.")


def parse_sku_map(body: bytes, content_type: str) -> dict[str, str]:
    """CSV (`sku,variant_id,product_id,item_code`, variant_id and product_id optional) or JSON: {"SKU": "CODE",
    "product:93": "CODE"} or [{"sku": ..., "variant_id": ..., "product_id": ..., "item_code": ...}].

    Raises Unreadable naming the row and the reason (an empty or over-long value, a key given twice, JSON
    nested deeper than the limit); nothing is stored from a bad file.
    """
    try:
        text = body.decode("utf-8-sig") if body else ""
    except UnicodeDecodeError as exc:
        raise Unreadable("Malformed SKU map", "The file is not UTF-8 text.") from exc
    is_json = "json" in content_type.lower() or text.lstrip().startswith(("{", "["))
    try:
        mapping = _json_sku_map(text) if is_json else parse_sku_map_csv(text)
    except ValueError as exc:
        raise Unreadable("Malformed SKU map", str(exc)) from exc
    if len(mapping) > MAX_ROWS:
        raise TooLarge("SKU map too large", f"{len(mapping)} rows; the limit is {MAX_ROWS}.")
    return mapping


def _json_sku_map(text: str) -> dict[str, str]:
    data = load_json(text)  # a channel refusal for text that is not JSON or nests too deeply
    if isinstance(data, dict):
        rows = [
            {"sku": sku, "variant_id": variant, "product_id": product, "item_code": v}
            for sku, variant, product, v in ((*split_key(str(k)), v) for k, v in data.items())
        ]
    elif isinstance(data, list) and all(isinstance(item, dict) for item in data):
        rows = data
    else:
        raise ValueError("expected an object {sku: item_code} or a list of objects with sku and item_code")
    mapping: dict[str, str] = {}
    for number, row in enumerate(rows, start=1):
        sku, code, variant, product = (
            str(row.get(k) or "").strip() for k in ("sku", "item_code", "variant_id", "product_id")
        )
        add_sku_map_row(mapping, f"entry {number}", sku, variant, code, product)
    return mapping


def import_sku_map(
    services: Services, store_id: str, body: bytes, content_type: str, actor: str = "operator"
) -> dict[str, Any]:
    """Replace the store's SKU map with the file's and record who uploaded it, when, and how many rows
    (`last_sku_map_upload`). Idempotent."""
    _check_store(services, store_id)
    mapping = parse_sku_map(body, content_type)
    services.state.put_sku_map(store_id, mapping, replace=True)
    upload = {"at": services.clock().isoformat(), "actor": actor, "count": len(mapping)}
    services.state.set_watermark(_upload_record(store_id), json.dumps(upload))
    return {"store_id": store_id, "count": len(mapping), "uploaded_by": actor}


def last_sku_map_upload(services: Services, store_id: str) -> dict[str, Any] | None:
    """Who last replaced the store's SKU map, when, and with how many rows; None before the first upload."""
    recorded = services.state.get_watermark(_upload_record(store_id))
    return dict(json.loads(recorded)) if recorded else None


def _upload_record(store_id: str) -> str:
    # One small value per store, replaced by each upload: the watermarks table holds exactly such values.
    return f"sku-map-upload:{store_id}"


def export_sku_map(services: Services, store_id: str, as_json: bool) -> tuple[str, str]:
    """(body, content type) of the store's SKU map."""
    _check_store(services, store_id)
    mapping = services.sku_map(store_id)
    if as_json:
        return json.dumps(mapping, ensure_ascii=False, indent=2), "application/json"
    return sku_map_to_csv(mapping), "text/csv; charset=utf-8"


def unmapped_skus(services: Services, store_id: str) -> list[dict[str, Any]]:
    """The SKU map keys held orders are waiting for, with the orders that wait for each: `key` is what to map,
    `sku` the store's SKU, or "" for a line without SKU, which shows its `product_id` and product `name` instead."""
    _check_store(services, store_id)
    waiting: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for record in services.state.list_orders(store_id, OrderState.HELD.value, 1000):
        for problem in record.problems:
            if problem.code in ("unmapped_sku", "unmapped_product") and problem.found:
                waiting.setdefault(problem.found, []).append(record.order_id)
                if problem.code == "unmapped_product":
                    names.setdefault(problem.found, str(problem.data.get("name", "")))
    report = []
    for key, ids in sorted(waiting.items()):
        sku, _, product = split_key(key) if key in names else (key, "", "")
        report.append(
            {"key": key, "sku": sku, "product_id": product, "name": names.get(key, ""), "orders": sorted(set(ids))}
        )
    return report
