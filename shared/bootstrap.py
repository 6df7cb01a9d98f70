"""The one place that reads settings and wires ports to adapters, lazily, once per process.

Locally (the default) state and bus are SQLite files under LOCAL_STATE_DIR and documents a folder there; on
Azure STATE_BACKEND=tables, BUS_BACKEND=servicebus and DOCUMENT_STORE=blob select Table Storage, Service Bus
and Blob Storage.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from shared.errors import ConfigError
from shared.ports import Bus, DocumentStore, StateStore, Target
from shared.store_files import load_store_folder
from shared.stores import StoreNotLoaded, StoreProblem, StoreSettings

log = logging.getLogger("o2c")

QUEUE_SETTINGS = {
    "order-events": "OrderEventsQueue",
    "invoice-requests": "InvoiceRequestsQueue",
    "stock-updates": "StockUpdatesQueue",
    "payment-events": "PaymentEventsQueue",
}


def queue_name(default: str) -> str:
    """The configured name of a queue (app setting named in QUEUE_SETTINGS), else its default name."""
    return os.environ.get(QUEUE_SETTINGS[default], default)


def state_dir() -> Path:
    return Path(os.environ.get("LOCAL_STATE_DIR", ".local"))


def stores_dir() -> Path:
    return Path(os.environ.get("STORES_DIR", "config/stores"))


@dataclass
class Services:
    """What handlers get by name: ports plus the store settings and a clock."""

    state: StateStore
    bus: Bus
    stores: dict[str, StoreSettings]
    state_dir: Path
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    targets: dict[str, Target] = field(default_factory=dict)
    target_factory: Callable[[StoreSettings, Services], Target] | None = None
    # Store files refused at load, by store id (the file name stem): reported, never served.
    broken: dict[str, list[StoreProblem]] = field(default_factory=dict)
    documents: DocumentStore | None = None  # None: the folder `<state dir>/outbox`
    # Whether intake sends an event's queue message itself right after recording it (INTAKE_SENDS=at_once,
    # the default) or leaves every send to the outbox relay (relay: the local host's HTTP process, whose worker
    # process relays continuously, so acknowledging a webhook costs one insert).
    intake_sends: bool = True

    def __post_init__(self) -> None:
        if self.documents is None:
            from shared.adapters.documents_fs import FolderDocumentStore

            self.documents = FolderDocumentStore(self.state_dir / "outbox")

    @property
    def document_store(self) -> DocumentStore:
        """Where issued documents are kept (DOCUMENT_STORE): every reader and writer of documents uses it."""
        assert self.documents is not None  # set in __post_init__
        return self.documents

    def store(self, store_id: str) -> StoreSettings | None:
        return self.stores.get(store_id)

    def loaded_store(self, store_id: str) -> StoreSettings | None:
        """The store's settings, None for an unknown store; raises StoreNotLoaded if its file was refused."""
        if store_id in self.broken:
            raise StoreNotLoaded(store_id, self.broken[store_id])
        return self.stores.get(store_id)

    def message_body(self, body: bytes, properties: Mapping[object, object] | None) -> bytes:
        """A received message's body, fetched from the claim-check store when the sender put it there."""
        claim_checks = getattr(self.bus, "claim_checks", None)
        if claim_checks is None:
            return body
        from shared.adapters.servicebus import resolve_body

        return resolve_body(body, properties, claim_checks)

    def sku_map(self, store_id: str) -> dict[str, str]:
        """The SKU map in force: the store file's entries, overridden by the ones uploaded to state, with the
        store's matching rule (`products:`) for targets to read."""
        from shared.domain.rules.mapping import ItemCodes

        settings = self.stores.get(store_id)
        seeded = dict(settings.sku_map) if settings else {}
        return ItemCodes(seeded | self.state.get_sku_map(store_id), settings.products if settings else None)

    def target(self, settings: StoreSettings) -> Target:
        """The store's target. An ERP client (session, rate limit) is kept; the UBL outbox is rebuilt per use
        so that it sees the current SKU map."""
        if settings.store_id in self.targets:
            return self.targets[settings.store_id]
        target = (self.target_factory or build_target)(settings, self)
        if settings.target != "ubl":
            self.targets[settings.store_id] = target
        return target


def build_target(settings: StoreSettings, services: Services) -> Target:
    if settings.target == "ubl":
        from shared.targets.ubl.outbox import UblOutboxTarget

        item_codes = services.sku_map(settings.store_id)
        stock_table = lambda: services.state.get_stock_table(settings.store_id)  # noqa: E731  (read at each use)
        return UblOutboxTarget(services.document_store, settings, item_codes, stock_table=stock_table)
    if settings.target == "tryton":
        from shared.targets.tryton.target import TrytonTarget

        return TrytonTarget(settings, item_codes=lambda: services.sku_map(settings.store_id))
    raise ConfigError(f"{settings.store_id}.yaml: target: unknown target '{settings.target}'")


def _build_state() -> StateStore:
    backend = os.environ.get("STATE_BACKEND", "sqlite")
    if backend == "tables":
        from shared.adapters.tables import TableStateStore

        return TableStateStore.from_settings()
    if backend == "sqlite":
        from shared.adapters.sqlite_state import SqliteStateStore, state_path

        return SqliteStateStore(state_path(state_dir()))
    raise ConfigError(f"STATE_BACKEND: unknown backend '{backend}' (sqlite | tables)")


def _build_documents() -> DocumentStore:
    backend = os.environ.get("DOCUMENT_STORE", "filesystem")
    if backend == "blob":
        from shared.adapters.documents_blob import BlobDocumentStore

        return BlobDocumentStore.from_settings()
    if backend == "filesystem":
        from shared.adapters.documents_fs import FolderDocumentStore

        return FolderDocumentStore(state_dir() / "outbox")
    raise ConfigError(f"DOCUMENT_STORE: unknown document store '{backend}' (filesystem | blob)")


def _build_bus() -> Bus:
    backend = os.environ.get("BUS_BACKEND", "sqlite")
    if backend == "servicebus":
        from shared.adapters.servicebus import ServiceBusBus

        return ServiceBusBus.from_settings()
    if backend == "sqlite":
        from shared.adapters.sqlite_bus import SqliteBus, bus_path

        return SqliteBus(bus_path(state_dir()))
    raise ConfigError(f"BUS_BACKEND: unknown backend '{backend}' (sqlite | servicebus)")


_lock = threading.Lock()
_services: Services | None = None


def _intake_sends() -> bool:
    value = os.environ.get("INTAKE_SENDS", "at_once").strip().lower()
    if value not in ("at_once", "relay"):
        raise ConfigError(f"INTAKE_SENDS={value!r}: use at_once or relay")
    return value == "at_once"


def services() -> Services:
    """The process-wide services, built on first use (never at import time)."""
    global _services
    with _lock:
        if _services is None:
            from shared.telemetry import configure_telemetry

            configure_telemetry()
            loaded = load_store_folder(stores_dir())
            for problems in loaded.broken.values():
                for problem in problems:
                    log.error("store file refused, its store is not served: %s", problem)
            _services = Services(
                state=_build_state(),
                bus=_build_bus(),
                stores=loaded.stores,
                state_dir=state_dir(),
                broken=loaded.broken,
                intake_sends=_intake_sends(),
            )
            _services.documents = _build_documents()
        return _services


def override_services(value: Services | None) -> None:
    """Install services for tests (or None to rebuild from settings on next use)."""
    global _services
    with _lock:
        _services = value
