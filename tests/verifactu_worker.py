"""A worker process for the SIGKILL test: issues invoices 1..count to the UBL outbox of a VERI*FACTU store and
records each one's alta, exactly as the invoicing handler does (python -m tests.verifactu_worker <dir> <count>)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from shared.adapters.documents_fs import FolderDocumentStore
from shared.adapters.sqlite_state import SqliteStateStore
from shared.domain.records import OrderRecord
from shared.fiscal.verifactu import record_document
from shared.targets.ubl import UblOutboxTarget
from tests.fixtures.ubl.orders import store, two_mugs_with_coupon

SYSTEM = {"producer_name": "Integraciones Demo S.L.", "producer_nif": "B12345674", "installation_number": "1"}


def main(folder: Path, count: int) -> None:
    settings = store(verifactu={"enabled": True, "system": SYSTEM})
    state = SqliteStateStore(folder / "state.db")
    documents = FolderDocumentStore(folder / "outbox")
    target = UblOutboxTarget(documents, settings, {}, clock=lambda: datetime.now(UTC))
    for n in range(1, count + 1):
        order = two_mugs_with_coupon().model_copy(update={"order_id": str(n), "number": str(1000 + n)})
        number = f"CA-{n:06d}"
        document = target.find_document(order, "invoice", number) or target.issue_invoice(order, number)
        record = OrderRecord(store_id=settings.store_id, order_id=order.order_id, order=order)
        record_document(state, documents, settings, record, document, lambda: datetime.now(UTC))
        print(n, flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
