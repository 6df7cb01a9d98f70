"""Store files are validated on load; every error names the file, the key and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.errors import ConfigError
from shared.stores import load_store, load_stores

ROOT = Path(__file__).resolve().parents[2]
GOOD = """store_id: shop
channel: woocommerce
webhook_secret: env:SHOP_SECRET
currency: eur
seller: {name: Tienda S.L., vat_id: ESB12345674, country: es}
"""


def write(folder: Path, text: str, name: str = "shop.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_loads_with_secrets_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_SECRET", "s3cret")
    settings = load_store(write(tmp_path, GOOD))
    assert settings.webhook_secret == "s3cret"
    assert settings.currency == "EUR" and settings.seller.country == "ES"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD, "shop.yaml.webhook_secret: environment variable SHOP_SECRET is not set"),
        (GOOD.replace("currency: eur", "currency: euro"), "shop.yaml: currency: must be a three-letter ISO 4217"),
        (GOOD + "colour: blue\n", "shop.yaml: colour: unknown key"),
        (GOOD.replace("channel: woocommerce", "channel: magento"), "shop.yaml: channel: Input should be"),
        (GOOD + "invoice: {payment_means_code: '59'}\n", "shop.yaml: invoice.payment_means_code: direct debit"),
        (GOOD + "invoice: {number_digits: many}\n", "shop.yaml: invoice.number_digits: Input should be a valid"),
        (GOOD.replace("store_id: shop", "store_id: other"), "shop.yaml: store_id: 'other' must equal the file name"),
        ("- just\n- a list\n", "shop.yaml: expected a mapping"),
        ("store_id: [unclosed\n", "shop.yaml: not valid YAML"),
    ],
)
def test_mistakes_are_refused_with_file_key_and_reason(tmp_path, monkeypatch, text, message):
    if "SHOP_SECRET is not set" not in message:
        monkeypatch.setenv("SHOP_SECRET", "s3cret")
    else:
        monkeypatch.delenv("SHOP_SECRET", raising=False)
    with pytest.raises(ConfigError) as refused:
        load_store(write(tmp_path, text))
    assert message in str(refused.value)


def test_the_shipped_demo_stores_load(monkeypatch):
    monkeypatch.setenv("DEMO_WOO_SECRET", "a")
    monkeypatch.setenv("DEMO_SHOPIFY_SECRET", "b")
    stores = load_stores(ROOT / "config" / "stores")
    assert set(stores) == {"demo-woo", "demo-shopify"}
    assert stores["demo-woo"].sku_map["BLUE-MUG-350ML"] == "MUG-BLUE-350"
