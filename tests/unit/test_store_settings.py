"""Store files are validated on load; every error names the file, the key and the reason. A weak or
unresolved webhook secret refuses the store, and one refused file leaves the other stores loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.store_files import load_store, load_store_folder, load_stores
from shared.stores import StoreFileError, StoreProblem
from tests.support import SECRETS, write_store_file

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-long-enough-for-hmac"
GOOD = """store_id: shop
channel: woocommerce
webhook_secret: env:SHOP_SECRET
currency: eur
seller: {name: Tienda S.L., vat_id: ESB12345674, country: es}
"""
KEY_VAULT_REFERENCE = "@Microsoft.KeyVault(SecretUri=https://o2c-kv.vault.azure.net/secrets/shop-webhook/)"


def write(folder: Path, text: str, name: str = "shop.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def refusal(path: Path) -> list[StoreProblem]:
    with pytest.raises(StoreFileError) as refused:
        load_store(path)
    return refused.value.problems


def test_a_good_file_loads_with_secrets_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_SECRET", SECRET)
    settings = load_store(write(tmp_path, GOOD))
    assert settings.webhook_secret == SECRET
    assert settings.currency == "EUR" and settings.seller.country == "ES"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD, "shop.yaml: webhook_secret: environment variable SHOP_SECRET is not set"),
        (GOOD.replace("currency: eur", "currency: euro"), "shop.yaml: currency: must be a three-letter ISO 4217"),
        (GOOD + "colour: blue\n", "shop.yaml: colour: unknown key"),
        (GOOD.replace("channel: woocommerce", "channel: magento"), "shop.yaml: channel: Input should be"),
        (GOOD + "invoice: {payment_means_code: '59'}\n", "shop.yaml: invoice.payment_means_code: direct debit"),
        (GOOD + "invoice: {number_digits: many}\n", "shop.yaml: invoice.number_digits: Input should be a valid"),
        (GOOD.replace("store_id: shop", "store_id: other"), "shop.yaml: store_id: 'other' must equal the file name"),
        ("- just\n- a list\n", "shop.yaml: (top level): expected a mapping"),
        ("store_id: [unclosed\n", "shop.yaml: (file): not valid YAML"),
        (GOOD + "rules: {price_tolerance: lots}\n", "shop.yaml: rules.price_tolerance: "),
    ],
)
def test_mistakes_are_refused_with_file_key_and_reason(tmp_path, monkeypatch, text, message):
    if "SHOP_SECRET is not set" not in message:
        monkeypatch.setenv("SHOP_SECRET", SECRET)
    else:
        monkeypatch.delenv("SHOP_SECRET", raising=False)
    with pytest.raises(StoreFileError) as refused:
        load_store(write(tmp_path, text))
    assert message in str(refused.value)
    assert all(p.file == "shop.yaml" and p.key and p.reason for p in refused.value.problems)


@pytest.mark.parametrize(
    ("written", "environment", "reason"),
    [
        ("''", None, "is empty"),
        ("'   '", None, "is empty"),
        ("env:SHOP_SECRET", "", "is empty"),
        ("short-secret", None, "is shorter than 16 characters"),
        ("env:SHOP_SECRET", "fifteen-chars!!", "is shorter than 16 characters"),
        ("env:SHOP_SECRET", KEY_VAULT_REFERENCE, "environment variable SHOP_SECRET is a Key Vault reference"),
        (f"'{KEY_VAULT_REFERENCE}'", None, "is a Key Vault reference that did not resolve"),
    ],
)
def test_an_empty_short_or_unresolved_webhook_secret_refuses_the_store(
    tmp_path, monkeypatch, written, environment, reason
):
    if environment is None:
        monkeypatch.delenv("SHOP_SECRET", raising=False)
    else:
        monkeypatch.setenv("SHOP_SECRET", environment)
    text = GOOD.replace("env:SHOP_SECRET", written)

    problems = refusal(write(tmp_path, text))

    assert [(p.file, p.key) for p in problems] == [("shop.yaml", "webhook_secret")]
    assert reason in problems[0].reason
    secret = environment or written.strip("'")
    assert not secret.strip() or secret not in str(problems[0])  # the reason never repeats the secret


def test_a_secret_of_exactly_16_characters_is_accepted(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_SECRET", "0123456789abcdef")
    assert load_store(write(tmp_path, GOOD)).webhook_secret == "0123456789abcdef"


def test_an_unresolved_key_vault_reference_in_any_setting_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_SECRET", SECRET)
    monkeypatch.setenv("SHOP_API_SECRET", KEY_VAULT_REFERENCE)
    text = GOOD + "api: {base_url: 'https://shop.example', consumer_secret: env:SHOP_API_SECRET}\n"

    problems = refusal(write(tmp_path, text))

    assert [(p.file, p.key) for p in problems] == [("shop.yaml", "api.consumer_secret")]
    assert "SHOP_API_SECRET is a Key Vault reference that did not resolve" in problems[0].reason


def test_a_yaml_error_does_not_quote_the_line_that_may_hold_a_secret(tmp_path):
    text = GOOD.replace("env:SHOP_SECRET", '"literal-secret-value-123\n  : [')

    problems = refusal(write(tmp_path, text))

    assert problems[0].key == "(file)" and "not valid YAML" in problems[0].reason and "line" in problems[0].reason
    assert "literal-secret-value-123" not in str(problems[0])


def test_one_refused_file_leaves_the_other_stores_loaded(tmp_path):
    write_store_file(tmp_path, "demo-woo", "woocommerce")
    write_store_file(tmp_path, "demo-shopify", "shopify", webhook_secret="too-short")
    write(tmp_path, "store_id: [unclosed\n", "typo-shop.yaml")

    loaded = load_store_folder(tmp_path)

    assert set(loaded.stores) == {"demo-woo"} and loaded.stores["demo-woo"].webhook_secret == SECRETS["woocommerce"]
    assert sorted(loaded.broken) == ["demo-shopify", "typo-shop"]
    [short] = loaded.broken["demo-shopify"]
    assert (short.file, short.key) == ("demo-shopify.yaml", "webhook_secret") and "shorter than 16" in short.reason
    assert loaded.broken["typo-shop"][0].file == "typo-shop.yaml"
    with pytest.raises(StoreFileError, match=r"demo-shopify\.yaml: webhook_secret"):
        load_stores(tmp_path)  # the strict loader still refuses the folder


def test_a_store_defined_twice_is_refused_rather_than_guessed(tmp_path):
    write_store_file(tmp_path, "demo-woo", "woocommerce")
    (tmp_path / "demo-woo.yml").write_text((tmp_path / "demo-woo.yaml").read_text(), encoding="utf-8")

    loaded = load_store_folder(tmp_path)

    assert loaded.stores == {}
    [twice] = loaded.broken["demo-woo"]
    assert str(twice) == "demo-woo.yml: store_id: 'demo-woo' is also defined by demo-woo.yaml"


def test_the_shipped_demo_stores_load_with_the_example_secrets(monkeypatch):
    import json

    example = json.loads((ROOT / "local.settings.example.json").read_text(encoding="utf-8"))["Values"]
    monkeypatch.setenv("DEMO_WOO_SECRET", example["DEMO_WOO_SECRET"])
    monkeypatch.setenv("DEMO_SHOPIFY_SECRET", example["DEMO_SHOPIFY_SECRET"])
    stores = load_stores(ROOT / "config" / "stores")
    assert set(stores) == {"demo-woo", "demo-shopify"}
    assert stores["demo-woo"].sku_map["BLUE-MUG-350ML"] == "MUG-BLUE-350"


@pytest.mark.parametrize("written", ["short-secret", '"literal-secret-value-123\n  : ['])
def test_a_logged_traceback_of_a_refusal_does_not_carry_the_secret(tmp_path, written):
    import traceback

    with pytest.raises(StoreFileError) as refused:
        load_store(write(tmp_path, GOOD.replace("env:SHOP_SECRET", written)))

    logged = "".join(traceback.format_exception(refused.value))
    assert "shop.yaml" in logged
    assert written.strip('"').split("\n")[0] not in logged


def test_seller_vat_id_with_a_wrong_check_digit_is_refused_at_load(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_SECRET", SECRET)
    problems = refusal(write(tmp_path, GOOD.replace("ESB12345674", "ESB12345675")))
    assert [p.key for p in problems] == ["seller.vat_id"]
    assert "not a valid VAT id for ES" in problems[0].reason


def test_seller_vat_id_written_with_spaces_and_a_valid_check_digit_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_SECRET", SECRET)
    settings = load_store(write(tmp_path, GOOD.replace("ESB12345674", "'ES B-1234567 4'")))
    assert settings.seller is not None and settings.seller.vat_id == "ES B-1234567 4"


def test_invoice_currency_setting_is_presentment_unless_the_file_says_shop(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_SECRET", SECRET)
    assert load_store(write(tmp_path, GOOD)).invoice.currency == "presentment"
    shop = load_store(write(tmp_path, GOOD + "invoice: {currency: shop, accounting_currency: aud}\n"))
    assert (shop.invoice.currency, shop.invoice.accounting_currency) == ("shop", "AUD")
    problems = refusal(write(tmp_path, GOOD + "invoice: {currency: customer}\n"))
    assert [p.key for p in problems] == ["invoice.currency"]
