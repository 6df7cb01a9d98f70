"""Product mapping and field transforms: store SKU → target item code, payment method → payment terms,
shipping method → shipping item. Used by validation (to hold what is unmapped) and by invoicing.

An unmapped SKU never falls back to a default item: a wrong product on an invoice costs more than a wait.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from typing import Any

from shared.domain.limits import MAX_ID_BYTES, MAX_ITEM_CODE_BYTES, MAX_SKU_BYTES, too_long
from shared.domain.order import Charge, Order, OrderLine
from shared.domain.records import Problem
from shared.domain.rules.messages import problem
from shared.domain.rules.settings import RulesSettings, parse_rules

FALLBACK = "*"  # in transforms only: the code for any method not listed
CSV_COLUMNS = ("sku", "variant_id", "item_code")
_VARIANT_KEY = re.compile(r"^(?P<sku>.+):(?P<variant>\d+)$")
# A cell a spreadsheet would run as a formula (OWASP "CSV Injection"): one starting with = + - @, tab, CR or LF.
# The export puts the spreadsheet's text mark, an apostrophe, in front of it, and in front of a cell that already
# starts with one, so that the import can drop exactly one mark and read back the SKU as it was ("-BLUE-MUG").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
_TEXT_MARK = "'"


def sku_key(sku: str, variant_id: str = "") -> str:
    """The SKU map key: "SKU", or "SKU:variant id" for one variant of a SKU.

    The variant key exists because WooCommerce variations without their own SKU inherit the parent's, so
    one SKU can stand for several products; Shopify variant ids are numeric too.
    """
    sku = sku.strip()
    variant_id = variant_id.strip()
    return f"{sku}:{variant_id}" if variant_id else sku


def item_code_for(line: OrderLine, sku_map: Mapping[str, str]) -> str | None:
    """The target item code for a line: "SKU:variant id" first, then "SKU"; None when unmapped or no SKU."""
    sku = line.sku.strip()
    if not sku:
        return None
    for key in (sku_key(sku, line.variant_id), sku):
        code = sku_map.get(key, "")
        if code and code.strip():
            return code.strip()
    return None


def _rules(rules: RulesSettings | Mapping[str, Any]) -> RulesSettings:
    return rules if isinstance(rules, RulesSettings) else parse_rules(rules)


def transform_payment_terms(order: Order, rules: RulesSettings | Mapping[str, Any]) -> str:
    """The payment terms code for the order's payment method ("" when none is configured for it)."""
    table = _rules(rules).transforms.payment_terms
    method = order.payment_method.strip()
    return table.get(method) or table.get(FALLBACK, "")


def shipping_item_code(charge: Charge, rules: RulesSettings | Mapping[str, Any]) -> str | None:
    """The target item code for a shipping or fee charge, by method id / fee name; None when unmapped."""
    transforms = _rules(rules).transforms
    table = transforms.shipping_items if charge.kind == "shipping" else transforms.fee_items
    key = charge.code.strip() or charge.name.strip()
    return table.get(key) or table.get(FALLBACK) or None


def mapping_problems(order: Order, rules: RulesSettings, sku_map: Mapping[str, str]) -> list[Problem]:
    problems: list[Problem] = []
    for index, line in enumerate(order.lines):
        where = f"lines[{index}]"
        if not line.sku.strip():
            problems.append(
                problem("missing_sku", field=f"{where}.sku", found=line.name, line=index + 1, name=line.name)
            )
        elif item_code_for(line, sku_map) is None:
            problems.append(
                problem(
                    "unmapped_sku",
                    field=f"{where}.sku",
                    # The plain SKU: mapping it covers every variant; "SKU:variant id" is the finer option.
                    found=line.sku.strip(),
                    line=index + 1,
                )
            )
    transforms = rules.transforms
    if transforms.payment_terms and order.payment_method.strip() and not transform_payment_terms(order, rules):
        problems.append(problem("unmapped_payment_method", field="payment_method", found=order.payment_method))
    if transforms.shipping_items:
        for index, charge in enumerate(order.shipping):
            if shipping_item_code(charge, rules) is None:
                problems.append(
                    problem(
                        "unmapped_shipping_method",
                        field=f"shipping[{index}].code",
                        found=charge.code or charge.name,
                    )
                )
    if transforms.fee_items:
        for index, charge in enumerate(order.fees):
            if shipping_item_code(charge, rules) is None:
                problems.append(problem("unmapped_fee", field=f"fees[{index}].code", found=charge.code or charge.name))
    return problems


def unmapped_skus(orders: Iterable[Order], sku_map: Mapping[str, str]) -> list[str]:
    """The SKU map keys missing for these orders (e.g. every held order of a store), sorted, no repeats."""
    seen: set[str] = set()
    for order in orders:
        for line in order.lines:
            if line.sku.strip() and item_code_for(line, sku_map) is None:
                seen.add(line.sku.strip())
    return sorted(seen)


def spreadsheet_cell(value: str) -> str:
    """A CSV cell no spreadsheet runs as a formula: "-BLUE-MUG" → "'-BLUE-MUG"; from_spreadsheet_cell undoes it.

    >>> spreadsheet_cell("=SUM(A1:A9)"), spreadsheet_cell("BLUE-MUG-350ML"), spreadsheet_cell("'-A")
    ("'=SUM(A1:A9)", 'BLUE-MUG-350ML', "''-A")
    """
    return _TEXT_MARK + value if value.startswith((*_FORMULA_STARTS, _TEXT_MARK)) else value


def from_spreadsheet_cell(value: str) -> str:
    """The value an exported cell stands for; a cell without the export's mark is taken as it is.

    >>> from_spreadsheet_cell("'-BLUE-MUG"), from_spreadsheet_cell("-BLUE-MUG"), from_spreadsheet_cell("'BLUE")
    ('-BLUE-MUG', '-BLUE-MUG', "'BLUE")
    """
    if value.startswith(_TEXT_MARK) and value[1:].startswith((*_FORMULA_STARTS, _TEXT_MARK)):
        return value[1:]
    return value


def add_sku_map_row(mapping: dict[str, str], where: str, sku: str, variant_id: str, item_code: str) -> None:
    """Add one uploaded row to `mapping`. Raises ValueError naming `where` (e.g. "row 3") for an empty SKU or item
    code, a value over its length limit (docs/input-limits.md) or a key given twice."""
    if not sku:
        raise ValueError(f"{where}: sku is empty")
    if not item_code:
        raise ValueError(f"{where}: item_code is empty for SKU {sku}")
    for field, value, limit in (
        ("sku", sku, MAX_SKU_BYTES),
        ("variant_id", variant_id, MAX_ID_BYTES),
        ("item_code", item_code, MAX_ITEM_CODE_BYTES),
    ):
        refusal = too_long(field, value, limit)
        if refusal:
            raise ValueError(f"{where}: {refusal}")
    key = sku_key(sku, variant_id)
    if key in mapping:
        raise ValueError(f"{where}: {key} appears twice")
    mapping[key] = item_code


def parse_sku_map_csv(text: str) -> dict[str, str]:
    """Read a SKU map CSV with a header `sku,variant_id,item_code` (variant_id may be empty or absent).

    Cells written by sku_map_to_csv read back as they were (see spreadsheet_cell). Raises ValueError naming the row
    for a missing column, an empty SKU or item code, a value over its length limit, or a key given twice.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))  # Excel writes a byte-order mark
    header = [name.strip().lower() for name in reader.fieldnames or []]
    if "sku" not in header or "item_code" not in header:
        raise ValueError("the CSV needs a header row with the columns sku and item_code (variant_id optional)")
    mapping: dict[str, str] = {}
    for row_number, row in enumerate(reader, start=2):
        values = {
            (k or "").strip().lower(): from_spreadsheet_cell((v or "").strip())
            for k, v in row.items()
            if isinstance(v, str)
        }
        if not any(values.values()):
            continue
        sku, item_code = values.get("sku", ""), values.get("item_code", "")
        add_sku_map_row(mapping, f"row {row_number}", sku, values.get("variant_id", ""), item_code)
    return mapping


def sku_map_to_csv(sku_map: Mapping[str, str]) -> str:
    """Write a SKU map as CSV (same columns parse_sku_map_csv reads), sorted by key.

    Every data cell is quoted and none starts a formula (OWASP's CSV injection advice): a map uploaded by one person is
    opened in a spreadsheet by another, and a separator inside a quoted cell cannot start a new one.
    """
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(CSV_COLUMNS)  # our own words: the header stays plain
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    for key in sorted(sku_map):
        match = _VARIANT_KEY.match(key)
        sku, variant = (match["sku"], match["variant"]) if match else (key, "")
        writer.writerow([spreadsheet_cell(cell) for cell in (sku, variant, sku_map[key])])
    return out.getvalue()
