"""Helpers the channel parsers share: signature check, tolerant JSON/number/time reading, event keys, the topic
check, and the limits on JSON depth and on the length of ids, SKUs and names (docs/input-limits.md).

Everything here turns bad store input into shared.errors.BadRequest(400), so intake never answers 5xx.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shared.domain.limits import MAX_ID_BYTES, MAX_NAME_CHARACTERS, MAX_SKU_BYTES, Unit, shown, too_long
from shared.errors import BadRequest, UnreadableOrder

ZERO = Decimal("0")
CENT = Decimal("0.01")
# Unit prices derived by division (subtotal / quantity) keep up to 4 decimals, like most ERPs' price precision.
UNIT_PRICE_PLACES = Decimal("0.0001")
MAX_KEY_LENGTH = 128  # Service Bus message ids are at most 128 characters
# Numbers a store may send: below 10^12 and, unless zero, not below 10^-12. Decimal works to 28 significant
# digits, so quantity x price and cent rounding stay exact inside this range; "1E+308" or "1e-999999999" would
# make quantize/divide raise InvalidOperation or Overflow deep in the rules instead of holding the order.
MAX_ADJUSTED_EXPONENT = 11
MIN_ADJUSTED_EXPONENT = -12
# Deepest nesting of objects and arrays a request body may have. Shopify orders nest about 6 levels (order →
# line_items → tax_lines → price_set → shop_money), WooCommerce plugin meta a few more; a body of "[[[[…" has no
# business here and, past the interpreter's recursion limit, would crash whatever walks it.
MAX_JSON_DEPTH = 64
DEPTH_TITLE = "JSON nested too deeply"
# The topic header is not signed (the HMAC covers the body only), so each channel checks that a body is what
# its topic says before anything is parsed; a mismatch is refused at the edge and changes no state.
TOPIC_MISMATCH = "Topic does not match body"
# Per field name of the canonical models: (limit, unit). Ids go through to_id; these come in as text.
FIELD_LIMITS: dict[str, tuple[int, Unit]] = {
    "sku": (MAX_SKU_BYTES, "bytes"),
    "number": (MAX_ID_BYTES, "bytes"),
    "name": (MAX_NAME_CHARACTERS, "characters"),
    "company": (MAX_NAME_CHARACTERS, "characters"),
}
_MODEL_WORDS = {"OrderLine": "line", "RefundLine": "refund line", "TaxLine": "tax", "Charge": "charge"}
# What text may hold: XML 1.0's characters without DEL and the C1 controls. Stores pass control characters through
# from pasted names, and a JSON "\ud800" escape gives a lone surrogate that UTF-8, pydantic and lxml all refuse;
# none of them means anything to a person.
_NOT_TEXT = re.compile("[^\u0009\u000a\u000d\u0020-\u007e\u00a0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9:._-]")

ModelT = TypeVar("ModelT", bound=BaseModel)


def header(headers: Mapping[str, str], name: str) -> str:
    """The value of a header, case-insensitively (intake lower-cases, tests and other callers may not)."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        for key, candidate in headers.items():
            if key.lower() == lowered:
                value = candidate
                break
    return (value or "").strip()


def sign(raw_body: bytes, secret: str) -> str:
    """base64(HMAC-SHA256(raw body, secret)): the signature both WooCommerce and Shopify send."""
    digest = hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_signature(raw_body: bytes, given: str, secret: str) -> bool:
    """Constant-time comparison over the raw bytes; a missing signature never verifies."""
    if not given:
        return False
    return hmac.compare_digest(sign(raw_body, secret).encode("ascii"), given.strip().encode("ascii", "replace"))


def load_json(raw_body: bytes | str) -> Any:
    """Parse a request body; floats become Decimal from their text, ints stay exact (Shopify ids > 2^53).

    Raises BadRequest(400) for text that is not JSON and for nesting deeper than MAX_JSON_DEPTH.
    """
    try:
        data = json.loads(raw_body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise BadRequest(400, "Malformed JSON", f"The body is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # "[[[[…" nested deeper than the interpreter's stack
        raise BadRequest(400, DEPTH_TITLE, _depth_detail(f"more than {MAX_JSON_DEPTH}")) from exc
    depth = json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise BadRequest(400, DEPTH_TITLE, _depth_detail(str(depth)))
    return data


def _depth_detail(depth: str) -> str:
    return f"The body nests objects and arrays {depth} levels deep; the limit is {MAX_JSON_DEPTH}."


def json_depth(value: Any) -> int:
    """How deep objects and arrays nest: 0 for a scalar, 1 for {} or [], 2 for {"a": []}.

    An explicit stack rather than recursion: the value may be nested almost as deep as the interpreter allows.
    """
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def load_json_object(raw_body: bytes) -> dict[str, Any]:
    """Parse a webhook or simulation body that must be one JSON object (see load_json)."""
    data = load_json(raw_body)
    if not isinstance(data, dict):
        raise BadRequest(400, "Not an order", f"Expected a JSON object, got {type(data).__name__}.")
    return data


def mapping(value: Any) -> Mapping[str, Any]:
    """A nested object, or an empty one when the store sent null, [] or nothing."""
    return value if isinstance(value, Mapping) else {}


def items(value: Any) -> list[Mapping[str, Any]]:
    """A list of objects, skipping anything that is not an object; null or missing gives []."""
    if not isinstance(value, list):
        return []
    return [entry for entry in value if isinstance(entry, Mapping)]


def to_decimal(value: Any, field: str = "amount") -> Decimal:
    """Money or a quantity from whatever the store sent: "10.50", 10.5, 10, "", null (→ 0)."""
    if value is None or isinstance(value, bool):
        if isinstance(value, bool):
            raise UnreadableOrder(f"{field}: expected a number, got {shown(value)}.")
        return ZERO
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        # Only reachable when a caller passes an already-parsed float: go through its shortest repr.
        result = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return ZERO
        try:
            result = Decimal(text)
        except InvalidOperation as exc:
            raise UnreadableOrder(f"{field}: {shown(value)} is not a number.") from exc
    else:
        raise UnreadableOrder(f"{field}: expected a number, got {type(value).__name__}.")
    if not result.is_finite():
        raise UnreadableOrder(f"{field}: {shown(value)} is not a finite number.")
    if result and not MIN_ADJUSTED_EXPONENT <= result.adjusted() <= MAX_ADJUSTED_EXPONENT:
        raise UnreadableOrder(f"{field}: {shown(value)} is out of range.")
    return result


def to_money(value: Any, field: str = "amount") -> Decimal:
    """An amount with at least cent precision: 10.8 → 10.80; WooCommerce's unrounded "4.536" keeps its digits."""
    amount = to_decimal(value, field)
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        return amount.quantize(CENT)
    return amount


def to_id(value: Any, field: str = "id") -> str:
    """An id as an exact string; ints keep every digit, 123.0 becomes "123".

    Raises UnreadableOrder for an id over MAX_ID_BYTES: ids become session ids and Table keys.
    """
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, Decimal):
        # int() rather than quantize: an id sent as 1e308 has more digits than Decimal's 28-digit context.
        if value.is_finite() and value == value.to_integral_value() and value.adjusted() < MAX_KEY_LENGTH:
            text = str(int(value))
        else:
            text = str(value)
    elif isinstance(value, int):
        text = str(value)  # json.loads already refused ints past Python's 4300-digit conversion limit
    else:
        text = _NOT_TEXT.sub("", str(value)).strip()
    refusal = too_long(field, text, MAX_ID_BYTES)
    if refusal:
        raise UnreadableOrder(refusal)
    return text


def to_text(value: Any) -> str:
    """Text for people: HTML entities decoded (WooCommerce sends "Caf&eacute; &#8211; 1kg"), null → ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_TEXT.sub("", html.unescape(str(value))).strip()


def to_bool(value: Any, default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int | Decimal):
        return value != 0
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def to_time(value: Any, field: str = "date") -> datetime | None:
    """ISO 8601 with or without offset; naive means UTC (WooCommerce *_gmt); result is aware UTC."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise UnreadableOrder(f"{field}: expected an ISO 8601 date, got {shown(value)}.")
    try:
        parsed = datetime.fromisoformat(value.strip())
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except ValueError as exc:
        raise UnreadableOrder(f"{field}: {shown(value)} is not an ISO 8601 date.") from exc
    except OverflowError as exc:  # "9999-12-31T23:59:59-01:00" is a valid ISO date past year 9999 in UTC
        raise UnreadableOrder(f"{field}: {shown(value)} is out of range.") from exc


def percent(fraction: Decimal) -> Decimal:
    """A tax rate given as a fraction (Shopify 0.21) as percent (21), without float noise."""
    return tidy(fraction * 100)


def tidy(value: Decimal) -> Decimal:
    """Drop trailing zeros without switching to exponent notation (Decimal("20").normalize() is 2E+1)."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def unit_price(subtotal: Decimal, quantity: Decimal) -> Decimal:
    """subtotal / quantity, exact when it fits in 4 decimals, otherwise rounded half-up to 4."""
    if quantity == 0:
        return subtotal
    value = subtotal / quantity
    if value == value.quantize(UNIT_PRICE_PLACES, rounding=ROUND_HALF_UP):
        return value.quantize(CENT) if value == value.quantize(CENT) else tidy(value)
    return value.quantize(UNIT_PRICE_PLACES, rounding=ROUND_HALF_UP)


def stamp(moment: datetime) -> str:
    """A compact UTC time for event keys: 20240315T101500Z (microseconds only when the store sent them)."""
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y%m%dT%H%M%S.%fZ")
    return moment.strftime("%Y%m%dT%H%M%SZ")


def event_key(*parts: str) -> str:
    """Join parts with ":" into a bus-safe message id: only [A-Za-z0-9:._-], at most 128 characters.

    Unsafe characters become "-"; an over-long key keeps its start and ends in a hash of the whole, so two
    different inputs never collapse into one key.
    """
    raw = ":".join(parts)
    safe = _KEY_UNSAFE.sub("-", raw)
    if safe == raw and len(safe) <= MAX_KEY_LENGTH:
        return safe
    return _shortened(safe, raw)


def bounded_key(text: str) -> str:
    """`text` as a bus message id: unchanged up to 128 characters, else its start and a hash of the whole."""
    return text if len(text) <= MAX_KEY_LENGTH else _shortened(text, text)


def _shortened(shown_part: str, whole: str) -> str:
    digest = hashlib.sha256(whole.encode("utf-8", "surrogatepass")).hexdigest()[:24]
    return f"{shown_part[: MAX_KEY_LENGTH - len(digest) - 1]}:{digest}"


def scalar_meta(entries: Iterable[Mapping[str, Any]], key_field: str, value_field: str) -> dict[str, str]:
    """Scalar key/value pairs (WooCommerce meta_data, Shopify note_attributes) as strings; objects are skipped."""
    meta: dict[str, str] = {}
    for entry in entries:
        key = entry.get(key_field)
        value = entry.get(value_field)
        if not isinstance(key, str) or not key.strip():
            continue
        if value is None or isinstance(value, Mapping | list):
            continue
        if isinstance(value, bool):
            meta[key.strip()] = "true" if value else "false"
        else:
            meta[key.strip()] = to_text(value) if isinstance(value, str) else str(value).strip()
    return meta


def find_tax_id(meta: Mapping[str, str], keys: Iterable[str]) -> str:
    """The first non-empty value among `keys` (in that priority), matching meta keys case-insensitively."""
    lowered: dict[str, str] = {}
    for key, value in meta.items():
        lowered.setdefault(key.strip().lower(), value)
    for key in keys:
        value = lowered.get(key.lower(), "").strip()
        if value:
            return value
    return ""


def build(model: type[ModelT], **fields: Any) -> ModelT:
    """Build a canonical model; a payload that still does not fit it is the store's fault: 400, not 500.

    SKUs, order numbers and names over their FIELD_LIMITS are refused here too, never cut short: a cut SKU maps to
    another product, a cut buyer name is another party on a legal document.
    """
    for name, value in fields.items():
        if name in FIELD_LIMITS and isinstance(value, str):
            limit, unit = FIELD_LIMITS[name]
            refusal = too_long(f"{_MODEL_WORDS.get(model.__name__, model.__name__.lower())} {name}", value, limit, unit)
            if refusal:
                raise UnreadableOrder(refusal)
    try:
        return model(**fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()[:5]
        )
        raise UnreadableOrder(f"{model.__name__}: {problems}") from exc


def mismatch(channel: str, topic: str, expected: str) -> BadRequest:
    """A 400 refusal naming the topic and what its body should have been (never the body's content)."""
    return BadRequest(
        400, TOPIC_MISMATCH, f"A {channel} {topic or '(none)'} delivery carries {expected}; this body does not."
    )
