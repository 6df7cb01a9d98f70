"""The local test ERP's setup follows the calendar: fiscal years around today, and a cached database per set."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "tryton"))

import serve
import setup_db


def test_fiscal_years_are_last_current_and_next_year_around_the_given_day() -> None:
    assert setup_db.fiscal_years(dt.date(2027, 9, 15)) == (2026, 2027, 2028)
    assert setup_db.fiscal_years(dt.date(2031, 1, 1)) == (2030, 2031, 2032)


def test_fiscal_years_default_to_today_in_utc() -> None:
    year = dt.datetime.now(dt.UTC).year
    assert setup_db.fiscal_years() == (year - 1, year, year + 1)


def test_cached_database_is_rebuilt_when_the_fiscal_years_change() -> None:
    this_year, next_year = setup_db.fiscal_years(dt.date(2027, 9, 15)), setup_db.fiscal_years(dt.date(2028, 1, 2))
    assert serve.cache_key(this_year) == serve.cache_key(this_year)
    assert serve.cache_key(this_year) != serve.cache_key(next_year)
