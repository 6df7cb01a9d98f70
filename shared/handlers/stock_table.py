"""The UBL target's stock table: the merchant uploads what is on the shelf (CSV or JSON) and the stock stage sets
the store from it, as it does from an ERP. Each upload says when it was counted (default: now); an older count never
overwrites a newer one (shared.ports.StateStore.put_stock_table).

CSV: a header `item_code,quantity` and optionally `counted_at` (ISO 8601 with time zone; one value for the file).
JSON: {"counted_at": "…", "stock": {"ITEM-CODE": 12, …}}.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.bootstrap import Services
from shared.channels.common import load_json
from shared.errors import TooLarge, UnknownStore, Unreadable

MAX_ROWS = 100_000
TITLE = "Malformed stock table"


def import_stock_table(services: Services, store_id: str, body: bytes, content_type: str) -> dict[str, Any]:
    """Store the uploaded counts; returns how many rows were written and how many were kept (newer counts)."""
    if services.store(store_id) is None:
        raise UnknownStore("Unknown store", f"No store '{store_id}' is configured here.")
    levels, counted_at = parse_stock_table(body, content_type)
    when = counted_at or services.clock()
    written = services.state.put_stock_table(store_id, levels, when)
    return {
        "store_id": store_id,
        "rows": len(levels),
        "written": written,
        "kept_newer": len(levels) - written,
        "counted_at": when.isoformat(),
    }


def export_stock_table(services: Services, store_id: str) -> dict[str, Any]:
    if services.store(store_id) is None:
        raise UnknownStore("Unknown store", f"No store '{store_id}' is configured here.")
    table = services.state.get_stock_table(store_id)
    return {
        "store_id": store_id,
        "stock": {
            code: {"quantity": str(level.quantity), "counted_at": level.as_of.isoformat()}
            for code, level in table.items()
        },
    }


def parse_stock_table(body: bytes, content_type: str) -> tuple[dict[str, Decimal], datetime | None]:
    """Item code → quantity, and the counting time when the file gives one. Raises Unreadable naming the row and
    the reason; nothing is stored from a bad file."""
    try:
        text = body.decode("utf-8-sig") if body else ""
    except UnicodeDecodeError as exc:
        raise Unreadable(TITLE, "The file is not UTF-8 text.") from exc
    is_json = "json" in content_type.lower() or text.lstrip().startswith("{")
    try:
        levels, counted = _json(text) if is_json else _csv(text)
    except ValueError as exc:
        raise Unreadable(TITLE, str(exc)) from exc
    if len(levels) > MAX_ROWS:
        raise TooLarge("Stock table too large", f"{len(levels)} rows; the limit is {MAX_ROWS}.")
    if not levels:
        raise Unreadable(TITLE, "The file lists no items.")
    return levels, counted


def _json(text: str) -> tuple[dict[str, Decimal], datetime | None]:
    data = load_json(text)
    if not isinstance(data, dict) or not isinstance(data.get("stock"), dict):
        raise ValueError('expected {"counted_at": "...", "stock": {"ITEM-CODE": quantity}}')
    levels = {}
    for number, (code, quantity) in enumerate(data["stock"].items(), start=1):
        levels[_code(code, number)] = _quantity(quantity, number)
    return levels, _time(data.get("counted_at"))


def _csv(text: str) -> tuple[dict[str, Decimal], datetime | None]:
    rows = csv.DictReader(io.StringIO(text))
    fields = [name.strip().lower() for name in rows.fieldnames or []]
    if "item_code" not in fields or "quantity" not in fields:
        raise ValueError("the first line must be the header item_code,quantity (and optionally counted_at)")
    levels: dict[str, Decimal] = {}
    counted: set[str] = set()
    for number, row in enumerate(rows, start=2):
        values = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items() if isinstance(v, str)}
        code = _code(values.get("item_code", ""), number)
        if code in levels:
            raise ValueError(f"line {number}: item {code} is listed twice")
        levels[code] = _quantity(values.get("quantity", ""), number)
        if values.get("counted_at"):
            counted.add(values["counted_at"])
    if len(counted) > 1:
        raise ValueError("counted_at must be one time for the whole file")
    return levels, _time(next(iter(counted), None))


def _code(value: Any, number: int) -> str:
    code = str(value).strip()
    if not code or len(code) > 200:
        raise ValueError(f"row {number}: the item code is empty or longer than 200 characters")
    return code


def _quantity(value: Any, number: int) -> Decimal:
    try:
        quantity = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"row {number}: quantity {str(value)[:40]!r} is not a number") from exc
    if not quantity.is_finite() or abs(quantity) >= Decimal(10) ** 12:
        raise ValueError(f"row {number}: quantity {str(value)[:40]!r} is out of range")
    return quantity


def _time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise ValueError(f"counted_at {str(value)[:40]!r} is not an ISO 8601 time") from exc
    if moment.tzinfo is None:
        raise ValueError("counted_at needs a time zone (e.g. 2026-11-28T09:00:00+01:00)")
    return moment
