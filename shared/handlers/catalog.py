"""Product mapping per store: store SKU (or "SKU:variant id") → target item code, imported and
exported as CSV or JSON, and the SKUs that held orders are waiting for."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from shared.bootstrap import Services
from shared.domain.order import OrderState
from shared.errors import BadRequest

CSV_COLUMNS = ("sku", "item_code")
MAX_ROWS = 100_000


def _check_store(services: Services, store_id: str) -> None:
    if services.store(store_id) is None:
        raise BadRequest(404, "Unknown store", f"No store '{store_id}' is configured here.")


def parse_sku_map(body: bytes, content_type: str) -> dict[str, str]:
    """CSV with a header `sku,item_code`, or JSON: {"SKU": "CODE"} or [{"sku": ..., "item_code": ...}].

    Raises BadRequest(400) naming the row and the reason; nothing is stored from a bad file.
    """
    text = body.decode("utf-8-sig", errors="strict") if body else ""
    is_json = "json" in content_type.lower() or text.lstrip().startswith(("{", "["))
    rows: list[tuple[str, Any, Any]] = []
    if is_json:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadRequest(400, "Malformed SKU map", f"Not valid JSON: {exc.msg} at line {exc.lineno}.") from exc
        if isinstance(data, dict):
            rows = [(f"key '{k}'", k, v) for k, v in data.items()]
        elif isinstance(data, list):
            for i, item in enumerate(data, start=1):
                if not isinstance(item, dict):
                    raise BadRequest(400, "Malformed SKU map", f"Item {i} is not an object with sku and item_code.")
                rows.append((f"item {i}", item.get("sku"), item.get("item_code")))
        else:
            raise BadRequest(400, "Malformed SKU map", "Expected an object or a list of objects.")
    else:
        reader = csv.DictReader(io.StringIO(text))
        header = [h.strip().lower() for h in reader.fieldnames or []]
        if header[:2] != list(CSV_COLUMNS):
            raise BadRequest(400, "Malformed SKU map", "The CSV must start with the header line: sku,item_code")
        for i, raw in enumerate(reader, start=2):
            values = list(raw.values())
            rows.append((f"line {i}", values[0], values[1] if len(values) > 1 else None))
    if len(rows) > MAX_ROWS:
        raise BadRequest(413, "SKU map too large", f"{len(rows)} rows; the limit is {MAX_ROWS}.")
    mapping: dict[str, str] = {}
    for where, sku, code in rows:
        if not isinstance(sku, str) or not sku.strip():
            raise BadRequest(400, "Malformed SKU map", f"{where}: the SKU is empty.")
        if not isinstance(code, str) or not code.strip():
            raise BadRequest(400, "Malformed SKU map", f"{where}: the item code for '{sku.strip()}' is empty.")
        if sku.strip() in mapping:
            raise BadRequest(400, "Malformed SKU map", f"{where}: SKU '{sku.strip()}' appears twice.")
        mapping[sku.strip()] = code.strip()
    return mapping


def import_sku_map(services: Services, store_id: str, body: bytes, content_type: str) -> dict[str, Any]:
    """Replace the store's SKU map with the file's. Idempotent."""
    _check_store(services, store_id)
    mapping = parse_sku_map(body, content_type)
    services.state.put_sku_map(store_id, mapping, replace=True)
    return {"store_id": store_id, "count": len(mapping)}


def export_sku_map(services: Services, store_id: str, as_json: bool) -> tuple[str, str]:
    """(body, content type) of the store's SKU map."""
    _check_store(services, store_id)
    mapping = services.sku_map(store_id)
    if as_json:
        return json.dumps(mapping, ensure_ascii=False, indent=2), "application/json"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(sorted(mapping.items()))
    return out.getvalue(), "text/csv; charset=utf-8"


def unmapped_skus(services: Services, store_id: str) -> list[dict[str, Any]]:
    """The SKUs held orders are waiting for, with how many orders wait for each."""
    _check_store(services, store_id)
    waiting: dict[str, list[str]] = {}
    for record in services.state.list_orders(store_id, OrderState.HELD.value, 1000):
        for problem in record.problems:
            if problem.code == "unmapped_sku" and problem.found:
                waiting.setdefault(problem.found, []).append(record.order_id)
    return [{"sku": sku, "orders": sorted(set(ids))} for sku, ids in sorted(waiting.items())]
