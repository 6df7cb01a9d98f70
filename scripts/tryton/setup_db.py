"""Initialise the local Tryton test database: modules, company, accounts, taxes, fiscal years, demo products.

Run by scripts/tryton/serve.py only when no cached database matches this script, requirements-tryton.txt and the
fiscal years in force today (last, current and next year). Uses trytond-admin and proteus (both local, no server
needed); the service itself never imports them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

MODULES = ["sale", "account_invoice", "account_invoice_stock", "stock", "account_product"]
COMPANY_NAME = "Demo Tienda S.L."

# The demo store's tax rules (Spain): standard IVA 21 %, reduced 10 % for food, 0 % for exports.
TAXES = [("IVA 21%", Decimal("0.21")), ("IVA 10%", Decimal("0.10")), ("IVA 0% export", Decimal("0"))]

# code, name, list price excl. tax (EUR), tax name, type; goods get initial stock in the warehouse.
PRODUCTS = [
    ("BLUE-MUG-350ML", "Blue mug 350 ml", Decimal("12.40"), "IVA 21%", "goods"),
    ("RED-TEAPOT-1L", "Red teapot 1 l", Decimal("29.90"), "IVA 21%", "goods"),
    ("GREEN-TEA-100G", "Green tea 100 g", Decimal("7.50"), "IVA 10%", "goods"),
    ("WHITE-PLATE-24CM", "White plate 24 cm", Decimal("9.95"), "IVA 21%", "goods"),
    ("SHIPPING", "Shipping", Decimal("0"), "IVA 21%", "service"),
    ("FEE", "Fee", Decimal("0"), "IVA 21%", "service"),
]
# Enough for every test run against one server start, bursts included (tests compare stock before and after).
INITIAL_STOCK = Decimal("10000")


def fiscal_years(today: dt.date | None = None) -> tuple[int, ...]:
    """Last, current and next calendar year around today (UTC, Tryton's default company time zone): documents
    dated today, a late refund of last year's order and a test run just before New Year all find an open period."""
    year = (today or dt.datetime.now(dt.UTC).date()).year
    return (year - 1, year, year + 1)


def admin_init(config_file: Path, database: str, password: str) -> None:
    """Create the SQLite file and activate the modules (trytond-admin asks for e-mail and password)."""
    db_dir = _database_dir(config_file)
    db_dir.mkdir(parents=True, exist_ok=True)
    (db_dir / f"{database}.sqlite").touch()
    with tempfile.NamedTemporaryFile("w", suffix=".pass", delete=False) as passfile:
        passfile.write(password + "\n")
    try:
        admin = Path(sys.executable).with_name("trytond-admin")
        subprocess.run(
            [str(admin), "-c", str(config_file), "-d", database, "--all", "--activate-dependencies", "-u", *MODULES],
            input="\n",  # empty answer to "email for admin"
            text=True,
            check=True,
            env={**os.environ, "TRYTONPASSFILE": passfile.name},
        )
    finally:
        os.unlink(passfile.name)


def _database_dir(config_file: Path) -> Path:
    for line in config_file.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "path":
            return Path(value.strip())
    raise SystemExit(f"{config_file}: no [database] path")


def populate(config_file: Path, database: str, years: tuple[int, ...]) -> None:
    from proteus import Model, Wizard
    from proteus import config as proteus_config

    config = proteus_config.set_trytond(database=database, config_file=str(config_file))

    Currency = Model.get("currency.currency")
    eur = Currency(name="Euro", code="EUR", symbol="€", digits=2, rounding=Decimal("0.01"))
    eur.save()

    Party = Model.get("party.party")
    company_party = Party(name=COMPANY_NAME)
    company_party.save()
    company_wizard = Wizard("company.company.config")
    company_wizard.execute("company")
    company_wizard.form.party = company_party
    company_wizard.form.currency = eur
    company_wizard.execute("add")
    User = Model.get("res.user")
    config._context = User.get_preferences(True, {})
    Company = Model.get("company.company")
    (company,) = Company.find()

    accounts = _create_chart(config, company)
    _create_fiscal_years(company, years)
    taxes = _create_taxes(company, accounts["tax"])
    _configure_accounting(company)
    _create_payment_method(company, accounts["cash"])
    PaymentTerm = Model.get("account.invoice.payment_term")
    term = PaymentTerm(name="Immediate")
    term.lines.new(type="remainder")
    term.save()
    _create_products(accounts, taxes)


def _create_chart(config: Any, company: Any) -> dict[str, Any]:
    from proteus import Model, Wizard

    ModelData = Model.get("ir.model.data")
    AccountTemplate = Model.get("account.account.template")
    Account = Model.get("account.account")
    template = AccountTemplate(ModelData.get_id("account.account_template_root_en", config.context))
    wizard = Wizard("account.create_chart")
    wizard.execute("account")
    wizard.form.account_template = template
    wizard.form.company = company
    wizard.execute("create_account")

    def one(domain: list[Any]) -> Any:
        found = Account.find([("company", "=", company.id), ("closed", "!=", True), *domain], limit=1)
        if not found:
            raise SystemExit(f"no account for {domain}")
        return found[0]

    accounts = {
        "receivable": one([("type.receivable", "=", True)]),
        "payable": one([("type.payable", "=", True)]),
        "revenue": one([("type.revenue", "=", True)]),
        "expense": one([("type.expense", "=", True)]),
        "cash": one([("code", "=", "1.1.1")]),
        "tax": one([("code", "=", "6.3.6")]),
    }
    wizard.form.account_receivable = accounts["receivable"]
    wizard.form.account_payable = accounts["payable"]
    wizard.form.category_account_revenue = accounts["revenue"]
    wizard.form.category_account_expense = accounts["expense"]
    wizard.execute("create_properties")
    return accounts


def _create_fiscal_years(company: Any, years: tuple[int, ...]) -> None:
    from proteus import Model

    FiscalYear = Model.get("account.fiscalyear")
    SequenceStrict = Model.get("ir.sequence.strict")
    SequenceType = Model.get("ir.sequence.type")
    (move_type,) = SequenceType.find([("name", "=", "Account Move")], limit=1)
    (invoice_type,) = SequenceType.find([("name", "=", "Invoice")], limit=1)
    for year in years:
        fiscal_year = FiscalYear(name=str(year), company=company)
        fiscal_year.start_date = dt.date(year, 1, 1)
        fiscal_year.end_date = dt.date(year, 12, 31)
        fiscal_year.move_sequence = SequenceStrict(
            name=f"Moves {year}", sequence_type=move_type, company=company, prefix=f"AS{year}-"
        )
        fiscal_year.move_sequence.save()
        invoices = SequenceStrict(
            name=f"Invoices {year}", sequence_type=invoice_type, company=company, prefix=f"FV{year}-", padding=5
        )
        invoices.save()
        credit_notes = SequenceStrict(
            name=f"Credit notes {year}", sequence_type=invoice_type, company=company, prefix=f"RV{year}-", padding=5
        )
        credit_notes.save()
        (sequences,) = fiscal_year.invoice_sequences
        sequences.out_invoice_sequence = invoices
        sequences.out_credit_note_sequence = credit_notes
        sequences.in_invoice_sequence = invoices
        sequences.in_credit_note_sequence = credit_notes
        fiscal_year.save()
        fiscal_year.click("create_period")


def _create_taxes(company: Any, tax_account: Any) -> dict[str, Any]:
    from proteus import Model

    Tax = Model.get("account.tax")
    taxes = {}
    for name, rate in TAXES:
        tax = Tax(name=name, description=name, type="percentage", rate=rate, company=company)
        tax.invoice_account = tax_account
        tax.credit_note_account = tax_account
        tax.save()
        taxes[name] = tax
    return taxes


def _configure_accounting(company: Any) -> None:
    from proteus import Model

    # Stores (WooCommerce by default, Shopify per line item) round tax per line; so does the ERP here,
    # otherwise a multi-line order can differ from the store's tax by a cent.
    Configuration = Model.get("account.configuration")
    configuration = Configuration(1)
    configuration.tax_rounding = "line"
    configuration.save()


def _create_payment_method(company: Any, cash_account: Any) -> None:
    from proteus import Model

    Journal = Model.get("account.journal")
    PaymentMethod = Model.get("account.invoice.payment.method")
    (cash_journal,) = Journal.find([("type", "=", "cash")], limit=1)
    method = PaymentMethod(name="Store payment", company=company, journal=cash_journal)
    method.debit_account = cash_account
    method.credit_account = cash_account
    method.save()


def _create_products(accounts: dict[str, Any], taxes: dict[str, Any]) -> None:
    from proteus import Model

    Category = Model.get("product.category")
    Uom = Model.get("product.uom")
    Template = Model.get("product.template")
    Location = Model.get("stock.location")
    Inventory = Model.get("stock.inventory")
    (unit,) = Uom.find([("name", "=", "Unit")])
    categories = {}
    for name, _rate in TAXES:
        category = Category(name=f"Sales {name}", accounting=True)
        category.account_revenue = accounts["revenue"]
        category.account_expense = accounts["expense"]
        category.customer_taxes.append(taxes[name])
        category.save()
        categories[name] = category

    goods = []
    for code, name, price, tax_name, kind in PRODUCTS:
        template = Template(name=name, code=code, type=kind, salable=True, default_uom=unit)
        template.sale_uom = unit
        template.list_price = price
        template.account_category = categories[tax_name]
        template.save()
        if kind == "goods":
            goods.append(template.products[0])

    (storage,) = Location.find([("code", "=", "STO")])
    inventory = Inventory(location=storage)
    for product in goods:
        line = inventory.lines.new(product=product)
        line.quantity = float(INITIAL_STOCK)
    inventory.click("confirm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--database", default="o2c")
    parser.add_argument("--password", default=os.environ.get("TRYTON_PASSWORD", "o2c-local-admin"))
    parser.add_argument(
        "--fiscal-years",
        default=",".join(map(str, fiscal_years())),
        help="comma-separated calendar years (serve.py passes the ones its cache key names)",
    )
    args = parser.parse_args()
    years = tuple(int(year) for year in args.fiscal_years.split(","))
    admin_init(args.config, args.database, args.password)
    populate(args.config, args.database, years)


if __name__ == "__main__":
    main()
