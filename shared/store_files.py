"""Store files: one YAML file per store in the stores folder, read and validated into StoreSettings.

Errors name the file, the key and the reason. A value written `env:NAME` is read from the
environment, so secrets live in app settings or Key Vault references, not in the file. The settings'
shape is shared.stores; the rules check their own section (shared.domain.rules), so loading sits here,
above both, and neither imports the other's loader.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from shared.domain.rules import check_rules_settings  # the rules own their schema
from shared.domain.rules.taxids import check_tax_id
from shared.errors import ConfigError
from shared.stores import (
    UNRESOLVED_REASON,
    UNRESOLVED_REFERENCES,
    LoadedStores,
    Seller,
    StoreFileError,
    StoreProblem,
    StoreSettings,
)


def _resolve(value: Any, key: str, file: str, problems: list[StoreProblem]) -> Any:
    """Replace `env:NAME` strings (recursively) with the environment variable's value; note what is missing."""
    if isinstance(value, str):
        source = ""
        if value.startswith("env:"):
            name = value[4:]
            if name not in os.environ:
                problems.append(StoreProblem(file, key, f"environment variable {name} is not set"))
                return value
            source = f"environment variable {name} "
            value = os.environ[name]
        if value.startswith(UNRESOLVED_REFERENCES):
            problems.append(StoreProblem(file, key, f"{source}{UNRESOLVED_REASON}".strip()))
        return value
    if isinstance(value, dict):
        return {k: _resolve(v, f"{key}.{k}" if key else str(k), file, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, f"{key}[{i}]", file, problems) for i, v in enumerate(value)]
    return value


def _validation_problems(error: ValidationError, file: str) -> list[StoreProblem]:
    problems = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        reason = "unknown key" if item["type"] == "extra_forbidden" else item["msg"].removeprefix("Value error, ")
        problems.append(StoreProblem(file, key, reason))
    return problems


def _rules_problems(error: ConfigError, file: str) -> list[StoreProblem]:
    """The rules check words its errors "<file>: rules.<key>: <reason>; …" (shared.domain.rules.settings)."""
    problems = []
    for part in str(error).split("; "):
        key, _, reason = part.removeprefix(f"{file}: ").partition(": ")
        problems.append(StoreProblem(file, key, reason) if reason else StoreProblem(file, "rules", part))
    return problems


def _yaml_reason(error: yaml.YAMLError) -> str:
    """Where and what, without PyYAML's quoted snippet of the line, which may hold a literal secret."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or type(error).__name__
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"not valid YAML: {problem}{where}"


def load_store(path: Path) -> StoreSettings:
    """One store file, validated. Raises StoreFileError naming the file, the key and the reason."""
    file = path.name
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        # `from None` here and below: the original error quotes the value, and a traceback would log it.
        raise StoreFileError([StoreProblem(file, "(file)", _yaml_reason(exc))]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreFileError([StoreProblem(file, "(file)", f"cannot be read: {type(exc).__name__}")]) from exc
    if not isinstance(raw, dict):
        raise StoreFileError([StoreProblem(file, "(top level)", "expected a mapping of settings at the top level")])
    problems: list[StoreProblem] = []
    raw = _resolve(raw, "", file, problems)
    if problems:
        raise StoreFileError(problems)
    try:
        settings = StoreSettings.model_validate(raw)
    except ValidationError as exc:
        raise StoreFileError(_validation_problems(exc, file)) from None
    if settings.store_id != path.stem:
        reason = f"'{settings.store_id}' must equal the file name '{path.stem}'"
        raise StoreFileError([StoreProblem(file, "store_id", reason)])
    if settings.seller is not None and settings.seller.vat_id.strip():
        _check_seller_vat_id(settings.seller, file)
    try:
        check_rules_settings(settings.rules, file)
    except ConfigError as exc:
        raise StoreFileError(_rules_problems(exc, file)) from exc
    return settings


def _check_seller_vat_id(seller: Seller, file: str) -> None:
    """The seller's VAT id goes onto every invoice: a wrong check digit is refused here, once, with python-stdnum
    (the same checks as the buyers' ids), instead of on every document."""
    result = check_tax_id(seller.vat_id, seller.country)
    if not result.valid:
        reason = f"is not a valid VAT id for {seller.country} ({result.scheme}): {result.reason}"
        raise StoreFileError([StoreProblem(file, "seller.vat_id", reason)])


def store_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))


def load_store_folder(folder: Path) -> LoadedStores:
    """Load every store file; a file that is refused is set aside with its reasons and the others still load.

    A store id defined twice (`shop.yaml` and `shop.yml`) is refused as a whole: which file is meant is unclear.
    """
    loaded = LoadedStores()
    first_file: dict[str, str] = {}
    for path in store_files(folder):
        try:
            settings = load_store(path)
        except StoreFileError as error:
            loaded.broken.setdefault(path.stem, []).extend(error.problems)
            continue
        if settings.store_id in first_file:
            reason = f"'{settings.store_id}' is also defined by {first_file[settings.store_id]}"
            loaded.broken.setdefault(settings.store_id, []).append(StoreProblem(path.name, "store_id", reason))
            continue
        first_file[settings.store_id] = path.name
        loaded.stores[settings.store_id] = settings
    for store_id in loaded.broken:
        loaded.stores.pop(store_id, None)
    return loaded


def load_stores(folder: Path) -> dict[str, StoreSettings]:
    """Every store of the folder; raises StoreFileError for the first file that is refused."""
    loaded = load_store_folder(folder)
    for problems in loaded.broken.values():
        raise StoreFileError(problems)
    return loaded.stores
