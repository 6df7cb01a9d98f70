"""The rules block of a store file: the documented example loads; mistakes are refused naming file and key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.domain.rules import check_rules_settings, parse_rules
from shared.errors import ConfigError
from shared.store_files import load_store

EXAMPLE = """
store_id: ceramica-azul
channel: woocommerce
webhook_secret: local-only-secret
currency: EUR
rules:
  currencies: [EUR]
  prices: {source: price_list}
  price_list: {BLUE-MUG-350ML: "12.40", "TEA-SENCHA-100G:8841": 6.5}
  price_tolerance: "0.01"
  prices_include_tax: false
  rounding: per_line
  totals_tolerance: 0.01
  taxes:
    default_country: ES
    rates:
      - {country: ES, tax_class: standard, rate: "21"}
      - {country: ES, tax_class: reduced-rate, rate: 10}
      - {country: ES, region: [GC, TF], rate: "0"}
      - {country: "*", outside_eu: true, rate: "0"}
    shipping_taxable: true
    fees_taxable: true
  tax_ids: {required_for_b2b: true, countries: [ES, PT, MX]}
  transforms:
    payment_terms: {stripe: 48, bacs: "30", cod: "10"}
    shipping_items: {flat_rate: SHIPPING-STD, free_shipping: SHIPPING-FREE}
"""


def write_store(tmp_path: Path, rules: dict[str, Any] | None = None) -> Path:
    data = yaml.safe_load(EXAMPLE)
    if rules is not None:
        data["rules"] = rules
    path = tmp_path / "ceramica-azul.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_documented_example_loads_with_decimals_and_text_codes(tmp_path: Path) -> None:
    store = load_store(write_store(tmp_path))
    rules = parse_rules(store.rules)
    assert rules.price_list == {"BLUE-MUG-350ML": Decimal("12.40"), "TEA-SENCHA-100G:8841": Decimal("6.5")}
    assert rules.totals_tolerance == Decimal("0.01")  # a YAML float, kept exact
    assert [r.rate for r in rules.taxes.rates] == [Decimal("21"), Decimal("10"), Decimal("0"), Decimal("0")]
    assert rules.taxes.rates[2].region == ("GC", "TF")
    assert rules.transforms.payment_terms["stripe"] == "48"  # YAML read it as a number
    assert rules.tax_ids.countries == ("ES", "PT", "MX")


def test_empty_rules_mean_defaults() -> None:
    rules = parse_rules({})
    assert (rules.rounding, rules.totals_tolerance, rules.prices.source) == ("per_line", Decimal("0.01"), "store")


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"curencies": ["EUR"]}, "rules.curencies: unknown key"),
        ({"taxes": {"rates": [{"country": "ES", "rate": "121"}]}}, "rules.taxes.rates.0.rate:"),
        ({"taxes": {"rates": [{"country": "ES", "rate": "-4"}]}}, "rules.taxes.rates.0.rate:"),
        ({"taxes": {"rates": [{"country": "ES", "rate": "veintiuno"}]}}, "rules.taxes.rates.0.rate:"),
        ({"taxes": {"rates": [{"country": "ESP", "rate": "21"}]}}, "two-letter"),
        ({"taxes": {"rates": [{"country": "ES", "rate": "21", "vat": 1}]}}, "rules.taxes.rates.0.vat: unknown key"),
        ({"rounding": "per_invoice"}, "rules.rounding:"),
        ({"totals_tolerance": "-0.01"}, "rules.totals_tolerance:"),
        ({"totals_tolerance": True}, "rules.totals_tolerance:"),
        ({"price_list": {"BLUE-MUG-350ML": "doce"}}, "rules.price_list.BLUE-MUG-350ML:"),
        ({"prices": {"source": "price_list"}}, "rules.prices.source: is price_list, but price_list is empty"),
        ({"currencies": ["EURO"]}, "rules.currencies:"),
        ({"tax_ids": {"countries": ["Spain"]}}, "rules.tax_ids.countries:"),
        ({"billing": {"countries": {"ES": {"business": ["nif"]}}}}, "rules.billing.countries.ES.business.0:"),
        ({"taxes": {"rates": "21"}}, "rules.taxes.rates:"),
    ],
)
def test_bad_rules_are_refused_at_load_naming_file_key_and_reason(
    tmp_path: Path, rules: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_store(write_store(tmp_path, rules))
    text = str(refused.value)
    assert text.startswith("ceramica-azul.yaml: rules.")
    assert message in text


def test_rules_that_are_not_a_mapping_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"shop\.yaml: rules: expected a mapping"):
        check_rules_settings(["EUR"], "shop.yaml")  # type: ignore[arg-type]


def _order_checks_doc() -> str:
    return (Path(__file__).resolve().parents[2] / "docs" / "order-checks.md").read_text(encoding="utf-8")


def test_every_problem_code_is_documented() -> None:
    from shared.domain.rules import MESSAGES

    text = _order_checks_doc()
    missing = [code for code in MESSAGES if f"`{code}`" not in text]
    assert missing == []


def test_the_rules_example_in_the_docs_is_valid() -> None:
    text = _order_checks_doc()
    blocks = [part.split("```", 1)[0] for part in text.split("```yaml\n")[1:]]
    block = next(b for b in blocks if b.startswith("rules:"))
    rules = parse_rules(yaml.safe_load(block)["rules"], "order-checks.md")
    assert rules.transforms.payment_terms["*"] == "ZZZ"
    assert rules.billing.countries["ES"].limit == Decimal("3000")
