"""Length limits for what becomes a key: store ids, order and other ids, SKUs, item codes; and for names.

Keys end up in Service Bus session ids ("<store_id>/<order_id>", at most 128 characters) and percent-encoded in
Table Storage keys (at most 1 KiB: 512 UTF-16 characters), where a byte outside ASCII letters, digits and "-_.~"
takes three characters. Key limits therefore count UTF-8 bytes: 40 + 1 + 64 bytes is a 105-character session id,
and every key built from them stays under 512 characters once encoded (docs/input-limits.md has the sums).
"""

from __future__ import annotations

from typing import Literal

MAX_STORE_ID_BYTES = 40
MAX_ID_BYTES = 64  # order, refund, line, product, variant, customer ids; order numbers. Real ones are ≤ 20 digits.
MAX_SKU_BYTES = 100  # WooCommerce keeps SKUs in a varchar(100); the SKU map key is "SKU:variant id"
MAX_ITEM_CODE_BYTES = 100
# Names (customer, company, product, shipping) are no key: the limit only stops hostile text, far above real names
# (a Shopify line name is the product title, up to 255 characters, plus the variant's options).
MAX_NAME_CHARACTERS = 1000
SHOWN_LENGTH = 60  # how much of a bad value an error message repeats

Unit = Literal["bytes", "characters"]


def size(value: str, unit: Unit) -> int:
    return len(value.encode("utf-8", "surrogatepass")) if unit == "bytes" else len(value)


def shown(value: object) -> str:
    """A bad value as an error message repeats it: repr, cut short (a store may send megabytes of it)."""
    text = repr(value)
    return text if len(text) <= SHOWN_LENGTH else f"{text[: SHOWN_LENGTH - 1]}…"


def too_long(field: str, value: str, limit: int, unit: Unit = "bytes") -> str | None:
    """A sentence naming the field and the limit when `value` is over it, else None.

    >>> too_long("sku", "BLUE-MUG-350ML", 100) is None
    True
    >>> too_long("item_code", "MUG-BLUE-350", 8)
    "item_code: 'MUG-BLUE-350' is 12 bytes long; the limit is 8 bytes."
    """
    length = size(value, unit)
    if length <= limit:
        return None
    return f"{field}: {shown(value)} is {length} {unit} long; the limit is {limit} {unit}."
