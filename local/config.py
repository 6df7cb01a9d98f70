"""Local host settings: the route prefix from host.json, `%Name%` app-setting references in trigger
arguments, and the bus worker settings read from the environment."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from shared.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
_SETTING = re.compile(r"%([^%]+)%")


def route_prefix(root: Path = ROOT) -> str:
    """host.json extensions.http.routePrefix; "api" when absent, as on Azure."""
    path = root / "host.json"
    if path.is_file():
        try:
            http = json.loads(path.read_text(encoding="utf-8")).get("extensions", {}).get("http", {})
        except (ValueError, AttributeError):
            http = {}
        if "routePrefix" in http:
            return str(http["routePrefix"]).strip("/")
    return "api"


def resolve_setting(value: str) -> str:
    """Resolve `%Name%` app-setting references the way the Functions host does for trigger names."""

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"app setting {name!r} is not set (referenced as %{name}%)")
        return os.environ[name]

    return _SETTING.sub(lookup, value)


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError as error:
        raise ConfigError(f"{name}={raw!r} is not a number") from error


def env_int(name: str, default: int) -> int:
    return int(env_float(name, default))


@dataclass(frozen=True)
class BusSettings:
    """Env overrides: LOCAL_BUS_LOCK_SECONDS, _MAX_DELIVERY, _BACKOFF_BASE, _BACKOFF_CAP, _POLL_SECONDS,
    _CONCURRENCY."""

    lock_seconds: float = 30.0
    max_delivery: int = 10
    backoff_base: float = 2.0
    backoff_cap: float = 300.0
    poll_seconds: float = 0.5
    concurrency: int = 4

    @classmethod
    def from_env(cls) -> BusSettings:
        return cls(
            lock_seconds=env_float("LOCAL_BUS_LOCK_SECONDS", cls.lock_seconds),
            max_delivery=env_int("LOCAL_BUS_MAX_DELIVERY", cls.max_delivery),
            backoff_base=env_float("LOCAL_BUS_BACKOFF_BASE", cls.backoff_base),
            backoff_cap=env_float("LOCAL_BUS_BACKOFF_CAP", cls.backoff_cap),
            poll_seconds=env_float("LOCAL_BUS_POLL_SECONDS", cls.poll_seconds),
            concurrency=max(1, env_int("LOCAL_BUS_CONCURRENCY", cls.concurrency)),
        )
