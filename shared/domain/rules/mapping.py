"""Product mapping and field transforms: store SKU or product id → target item code, payment method → payment
terms, shipping method → shipping item. Used by validation (to hold what is unmapped) and by invoicing.

An unmapped line never falls back to a default item: a wrong product on an invoice costs more than a wait.
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
from shared.stores import ProductSettings

FALLBACK = "*"  # in transforms only: the code for any method not listed
CSV_COLUMNS = ("sku", "variant_id", "product_id", "item_code")
PRODUCT_PREFIX = "product:"
_VARIANT_KEY = re.compile(r"^(?P<sku>.+):(?P<variant>\d+)$")
_PRODUCT_KEY = re.compile(r"^product:(?P<product>[^:]+)(?::(?P<variant>[^:]+))?$")
# A cell a spreadsheet would run as a formula (OWASP "CSV Injection"): one starting with = + - @, tab, CR or LF.
# The export puts the spreadsheet's text mark, an apostrophe, in front of it, and in front of a cell that already
# starts with one, so that the import can drop exactly one mark and read back the SKU as it was ("-BLUE-MUG").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
_TEXT_MARK = "'"


class ItemCodes(dict[str, str]):
    """A store's SKU map together with its matching rule (`products:` in the store file): what targets get, so that
    every one of them finds a line's item code as validation did."""

    def __init__(self, mapping: Mapping[str, str] | None = None, products: ProductSettings | None = None) -> None:
        super().__init__(mapping or {})
        self.products = products or ProductSettings()


def sku_key(sku: str, variant_id: str = "") -> str:
    """The SKU map key: "SKU", or "SKU:variant id" for one variant of a SKU.

    The variant key exists because WooCommerce variations without their own SKU inherit the parent's, so
    one SKU can stand for several products; Shopify variant ids are numeric too.
    """
    sku = sku.strip()
    variant_id = variant_id.strip()
    return f"{sku}:{variant_id}" if variant_id else sku


def product_key(product_id: str, variant_id: str = "") -> str:
    """The SKU map key for a line without SKU: "product:<id>", or "product:<id>:<variant id>" for one variant.

    >>> product_key("93"), product_key("93", "7")
    ('product:93', 'product:93:7')
    """
    product_id, variant_id = product_id.strip(), variant_id.strip()
    return f"{PRODUCT_PREFIX}{product_id}:{variant_id}" if variant_id else f"{PRODUCT_PREFIX}{product_id}"


def catalogue_product(line: OrderLine) -> str:
    """The line's product id, "" for a line that is no catalogue product (a Shopify custom item has none;
    WooCommerce says 0 for a product deleted since)."""
    product_id = line.product_id.strip()
    return "" if product_id in ("", "0") else product_id


def split_key(key: str) -> tuple[str, str, str]:
    """(sku, variant id, product id) of a SKU map key, as the CSV columns hold them."""
    product = _PRODUCT_KEY.match(key)
    if product:
        return "", product["variant"] or "", product["product"]
    variant = _VARIANT_KEY.match(key)
    return (variant["sku"], variant["variant"], "") if variant else (key, "", "")


def _candidate_keys(line: OrderLine) -> list[str]:
    # Most specific first: the SKU of one variant, the SKU, then the product's variant and the product.
    sku, variant, product = line.sku.strip(), line.variant_id.strip(), catalogue_product(line)
    keys = [sku_key(sku, variant), sku] if sku else []
    if product:
        keys += [product_key(product, variant), product_key(product)]
    return keys


def item_code_for(line: OrderLine, sku_map: Mapping[str, str], products: ProductSettings | None = None) -> str | None:
    """The target item code for a line; None when it has none.

    With `products.match: sku` a line's SKU is its item code. Otherwise, and for lines without a SKU, the map is
    read by "SKU:variant id", "SKU", "product:<id>:<variant id>", "product:<id>"; a line that is no catalogue
    product takes `products.custom_item` when set. `products` defaults to the one an ItemCodes map carries.
    """
    if products is None:
        products = sku_map.products if isinstance(sku_map, ItemCodes) else ProductSettings()
    sku = line.sku.strip()
    if sku and products.match == "sku":
        return sku
    for key in _candidate_keys(line):
        code = sku_map.get(key, "")
        if code and code.strip():
            return code.strip()
    if not sku and not catalogue_product(line) and products.custom_item:
        return products.custom_item
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


def mapping_problems(
    order: Order, rules: RulesSettings, sku_map: Mapping[str, str], products: ProductSettings | None = None
) -> list[Problem]:
    problems: list[Problem] = []
    for index, line in enumerate(order.lines):
        where = f"lines[{index}]"
        if item_code_for(line, sku_map, products) is not None:
            continue
        product = catalogue_product(line)
        if not line.sku.strip() and product:
            problems.append(
                problem(
                    "unmapped_product",
                    field=f"{where}.product_id",
                    # The plain product key: mapping it covers every variant, like a plain SKU.
                    found=product_key(product),
                    line=index + 1,
                    name=line.name,
                    product_id=product,
                    variant_id=line.variant_id,
                )
            )
        elif not line.sku.strip():
            problems.append(
                problem("missing_sku", field=f"{where}.sku", found=line.name, line=index + 1, name=line.name)
            )
        else:
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


def unmapped_skus(
    orders: Iterable[Order], sku_map: Mapping[str, str], products: ProductSettings | None = None
) -> list[str]:
    """The SKU map keys missing for these orders (e.g. every held order of a store), sorted, no repeats: the SKU,
    or "product:<id>" for a line without SKU."""
    seen: set[str] = set()
    for order in orders:
        for line in order.lines:
            if item_code_for(line, sku_map, products) is not None:
                continue
            if line.sku.strip():
                seen.add(line.sku.strip())
            elif catalogue_product(line):
                seen.add(product_key(catalogue_product(line)))
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


def add_sku_map_row(
    mapping: dict[str, str], where: str, sku: str, variant_id: str, item_code: str, product_id: str = ""
) -> None:
    """Add one uploaded row to `mapping`: keyed by SKU, or by product id for lines without SKU. Raises ValueError
    naming `where` (e.g. "row 3") for a row with neither or both, an empty item code, a value over its length limit
    (docs/input-limits.md) or a key given twice."""
    if not sku and not product_id:
        raise ValueError(f"{where}: sku and product_id are both empty; give one of them")
    if sku and product_id:
        raise ValueError(f"{where}: give sku or product_id, not both (product_id is for lines without SKU)")
    if sku.startswith(PRODUCT_PREFIX):
        raise ValueError(f"{where}: a SKU may not start with '{PRODUCT_PREFIX}'; put the id in product_id")
    if not item_code:
        raise ValueError(f"{where}: item_code is empty for {f'SKU {sku}' if sku else f'product {product_id}'}")
    for field, value, limit in (
        ("sku", sku, MAX_SKU_BYTES),
        ("variant_id", variant_id, MAX_ID_BYTES),
        ("product_id", product_id, MAX_ID_BYTES),
        ("item_code", item_code, MAX_ITEM_CODE_BYTES),
    ):
        refusal = too_long(field, value, limit)
        if refusal:
            raise ValueError(f"{where}: {refusal}")
    if product_id and (":" in product_id or ":" in variant_id):
        raise ValueError(f"{where}: product_id and variant_id may not contain ':'")
    key = product_key(product_id, variant_id) if product_id else sku_key(sku, variant_id)
    if key in mapping:
        raise ValueError(f"{where}: {key} appears twice")
    mapping[key] = item_code


def parse_sku_map_csv(text: str) -> dict[str, str]:
    """Read a SKU map CSV with a header `sku,variant_id,product_id,item_code` (variant_id and product_id may be empty
    or absent; a row gives a SKU, or a product id for lines without SKU).

    Cells written by sku_map_to_csv read back as they were (see spreadsheet_cell). Raises ValueError naming the row
    for a missing column, an empty SKU or item code, a value over its length limit, or a key given twice.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))  # Excel writes a byte-order mark
    header = [name.strip().lower() for name in reader.fieldnames or []]
    if "item_code" not in header or not {"sku", "product_id"} & set(header):
        raise ValueError(
            "the CSV needs a header row with the columns sku and item_code (variant_id, product_id optional)"
        )
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
        variant, product = values.get("variant_id", ""), values.get("product_id", "")
        add_sku_map_row(mapping, f"row {row_number}", sku, variant, item_code, product)
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
        sku, variant, product = split_key(key)
        writer.writerow([spreadsheet_cell(cell) for cell in (sku, variant, product, sku_map[key])])
    return out.getvalue()
