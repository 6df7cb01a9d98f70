"""Every problem code the rules can raise, with its English and Spanish sentence, in one place.

Codes are stable (dashboards, tests and people's filters rely on them); sentences may improve. The
templates take `{field}`, `{expected}`, `{found}` and the named extras each rule passes.
"""

from __future__ import annotations

from string import Formatter
from typing import Any

from shared.domain.records import Problem

# code: (English, Spanish)
MESSAGES: dict[str, tuple[str, str]] = {
    "no_lines": (
        "The order has no product lines, so there is nothing to invoice.",
        "El pedido no tiene líneas de producto, así que no hay nada que facturar.",
    ),
    "unreadable_order": (
        "Part of the order could not be read ({field}): {found}. Check the order in the store.",
        "No se pudo leer una parte del pedido ({field}): {found}. Revise el pedido en la tienda.",
    ),
    "currency_not_allowed": (
        "The order is in {found}, but this store invoices only in {expected}.",
        "El pedido está en {found}, pero esta tienda solo factura en {expected}.",
    ),
    "negative_quantity": (
        "Line {line} ({sku}) sells a negative quantity ({found}); a sale needs a positive quantity.",
        "La línea {line} ({sku}) vende una cantidad negativa ({found}); una venta necesita una cantidad positiva.",
    ),
    "missing_sku": (
        "Line {line} ({name}) has no SKU, so it cannot be matched to an item in the invoicing system.",
        "La línea {line} ({name}) no tiene SKU, así que no se puede asociar a un artículo del sistema de facturación.",
    ),
    "unmapped_sku": (
        "The SKU {found} on line {line} is not mapped to an item in the invoicing system. Add it to the SKU map "
        "and retry the order.",
        "El SKU {found} de la línea {line} no está asociado a ningún artículo del sistema de facturación. "
        "Añádalo a la tabla de SKU y reintente el pedido.",
    ),
    "missing_list_price": (
        "The SKU {sku} on line {line} is not in the price list, so its price {found} cannot be checked.",
        "El SKU {sku} de la línea {line} no está en la tarifa, así que su precio {found} no se puede comprobar.",
    ),
    "price_mismatch": (
        "Line {line} ({sku}) is priced at {found} but the price list says {expected}.",
        "La línea {line} ({sku}) tiene un precio de {found}, pero la tarifa indica {expected}.",
    ),
    "prices_include_tax_mismatch": (
        "The store reports prices {found_words}, but this store's rules say prices are {expected_words}.",
        "La tienda indica precios {found_words_es}, pero las reglas de esta tienda dicen que son {expected_words_es}.",
    ),
    "no_tax_rule": (
        "There is no tax rule for {destination}, so the tax on {field} cannot be checked.",
        "No hay ninguna regla de impuestos para {destination}, así que no se puede comprobar el impuesto de {field}.",
    ),
    "unknown_tax_class": (
        "The tax class '{found}' on {field} has no rate for {destination}.",
        "La clase de impuesto '{found}' de {field} no tiene tipo para {destination}.",
    ),
    "tax_rate_mismatch": (
        "{what} is taxed at {found}% but the rate for {destination} ({tax_class}) is {expected}%.",
        "{what_es} tributa al {found}%, pero el tipo para {destination} ({tax_class}) es el {expected}%.",
    ),
    "tax_amount_mismatch": (
        "The tax on {what} is {found}, but {rule} gives {expected}.",
        "El impuesto de {what_es} es {found}, pero {rule_es} da {expected}.",
    ),
    "discount_mismatch": (
        "The discounts do not add up: {detail} (expected {expected}, found {found}).",
        "Los descuentos no cuadran: {detail_es} (se esperaba {expected}, hay {found}).",
    ),
    "totals_mismatch": (
        "The {what} does not add up: it should be {expected} but the store says {found}.",
        "{what_es} no cuadra: debería ser {expected}, pero la tienda indica {found}.",
    ),
    "invalid_tax_id": (
        "The customer's tax id {found} is not a valid {scheme}: {reason}",
        "El identificador fiscal del cliente {found} no es un {scheme} válido: {reason_es}",
    ),
    "missing_billing_field": (
        "An invoice to {buyer} in {country} needs the buyer's {what}, and the order has none.",
        "Una factura a {buyer_es} en {country} necesita {what_es} del comprador, y el pedido no lo trae.",
    ),
    "unmapped_payment_method": (
        "The payment method '{found}' has no payment terms code in this store's rules.",
        "La forma de pago '{found}' no tiene código de condiciones de pago en las reglas de esta tienda.",
    ),
    "unmapped_shipping_method": (
        "The shipping method '{found}' is not mapped to an item in the invoicing system.",
        "El método de envío '{found}' no está asociado a ningún artículo del sistema de facturación.",
    ),
    "unmapped_fee": (
        "The fee '{found}' is not mapped to an item in the invoicing system.",
        "El cargo '{found}' no está asociado a ningún artículo del sistema de facturación.",
    ),
    "refund_unknown_line": (
        "The refund {refund} refers to line {found}, which is not on the order.",
        "La devolución {refund} se refiere a la línea {found}, que no está en el pedido.",
    ),
    "refund_quantity_exceeded": (
        "The refund {refund} returns {found} of {sku}, but only {expected} are left to refund.",
        "La devolución {refund} devuelve {found} de {sku}, pero solo quedan {expected} por devolver.",
    ),
    "refund_amount_exceeded": (
        "The refund {refund} gives back {found} for {what}, but only {expected} is left to refund.",
        "La devolución {refund} reembolsa {found} por {what_es}, pero solo quedan {expected} por devolver.",
    ),
    "refund_total_mismatch": (
        "The refund {refund} totals {found}, but its lines, shipping and tax add up to {expected}.",
        "La devolución {refund} suma {found}, pero sus líneas, envío e impuestos suman {expected}.",
    ),
}


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(template) if name}


class _Blank(dict[str, Any]):
    # A missing extra must never crash validation; it shows as "?" and a test catches the omission.
    def __missing__(self, key: str) -> str:
        return "?"


def problem(code: str, *, field: str = "", expected: object = "", found: object = "", **extra: object) -> Problem:
    """Build the Problem for a code with both sentences filled in."""
    english, spanish = MESSAGES[code]
    values = _Blank(field=field, expected=str(expected), found=str(found), **{k: str(v) for k, v in extra.items()})
    return Problem(
        code=code,
        field=field,
        expected=str(expected),
        found=str(found),
        message_en=english.format_map(values),
        message_es=spanish.format_map(values),
    )
